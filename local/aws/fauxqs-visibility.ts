/**
 * fauxqs's visibility changes, made to refuse what SQS refuses: a received message stays hidden at most 12 hours
 * in total, counted from the receive that returned its receipt handle. "You can continue to call
 * ChangeMessageVisibility to extend the visibility timeout to the maximum allowed time. If you try to extend the
 * visibility timeout beyond the maximum, your request is rejected" (the ChangeMessageVisibility reference as the
 * AWS CLI carries it, https://awscli.amazonaws.com/v2/documentation/api/latest/reference/sqs/change-message-visibility.html;
 * the API reference, https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html,
 * counts the 12 hours as "the maximum"); SQS does not cut the value down to what is left.
 * fauxqs 1.9 checks only that the value is 0–43,200 s, so a backoff that passes the receipt's 12 hours (deliver's
 * `secondsLeftOfReceipt`, shared/services/deliver/visibility.ts, is what keeps it inside) was accepted locally and
 * would be refused on AWS: the message then comes back after the queue's visibility timeout, a receive spent towards
 * the DLQ. Here the single call answers InvalidParameterValue, and the batch call fails that entry alone, as SQS
 * reports a batch's entries one by one.
 *
 * And a FIFO queue's receipt handle expires with its visibility timeout: "The receipt handle expires after the
 * visibility timeout period. When the visibility timeout expires, the message returns to the queue", and a
 * DeleteMessage with it answers InvalidParameterValue "The receipt handle has expired" (only a standard queue may
 * still take an old handle: https://repost.aws/knowledge-center/sqs-receipt-handle-error). fauxqs moves such a
 * message back only on the queue's next receive (or a waiting long poll's tick), and until then took the handle: a
 * consumer that outlived its visibility still deleted the message, or hid it again, where SQS keeps it and delivers it
 * again. Here a delete or visibility change with an expired FIFO handle is refused, the batch calls' entry alone.
 */
import { randomUUID } from "node:crypto";
import { refuseUncheckedFauxqs } from "./fauxqs-fifo.js";

/** SQS's longest total visibility of one receive: 12 hours. */
export const MAX_RECEIPT_VISIBILITY_MS = 43_200_000;

interface InflightEntry {
  visibilityDeadline: number;
}

interface Queue {
  readonly inflightMessages: Map<string, InflightEntry>;
  isFifo(): boolean;
}

interface Store {
  getQueue(url: string): Queue | undefined;
}

type Handler = (body: Record<string, unknown>, store: Store, request: unknown) => unknown;

interface BatchEntry {
  readonly Id?: unknown;
  readonly ReceiptHandle?: unknown;
  readonly VisibilityTimeout?: unknown;
}

interface BatchFailure {
  readonly Id?: unknown;
  readonly Code?: string;
  readonly Message?: string;
  readonly SenderFault?: boolean;
}

interface BatchResult {
  readonly Successful?: unknown[];
  readonly Failed?: unknown[];
}

type SqsErrorClass = new (code: string, message: string) => Error;

/** When each in-flight entry was handed out (fauxqs makes a new entry per receive). */
const receivedAt = new WeakMap<InflightEntry, number>();
let patched = false;

/** Stamps every receive and wraps the two visibility actions (process-wide, once, before fauxqs builds its app). */
export async function refuseVisibilityPastReceipt(): Promise<void> {
  if (patched) return;
  refuseUncheckedFauxqs();
  const storeModule = new URL("./sqs/sqsStore.js", import.meta.resolve("fauxqs"));
  const routerModule = new URL("./sqs/sqsRouter.js", import.meta.resolve("fauxqs"));
  const errorsModule = new URL("./common/errors.js", import.meta.resolve("fauxqs"));
  const { SqsQueue } = (await import(storeModule.href)) as {
    SqsQueue: { prototype: Record<string, unknown> };
  };
  const { SqsRouter } = (await import(routerModule.href)) as {
    SqsRouter: { prototype: Record<string, unknown> };
  };
  const { SqsError } = (await import(errorsModule.href)) as { SqsError: SqsErrorClass };
  const dequeue = SqsQueue?.prototype?.dequeue;
  const register = SqsRouter?.prototype?.register;
  if (typeof dequeue !== "function" || typeof register !== "function" || typeof SqsError !== "function")
    throw new Error(
      "fauxqs changed: dequeue, register or SqsError is gone; local/aws/fauxqs-visibility.ts needs a look",
    );
  SqsQueue.prototype.dequeue = function (this: Queue, ...args: unknown[]) {
    const messages = dequeue.apply(this, args) as { ReceiptHandle?: string }[];
    const now = Date.now();
    for (const { ReceiptHandle } of messages) {
      const entry = ReceiptHandle === undefined ? undefined : this.inflightMessages.get(ReceiptHandle);
      if (entry) receivedAt.set(entry, now);
    }
    return messages;
  };
  SqsRouter.prototype.register = function (this: unknown, action: string, handler: Handler) {
    const wrapped =
      action === "ChangeMessageVisibility"
        ? single(handler, SqsError)
        : action === "ChangeMessageVisibilityBatch"
          ? batch(handler)
          : action === "DeleteMessage"
            ? singleDelete(handler, SqsError)
            : action === "DeleteMessageBatch"
              ? batchDelete(handler)
              : handler;
    return register.call(this, action, wrapped);
  };
  patched = true;
}

/** Whether setting this visibility now would keep the message hidden past its receipt's 12 hours. */
export function passesReceipt(
  store: Store,
  queueUrl: unknown,
  receiptHandle: unknown,
  seconds: unknown,
): boolean {
  if (typeof queueUrl !== "string" || typeof receiptHandle !== "string" || typeof seconds !== "number")
    return false;
  const entry = store.getQueue(queueUrl)?.inflightMessages.get(receiptHandle);
  const at = entry && receivedAt.get(entry);
  return at !== undefined && seconds > 0 && Date.now() + seconds * 1000 > at + MAX_RECEIPT_VISIBILITY_MS;
}

/** Whether this is a FIFO queue's receipt handle whose visibility timeout has passed (fauxqs not yet told). */
export function hasExpired(store: Store, queueUrl: unknown, receiptHandle: unknown): boolean {
  if (typeof queueUrl !== "string" || typeof receiptHandle !== "string") return false;
  const queue = store.getQueue(queueUrl);
  const entry = queue?.isFifo() ? queue.inflightMessages.get(receiptHandle) : undefined;
  return entry !== undefined && entry.visibilityDeadline <= Date.now();
}

/** SQS's wording for an expired handle. */
function expired(receiptHandle: unknown): string {
  return `Value ${String(receiptHandle)} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.`;
}

/** SQS's wording for it. */
function tooLong(seconds: unknown): string {
  return `Value ${String(seconds)} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]`;
}

function single(handler: Handler, SqsError: SqsErrorClass): Handler {
  return (body, store, request) => {
    if (hasExpired(store, body.QueueUrl, body.ReceiptHandle))
      throw new SqsError("InvalidParameterValue", expired(body.ReceiptHandle));
    if (passesReceipt(store, body.QueueUrl, body.ReceiptHandle, body.VisibilityTimeout))
      throw new SqsError("InvalidParameterValue", tooLong(body.VisibilityTimeout));
    return handler(body, store, request);
  };
}

/**
 * The entries that pass their receipt fail alone. fauxqs's own handler still answers the whole batch, so its
 * batch-wide checks (no entries, more than ten, an Id malformed or given twice) refuse it as SQS does: taken out
 * of the batch, a refused entry hid an eleventh entry or a repeated Id. It is given a negative visibility instead,
 * which fauxqs fails without applying, and its failure is then worded as SQS words this one.
 */
function batch(handler: Handler): Handler {
  return async (body, store, request) => {
    const entries = Array.isArray(body.Entries) ? (body.Entries as BatchEntry[]) : [];
    const why = new Map<BatchEntry, string>();
    for (const e of entries) {
      if (hasExpired(store, body.QueueUrl, e.ReceiptHandle)) why.set(e, expired(e.ReceiptHandle));
      else if (passesReceipt(store, body.QueueUrl, e.ReceiptHandle, e.VisibilityTimeout))
        why.set(e, tooLong(e.VisibilityTimeout));
    }
    if (why.size === 0) return handler(body, store, request);
    const unapplied = entries.map((e) => (why.has(e) ? { ...e, VisibilityTimeout: -1 } : e));
    const answer = (await handler({ ...body, Entries: unapplied }, store, request)) as BatchResult;
    // The Ids are distinct here: fauxqs refused the batch otherwise.
    const messageById = new Map([...why].map(([e, message]) => [e.Id, message]));
    const failed = (answer.Failed ?? []).map((failure) => {
      const message = messageById.get((failure as BatchFailure).Id);
      return message === undefined ? failure : { ...(failure as object), Message: message };
    });
    return { Successful: answer.Successful ?? [], Failed: failed };
  };
}

function singleDelete(handler: Handler, SqsError: SqsErrorClass): Handler {
  return (body, store, request) => {
    if (hasExpired(store, body.QueueUrl, body.ReceiptHandle))
      throw new SqsError("InvalidParameterValue", expired(body.ReceiptHandle));
    return handler(body, store, request);
  };
}

/**
 * fauxqs answers every entry of a DeleteMessageBatch successful, deleted or not. An expired entry is sent on with a
 * handle no message has (so the batch-wide checks still see it, and nothing is deleted), then answered as failed.
 */
function batchDelete(handler: Handler): Handler {
  return async (body, store, request) => {
    const entries = Array.isArray(body.Entries) ? (body.Entries as BatchEntry[]) : [];
    const refused = entries.filter((e) => hasExpired(store, body.QueueUrl, e.ReceiptHandle));
    if (refused.length === 0) return handler(body, store, request);
    const unapplied = entries.map((e) =>
      refused.includes(e) ? { ...e, ReceiptHandle: `expired-${randomUUID()}` } : e,
    );
    const answer = (await handler({ ...body, Entries: unapplied }, store, request)) as BatchResult;
    const refusedById = new Map(refused.map((e) => [e.Id, e]));
    const isRefused = (result: unknown) => refusedById.has((result as BatchFailure).Id);
    const failed: BatchFailure[] = refused.map((e) => ({
      Id: e.Id,
      SenderFault: true,
      Code: "InvalidParameterValue",
      Message: expired(e.ReceiptHandle),
    }));
    return {
      Successful: (answer.Successful ?? []).filter((result) => !isRefused(result)),
      Failed: [...(answer.Failed ?? []).filter((result) => !isRefused(result)), ...failed],
    };
  };
}
