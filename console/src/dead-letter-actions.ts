/**
 * The dead-letter panel's replays, without the DOM (the panel wires them to its buttons): each asks, calls the
 * replay route (POST /v1/topics/{topic}/replay) and answers the line the panel shows — what was replayed, or
 * why not. None rejects: a click handler's rejection was shown nowhere. test/unit/console/dead-letter-actions.test.ts.
 */
import * as z from "zod";
import { type Ask, errorText, parseAnswer } from "./action.js";
import { call } from "./api.js";
import { type ReplayPage, replayAll, replayAllMessage } from "./replay-all.js";

export interface ReplayFilter {
  readonly error_contains?: string;
  readonly failed_after?: string;
  readonly failed_before?: string;
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

/**
 * "Replay all matching": a dry run counts what matches for the question; on yes, replays page by page
 * (replay-all.ts bounds it). A failed or malformed dry run is the answer, and nothing is asked.
 */
export async function replayMatching(
  topic: string,
  filter: ReplayFilter,
  ask: Ask,
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
  const outcome = await replayAll(async (cursor) => {
    try {
      return await replayPage(topic, { ...filter, ...(cursor ? { cursor } : {}) });
    } catch (error) {
      // The stop's detail is the API's code and message, cut (replay-all.ts shows an Error's message).
      throw new Error(errorText(error));
    }
  });
  return replayAllMessage(outcome);
}
