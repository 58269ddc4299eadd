/**
 * The dead-letter panel's replays, without the DOM (the panel wires them to its buttons): each asks, calls the
 * replay route (POST /v1/topics/{topic}/replay) and answers the line the panel shows — what was replayed, or
 * why not. None rejects: a click handler's rejection was shown nowhere. test/unit/console/dead-letter-actions.test.ts.
 */
import * as z from "zod";
import { type Ask, cut, errorText, mayHaveActed, parseAnswer, runAction } from "./action.js";
import { call } from "./api.js";
import { type ReplayPage, replayAll, replayAllMessage, replayAllProgress } from "./replay-all.js";

export interface ReplayFilter {
  readonly error_contains?: string;
  readonly failed_after?: string;
  readonly failed_before?: string;
}

/** The filter form's fields as typed: a `datetime-local` value (`2026-12-05T13:00`, local time) or "" for none. */
export interface ReplayFilterFields {
  readonly errorContains: string;
  readonly after: string;
  readonly before: string;
}

/**
 * The form's fields as the route's filter (the times as ISO instants), or why not. The date picker takes a year of
 * up to six digits, and `Date` reads none past 9999 in this form: `toISOString` threw in the form's submit handler,
 * and Replay all matching did nothing, saying nothing.
 */
export function replayFilterOf(fields: ReplayFilterFields): ReplayFilter | { readonly problem: string } {
  const filter: { -readonly [K in keyof ReplayFilter]: ReplayFilter[K] } = {};
  if (fields.errorContains) filter.error_contains = fields.errorContains;
  for (const [key, label, local] of [
    ["failed_after", "failed after", fields.after],
    ["failed_before", "before", fields.before],
  ] as const) {
    if (!local) continue;
    const at = new Date(local);
    if (Number.isNaN(at.getTime()))
      return { problem: `"${label}" is no date the page can read: ${cut(local)}` };
    filter[key] = at.toISOString();
  }
  return filter;
}

/** The route's answer (shared/api/schemas/operations.ts, bulkReplayResponseSchema; the page may not import it). */
const replayPageSchema = z.looseObject({
  matched: z.number().int().nonnegative(),
  replayed: z.number().int().nonnegative(),
  failed: z.array(z.looseObject({ task_id: z.string(), reason: z.string() })),
  next_cursor: z.string().nullable(),
});

async function replayPage(topic: string, body: Record<string, unknown>): Promise<ReplayPage> {
  const answer = await call("POST", `/v1/topics/${encodeURIComponent(topic)}/replay`, body);
  return parseAnswer(replayPageSchema, answer);
}

/** While Replay all reads on: its progress line after each page, and the operator's Stop. */
export interface ReplayAllWatch {
  /** Called once the operator said yes, as the first page goes: from then on Stop means something. */
  readonly onStart?: () => void;
  readonly onProgress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/**
 * "Replay all matching": a dry run counts what matches for the question; on yes, replays page by page
 * (replay-all.ts bounds it), saying how far it got after each page, until the end or the operator's Stop. A failed
 * or malformed dry run is the answer, and nothing is asked.
 */
export async function replayMatching(
  topic: string,
  filter: ReplayFilter,
  ask: Ask,
  watch: ReplayAllWatch = {},
): Promise<string | undefined> {
  let dry: ReplayPage;
  try {
    dry = await replayPage(topic, { ...filter, dry_run: true });
  } catch (error) {
    return `not replayed: ${errorText(error)}`;
  }
  const more = dry.next_cursor ? " (first batch; more may match)" : "";
  if (
    !(await ask(`Replay all ${dry.matched} dead-lettered tasks matching this filter${more}?`, "Replay all"))
  )
    return undefined;
  watch.onStart?.();
  const outcome = await replayAll(
    async (cursor) => {
      try {
        return await replayPage(topic, { ...filter, ...(cursor ? { cursor } : {}) });
      } catch (error) {
        // The stop's detail is the API's code and message, cut (replay-all.ts shows an Error's message); a call that
        // may have acted (action.ts) says so, as its totals count only the pages answered.
        const unsure = mayHaveActed(error)
          ? " (that page's tasks may have been replayed; check before replaying again)"
          : "";
        throw new Error(`${errorText(error)}${unsure}`);
      }
    },
    {
      onPage: (totals) => watch.onProgress?.(replayAllProgress(totals)),
      ...(watch.signal ? { signal: watch.signal } : {}),
    },
  );
  return replayAllMessage(outcome);
}

/** A line names at most this many tasks not replayed, each id and reason cut; the rest are counted. */
const FAILURES_NAMED = 10;
const FAILURE_PART_CHARS = 100;

/**
 * Replay the selected tasks (a row's Replay: one). The route answers per task — `failed` lists each one not
 * replayed with its reason (not found, no longer dead-lettered, an earlier task of its group not sent) — and the
 * line names them; a call that fails as a whole says why.
 */
export async function replaySelected(
  topic: string,
  ids: readonly string[],
  ask: Ask,
  /** Called when the API answered the replay (the panel then clears its selection); a failure keeps it to retry. */
  onReplayed: () => void = () => undefined,
): Promise<string | undefined> {
  const what = ids.length === 1 ? `task ${ids[0]}` : `${ids.length} tasks`;
  return runAction(ask, {
    confirm: {
      question: `Replay ${what}? Each is delivered again from its first attempt.`,
      button: "Replay",
    },
    run: () => replayPage(topic, { task_ids: ids }),
    done: (page) => {
      const line = `replayed ${page.replayed} of ${new Set(ids).size} selected${notReplayed(page)}`;
      onReplayed();
      return line;
    },
    failed: "replay failed",
    unsure: `${what} may have been replayed`,
  });
}

function notReplayed(page: ReplayPage): string {
  if (page.failed.length === 0) return "";
  const named = page.failed
    .slice(0, FAILURES_NAMED)
    .map((f) => `${cut(f.task_id, FAILURE_PART_CHARS)} (${cut(f.reason, FAILURE_PART_CHARS)})`);
  const rest = page.failed.length - named.length;
  return `; not replayed: ${named.join(", ")}${rest > 0 ? `; and ${rest} more` : ""}`;
}
