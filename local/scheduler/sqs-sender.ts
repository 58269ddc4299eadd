import {
  GetQueueUrlCommand,
  type MessageAttributeValue,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from "@aws-sdk/client-sqs";

/** How the emulator hands a target invocation (or a dead-letter event) to SQS. */
export interface SqsTargetSender {
  send(input: {
    readonly queueArn: string;
    readonly body: string;
    /** Only used for FIFO queues. */
    readonly messageGroupId?: string;
    /** String message attributes (the dead-letter event's ERROR_CODE, ERROR_MESSAGE, …). */
    readonly messageAttributes?: Readonly<Record<string, string>>;
  }): Promise<void>;
}

/** The error code and message a failed send reports in the dead-letter event. */
export class TargetError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Not worth retrying (AWS sends these to the DLQ at once, without EXHAUSTED_RETRY_CONDITION). */
    readonly permanent = false,
  ) {
    super(message);
    this.name = code;
  }
}

const SQS_ARN = /^arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,75}(?:\.fifo)?)$/;

export function parseSqsArn(
  arn: string,
): { region: string; accountId: string; queueName: string } | undefined {
  const match = SQS_ARN.exec(arn);
  if (!match) return undefined;
  const [, region = "", accountId = "", queueName = ""] = match;
  return { region, accountId, queueName };
}

interface Pending {
  readonly entry: Omit<SendMessageBatchRequestEntry, "Id">;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** What one sender keeps between sends: resolved queue URLs and the entries waiting for this tick's flush. */
interface SenderState {
  readonly sqs: SQSClient;
  readonly urls: Map<string, Promise<string>>;
  readonly pending: Map<string, Pending[]>;
  flushQueued: boolean;
}

const BATCH_SIZE = 10;
/** SendMessageBatch caps the whole request's payload; stay under the smallest limit SQS has had (256 KiB). */
const BATCH_BYTES = 250 * 1024;

/**
 * Delivers through a real SQS client. Sends made in the same tick to the same queue are coalesced into
 * SendMessageBatch calls of up to 10: a burst of due schedules then costs a tenth of the SDK calls, which is what
 * limits throughput locally. The queue ARN is resolved to a URL with GetQueueUrl, cached until the queue turns
 * out not to exist.
 *
 * FIFO targets get the schedule's MessageGroupId and no deduplication id, exactly like EventBridge Scheduler,
 * which requires content-based deduplication on FIFO targets; without it every send fails as a target error.
 */
export function createSqsTargetSender(sqs: SQSClient): SqsTargetSender {
  const sender: SenderState = { sqs, urls: new Map(), pending: new Map(), flushQueued: false };
  return {
    send(input) {
      const parsed = parseSqsArn(input.queueArn);
      if (!parsed) {
        return Promise.reject(
          new TargetError("ValidationError", `Not an SQS queue ARN: ${input.queueArn}`, true),
        );
      }
      const isFifo = parsed.queueName.endsWith(".fifo");
      const attributes = stringAttributes(input.messageAttributes);
      return new Promise<void>((resolve, reject) => {
        const entry: Omit<SendMessageBatchRequestEntry, "Id"> = {
          MessageBody: input.body,
          ...(isFifo && input.messageGroupId !== undefined ? { MessageGroupId: input.messageGroupId } : {}),
          ...(attributes ? { MessageAttributes: attributes } : {}),
        };
        enqueue(sender, input.queueArn, { entry, resolve, reject });
      });
    },
  };
}

function stringAttributes(
  messageAttributes: Readonly<Record<string, string>> | undefined,
): Record<string, MessageAttributeValue> | undefined {
  return messageAttributes
    ? Object.fromEntries(
        Object.entries(messageAttributes).map(([name, value]): [string, MessageAttributeValue] => [
          name,
          { DataType: "String", StringValue: value },
        ]),
      )
    : undefined;
}

function enqueue(sender: SenderState, queueArn: string, entry: Pending): void {
  let queue = sender.pending.get(queueArn);
  if (!queue) {
    queue = [];
    sender.pending.set(queueArn, queue);
  }
  queue.push(entry);
  if (queue.length >= BATCH_SIZE) {
    sender.pending.delete(queueArn);
    flush(sender, queueArn, queue);
  } else if (!sender.flushQueued) {
    sender.flushQueued = true;
    setImmediate(() => flushAll(sender));
  }
}

function flushAll(sender: SenderState): void {
  sender.flushQueued = false;
  const all = [...sender.pending];
  sender.pending.clear();
  for (const [arn, entries] of all) flush(sender, arn, entries);
}

function flush(sender: SenderState, arn: string, entries: Pending[]): void {
  const parsed = parseSqsArn(arn);
  if (!parsed) return;
  let batch: Pending[] = [];
  let bytes = 0;
  for (const p of entries) {
    const size = entrySize(p.entry);
    if (batch.length === BATCH_SIZE || (batch.length > 0 && bytes + size > BATCH_BYTES)) {
      void sendBatch(sender, arn, parsed.queueName, batch);
      batch = [];
      bytes = 0;
    }
    batch.push(p);
    bytes += size;
  }
  if (batch.length > 0) void sendBatch(sender, arn, parsed.queueName, batch);
}

async function sendBatch(
  sender: SenderState,
  arn: string,
  queueName: string,
  batch: readonly Pending[],
): Promise<void> {
  try {
    const url = await queueUrl(sender, arn, queueName);
    const out = await sender.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: batch.map((p, i) => ({ ...p.entry, Id: String(i) })),
      }),
    );
    const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
    batch.forEach((p, i) => {
      const failure = failed.get(String(i));
      if (failure) {
        p.reject(new TargetError(failure.Code ?? "InternalError", failure.Message ?? "SendMessage failed"));
      } else {
        p.resolve();
      }
    });
  } catch (error) {
    if (isMissingQueue(error)) sender.urls.delete(arn);
    for (const p of batch) p.reject(error);
  }
}

function queueUrl(sender: SenderState, arn: string, queueName: string): Promise<string> {
  let url = sender.urls.get(arn);
  if (!url) {
    url = sender.sqs.send(new GetQueueUrlCommand({ QueueName: queueName })).then((out) => {
      if (!out.QueueUrl) throw new TargetError("AWS.SimpleQueueService.NonExistentQueue", "No queue URL");
      return out.QueueUrl;
    });
    sender.urls.set(arn, url);
    url.catch(() => sender.urls.delete(arn));
  }
  return url;
}

function entrySize(entry: Omit<SendMessageBatchRequestEntry, "Id">): number {
  let size = Buffer.byteLength(entry.MessageBody ?? "");
  for (const [name, value] of Object.entries(entry.MessageAttributes ?? {})) {
    size += Buffer.byteLength(name) + Buffer.byteLength(value.StringValue ?? "") + 6;
  }
  return size;
}

function isMissingQueue(error: unknown): boolean {
  const e = error as { name?: string; Code?: string } | undefined;
  return e?.name === "QueueDoesNotExist" || e?.Code === "AWS.SimpleQueueService.NonExistentQueue";
}
