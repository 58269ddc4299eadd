import type { BatchResultErrorEntry } from "@aws-sdk/client-sqs";
import { inRounds, untilAborted } from "#shared/runtime/async.js";
import { chunksOf } from "#shared/runtime/chunks.js";

/**
 * Calls per SQS batch of entries: the first and two more for the entries SQS failed on its own side (50 and 100 ms
 * later), as the DynamoDB batches do. SQS answers a batch per entry inside a 200 (`Failed`, each with `SenderFault`:
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_BatchResultErrorEntry.html), and the
 * SDK retries only a call that fails as a whole: an entry failed once was final, where the single call it replaces
 * gets the SDK's three attempts. On the pipeline's path one such entry cost minutes: a visibility change not made
 * leaves its message hidden for the queue's whole visibility timeout (3.5 minutes for a deliver record whose
 * backoff was seconds), and a timer not sent answers a batch add's item 503, a keyed one then left to the sweeper.
 */
export const SQS_BATCH_ROUNDS = 3;

/** SQS takes at most 10 entries per batch call (SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch). */
export const SQS_BATCH_LIMIT = 10;

/** What a batch of entries left undone: the entries, and why (each distinct entry `Code` or refused call's name once). */
export interface BatchLeft<T> {
  readonly notDone: T[];
  readonly errors: ReadonlySet<string>;
}

/**
 * One batch of at most 10 entries in up to `SQS_BATCH_ROUNDS` calls: `call` sends the pending entries, the i-th
 * with Id `${idPrefix}${i}`, and answers SQS's output. An entry SQS failed with `SenderFault` (the request's fault:
 * an invalid receipt handle, a bad delay) is not sent again, nor is anything after a call that threw (the SDK
 * already retried it, and its answer may have been lost), nor anything once `signal` is aborted. Never throws;
 * resolves with the entries not done and their errors (an entry done in a later call leaves no error behind). An
 * abort answers at once: a call still in flight counts as failed (it may yet land; callers treat a failure so).
 */
export async function sendInRounds<T>(
  entries: readonly T[],
  idPrefix: string,
  call: (
    pending: readonly T[],
  ) => Promise<{ readonly Failed?: readonly BatchResultErrorEntry[] | undefined }>,
  signal?: AbortSignal,
): Promise<BatchLeft<T>> {
  const notDone: T[] = [];
  const errorOf = new Map<T, string>();
  const left = await inRounds(
    entries,
    SQS_BATCH_ROUNDS,
    async (pending) => {
      // Given up (aborted): no further call, nor a wait for one; what is pending is not done.
      if (signal?.aborted) {
        notDone.push(...pending);
        return [];
      }
      let failed: readonly BatchResultErrorEntry[];
      try {
        failed = (await untilAborted(call(pending), signal)).Failed ?? [];
      } catch (error) {
        for (const entry of pending) errorOf.set(entry, error instanceof Error ? error.name : "unknown");
        notDone.push(...pending);
        return [];
      }
      const again: T[] = [];
      for (const entry of failed) {
        const sent = pending[Number(entry.Id?.slice(idPrefix.length))];
        if (sent === undefined) continue;
        errorOf.set(sent, entry.Code ?? "unknown");
        if (entry.SenderFault) notDone.push(sent);
        else again.push(sent);
      }
      return again;
    },
    signal,
  );
  const all = [...notDone, ...left];
  return { notDone: all, errors: new Set(all.flatMap((entry) => errorOf.get(entry) ?? [])) };
}

/**
 * Any number of entries in batches of `SQS_BATCH_LIMIT`, the batches side by side, each through `sendInRounds`
 * (same `call`, `idPrefix` and `signal`); what every batch left undone, and why, together.
 */
export async function sendInBatches<T>(
  entries: readonly T[],
  idPrefix: string,
  call: (
    pending: readonly T[],
  ) => Promise<{ readonly Failed?: readonly BatchResultErrorEntry[] | undefined }>,
  signal?: AbortSignal,
): Promise<BatchLeft<T>> {
  const batches = await Promise.all(
    chunksOf(entries, SQS_BATCH_LIMIT).map((batch) => sendInRounds(batch, idPrefix, call, signal)),
  );
  return {
    notDone: batches.flatMap((batch) => batch.notDone),
    errors: new Set(batches.flatMap((batch) => [...batch.errors])),
  };
}
