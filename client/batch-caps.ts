/**
 * How many adds one `POST /v1/tasks/batch` may carry: the API's caps, or smaller ones learned from a batch refused
 * whole for its size. One instance per client, shared by `addTasks` and the batches `addTask` forms
 * (client/add-batching.ts), so whichever meets a lower cap first spares the other the refused round trip, and both
 * halve a refused batch by the same rule.
 */

import { lambdaEventBytes, MAX_EVENT_BODY_BYTES } from "#shared/api/lambda-event-size.js";
import { MAX_BATCH_BODY_BYTES, MAX_BATCH_TASKS } from "#shared/api/schemas/batch.js";
import { PunctualError } from "./errors.js";

/**
 * A batch body's two sizes, both capped: its UTF-8 bytes (MAX_BATCH_BODY_BYTES) and its bytes once escaped into the
 * function's event (MAX_EVENT_BODY_BYTES: Lambda's 6 MB). Both add up over the items, their commas and the envelope.
 */
export interface BodySize {
  readonly bytes: number;
  readonly eventBytes: number;
}

export const sizeOf = (text: string): BodySize => ({
  bytes: Buffer.byteLength(text),
  eventBytes: lambdaEventBytes(text),
});
export const plus = (a: BodySize, b: BodySize): BodySize => ({
  bytes: a.bytes + b.bytes,
  eventBytes: a.eventBytes + b.eventBytes,
});
export const fitsABatch = (size: BodySize) =>
  size.bytes <= MAX_BATCH_BODY_BYTES && size.eventBytes <= MAX_EVENT_BODY_BYTES;
export const BATCH_ENVELOPE = sizeOf('{"tasks":[]}');
const COMMA = sizeOf(",");
export const NOTHING: BodySize = { bytes: 0, eventBytes: 0 };

/** The most a batch holds: items, and UTF-8 bytes of its body. */
export interface BatchLimits {
  readonly tasks: number;
  readonly bytes: number;
}
const API_LIMITS: BatchLimits = { tasks: MAX_BATCH_TASKS, bytes: MAX_BATCH_BODY_BYTES };

/**
 * How long the client holds what a refusal taught it (the batch route refused: every add alone; a batch refused for
 * its size: smaller batches) before it tries the API's own again: a 403 can pass (credentials that expired answer
 * 403 too), an API can gain the route, a proxy its limit; a caller that may not batch pays one refused round trip
 * per period.
 */
export const BATCH_ROUTE_RETRY_MS = 10 * 60_000;

export class BatchCaps {
  readonly #now: () => number;
  #learned: BatchLimits & { readonly until: number } = { ...API_LIMITS, until: 0 };

  constructor(now: () => number) {
    this.#now = now;
  }

  /** The caps a batch is formed under: the API's, or smaller ones learned from a refused batch, for a while. */
  limits(): BatchLimits {
    return this.#now() < this.#learned.until ? this.#learned : API_LIMITS;
  }

  /**
   * How many of these items, from the first, the next batch takes — at most `limits().tasks`, its body within both
   * size caps and `limits().bytes` — and whether it is `full` (it could take no further item). The first is always
   * taken: an item too large for any batch goes alone, to get its own refusal.
   */
  take(sizes: readonly BodySize[]): { readonly length: number; readonly full: boolean } {
    const limits = this.limits();
    let size = plus(BATCH_ENVELOPE, sizes[0] ?? NOTHING);
    let length = 1;
    for (; length < sizes.length; length++) {
      if (length >= limits.tasks) return { length, full: true };
      const withNext = plus(plus(size, COMMA), sizes[length] as BodySize);
      if (!fitsABatch(withNext) || withNext.bytes > limits.bytes) return { length, full: true };
      size = withNext;
    }
    return { length, full: length >= limits.tasks };
  }

  /**
   * A batch of these items was refused whole for its size (`isSizeRefusal`): for BATCH_ROUTE_RETRY_MS batches hold no
   * more than its first half does — its item count after a 400, its bytes after a 413 — so its items, formed again
   * by `take`, go in halves; a half refused again halves again, down to one item.
   */
  refused(sizes: readonly BodySize[], status: number): void {
    const half = sizes.slice(0, Math.ceil(sizes.length / 2));
    const limits = this.limits();
    const halfBytes = half.reduce(
      (size, item, index) => plus(index === 0 ? size : plus(size, COMMA), item),
      BATCH_ENVELOPE,
    ).bytes;
    this.#learned = {
      tasks: status === 400 ? Math.min(limits.tasks, half.length) : limits.tasks,
      bytes: status === 413 ? Math.min(limits.bytes, halfBytes) : limits.bytes,
      until: this.#now() + BATCH_ROUTE_RETRY_MS,
    };
  }
}

/**
 * A whole batch refused for its size before any add ran (PunctualError narrowed, its status 413 or 400): the batch
 * handler answers 400 as a whole only to a body that is no batch, which the client never splits (the batcher keeps
 * alone every call whose item would make one; `addTasks` splits only a body the API takes as a batch), so a 400 is
 * an older API's lower item cap, or a proxy's; 413, a lower body limit.
 */
export function isSizeRefusal(error: unknown): error is PunctualError {
  return error instanceof PunctualError && (error.status === 413 || error.status === 400);
}
