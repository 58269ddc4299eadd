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
  const urls = new Map<string, Promise<string>>();
  const pending = new Map<string, Pending[]>();
  let flushQueued = false;

  const queueUrl = (arn: string, queueName: string): Promise<string> => {
    let url = urls.get(arn);
    if (!url) {
      url = sqs.send(new GetQueueUrlCommand({ QueueName: queueName })).then((out) => {
        if (!out.QueueUrl) throw new TargetError("AWS.SimpleQueueService.NonExistentQueue", "No queue URL");
        return out.QueueUrl;
      });
      urls.set(arn, url);
      url.catch(() => urls.delete(arn));
    }
    return url;
  };

  const sendBatch = async (arn: string, queueName: string, batch: readonly Pending[]): Promise<void> => {
    try {
      const url = await queueUrl(arn, queueName);
      const out = await sqs.send(
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
      if (isMissingQueue(error)) urls.delete(arn);
      for (const p of batch) p.reject(error);
    }
  };

  const flush = (arn: string, entries: Pending[]): void => {
    const parsed = parseSqsArn(arn);
    if (!parsed) return;
    let batch: Pending[] = [];
    let bytes = 0;
    for (const p of entries) {
      const size = entrySize(p.entry);
      if (batch.length === BATCH_SIZE || (batch.length > 0 && bytes + size > BATCH_BYTES)) {
        void sendBatch(arn, parsed.queueName, batch);
        batch = [];
        bytes = 0;
      }
      batch.push(p);
      bytes += size;
    }
    if (batch.length > 0) void sendBatch(arn, parsed.queueName, batch);
  };

  const flushAll = (): void => {
    flushQueued = false;
    const all = [...pending];
    pending.clear();
    for (const [arn, entries] of all) flush(arn, entries);
  };

  return {
    send(input) {
      const parsed = parseSqsArn(input.queueArn);
      if (!parsed) {
        return Promise.reject(
          new TargetError("ValidationError", `Not an SQS queue ARN: ${input.queueArn}`, true),
        );
      }
      const isFifo = parsed.queueName.endsWith(".fifo");
      const attributes = input.messageAttributes
        ? Object.fromEntries(
            Object.entries(input.messageAttributes).map(([name, value]): [string, MessageAttributeValue] => [
              name,
              { DataType: "String", StringValue: value },
            ]),
          )
        : undefined;
      return new Promise<void>((resolve, reject) => {
        const entry: Omit<SendMessageBatchRequestEntry, "Id"> = {
          MessageBody: input.body,
          ...(isFifo && input.messageGroupId !== undefined ? { MessageGroupId: input.messageGroupId } : {}),
          ...(attributes ? { MessageAttributes: attributes } : {}),
        };
        let queue = pending.get(input.queueArn);
        if (!queue) {
          queue = [];
          pending.set(input.queueArn, queue);
        }
        queue.push({ entry, resolve, reject });
        if (queue.length >= BATCH_SIZE) {
          pending.delete(input.queueArn);
          flush(input.queueArn, queue);
        } else if (!flushQueued) {
          flushQueued = true;
          setImmediate(flushAll);
        }
      });
    },
  };
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
