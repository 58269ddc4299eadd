/**
 * The one rule for a date-time a request sends (`due_at`, a schedule's `start_at` / `end_at`, a bulk replay's
 * `failed_after` / `failed_before`): RFC 3339 with a zone, read the same way on every route. Zod only, so any
 * schema module may import it without bundling more.
 */
import * as z from "#shared/zod.js";

const zonedDateTime = /* @__PURE__ */ z.iso.datetime({
  offset: true,
  error: "must be an RFC 3339 date-time with a zone, e.g. 2026-01-01T12:00:00Z",
});

/**
 * What RFC 3339 (section 5.6) allows and the validator (and Date.parse) do not, written as they take it: a
 * lowercase `t` or `z`, and a leap second — `:60` when it falls at 23:59 UTC — as the instant just after it
 * (JavaScript time has no leap seconds; the second after is never early), its fraction the same fraction of that
 * second. Anything else is left as it came.
 */
function rfc3339AsParsed(value: unknown): unknown {
  if (typeof value !== "string") return value;
  // Only `t` and `z` are letters in a valid date-time: upper-casing changes nothing else a validator accepts.
  const upper = value.toUpperCase();
  const leap = /^(.+T\d\d:\d\d:)60(.*)$/.exec(upper);
  const lastSecond = leap && `${leap[1]}59${leap[2]}`;
  if (!lastSecond || !zonedDateTime.safeParse(lastSecond).success) return upper;
  const next = new Date(Date.parse(lastSecond) + 1000).toISOString();
  if (next.slice(11, 19) !== "00:00:00") return upper;
  // A Date holds whole milliseconds: digits past them go on as written, or `60.9999` would read as `00.999`, early.
  // Without a sub-ms part (no digits past three, or only zeros) the text is the Date's, as it always was: idempotent
  // repeats hash this text, and one sent across a rolling deploy must hash alike.
  const pastMs = /\.\d{3}(\d*[1-9]\d*)/.exec(lastSecond)?.[1] ?? "";
  return `${next.slice(0, -1)}${pastMs}Z`;
}

/**
 * A request's date-time: a string in RFC 3339 with a zone (any case, a leap second as the instant after it), given
 * on as the upper-case string Date.parse reads, every digit of its fraction kept (Date.parse drops those past the
 * millisecond: read it with whole-ms.ts, which rounds them up). A 400 otherwise, saying so. Typed as the string it
 * takes and gives (a preprocess's input is `unknown` to TypeScript, which let a client's caller pass a number
 * unchecked); at run time it is the preprocess, whose JSON Schema is the validator's (`format: date-time`).
 */
export const rfc3339DateTime = /* @__PURE__ */ z.preprocess(
  rfc3339AsParsed,
  zonedDateTime,
) as unknown as z.ZodMiniType<string, string>;
