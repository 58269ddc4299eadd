/**
 * `addTasks` (`POST /v1/tasks/batch` called directly): the caller's batch sent under the batch caps it shares with
 * the batcher (client/batch-caps.ts), so an API or proxy that takes smaller batches than the API's own caps (a 413,
 * or an older API's 400) gets the batch again in halves, one after another in request order, each item with the one
 * key it carried (nothing added twice), and the caller gets one result per item in its order, as from one request.
 * A part answered 500 goes again in halves the same way, as the batcher's batches do. Then its items answered 503
 * (or another retryable status) are sent again, the same way, until each has had `maxAttempts` requests.
 */

import { addTasksBatchBodySchema } from "#shared/api/schemas/batch.js";
import { MAX_JSON_DEPTH, scanStructure } from "#shared/domain/exact-json.js";
import { safeParseBounded } from "#shared/zod.js";
import { type SentBatch, type SentItem, sentItemOf } from "./add-batching.js";
import { type BatchCaps, type BodySize, isSizeRefusal, sizeOf } from "./batch-caps.js";
import { exactItemTexts } from "./body-text.js";
import { PunctualError, parseJson } from "./errors.js";
import { isFunctionFailure, RETRYABLE_STATUSES } from "./retry.js";
import type { AddTasksBatchResponse, BatchItemResult } from "./schemas.js";

/** What `addTasks` needs from the client's engine (client/client.ts). */
export interface BatchSender {
  /**
   * One `POST /v1/tasks/batch` with this body, with the client's retries of the whole request (`attemptsUsed` of
   * the budget already spent), its results checked against these items by position (`resultsMismatch`), a problem
   * naming an item by `numbers`: each one's place in the caller's batch, not in this part of it.
   */
  send(
    body: string,
    items: readonly SentItem[],
    attemptsUsed: number,
    numbers: readonly number[],
  ): Promise<SentBatch>;
  /** Waits before sending again items that have had `attempt` requests (their backoff; ends at the call's abort). */
  backoff(attempt: number): Promise<void>;
  readonly maxAttempts: number;
  readonly caps: BatchCaps;
  readonly signal: AbortSignal | undefined;
}

/** The items, as sent: each one's JSON text (its key in it), size, and topic and key. */
export interface Items {
  readonly texts: readonly string[];
  readonly sizes: readonly BodySize[];
  readonly sent: readonly SentItem[];
}

/** One round's answers, in the order of the items it sent; fewer when it stopped. */
interface Round {
  readonly results: BatchItemResult[];
  readonly attempts: number;
  /** Its first answer, whose fields beside `results` the call's answer keeps. */
  readonly answer: AddTasksBatchResponse | undefined;
  /** A part that failed whole, the items after those answered: its error and how many items it held. */
  readonly failed?: { readonly error: PunctualError; readonly items: number };
  /**
   * Items after those answered that a request answered 500 held (the round stopped at a later part's item answered
   * 5xx, or at that request): up to `end`, that request's error. It may have added them, so unless a later round
   * answers them, that is their result, not "not sent" nor an earlier round's 503.
   */
  readonly held?: { readonly error: PunctualError; readonly end: number };
}

/**
 * A batch body the client may send in parts: exactly `{"tasks":[item,…]}` with 1–MAX_BATCH_TASKS items, one the API
 * takes as a batch (its schema, depth and keys), so that a 400 refusing it whole can only be a lower item cap. Its
 * items (their texts, and each one's topic and key), or undefined: a body the API refuses whole is sent as it is, for
 * the API's own 400.
 */
export function batchItems(body: string | undefined): Items | undefined {
  if (body === undefined || scanStructure(body, MAX_JSON_DEPTH) !== undefined) return undefined;
  const parsed = safeParseBounded(addTasksBatchBodySchema, parseJson(body));
  if (!parsed.success) return undefined;
  const written = (texts: readonly string[] | undefined) => body === `{"tasks":[${texts?.join(",")}]}`;
  let texts: readonly string[] | undefined = parsed.data.tasks.map((task) => JSON.stringify(task));
  // Items with a number written exactly (bodyText: a due time's digits past a double's) are read as written.
  if (!written(texts)) texts = exactItemTexts(body);
  if (!texts || !written(texts)) return undefined;
  return { texts, sizes: texts.map(sizeOf), sent: parsed.data.tasks.map(sentItemOf) };
}

/** `addTasks`' answer for these items (each with its key), from as many requests as it takes. */
export async function addInBatches(sender: BatchSender, items: Items): Promise<AddTasksBatchResponse> {
  const all = items.texts.map((_, index) => index);
  const first = await round(sender, items, all, 0);
  // Nothing answered: the call fails as a single request would, nothing lost.
  if (first.failed && first.results.length === 0) throw first.failed.error;
  const results = all.map((index) => first.results[index] ?? unanswered(first, index));
  const held = new Map<number, PunctualError>();
  heldBy(first, all, held);
  let used = first.attempts;
  let again = first.failed ? [] : retryable(results, all);
  while (again.length > 0 && used < sender.maxAttempts) {
    await sender.backoff(used);
    const next = await round(sender, items, again, used);
    next.results.forEach((result, k) => {
      results[again[k] as number] = result;
      held.delete(again[k] as number);
    });
    heldBy(next, again, held);
    used += next.attempts;
    // A retry that fails whole leaves its items' and the later ones' last answers as they were (but a 500's: `held`).
    if (next.failed) break;
    again = retryable(results, again);
  }
  for (const [index, error] of held) results[index] = errorResult(error);
  const added = results.filter((result) => result.status >= 200 && result.status < 300).length;
  return { ...first.answer, results, added, failed: results.length - added };
}

/** Notes the items of `indexes` that a round left unanswered though a request answered 500 held them (`held`). */
function heldBy(done: Round, indexes: readonly number[], held: Map<number, PunctualError>): void {
  if (!done.held) return;
  for (const index of indexes.slice(done.results.length, done.held.end)) held.set(index, done.held.error);
}

/**
 * These items in batches under the caps, one after another in request order. A part refused whole for its size
 * teaches the caps and goes again in halves; an item refused so alone gets that refusal as its result (a call of
 * one item fails with it, as the one request it is). A part answered 500 (the function failed on something in it)
 * goes again in halves, each item with its key, down to the item it fails on alone (`Halving`). After a part with an
 * item answered 5xx, or an item answered 500 alone, the rest are not sent, as the API attempts no item of an
 * ordering group after one that failed: the client cannot tell the groups, and a later item of that group must not
 * be accepted before it.
 */
async function round(
  sender: BatchSender,
  items: Items,
  indexes: readonly number[],
  used: number,
): Promise<Round> {
  const results: BatchItemResult[] = [];
  let attempts = 0;
  let answer: AddTasksBatchResponse | undefined;
  const halving = new Halving();
  while (results.length < indexes.length) {
    const at = results.length;
    const most = Math.min(sender.caps.limits().tasks, halving.most(at));
    const rest = indexes.slice(at, at + most + 1);
    const fitting = sender.caps.take(rest.map((index) => items.sizes[index] as BodySize)).length;
    const part = rest.slice(0, Math.min(fitting, most));
    const body = `{"tasks":[${part.map((index) => items.texts[index]).join(",")}]}`;
    const sentItems = part.map((index) => items.sent[index] as SentItem);
    let sent: SentBatch;
    try {
      sent = await sender.send(body, sentItems, used, part);
    } catch (error) {
      if (sender.signal?.aborted || !(error instanceof PunctualError)) throw error;
      if (isSizeRefusal(error) && items.texts.length > 1) {
        if (part.length > 1)
          sender.caps.refused(
            part.map((index) => items.sizes[index] as BodySize),
            error.status,
          );
        else results.push(errorResult(error));
        continue;
      }
      if (isFunctionFailure(error) && part.length > 1 && sentItems.every(isKeyed)) {
        halving.failed(at, part.length, error);
        continue;
      }
      const end = halving.reach(at + part.length);
      const held = isFunctionFailure(error) ? { error, end } : undefined;
      return { results, attempts, answer, failed: { error, items: end - at }, held };
    }
    results.push(...sent.answer.results);
    attempts = Math.max(attempts, sent.attempts);
    answer ??= sent.answer;
    if (sent.answer.results.some((result) => result.status >= 500)) break;
  }
  return { results, attempts, answer, held: halving.holding(results.length) };
}

/**
 * The parts a round sends after a part answered 500: its first half, then (unless that one stops the round) its
 * second, each halving again when answered 500, as a stack of the failed parts' ends and their halves' sizes. As
 * the batcher's halving, but one part after another: n items failing every request cost at most ⌈log₂ n⌉ + 1
 * requests, the round stopping at its first item answered 500 alone.
 */
class Halving {
  readonly #failed: { readonly end: number; readonly most: number; readonly error: PunctualError }[] = [];

  /**
   * How many items the part starting at item `at` (of the round) may hold: unbounded outside a failed part; within
   * one, a half of it and nothing past its end (an odd part's second half is the smaller one), so each failed part
   * lies within the one it halves and the first on the stack reaches furthest (`reach`, `holding`).
   */
  most(at: number): number {
    while ((this.#failed.at(-1)?.end ?? Number.POSITIVE_INFINITY) <= at) this.#failed.pop();
    const inside = this.#failed.at(-1);
    return inside ? Math.min(inside.most, inside.end - at) : Number.POSITIVE_INFINITY;
  }

  failed(at: number, length: number, error: PunctualError): void {
    this.#failed.push({ end: at + length, most: Math.ceil(length / 2), error });
  }

  /**
   * Where the items a request answered 500 held end, at or past `end`: those after the one that failed alone were
   * in that request too, and keep its 500 (it may have added them), rather than read as never sent.
   */
  reach(end: number): number {
    return Math.max(end, this.#failed[0]?.end ?? end);
  }

  /** The outermost request answered 500 that held items from `at` on, when the round stops there. */
  holding(at: number): Round["held"] {
    const outermost = this.#failed[0];
    return outermost && outermost.end > at ? { error: outermost.error, end: outermost.end } : undefined;
  }
}

/** An item with a key: sent again, it finds the task a request answered 500 may have made instead of a second. */
const isKeyed = (item: SentItem): boolean => item.key !== undefined;

/** An item the first round did not answer: in the part that failed whole, that part's error; after it, not sent. */
function unanswered(first: Round, index: number): BatchItemResult {
  const { failed, results } = first;
  if (failed && index < results.length + failed.items) return errorResult(failed.error);
  return {
    status: 503,
    error: {
      code: "service_unavailable",
      message:
        "not sent: an earlier item of this batch failed, and this one may be of its ordering group; nothing was done, send it again after that item",
    },
  };
}

/**
 * An error as an item's result, as the API writes an item's error; its status 0 when the error was no error answer
 * (no answer: `network_error`; a 2xx that could not be read: `invalid_response`), so that no such item reads as added.
 */
function errorResult(error: PunctualError): BatchItemResult {
  const issues = error.issues.length > 0 ? { issues: [...error.issues] } : {};
  return {
    status: error.status >= 400 ? error.status : 0,
    error: { ...error.details, code: error.code, message: error.message, ...issues },
  };
}

/** Of these items, those whose result says to send them again (RETRYABLE_STATUSES: 503, 429, …), in order. */
function retryable(results: readonly BatchItemResult[], indexes: readonly number[]): number[] {
  return indexes.filter((index) => RETRYABLE_STATUSES.has((results[index] as BatchItemResult).status));
}
