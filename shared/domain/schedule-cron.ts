import { Cron, CronPattern } from "croner";
import { MAX_ISSUE_TEXT } from "#shared/api/errors.js";
import { keepRecent } from "#shared/runtime/recent.js";
import { echoed, MAX_ECHOED_CHARS } from "./echoed.js";
import { INLINE_COVER_MS, MAX_OCCURRENCES_INLINE, MIN_OCCURRENCES_INLINE } from "./schedule.js";
import { canonicalZone, wallClockMs, zoneFormatter } from "./zone-clock.js";

/*
 * A schedule's cron rules: validating a pattern and computing its occurrences. Apart from schedule.ts so that
 * croner (32 KB, and its module-level code) is bundled only where occurrences are computed or patterns checked,
 * not into every function that reads the task table's schedule keys.
 */

/** What the next occurrences are computed from. */
export interface CronSpec {
  readonly cron: string;
  readonly timezone: string;
  readonly startAtMs?: number;
  readonly endAtMs?: number;
}

/**
 * Croner, configured once for every schedule:
 * - five fields (minute precision) or six (a leading seconds field); no year field, which AWS cron has but Vixie
 *   cron does not, and which nobody needs for a recurring delivery;
 * - day-of-month and day-of-week combine with OR when both are restricted (Vixie cron's rule, croner's default);
 *   a field starting with `*` (a step from it, a list) beside a restricted one, which the two read differently, is
 *   refused (dayStepFromAny);
 * - DST: croner's "fixed-time" rule (a pattern whose second, minute and hour are single values, e.g.
 *   `30 2 * * *`): a local time in a spring-forward gap runs at the first valid instant after the gap, and a
 *   local time that happens twice (fall back) runs once, at its first occurrence. Other patterns (`*​/30 * * * *`)
 *   run on the real clock: times in the gap do not exist, repeated times run twice. Pinned by unit tests with
 *   exact instants (test/unit/domain/schedule.test.ts).
 */
function cronOf(spec: Pick<CronSpec, "cron" | "timezone">): Cron {
  // Croner keeps a formatter per zone name it is given, for ever: one per zone, not per spelling (zone-clock.ts).
  const timezone = canonicalZone(spec.timezone);
  // Intl's zone names hold no space, so zone and pattern cannot run into each other's part of the key.
  const key = `${timezone} ${spec.cron}`;
  const kept = crons.get(key);
  if (kept) {
    // Least recently used leaves first: moved to the end of the Map's (insertion) order.
    keepRecent(crons, key, kept, MAX_CRONS_KEPT);
    return kept;
  }
  const cron = new Cron(spec.cron, {
    paused: true,
    timezone,
    mode: "5-or-6-parts",
    fixedTimeRule: "single-value",
  });
  keepRecent(crons, key, cron, MAX_CRONS_KEPT);
  return cron;
}

/**
 * The croner objects cronOf built, per zone and pattern (its options are the same for every schedule). Building
 * one parses the pattern and fills its year table, and the materializer asks for the next occurrence once per
 * occurrence (up to 150 in a row for one schedule, 4 schedules at a time), the schedule routes up to 120 times
 * per inline pass: each asked anew built a Cron each time. A paused Cron asked `nextRun(date)` or `getOnce()`
 * answers from its pattern and options alone (croner changes its state only when it runs jobs), so one kept
 * answers as a new one would. Few are kept, as in dstFreeClocks below and for its reason (~80 KB each: 16 kept,
 * ~1.3 MB). A Map rather than an LRU library: the one in these bundles (mnemonist) is the AWS SDK's dependency,
 * not ours.
 */
const crons = new Map<string, Cron>();
const MAX_CRONS_KEPT = 16;

/** How many croner objects cronOf keeps now (the bound's test). */
export function cronsKept(): number {
  return crons.size;
}

const CRON_FORMAT = "is not a valid cron pattern (5 fields, or 6 with seconds first)";

/** Why a cron pattern is refused, or undefined when croner accepts it. */
export function cronProblem(cron: string): string | undefined {
  // Croner splits on any JS whitespace, Unicode's too: `3<U+FEFF>0 2 * * *` shows as `30 2 * * *` and runs at
  // 02:00:03. Printable ASCII only, so the pattern stored and shown is the one that runs.
  if (!/^[\x20-\x7e]*$/.test(cron)) {
    return `${CRON_FORMAT}: may hold only printable ASCII, its fields separated by plain spaces (no tabs, line breaks or Unicode spaces)`;
  }
  const misplaced = misplacedQuestionMark(cron) ?? quartzWeekday(cron) ?? dayStepFromAny(cron);
  if (misplaced) return `${CRON_FORMAT}: ${misplaced}`;
  try {
    // Croner takes an ISO 8601 date string as a run-once job instead of refusing it; every later computation
    // reads the stored text as a pattern and would throw.
    if (cronOf({ cron, timezone: "UTC" }).getOnce() !== null) {
      return `${CRON_FORMAT}: this is a date, not a recurring pattern; for one delivery at a time, add a task with due_at`;
    }
    return undefined;
  } catch (error) {
    return withinIssueText(cronerMessage(error, cron), cron);
  }
}

/** How short the words quoted from the caller's pattern are cut, in turn, for a refusal to fit MAX_ISSUE_TEXT. */
const SHORTER_ECHOES = [MAX_ECHOED_CHARS, 32, 16] as const;

/**
 * Croner's refusal in the caller's words (`said`) after CRON_FORMAT, within the API's issue clip (MAX_ISSUE_TEXT,
 * 200) so that it arrives as this says it. An entry quoted at the 64 characters every echoed value may take, and
 * croner's reason with its remedy (`Syntax error, stepping with missing prefix … is not allowed. Use wildcard
 * (*​/step) or range (min-max/step) instead.`), came to 250: the API cut it mid-word. So croner's `Syntax error, `
 * goes first (every refusal here is one), then the quoted words are cut shorter (the entry's start still names it),
 * and only then croner's words from the end, at a space: the field and the entry come before croner's text, and are
 * kept.
 */
function withinIssueText(said: string, cron: string): string {
  let text = "";
  for (const max of SHORTER_ECHOES) {
    for (const words of [said, said.replace("Syntax error, ", "")]) {
      text = `${CRON_FORMAT}: ${echoedWithin(words, cron, max)}`;
      if (text.length <= MAX_ISSUE_TEXT) return text;
    }
  }
  const kept = text.slice(0, MAX_ISSUE_TEXT);
  return `${kept.slice(0, kept.lastIndexOf(" "))}…`;
}

/**
 * Croner's refusal with what it quotes of the caller's pattern cut as every refusal cuts a value it names (echoed.ts:
 * 64 characters): the whole pattern (`pattern '…' has 7 parts`), and any one word past that length (a field,
 * `('1-999…')`, `Value: 111…`), which no word of croner's own text is.
 */
function echoedWithin(message: string, cron: string, max = MAX_ECHOED_CHARS): string {
  const whole = cron.length > max ? message.split(cron).join(echoed(cron, max)) : message;
  return whole.replace(/\S+/g, (word) => echoed(word, max));
}

/**
 * Why this release cannot compute a stored schedule's occurrences (every computation would throw), or undefined
 * when it can. A create refuses such a schedule (cronProblem, isKnownTimeZone), but a stored one may predate a
 * check (an ISO date taken as a run-once job), be written by hand, or name a zone the runtime's ICU no longer
 * knows: its view, its topic's list and its stop must still answer, and the materializer must not fail on it every
 * minute. Only what throws counts, not today's stricter input rules (an AWS-style `?`), which still run.
 */
export function uncomputableProblem(spec: Pick<CronSpec, "cron" | "timezone">): string | undefined {
  try {
    zoneFormatter(spec.timezone);
  } catch {
    return `its time zone ${JSON.stringify(spec.timezone)} is not one this runtime knows`;
  }
  try {
    if (cronOf(spec).getOnce() === null) return undefined;
    return `its cron ${JSON.stringify(echoed(spec.cron))} is a date, not a recurring pattern`;
  } catch (error) {
    // Shown in a resume's 409 and a pause's `last_skipped`: the stored pattern (up to 256 characters) and what
    // croner quotes of it, cut as every echoed value is.
    const said = echoedWithin(cronerMessage(error, spec.cron), spec.cron);
    return `its cron ${JSON.stringify(echoed(spec.cron))} is not a pattern: ${said}`;
  }
}

/** One of croner's fields, named by croner (its refusals' words), as the caller writes it. */
interface CronerField {
  /** The field's name as a caller says it. */
  readonly caller: string;
  /** Its values as a caller writes them; none for the year, a field no pattern taken here has. */
  readonly range?: string;
  /** Croner counts it from 0 inside (day-of-month, month), where a caller counts from 1. */
  readonly zeroBased: boolean;
  /** Its place in croner's own order: seconds first (0), year last (6). */
  readonly place: number;
}

/**
 * Croner's fields by croner's names for them, each with what a refusal says in the caller's words: its name, range,
 * count and place. The one table every translation below reads (cronerMessage, cronerWords, quotedAsWritten).
 */
const CRONER_FIELDS: ReadonlyMap<string, CronerField> = new Map([
  ["second", { caller: "second", range: "0-59", zeroBased: false, place: 0 }],
  ["minute", { caller: "minute", range: "0-59", zeroBased: false, place: 1 }],
  ["hour", { caller: "hour", range: "0-23", zeroBased: false, place: 2 }],
  ["day", { caller: "day-of-month", range: "1-31", zeroBased: true, place: 3 }],
  ["nearestWeekdays", { caller: "day-of-month", range: "1-31", zeroBased: true, place: 3 }],
  ["month", { caller: "month", range: "1-12", zeroBased: true, place: 4 }],
  ["dayOfWeek", { caller: "day-of-week", range: "0-7", zeroBased: false, place: 5 }],
  ["year", { caller: "year", zeroBased: false, place: 6 }],
]);

/** The caller's names for croner's fields, by their place (seconds first, year last), read from CRONER_FIELDS. */
const CALLER_ORDER: readonly string[] = [...CRONER_FIELDS.values()].reduce<string[]>((order, field) => {
  order[field.place] = field.caller;
  return order;
}, []);

/**
 * Croner's refusal without its prefix, in the caller's words. Croner counts day-of-month and month from 0 inside
 * and names its own count when one is out of range (`32` as "Invalid value for day: 31", month `13` as "month:
 * 12"): named back as written. A value past a double's integers it names as its double (`111…1` as
 * `1.111111111111111e+29`, one less for a day-of-month), which is not what was sent: then the field and its range
 * alone, in the caller's words. Its other refusals that name a field name it croner's way (`day`,
 * `nearestWeekdays`, `dayOfWeek`, `configuration entry 3`: its count, seconds first, so a 5-field pattern's third
 * field), quote its own reading of it (`jan` as `1`), or name its options (`mode '5-or-6-parts'`, "five, six, or
 * seven … parts"): those are said with the caller's field as written (cronerWords).
 */
function cronerMessage(error: unknown, cron: string): string {
  const message = (error instanceof Error ? error.message : String(error)).replace(/^CronPattern: /, "");
  const outOfRange = /^Invalid value for (\w+): (\S+)$/.exec(message);
  if (!outOfRange) return cronerWords(message, cron);
  const [, name = "", value = ""] = outOfRange;
  const field = CRONER_FIELDS.get(name);
  if (field?.range === undefined) return message;
  const written = /^-?\d+$/.test(value) ? Number(value) + (field.zeroBased ? 1 : 0) : Number.NaN;
  if (!Number.isSafeInteger(written)) return `Invalid value for ${field.caller} (${field.range})`;
  return `Invalid value for ${field.caller}: ${written} (${field.range})`;
}

/** The croner refusals that name a field (by name or by its place) or the pattern's parts, and how to say them. */
const CRONER_REFUSALS: readonly (readonly [
  RegExp,
  (field: string, fieldCount: number) => string,
  /** The field croner means (its name, a key of CRONER_FIELDS) where its refusal names none. */
  cronerName?: string,
])[] = [
  [/^(\w+) is not a number: '/s, (field) => `${field}: holds something that is not a number`],
  [
    /^configuration entry (\w+) \(.*\) is empty/s,
    (field) => `${field}: a list with an empty entry (a comma too many)`,
  ],
  [
    /^configuration entry (\d+) \(.*\) contains illegal characters/s,
    (field) => `${field}: holds a character this field does not take`,
  ],
  [/^nth weekday out of range/, (field) => `${field}: an nth weekday (#) is 1-5 or L`, "dayOfWeek"],
  [
    /^(?:mode '|invalid configuration format)/,
    (_, count) => `it has ${count} field${count === 1 ? "" : "s"}`,
  ],
];

/**
 * A croner refusal that names a field or the pattern's parts, said with the caller's field as written
 * (`day-of-week '1,,2': …`); any other as croner words it, its wording kept but for a `part` (a field) and its
 * date parser's name (a `:` makes croner read the text as a date and time).
 */
function cronerWords(message: string, cron: string): string {
  const written = cron.match(/\S+/g) ?? [];
  for (const [pattern, say, cronerName] of CRONER_REFUSALS) {
    const found = pattern.exec(message);
    if (!found) continue;
    const named = found[1] ?? cronerName;
    const index = named === undefined ? undefined : (CRONER_FIELDS.get(named)?.place ?? Number(named));
    const field = index === undefined ? undefined : CALLER_ORDER[index];
    // A 5-field pattern has no seconds: croner puts a 0 first, so its count is one past the caller's.
    const text = index === undefined ? undefined : written[written.length === 5 ? index - 1 : index];
    if (named !== undefined && (field === undefined || text === undefined)) break;
    return say(field === undefined ? "" : `${field} '${text}'`, written.length);
  }
  if (/^Invalid ISO8601/.test(message))
    return "a ':' reads as a date and time, and this is neither that nor a pattern";
  return quotedAsWritten(message, cron).replace(/maximum value of part/, "the number of values of its field");
}

/**
 * A croner refusal of one entry of a field, said with the field and the entry as the caller wrote them
 * (`day-of-week 'sat-mon': From value is larger than to value`). Croner reads month and day names as its numbers
 * before it parses a field and quotes its reading of the entry it refuses (`dec-jan` as `'12-1'`, `sat-mon` as
 * `'6-1'`, `mon-tue-wed` as `'1-2-3'`), or names none (`illegal stepping: 0`, `illegal lower range (NaN)` for
 * `L-sun`): its quote and its NaN are dropped. The entry is the first one croner refuses in the same words standing
 * alone in its field, every other field `*` (croner parses fields and entries in order, so none before it is
 * refused); croner itself reads each, so no copy of its name table is kept here: at most one parse per entry, and a
 * pattern is at most 256 characters. A refusal of a whole field (`LW` in a list) is left as croner words it.
 */
function quotedAsWritten(message: string, cron: string): string {
  const fields = cron.match(/\S+/g) ?? [];
  const names = fields.length === 5 ? CALLER_ORDER.slice(1) : CALLER_ORDER;
  for (const [index, field] of fields.entries()) {
    for (const entry of field.split(",")) {
      const alone = fields.map((_, at) => (at === index ? entry : "*")).join(" ");
      if (entry === "" || refusalOf(alone) !== message) continue;
      const said = message.replace(/: '[^']*'$| \('[^']*'\)| \(NaN\)/, "");
      return `${names[index] ?? "a field"} '${entry}': ${said}`;
    }
  }
  return message;
}

/** Croner's refusal of a pattern (without its prefix), or undefined when it takes it. */
function refusalOf(cron: string): string | undefined {
  try {
    new CronPattern(cron, undefined, { mode: "5-or-6-parts", fixedTimeRule: "single-value" });
    return undefined;
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).replace(/^CronPattern: /, "");
  }
}

/**
 * Croner reads `?` as `*` in every field. An EventBridge cron (`minute hour day-of-month month day-of-week year`,
 * with `?` in one day field) also has six fields, so read seconds-first `0 12 * * ? *` (daily at noon on AWS)
 * would run every hour at :12, silently. `?` means "any day" only in the day-of-month and day-of-week fields;
 * anywhere else it is refused, which catches every AWS pattern (AWS requires `?` in one of its day fields).
 */
function misplacedQuestionMark(cron: string): string | undefined {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) return undefined;
  const dayFields = fields.length === 5 ? [2, 4] : [3, 5];
  const misplaced = fields.some((field, index) => field.includes("?") && !dayFields.includes(index));
  if (!misplaced) return undefined;
  // Kept within the API's issue clip (MAX_ISSUE_TEXT, 200) with CRON_FORMAT before it, so the remedy arrives.
  return "`?` only in day-of-month or day-of-week; `0 12 * * ? *` is an AWS (EventBridge) cron, a year last: write `0 12 * * *`";
}

/**
 * A Quartz cron is croner's six fields (seconds first) with `?` in one day field, but Quartz counts the weekday from
 * Sunday = 1, croner from Sunday = 0: `0 0 12 ? * 2`, Mondays at noon in Quartz, would run on Tuesdays, silently. A
 * six-field pattern holding `?` with a numbered weekday is refused; a named one (`MON`) reads the same in both.
 */
function quartzWeekday(cron: string): string | undefined {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 6 || !cron.includes("?") || !/\d/.test(fields[5]?.replace(/#\d/g, "") ?? "")) {
    return undefined;
  }
  return "`?` with a numbered weekday reads as Quartz, whose Sunday is 1 (here 0): name the day (MON, FRI#3)";
}

/**
 * Vixie cron (and cronie, most crontabs) takes a day field that starts with `*` as unrestricted, `*​/2` as much as
 * `*`, so beside a restricted other day field the two combine with AND: `0 9 *​/2 * MON` runs on the Mondays among
 * the odd days. Croner combines them with OR unless the field is exactly `*` (or `?`): every odd day and every
 * Monday, silently several times the deliveries. The two readings differ, so such a pattern is refused, naming both
 * ways to say it: `+` before the weekday (croner's AND), or a range (`1-31/2`), which both read as OR.
 */
function dayStepFromAny(cron: string): string | undefined {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) return undefined;
  const [dayOfMonth = "", dayOfWeek = ""] =
    fields.length === 5 ? [fields[2], fields[4]] : [fields[3], fields[5]];
  const any = (field: string) => field === "*" || field === "?";
  if (any(dayOfMonth) || any(dayOfWeek) || dayOfWeek.startsWith("+")) return undefined;
  // Both every day (a step of one): AND and OR are the same days.
  const every = (field: string) => /^[*?]\/1$/.test(field);
  if (every(dayOfMonth) && every(dayOfWeek)) return undefined;
  if (!/^[*?]/.test(dayOfMonth) && !/^[*?]/.test(dayOfWeek)) return undefined;
  return "a day field starting with `*` beside a restricted one is AND in Vixie cron, OR here: `+` for AND (`+MON`), `1-31/2` for OR";
}

/**
 * How many occurrences the inline pass from `fromMs` makes: every one within INLINE_COVER_MS (so none waits for
 * the next scheduled run past its due time), and at least MIN_OCCURRENCES_INLINE, so a slower pattern is still
 * made as far ahead as it was (most often to the horizon's end).
 */
export function inlineOccurrenceLimit(spec: CronSpec, fromMs: number): number {
  const covered = occurrencesBetween(spec, fromMs, fromMs + INLINE_COVER_MS, MAX_OCCURRENCES_INLINE).length;
  return Math.max(MIN_OCCURRENCES_INLINE, covered);
}
/**
 * The DynamoDB write units the pass at creation may spend. A schedule's occurrences share one ordering group, one
 * partition (1,000 write units a second), and the create waits for its inline pass (inlineOccurrenceLimit's
 * occurrences within the horizon) within the route's 10 s: a one-second cron carrying 350 KiB wrote 120 × 351 units
 * there, throttled for most of a minute, and the create timed out as "may have been stored". A few seconds of one
 * partition's writes, whatever the pattern.
 */
export const INLINE_WRITE_UNITS = 4_000;

/**
 * Why a pass inside an API call from `fromMs` cannot keep to INLINE_WRITE_UNITS (when budgetedInlineLimit is
 * undefined): the occurrences due before the next scheduled run can have made them (within INLINE_COVER_MS, or the
 * horizon if shorter), each `tasksEach` tasks (a fan-out topic's parent and its copies) of its content plus ≈ 1 KB of
 * keys and attributes, in 1 KB units, written at once into one partition.
 */
export function inlineBudgetProblem(
  spec: CronSpec,
  write: { readonly contentBytes: number; readonly tasksEach: number },
  fromMs: number,
  horizonMs: number,
): string {
  const coverEnd = fromMs + Math.min(INLINE_COVER_MS, horizonMs);
  const count = occurrencesBetween(spec, fromMs, coverEnd, MAX_OCCURRENCES_INLINE).length;
  const tasks = Math.max(1, count * write.tasksEach);
  const most = Math.floor(INLINE_WRITE_UNITS / tasks) - 1;
  return `its occurrences due in the next two minutes are ${tasks} tasks, written at once inside the call into one DynamoDB partition, so it carries at most ${most} KB of content; a less frequent pattern, or a start_at over two minutes ahead, takes more`;
}

/** The write units one occurrence's tasks cost: each its content plus ≈ 1 KB of keys and attributes, in 1 KB units. */
export function occurrenceWriteUnits(write: {
  readonly contentBytes: number;
  readonly tasksEach: number;
}): number {
  return write.tasksEach * (Math.ceil(write.contentBytes / 1024) + 1);
}

/**
 * How many occurrences a pass inside an API call from `fromMs` (the create's and the resume's) may make:
 * inlineOccurrenceLimit's, cut to what INLINE_WRITE_UNITS holds. The ones cut are left to the materializer, which
 * makes them ahead of due only if none falls within INLINE_COVER_MS (or the horizon, if shorter: the pass makes
 * none past it) — the next scheduled run may come that late. Undefined when those do not fit: the pass would either
 * throttle the call past its timeout or leave an occurrence late.
 */
export function budgetedInlineLimit(
  spec: CronSpec,
  write: { readonly contentBytes: number; readonly tasksEach: number },
  fromMs: number,
  horizonMs: number,
): number | undefined {
  const fits = Math.floor(INLINE_WRITE_UNITS / occurrenceWriteUnits(write));
  const coverEnd = fromMs + Math.min(INLINE_COVER_MS, horizonMs);
  if (occurrencesBetween(spec, fromMs, coverEnd, fits + 1).length > fits) return undefined;
  return Math.min(inlineOccurrenceLimit(spec, fromMs), fits);
}

/**
 * The occurrences strictly after `afterMs` and at or before `untilMs`, at most `limit`, inside
 * [startAtMs, endAtMs) (end exclusive).
 */
export function occurrencesBetween(
  spec: CronSpec,
  afterMs: number,
  untilMs: number,
  limit: number,
): number[] {
  const out: number[] = [];
  let cursor = afterMs;
  while (out.length < limit) {
    const next = nextOccurrence(spec, cursor);
    if (next === undefined || next > untilMs) break;
    out.push(next);
    cursor = next;
  }
  return out;
}

/**
 * The latest occurrence strictly after `afterMs` and at or before `untilMs`, or undefined when there is none. Found
 * by halving (croner only searches forward): each step asks for the first occurrence after the middle of what is
 * left, so ~45 asks whatever the span and the pattern's pace, where walking forward would ask once per occurrence.
 */
export function latestOccurrenceBetween(
  spec: CronSpec,
  afterMs: number,
  untilMs: number,
): number | undefined {
  const first = nextOccurrence(spec, afterMs);
  if (first === undefined || first > untilMs) return undefined;
  // `latest` is an occurrence; none lies after `noneAfter` up to untilMs.
  let latest = first;
  let noneAfter = untilMs;
  while (latest < noneAfter) {
    const middle = latest + Math.floor((noneAfter - latest) / 2);
    const next = nextOccurrence(spec, middle);
    if (next !== undefined && next <= noneAfter) latest = next;
    else noneAfter = middle;
  }
  return latest;
}

/**
 * Where croner stops: for a pattern without a year field (every pattern we take) it finds no occurrence once the
 * local year reaches 3000 (croner 11's search gives up at `year >= 3000` when the year is a wildcard), read on the
 * schedule's own wall clock, so UTC+14 (Pacific/Kiritimati) meets it at 2999-12-31T10:00Z. A start_at past it was
 * refused as "no occurrence between now (or start_at) and end_at", and an end_at past it promised occurrences the
 * schedule would never make.
 */
export const CRON_ENGINE_LIMIT_LOCAL = "3000-01-01T00:00:00";
const CRON_ENGINE_LIMIT_WALL_MS = Date.parse(`${CRON_ENGINE_LIMIT_LOCAL}Z`);

/**
 * A start_at (inclusive: before the limit) or end_at (exclusive: at it at most) past what croner computes, as the
 * 400's message naming that limit; undefined within it. `timezone` must be one Intl knows.
 */
export function engineLimitProblem(
  field: "start_at" | "end_at",
  ms: number,
  timezone: string,
): string | undefined {
  const lastMs = field === "end_at" ? ms - 1 : ms;
  if (wallClockMs(lastMs, timezone) < CRON_ENGINE_LIMIT_WALL_MS) return undefined;
  const bound = field === "end_at" ? "at or before" : "before";
  return `must be ${bound} ${CRON_ENGINE_LIMIT_LOCAL} in the schedule's time zone (${timezone}): the schedule engine (croner) computes no occurrence from then on`;
}

/** The first occurrence strictly after `afterMs` within the schedule's window, or undefined when none is left. */
export function nextOccurrence(spec: CronSpec, afterMs: number): number | undefined {
  // Croner counts from the next whole second after its reference; starting a millisecond before the window
  // keeps an occurrence exactly at start_at.
  const from = spec.startAtMs !== undefined ? Math.max(afterMs, spec.startAtMs - 1) : afterMs;
  const walk = walkDstGaps(spec, from);
  if (walk.never) return undefined;
  // Past a gap, the first local time after it is the occurrence; croner would reject the gap's times one by one
  // (or, for a fixed local time whose gap ends on the next date, skip it).
  const ms = walk.afterGapMs ?? cronOf(spec).nextRun(new Date(from))?.getTime();
  if (ms === undefined) return undefined;
  if (spec.endAtMs !== undefined && ms >= spec.endAtMs) return undefined;
  return ms;
}

/** When the materializer must next look at a schedule: its next occurrence minus the (topic's) horizon. */
export function materializeAt(
  spec: CronSpec,
  materializedUntilMs: number,
  horizonMs: number,
): number | undefined {
  const next = nextOccurrence(spec, materializedUntilMs);
  return next === undefined ? undefined : next - horizonMs;
}

/**
 * Where a pattern's next local times meet DST gaps. Croner rejects a gap time one at a time and searches up to the
 * year 3000: a pattern whose times all lie in gaps (`* * 2 * 3 0L` in Europe/Berlin: every second of 02:xx on the
 * spring-forward Sunday) cost it ~80 s of CPU to answer "none", which timed out a create into a 500; and a pattern
 * whose next times fill one gap (`* * 2 * * *` just before it) cost it, and a walk of the gap second by second, a
 * share of a second per occurrence asked for. So each gap is stepped over at once (gapEndLocal), whatever its
 * length (Antarctica/Troll's is two hours), and on to the pattern's next local time, gap after gap. 'Never' is a
 * pattern whose every local time for a whole NEVER_CYCLE_MS lies in gaps: dates, weekdays and the DST rules that
 * follow them repeat with that cycle, so its later times do too. Two gaps in a row are not enough: every 15 minutes
 * of 02:xx on March's fourth Sunday in Europe/Berlin (`*​/15 2 * 3 0#4`) falls in the gap in 2027, 2028 and 2029
 * (the fourth Sunday is the last) and runs in 2030 (March has five Sundays).
 */
const NEVER_CYCLE_MS = 28 * 365.25 * 86_400_000;
/** A bound on the steps for any zone: real ones spring forward once a year at most (twice in a few past years). */
const MAX_GAPS_STEPPED = 64;

type GapWalk =
  | { readonly never: true }
  /**
   * `afterGapMs`: the next times fill a gap, so the next occurrence is the pattern's first local time after it, at
   * this instant (the first at which the clock reads it: a real-clock pattern, as croner runs it); or, for a fixed
   * local time in a gap, the first instant after that gap.
   */
  | { readonly never: false; readonly afterGapMs?: number };

/**
 * True when the pattern's next local times after `fromMs` all fall in the zone's DST gaps (so it never fires, for
 * any purpose here). A fixed local time (`30 2 * * *`) runs after a gap instead, and its local times are never
 * skipped: never true for one.
 */
export function onlyDstGapsAhead(spec: Pick<CronSpec, "cron" | "timezone">, fromMs: number): boolean {
  return walkDstGaps(spec, fromMs).never;
}

function walkDstGaps(spec: Pick<CronSpec, "cron" | "timezone">, fromMs: number): GapWalk {
  const local = dstFreeClockOf(spec.cron);
  const fromLocalMs = wallClockMs(fromMs, spec.timezone);
  if (local.fixedTime) return fixedTimeAfterGap(local.clock, fromLocalMs, spec.timezone);
  let cursor = new Date(fromLocalMs);
  for (let gaps = 0; gaps < MAX_GAPS_STEPPED; gaps++) {
    const next = local.clock.nextRun(cursor);
    if (!next) return { never: false };
    const instantMs = instantOfLocal(next.getTime(), spec.timezone);
    if (instantMs !== undefined)
      return gaps === 0 ? { never: false } : { never: false, afterGapMs: instantMs };
    if (next.getTime() - fromLocalMs > NEVER_CYCLE_MS) return { never: true };
    const gapEndMs = gapEndLocal(next.getTime(), spec.timezone);
    // Not one spring-forward gap (two changes within a day?): croner's own search answers, slowly but right.
    if (gapEndMs === undefined) return { never: false };
    cursor = new Date(gapEndMs - 1);
  }
  // More gaps than any zone has in a cycle: croner's own search answers, slowly but right.
  return { never: false };
}

/**
 * A fixed local time whose next day's time lies in a gap runs at the first instant after the gap. Croner runs it
 * there only when that instant falls on the same local date: where a gap ends at midnight (Greenland springs from
 * 23:00 to 00:00), a daily `30 23 * * *` in America/Nuuk lost that day's occurrence. So that instant is answered
 * here, whichever date it falls on; otherwise (no gap next) croner's search answers.
 */
function fixedTimeAfterGap(clock: Cron, fromLocalMs: number, timezone: string): GapWalk {
  const next = clock.nextRun(new Date(fromLocalMs));
  if (!next || instantOfLocal(next.getTime(), timezone) !== undefined) return { never: false };
  const gapEndMs = gapEndLocal(next.getTime(), timezone);
  const afterGapMs = gapEndMs === undefined ? undefined : instantOfLocal(gapEndMs, timezone);
  return afterGapMs === undefined ? { never: false } : { never: false, afterGapMs };
}

/**
 * The first local time after the spring-forward gap a local time that does not exist lies in. The change lies
 * between that local time read with the later offset and read with the earlier one (at most the gap's length
 * apart): found by halving, to the second (zones change on whole seconds).
 */
function gapEndLocal(localMs: number, timezone: string): number | undefined {
  const offsetAt = (instantMs: number) => wallClockMs(instantMs, timezone) - instantMs;
  const before = offsetAt(localMs - DAY_MS);
  const after = offsetAt(localMs + DAY_MS);
  if (after <= before) return undefined;
  let lo = localMs - after; // before the change: the earlier offset
  let hi = localMs - before; // at or after it: the later offset
  if (offsetAt(lo) !== before || offsetAt(hi) !== after) return undefined;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (offsetAt(mid) === after) hi = mid;
    else lo = mid;
  }
  return hi + after;
}

/**
 * Per pattern (the materializer asks once per occurrence, up to 150 times in a row for one schedule, 4 schedules
 * at a time): the pattern on a DST-free clock, and whether it is a fixed local time (a gap moves it, never skips
 * it). Few are kept, the oldest leaving first: every croner pattern holds a year table of 10,000 numbers (~80 KB,
 * whatever the pattern: croner builds it for its 7-field form even when the year is a wildcard), so the 1,000 kept
 * before held ~80 MB of a 512 MB function once a warm one had seen that many patterns (scripts/cron-memory.ts).
 * 16 kept: at most ~1.3 MB.
 */
interface DstFreeClock {
  readonly clock: Cron;
  readonly fixedTime: boolean;
}
const dstFreeClocks = new Map<string, DstFreeClock>();
const MAX_CLOCKS_KEPT = 16;

/** The pattern on a clock without DST (UTC offset 0): its instants are the local times, read as UTC fields. */
function dstFreeClockOf(cron: string): DstFreeClock {
  let kept = dstFreeClocks.get(cron);
  if (kept === undefined) {
    const pattern = new CronPattern(cron, undefined, { mode: "5-or-6-parts", fixedTimeRule: "single-value" });
    const clock = new Cron(cron, { paused: true, utcOffset: 0, mode: "5-or-6-parts" });
    kept = { clock, fixedTime: pattern.isFixedTime };
    keepRecent(dstFreeClocks, cron, kept, MAX_CLOCKS_KEPT);
  }
  return kept;
}

const DAY_MS = 86_400_000;

/**
 * The first instant at which the zone's clock reads the local time `localMs` (fields read as UTC), with its offset
 * a day either side; undefined when that local time does not exist there (a DST gap).
 */
function instantOfLocal(localMs: number, timezone: string): number | undefined {
  const instants = [localMs - DAY_MS, localMs + DAY_MS]
    .map((nearMs) => localMs - (wallClockMs(nearMs, timezone) - nearMs))
    .filter((instantMs) => wallClockMs(instantMs, timezone) === localMs);
  return instants.length === 0 ? undefined : Math.min(...instants);
}
