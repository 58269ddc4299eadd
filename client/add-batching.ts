/**
 * Natural batching of `addTask` (issue 13, point 2): adds made while earlier ones are still in flight wait, and
 * go together as one `POST /v1/tasks/batch` when a request finishes, so a service that adds a task per request of
 * its own pays the batch price ($0.01 of API Gateway per task instead of $1.00 per million single adds) without
 * changing its code. As Kafka's producer with linger 0: no add ever waits for a batch to fill; a batch forms only
 * of calls that would otherwise have waited for a free request. Hand-written: the queue is a few lines, and what
 * matters is the mapping of each batch item onto the answer a single add would have given, which no generic
 * batching library (dataloader, SQS's buffered client) knows.
 */

import { MAX_REQUEST_BODY_BYTES } from "#shared/api/lambda-event-size.js";
import { IDEMPOTENCY_KEY_PATTERN, toIssues } from "#shared/domain/add-task-request.js";
import { MAX_JSON_DEPTH, scanStructure } from "#shared/domain/exact-json.js";
import { RESERVED_KEY_PREFIX } from "#shared/domain/reserved-keys.js";
import { safeParseBounded } from "#shared/zod.js";
import {
  BATCH_ENVELOPE,
  BATCH_ROUTE_RETRY_MS,
  type BatchCaps,
  type BodySize,
  fitsABatch,
  isSizeRefusal,
  NOTHING,
  plus,
  sizeOf,
} from "./batch-caps.js";
import { bodyText } from "./body-text.js";
import { checkKeyOption, errorFromResponse, firstProblem, PunctualError } from "./errors.js";
import { isFunctionFailure, RETRYABLE_STATUSES } from "./retry.js";
import type { AddTaskInput, CallOptions } from "./routes.js";
import type { AddTasksBatchResponse, BatchItemResult } from "./schemas.js";
import { type AddTaskResponse, addTaskResponseSchema, type ErrorIssue } from "./schemas.js";

export interface AddBatchingOptions {
  /** Add requests in flight at once before further adds wait to go as a batch. Default 4. */
  readonly maxInFlight?: number;
}

/**
 * Four requests in flight let a service's first few concurrent adds go at once, each with a lone add's latency,
 * and keep one slow request (a cold start, ~1 s) from holding every other caller back; any steadier flow than
 * four adds per round trip (~100 ms in-Region) already waits, and so goes in batches. More in flight would buy
 * latency only for bursts of 5–8 and send more of a steady flow as single adds at $1.00 per million.
 */
export const DEFAULT_MAX_IN_FLIGHT = 4;

/**
 * A batch body holds its items two levels down (`{"tasks":[item]}`), and the API refuses a whole body nested
 * deeper than MAX_JSON_DEPTH, or with a key given twice in one object, before any item is read: such an item would
 * fail every caller of its batch with its own 400.
 */
const ITEM_DEPTH_LIMIT = MAX_JSON_DEPTH - 2;

/** A batch request's answer as the client's engine gives it back after its retries. */
export interface SentBatch {
  readonly answer: AddTasksBatchResponse;
  /** Attempts the request took: each carried every item, so each counts against every item's budget. */
  readonly attempts: number;
  readonly requestId: string | undefined;
}

/** What the batcher needs from the client's engine (client/client.ts). */
export interface AddSender {
  /**
   * `POST /v1/tasks` exactly as a lone `addTask` sends it: this body text (the call's, written when it was made),
   * this `idempotency-key` header unless undefined, `attemptsUsed` of its retry budget already spent.
   */
  single(add: LoneAdd, attemptsUsed: number): Promise<AddTaskResponse>;
  /** `POST /v1/tasks/batch` with this body, with the client's retries of the whole request. */
  batch(body: string): Promise<SentBatch>;
  /** Waits before attempt `attempt + 1` of one item (its backoff, as a single add's). */
  backoff(attempt: number): Promise<void>;
  readonly maxAttempts: number;
  /** The batch caps, shared with `addTasks`. */
  readonly caps: BatchCaps;
  newKey(): string;
  /** The client's clock (epoch ms). */
  now(): number;
}

/** A call as its lone `POST /v1/tasks` carries it. */
export interface LoneAdd {
  /**
   * The body's JSON text, written when the call is made, as a lone add's is: whatever the caller's object (or
   * its getters) says later, every request for this call (a batch item, a retry alone) carries this content.
   */
  readonly body: string | undefined;
  /** The `idempotency-key` header: the option's or a new one; undefined when the body carries its own key. */
  readonly idempotencyKey: string | undefined;
  readonly signal: AbortSignal | undefined;
  /** The add's topic, which its answer's task must be of (undefined: not a string, refused). */
  readonly topic: string | undefined;
}

/** One `addTask` call from its start to its answer. */
interface PendingAdd extends LoneAdd {
  /** Call order: a retried item goes back among the waiting calls in its place. */
  readonly seq: number;
  /** The body carries its own `idempotency_key` (then the option's is not sent, as by a lone add). */
  readonly bodyKeyed: boolean;
  /** The key it carries (the body's, else the header's), by which two calls may share one task. */
  readonly key: string | undefined;
  /**
   * The item as a batch would carry it (the body with its key), made when the call first waits (a lone call's body
   * gets no copy); undefined when it must go alone.
   */
  item: string | undefined;
  itemSize: BodySize;
  attempts: number;
  settled: boolean;
  resolve(answer: AddTaskResponse): void;
  reject(error: unknown): void;
  /** Removes the abort listener. */
  release(): void;
}

export class AddBatcher {
  readonly #sender: AddSender;
  readonly #maxInFlight: number;
  readonly #waiting: PendingAdd[] = [];
  /**
   * The batch route was refused (403, 404, 405): until this time (epoch ms) every add goes alone, at once
   * (`#sendAloneAfterRefusal`); after it, calls wait and batch again.
   */
  #refusedUntil = 0;
  #inFlight = 0;
  #seq = 0;

  constructor(sender: AddSender, options: AddBatchingOptions = {}) {
    const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new RangeError(`addBatching.maxInFlight must be a whole number ≥ 1, got ${maxInFlight}`);
    }
    this.#sender = sender;
    this.#maxInFlight = maxInFlight;
  }

  #batchesRefused(): boolean {
    return this.#sender.now() < this.#refusedUntil;
  }

  /** Requests that may be in flight before calls wait: none wait while the batch route is refused. */
  #inFlightLimit(): number {
    return this.#batchesRefused() ? Number.POSITIVE_INFINITY : this.#maxInFlight;
  }

  /** `addTask`: sent at once while fewer than maxInFlight adds are in flight, else queued for the next batch. */
  add(input: AddTaskInput, options: CallOptions = {}): Promise<AddTaskResponse> {
    return new Promise<AddTaskResponse>((resolve, reject) => {
      const pending = this.#pending(input, options, resolve, reject);
      // A lone call: exactly today's request, its abort left to fetch as before.
      if (this.#inFlight < this.#inFlightLimit() && this.#waiting.length === 0) this.#start([pending]);
      else this.#wait(pending, input);
    });
  }

  /** Queues a call behind the requests in flight, as a batch item if it can be one, until sent or aborted. */
  #wait(pending: PendingAdd, input: AddTaskInput): void {
    const { signal } = pending;
    if (signal?.aborted) {
      this.#settle(pending, () => pending.reject(signal.reason));
      return;
    }
    pending.item = this.#batchesRefused() ? undefined : batchItem(input, pending);
    pending.itemSize = pending.item === undefined ? NOTHING : sizeOf(pending.item);
    if (signal) {
      const onAbort = () => this.#abort(pending, signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      pending.release = () => signal.removeEventListener("abort", onAbort);
    }
    this.#waiting.push(pending);
    this.#drain();
  }

  /**
   * How many waiting calls the next request takes — the oldest and the ones after it that fit one batch with it
   * under the caps (client/batch-caps.ts: items, UTF-8 bytes of the JSON sent, bytes escaped into the function's
   * event), stopping at a call that must go alone so that no call overtakes an earlier one — and whether it is
   * `complete`: it can take no more calls (a call that must go alone, or a batch that is full or stopped by the next
   * call). Looks at most `tasks` + 1 calls; and since only a batch that can still grow is left waiting, the queue
   * never holds more. Called with calls waiting.
   */
  #nextRequest(): { readonly length: number; readonly complete: boolean } {
    const first = this.#waiting[0] as PendingAdd;
    if (first.item === undefined) return { length: 1, complete: true };
    const most = this.#sender.caps.limits().tasks;
    const sizes: BodySize[] = [];
    for (const pending of this.#waiting) {
      if (pending.item === undefined || sizes.length > most) break;
      sizes.push(pending.itemSize);
    }
    const { length, full } = this.#sender.caps.take(sizes);
    return { length, complete: full || length < this.#waiting.length };
  }

  #pending(
    input: AddTaskInput,
    options: CallOptions,
    resolve: (answer: AddTaskResponse) => void,
    reject: (error: unknown) => void,
  ): PendingAdd {
    // As a lone add: the body's key when it has one (the option is then not sent), else the option's, else new.
    const bodyKeyed = (input as { idempotency_key?: unknown } | undefined)?.idempotency_key !== undefined;
    const { topic, key } = sentItemOf(input);
    // As a lone add: a key option no header can carry is refused (throwing here rejects the call), nothing sent.
    if (!bodyKeyed) checkKeyOption(options.idempotencyKey);
    const idempotencyKey = bodyKeyed ? undefined : (options.idempotencyKey ?? this.#sender.newKey());
    return {
      seq: this.#seq++,
      bodyKeyed,
      topic,
      key: bodyKeyed ? key : idempotencyKey,
      // A value JSON cannot write (a BigInt, a cycle) throws here, rejecting the call as a lone add's would.
      body: bodyText(input),
      idempotencyKey,
      signal: options.signal,
      item: undefined,
      itemSize: NOTHING,
      attempts: 0,
      settled: false,
      resolve,
      reject,
      release: () => {},
    };
  }

  /**
   * Sends waiting calls, oldest first, while a request may start, and whatever is in flight a next request that can
   * take no more calls (as Kafka's producer sends a full batch without waiting for its linger): `maxInFlight` holds
   * calls back so that they batch, and these either did or never can (a call that must go alone). Holding those
   * back too would cap a busy client at maxInFlight × 100 adds per round trip, which a loaded API makes long, and
   * let calls pile up behind a lone one without bound. Called whenever the queue changes (a call queued or
   * aborted, a request finished, a retry back in its place).
   */
  #drain(): void {
    while (this.#waiting.length > 0) {
      const next = this.#nextRequest();
      if (this.#inFlight >= this.#inFlightLimit() && !next.complete) return;
      this.#start(this.#waiting.splice(0, next.length));
    }
  }

  #start(group: PendingAdd[]): void {
    this.#inFlight++;
    // The request's slot frees as soon as its answer is in, before its callers hear it: a caller that adds again
    // on hearing its answer finds nothing of its own still in flight (its call goes at once, not into a batch).
    let counted = true;
    const free = () => {
      if (counted) this.#inFlight--;
      counted = false;
    };
    const sent =
      group.length === 1 ? this.#sendAlone(group[0] as PendingAdd, free) : this.#sendBatch(group, free);
    void sent.finally(() => {
      free();
      this.#drain();
    });
  }

  async #sendAlone(pending: PendingAdd, free: () => void): Promise<void> {
    // fetch carries the signal from here, as for any lone add.
    pending.release();
    try {
      const answer = await this.#sender.single(pending, pending.attempts).finally(free);
      this.#settle(pending, () => pending.resolve(answer));
    } catch (error) {
      this.#settle(pending, () => pending.reject(error));
    }
  }

  async #sendBatch(group: PendingAdd[], free: () => void): Promise<void> {
    let sent: SentBatch;
    try {
      sent = await this.#sender
        .batch(`{"tasks":[${group.map((pending) => pending.item).join(",")}]}`)
        .finally(free);
    } catch (error) {
      if (isGatewayRefusal(error)) {
        this.#sendAloneAfterRefusal(group);
        return;
      }
      if (isSizeRefusal(error)) {
        this.#splitAfterRefusal(group, error.status);
        return;
      }
      if (isFunctionFailure(error)) {
        this.#splitAfterFailure(group);
        return;
      }
      // The whole request failed after the client's retries (a 503 each time, no answer, a 401): every caller in
      // it gets that error, the one its own add would have got.
      for (const pending of group) this.#settle(pending, () => pending.reject(error));
      return;
    }
    const { results } = sent.answer;
    const mismatch = resultsMismatch(group, results);
    if (mismatch) {
      const error = invalidBatchAnswer(sent, mismatch);
      for (const pending of group) this.#settle(pending, () => pending.reject(error));
      return;
    }
    group.forEach((pending, index) => {
      pending.attempts += sent.attempts;
      this.#answerItem(pending, results[index] as BatchItemResult, sent, index);
    });
  }

  /**
   * API Gateway refused the batch route before our code ran (403 `forbidden`: an IAM policy or JWT scopes that
   * allow `POST /v1/tasks` only; 404/405: an API without the route), so nothing of the batch was added. Rather
   * than fail, under load only, adds that a lone call would have made, this client sends every add alone for
   * BATCH_ROUTE_RETRY_MS, as with `addBatching: false`: this batch's calls first, in call order, and nothing waits
   * for a free request meanwhile.
   */
  #sendAloneAfterRefusal(group: PendingAdd[]): void {
    this.#refusedUntil = this.#sender.now() + BATCH_ROUTE_RETRY_MS;
    this.#waiting.unshift(...group.filter((pending) => !pending.settled));
    for (const pending of this.#waiting) pending.item = undefined;
  }

  /**
   * The batch was refused whole for its size before any add ran: 413 (a proxy in front of the API, or an API, with
   * a lower body limit than MAX_BATCH_BODY_BYTES) or 400 (an older API taking fewer than MAX_BATCH_TASKS items).
   * Failing its callers would fail adds that a lone call, or a smaller batch, would have made; so for
   * BATCH_ROUTE_RETRY_MS this client forms batches no larger than this one's first half (its item count after a
   * 400, its bytes after a 413), and its calls go back among the waiting ones in call order, each with the key it
   * carried: a call refused again keeps halving its batch, and refused alone gets its own single add's error.
   */
  #splitAfterRefusal(group: PendingAdd[], status: number): void {
    this.#sender.caps.refused(
      group.map((pending) => pending.itemSize),
      status,
    );
    for (const pending of group) if (!pending.settled) this.#requeue(pending);
  }

  /**
   * The batch was answered 500: the function failed (a bug, a crash) on something in it, maybe one call's add, where
   * the other calls' adds would have been made alone. Its calls go again at once in two halves, each with the key
   * it carried (an add the failed request made is found, not made again), halving again down to single adds, so a
   * 500 ends up with the call whose add fails alone — its single add's error — and the others get their tasks. An
   * API that fails every request costs at most 2n − 1 requests for n calls, all answered 500. The halves start
   * whatever is in flight: the calls already waited their turn once.
   */
  #splitAfterFailure(group: PendingAdd[]): void {
    const open = group.filter((pending) => !pending.settled);
    const half = Math.ceil(open.length / 2);
    for (const part of [open.slice(0, half), open.slice(half)]) if (part.length > 0) this.#start(part);
  }

  /** Puts a call back among the waiting ones in its call order. */
  #requeue(pending: PendingAdd): void {
    const at = this.#waiting.findIndex((waiting) => waiting.seq > pending.seq);
    this.#waiting.splice(at === -1 ? this.#waiting.length : at, 0, pending);
  }

  /** One item's result as its caller's answer: what a single add with this answer would have resolved or thrown. */
  #answerItem(pending: PendingAdd, result: BatchItemResult, sent: SentBatch, index: number): void {
    // Aborted while in flight: already rejected with the signal's reason, whatever the item's result.
    if (pending.settled) return;
    if (RETRYABLE_STATUSES.has(result.status) && pending.attempts < this.#sender.maxAttempts) {
      void this.#retryLater(pending);
      return;
    }
    const outcome = itemOutcome(result, sent, index);
    this.#settle(pending, () =>
      "answer" in outcome ? pending.resolve(outcome.answer) : pending.reject(outcome.error),
    );
  }

  /**
   * A 503 item waits its backoff, then goes back among the waiting calls in call order, with the same key, to be
   * sent alone: in another batch, that batch's retries would spend more of its budget than a single add's has left.
   */
  async #retryLater(pending: PendingAdd): Promise<void> {
    try {
      await this.#sender.backoff(pending.attempts);
    } catch (error) {
      // As a lone add's retry whose wait fails: the call rejects with that failure (nobody else awaits this).
      this.#settle(pending, () => pending.reject(error));
      return;
    }
    if (pending.settled) return;
    pending.item = undefined;
    this.#requeue(pending);
    this.#drain();
  }

  /** Aborted before its answer: out of the queue if it waits there; once sent, the add may still happen. */
  #abort(pending: PendingAdd, reason: unknown): void {
    const at = this.#waiting.indexOf(pending);
    if (at !== -1) this.#waiting.splice(at, 1);
    this.#settle(pending, () => pending.reject(reason));
    this.#drain();
  }

  #settle(pending: PendingAdd, answer: () => void): void {
    if (pending.settled) return;
    pending.settled = true;
    pending.release();
    answer();
  }
}

/**
 * The call as a batch item: its lone body with its key in it (the header's, unless the body has its own), or
 * undefined when it must go alone to be answered as a lone add: a header key the API would refuse (its pattern, or
 * the reserved `schedule:` prefix: a lone add names the header in its error, a batch item the body field), a body
 * key that is no string (it keys nothing), an input that is not a plain object or that `toJSON` rewrites (its key
 * could be lost), a body over the single add's byte cap (its lone add answers 413,
 * where a batch, capped at 4 MiB, would add it), or one the API would refuse as a whole batch body (nested too
 * deep two levels down, a key given twice), which would fail its neighbours too.
 */
function batchItem(input: AddTaskInput, add: PendingAdd): string | undefined {
  if (!isPlainObject(input) || "toJSON" in input || add.body === undefined) return undefined;
  if (Buffer.byteLength(add.body) > MAX_REQUEST_BODY_BYTES) return undefined;
  const { body, bodyKeyed, idempotencyKey: key } = add;
  if (!bodyKeyed && !batchableHeaderKey(key)) return undefined;
  // A body key that is no string keys nothing: a batch is sent again (in halves after a 500) only if each item's
  // key would find the task a failed request made, so such a call is not in one (the API refuses it anyway).
  if (bodyKeyed && add.key === undefined) return undefined;
  // The key as the body's last field: the body is a plain object's JSON text, `{` … `}`.
  const keyField = `"idempotency_key":${JSON.stringify(key)}`;
  const item = bodyKeyed ? body : `${body.slice(0, -1)}${body === "{}" ? "" : ","}${keyField}}`;
  if (scanStructure(item, ITEM_DEPTH_LIMIT) !== undefined) return undefined;
  return fitsABatch(plus(BATCH_ENVELOPE, sizeOf(item))) ? item : undefined;
}

/**
 * A key option the API takes as an item's `idempotency_key`: one it refuses — by its pattern, or by the prefix
 * reserved for schedule occurrences — goes alone, so the error names the header it came in, as a lone add's does.
 */
function batchableHeaderKey(key: string | undefined): key is string {
  return typeof key === "string" && IDEMPOTENCY_KEY_PATTERN.test(key) && !key.startsWith(RESERVED_KEY_PREFIX);
}

/**
 * The batch route refused before any add ran, so nothing of the batch was added, where a lone add still succeeds:
 * API Gateway's 403 (the client's `forbidden`; our code answers its own codes), or a 404/405, which the batch
 * handler never answers: the API has no batch route (API Gateway's own 404, or a Punctual API from before the
 * route, whose unmatched-route function answers 405 for a path under `/v1/tasks/{id}`).
 */
function isGatewayRefusal(error: unknown): boolean {
  if (!(error instanceof PunctualError)) return false;
  return error.code === "forbidden" || error.status === 404 || error.status === 405;
}

/** A task id names its topic first (`<topic>.<…>`): an answer's task is of the topic asked, or not. */
export const isTaskOfTopic = (taskId: string, topic: string): boolean => taskId.startsWith(`${topic}.`);

/** What a batch result at an item's place is checked against: the item's topic and key (undefined: not a string). */
export interface SentItem {
  readonly topic: string | undefined;
  readonly key: string | undefined;
}

/** An add body's topic and `idempotency_key`, as `resultsMismatch` checks its result. */
export function sentItemOf(body: unknown): SentItem {
  const { topic, idempotency_key: key } = (body ?? {}) as { topic?: unknown; idempotency_key?: unknown };
  return {
    topic: typeof topic === "string" ? topic : undefined,
    key: typeof key === "string" ? key : undefined,
  };
}

/**
 * The number a message gives a request's item at `index`: its place in the caller's own batch (`numbers`, for a
 * part `addTasks` sends of it: a half, a retry of some items), else its place in the request. Named by its place in
 * a part, item 1 of a second half was the caller's item 3.
 */
const itemNumber = (index: number, numbers: readonly number[] | undefined): number =>
  numbers?.[index] ?? index;

/**
 * Why a batch's results cannot be the answers to these items, read by position: another count, a task of another
 * topic at an item's place (results out of order), or one task at two items' places that do not share a key —
 * each would give a caller another's task; undefined when they can be. Results of one topic swapped cannot be told
 * apart: an item's answer names only its task. `numbers`: each item's place in the caller's batch (`itemNumber`).
 */
export function resultsMismatch(
  items: readonly SentItem[],
  results: readonly BatchItemResult[],
  numbers?: readonly number[],
): string | undefined {
  if (results.length !== items.length) return `${results.length} results for ${items.length} items`;
  const index = items.findIndex(({ topic }, i) => {
    const result = results[i] as BatchItemResult;
    if (topic === undefined || result.status < 200 || result.status >= 300) return false;
    const ofTopic = result.task_id === undefined || isTaskOfTopic(result.task_id, topic);
    return !ofTopic || (result.topic !== undefined && result.topic !== topic);
  });
  if (index !== -1) {
    const n = itemNumber(index, numbers);
    return `result ${n} is a task of another topic than item ${n}'s "${items[index]?.topic}": results out of order`;
  }
  return sharedTask(items, results, numbers);
}

/**
 * A task answered at two items' places: right only when both carry one key (the later found the earlier's task by
 * it, as a second single add with that key would); otherwise one caller would get another's task.
 */
function sharedTask(
  items: readonly SentItem[],
  results: readonly BatchItemResult[],
  numbers: readonly number[] | undefined,
): string | undefined {
  const keyOfTask = new Map<string, string | undefined>();
  for (const [index, result] of results.entries()) {
    if (result.status < 200 || result.status >= 300 || result.task_id === undefined) continue;
    const key = items[index]?.key;
    if (!keyOfTask.has(result.task_id)) keyOfTask.set(result.task_id, key);
    else if (key === undefined || keyOfTask.get(result.task_id) !== key) {
      return `result ${itemNumber(index, numbers)} is the task of an earlier item with another idempotency key: results of other tasks`;
    }
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** A final item result as its caller's answer, or the PunctualError a single add with that answer would throw. */
function itemOutcome(
  result: BatchItemResult,
  sent: SentBatch,
  index: number,
): { readonly answer: AddTaskResponse } | { readonly error: PunctualError } {
  if (result.status >= 200 && result.status < 300) {
    const answer = addAnswerOf(result);
    const parsed = safeParseBounded(addTaskResponseSchema, answer);
    if (parsed.success) return { answer: parsed.data };
    const issues = toIssues(parsed.error.issues, answer);
    return { error: invalidBatchAnswer(sent, `item ${index} ${firstProblem(issues)}`, issues) };
  }
  // The item's error is the body a single add would have answered; read it as a single add's answer is read.
  return { error: errorFromResponse(result.status, JSON.stringify({ error: result.error }), sent.requestId) };
}

/**
 * Where a batch answer names an item added (2xx) that is no add's answer (no `task_id`, `topic`, `task_status` or
 * `due_at`), as `itemOutcome` reads a batched call's item; undefined when every added item is one. `addTasks` hands
 * its caller the results whole: such an item looked added with no task to name (the CLI printed an empty task id
 * and exited 0), where a single add answered so is an `invalid_response`. `numbers`: as `resultsMismatch`'s.
 */
export function addedItemProblem(
  results: readonly BatchItemResult[],
  numbers?: readonly number[],
): string | undefined {
  for (const [index, result] of results.entries()) {
    if (result.status < 200 || result.status >= 300) continue;
    const answer = addAnswerOf(result);
    const parsed = safeParseBounded(addTaskResponseSchema, answer);
    if (!parsed.success) {
      return `item ${itemNumber(index, numbers)} ${firstProblem(toIssues(parsed.error.issues, answer))}`;
    }
  }
  return undefined;
}

/**
 * A batch item's 201/200 as a single add's body: the batch names the task's status `task_status` (its `status`
 * is the item's HTTP status); every other field is the single add's, `subscribers` included.
 */
function addAnswerOf(result: BatchItemResult): Record<string, unknown> {
  const { status: _httpStatus, task_status, error: _error, ...task } = result;
  return { ...task, status: task_status };
}

export function invalidBatchAnswer(
  sent: Pick<SentBatch, "requestId">,
  detail: string,
  issues: readonly ErrorIssue[] = [],
): PunctualError {
  return new PunctualError({
    code: "invalid_response",
    status: 200,
    message: `the API's answer to POST /v1/tasks/batch does not match its request: ${detail}`,
    issues,
    ...(sent.requestId ? { requestId: sent.requestId } : {}),
  });
}
