/**
 * How an error answer shows a value the caller sent (an id, a name, a key, a header's name or value): cut to
 * MAX_ECHOED_CHARS characters, ending in `…` when cut. An answer must say which value it refused, but reflecting
 * a huge input back in full makes every refusal an amplifier (a 1 MiB key answered with a 1 MiB message) and
 * carries the caller's text into logs and pages that show our messages.
 */
export const MAX_ECHOED_CHARS = 64;

/**
 * `value` as an error answer may echo it: at most MAX_ECHOED_CHARS UTF-16 units (or `max`, where a message must be
 * shorter still), never half a surrogate pair.
 */
export function echoed(value: string, max = MAX_ECHOED_CHARS): string {
  if (value.length <= max) return value;
  let cut = value.slice(0, max - 1);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return `${cut}…`;
}
