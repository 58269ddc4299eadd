/**
 * `URL.canParse` without its bug: on Node 20, once V8 optimises the call site, `URL.canParse` takes a fast path
 * that misreads Latin-1 strings, so `https://bücher.example` turns from parseable to not after a few thousand
 * calls (a warm function would start refusing valid callback URLs). Constructing the URL has no such path.
 */
export function canParseUrl(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}
