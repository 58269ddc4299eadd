import { refuseUncheckedFauxqs } from "./fauxqs-fifo.js";

/**
 * fauxqs's sends and batch calls, made to refuse the parameters SQS refuses
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html,
 * API_SendMessageBatchRequestEntry.html, API_DeleteMessageBatchRequestEntry.html,
 * API_ChangeMessageVisibilityBatchRequestEntry.html):
 * - `DelaySeconds`: "Valid values: 0 to 900". fauxqs 1.9 checks the range only on a queue's attribute, so a
 *   message sent to a standard queue with 901 (or -1, or 1.5) was taken and delayed locally where SQS answers
 *   InvalidParameterValue. The timer queue's every message carries one (shared/adapters/timer-queue.ts `sqsDelay`).
 *   A FIFO queue refuses any per-message delay already (fauxqs does; its wording is left as it is).
 * - `MessageGroupId` and `MessageDeduplicationId`: at most 128 characters, each alphanumeric or punctuation
 *   (``!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~``: printable ASCII without the space). fauxqs checks neither, so a group or
 *   deduplication id SQS refuses (too long, a space, a letter outside ASCII) was sent locally. The topic queues'
 *   every message carries both (shared/adapters/topic-queue.ts), and a Scheduler schedule's SqsParameters carries a
 *   group id the Scheduler API checks for length only.
 * - `MessageDeduplicationId` on a standard queue: "This parameter applies only to FIFO (first-in-first-out) queues"
 *   (SendMessage). SQS refuses it there, InvalidParameterValue "The request include parameter that is not valid for
 *   this queue type" (the answer AWS gave a standard queue's sender, cdklabs/construct-hub#905); fauxqs ignored it,
 *   so a sender counting on deduplication from a standard queue saw none of the error it gets on AWS. A
 *   `MessageGroupId` there is taken: since fair queues (2025) it names a standard queue message's tenant
 *   (SendMessage: "In standard queues, using MessageGroupId enables fair queues"), checked as on a FIFO queue.
 *   The reference says no more than "applies only to FIFO": refusing is our reading of it, as AWS answered before
 *   fair queues, which changed MessageGroupId alone (docs/OPERATIONS.md).
 * For these SendMessage answers InvalidParameterValue; SendMessageBatch fails the entry alone, as SQS reports a
 * batch's entries one by one, and fauxqs's batch-wide checks (entry count, ids, total size) still see it first.
 * - A batch entry's `Id`: at most 80 characters, the whole batch refused otherwise (below, `withShortEntryIds`).
 */
interface SendFields {
  readonly QueueUrl?: unknown;
  readonly Id?: unknown;
  readonly MessageBody?: unknown;
  readonly DelaySeconds?: unknown;
  readonly MessageGroupId?: unknown;
  readonly MessageDeduplicationId?: unknown;
}

interface Store {
  getQueue(url: string): { isFifo(): boolean } | undefined;
}

type Handler = (body: Record<string, unknown>, store: Store, request: unknown) => unknown;
type SqsErrorClass = new (code: string, message: string) => Error;

interface BatchFailure {
  readonly Id?: unknown;
}

interface BatchResult {
  readonly Successful?: unknown[];
  readonly Failed?: unknown[];
}

const MAX_DELAY_SECONDS = 900;
const BATCH_ACTIONS = new Set(["SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"]);
/** SQS's batch limit: more entries than this is fauxqs's own TooManyEntriesInBatchRequest, checked first. */
const MAX_BATCH_ENTRIES = 10;
/** The characters fauxqs checks an entry Id for; the length (1–80) it does not. */
const ENTRY_ID_CHARACTERS = /^[A-Za-z0-9_-]+$/;
const MAX_ENTRY_ID_LENGTH = 80;
/** Alphanumerics and punctuation, 1–128: every printable ASCII character but the space. */
const FIFO_TOKEN = /^[!-~]{1,128}$/;

let patched = false;

/** Wraps fauxqs's send and batch actions (process-wide, once, before fauxqs builds its app or the direct router). */
export async function refuseSendParametersSqsRefuses(): Promise<void> {
  if (patched) return;
  refuseUncheckedFauxqs();
  const routerModule = new URL("./sqs/sqsRouter.js", import.meta.resolve("fauxqs"));
  const errorsModule = new URL("./common/errors.js", import.meta.resolve("fauxqs"));
  const { SqsRouter } = (await import(routerModule.href)) as {
    SqsRouter: { prototype: Record<string, unknown> };
  };
  const { SqsError } = (await import(errorsModule.href)) as { SqsError: SqsErrorClass };
  const register = SqsRouter?.prototype?.register;
  if (typeof register !== "function" || typeof SqsError !== "function")
    throw new Error(
      "fauxqs changed: register or SqsError is gone; local/aws/fauxqs-parameters.ts needs a look",
    );
  SqsRouter.prototype.register = function (this: unknown, action: string, handler: Handler) {
    const sends =
      action === "SendMessage"
        ? single(handler, SqsError)
        : action === "SendMessageBatch"
          ? batch(handler)
          : handler;
    const wrapped = BATCH_ACTIONS.has(action) ? withShortEntryIds(sends, SqsError) : sends;
    return register.call(this, action, wrapped);
  };
  patched = true;
}

/** What SQS says of the message's parameters, or undefined when it takes them (or fauxqs has its own answer). */
export function sendParameterIssue(fields: SendFields, fifo: boolean): string | undefined {
  const delay = fields.DelaySeconds;
  if (!fifo && delay !== undefined && delay !== null && !isDelay(delay)) {
    return `Value ${String(delay)} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= ${MAX_DELAY_SECONDS}.`;
  }
  const deduplicationId = fields.MessageDeduplicationId;
  if (!fifo && deduplicationId !== undefined && deduplicationId !== null) {
    return `Value ${String(deduplicationId)} for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.`;
  }
  for (const name of ["MessageGroupId", "MessageDeduplicationId"] as const) {
    const value = fields[name];
    // Absent or empty: fauxqs answers that itself (MissingParameter on a FIFO queue), as SQS does.
    if (typeof value === "string" && value !== "" && !FIFO_TOKEN.test(value)) {
      return `Value ${value} for parameter ${name} is invalid. Reason: ${name} can only include alphanumeric and punctuation characters. 1 to 128 in length.`;
    }
  }
  return undefined;
}

function isDelay(value: unknown): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= MAX_DELAY_SECONDS;
}

/** Whether the queue is FIFO; undefined for a queue fauxqs does not know (its own answer then stands). */
function fifoQueue(store: Store, queueUrl: unknown): boolean | undefined {
  return typeof queueUrl === "string" ? store.getQueue(queueUrl)?.isFifo() : undefined;
}

function single(handler: Handler, SqsError: SqsErrorClass): Handler {
  return (body, store, request) => {
    const fifo = fifoQueue(store, body.QueueUrl);
    const issue = fifo === undefined ? undefined : sendParameterIssue(body, fifo);
    if (issue !== undefined) throw new SqsError("InvalidParameterValue", issue);
    return handler(body, store, request);
  };
}

/**
 * A refused entry goes on to fauxqs with a body of as many bytes, all of them a character SQS refuses, so the
 * batch-wide checks see the batch as sent (its size included) and fauxqs fails that entry without sending it; its
 * failure is then worded as SQS words this one.
 */
function batch(handler: Handler): Handler {
  return async (body, store, request) => {
    const fifo = fifoQueue(store, body.QueueUrl);
    const entries = Array.isArray(body.Entries) ? (body.Entries as SendFields[]) : [];
    const why = new Map<SendFields, string>();
    if (fifo !== undefined) {
      for (const entry of entries) {
        const issue =
          typeof entry === "object" && entry !== null ? sendParameterIssue(entry, fifo) : undefined;
        if (issue !== undefined) why.set(entry, issue);
      }
    }
    if (why.size === 0) return handler(body, store, request);
    const unsent = entries.map((e) => (why.has(e) ? { ...e, MessageBody: unsendable(e.MessageBody) } : e));
    const answer = (await handler({ ...body, Entries: unsent }, store, request)) as BatchResult;
    // The Ids are distinct here: fauxqs refused the batch otherwise.
    const messageById = new Map([...why].map(([e, message]) => [e.Id, message]));
    const failed = (answer.Failed ?? []).map((failure) => {
      const message = messageById.get((failure as BatchFailure).Id);
      return message === undefined
        ? failure
        : { ...(failure as object), SenderFault: true, Code: "InvalidParameterValue", Message: message };
    });
    return { Successful: answer.Successful ?? [], Failed: failed };
  };
}

/**
 * A batch naming an entry Id longer than 80 characters is refused whole, InvalidBatchEntryId, as SQS refuses it
 * ("The Id can have up to 80 characters"); fauxqs 1.9 checks the Id's characters only, though its own message
 * names the limit. A batch fauxqs refuses first (none or too many entries, an Id of other characters) is left
 * to it.
 */
function withShortEntryIds(handler: Handler, SqsError: SqsErrorClass): Handler {
  return (body, store, request) => {
    const entries = Array.isArray(body.Entries) ? (body.Entries as { readonly Id?: unknown }[]) : [];
    const ids = entries.map((e) => (typeof e === "object" && e !== null ? e.Id : undefined));
    const checkedByFauxqs = ids.every((id) => typeof id === "string" && ENTRY_ID_CHARACTERS.test(id));
    const tooLong = ids.some((id) => typeof id === "string" && id.length > MAX_ENTRY_ID_LENGTH);
    if (entries.length <= MAX_BATCH_ENTRIES && checkedByFauxqs && tooLong) {
      throw new SqsError(
        "InvalidBatchEntryId",
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
      );
    }
    return handler(body, store, request);
  };
}

/** NUL, which SQS refuses in a body, once per byte of the body (one at least): the same size, never sent. */
function unsendable(messageBody: unknown): string {
  const bytes = typeof messageBody === "string" ? Buffer.byteLength(messageBody, "utf8") : 0;
  return "\u0000".repeat(Math.max(1, bytes));
}
