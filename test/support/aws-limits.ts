import type { AttributeValue } from "@aws-sdk/client-dynamodb";

/**
 * AWS limits our calls must respect where the local emulators may not check them (or check them only after the
 * fact, as a failed call). Each is DynamoDB's documented constraint, checked on the commands the adapters build
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html, "Partition keys and sort
 * keys"): a partition key value of 1–2,048 bytes, a sort key value of 1–1,024 bytes (UTF-8 for strings).
 */
export const DYNAMO_PARTITION_KEY_BYTES = 2048;
export const DYNAMO_SORT_KEY_BYTES = 1024;

/** The keys a DynamoDB command names: `Key` (Get/Update/Delete) or the key attributes of `Item` (Put). */
function keysOf(input: Record<string, unknown>): Record<string, AttributeValue> | undefined {
  const key = (input.Key ?? input.Item) as Record<string, AttributeValue> | undefined;
  return key && { ...(key.pk && { pk: key.pk }), ...(key.sk && { sk: key.sk }) };
}

function byteLength(value: AttributeValue | undefined): number {
  if (value === undefined) return 0;
  if ("S" in value && value.S !== undefined) return Buffer.byteLength(value.S, "utf8");
  if ("N" in value && value.N !== undefined) return value.N.length;
  return 0;
}

/**
 * What DynamoDB would refuse (a ValidationException) about the table key a command names, for the task table's
 * `pk`/`sk` schema: one line per violated limit, none when the key fits.
 */
export function dynamoKeyViolations(command: { readonly input: object }): string[] {
  const key = keysOf(command.input as Record<string, unknown>);
  if (!key) return [];
  const issues: string[] = [];
  const pk = byteLength(key.pk);
  const sk = byteLength(key.sk);
  if (pk < 1 || pk > DYNAMO_PARTITION_KEY_BYTES)
    issues.push(`partition key of ${pk} bytes (1–${DYNAMO_PARTITION_KEY_BYTES})`);
  if (key.sk !== undefined && (sk < 1 || sk > DYNAMO_SORT_KEY_BYTES))
    issues.push(`sort key of ${sk} bytes (1–${DYNAMO_SORT_KEY_BYTES})`);
  return issues;
}

/**
 * SQS's documented request constraints (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/,
 * SendMessage, SendMessageBatchRequestEntry, ChangeMessageVisibilityBatch): at most 10 entries a batch, entry ids
 * of 1–80 `[A-Za-z0-9_-]`, unique; a FIFO queue takes a MessageGroupId and MessageDeduplicationId of 1–128
 * alphanumeric and punctuation characters and no per-message DelaySeconds; a standard queue's DelaySeconds is a
 * whole 0–900; a visibility timeout 0–43,200; at most 10 message attributes; a message (or a whole batch) at most
 * 256 KiB (the older, smaller maximum: a message that fits it fits the current one).
 */
export const SQS_BATCH_ENTRIES = 10;
export const SQS_MESSAGE_BYTES = 256 * 1024;
const SQS_FIFO_TOKEN = /^[!-~]{1,128}$/;
const SQS_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;

interface SqsMessageFields {
  readonly Id?: string;
  readonly MessageBody?: string;
  readonly DelaySeconds?: number;
  readonly MessageGroupId?: string;
  readonly MessageDeduplicationId?: string;
  readonly MessageAttributes?: Record<string, { StringValue?: string; DataType?: string }>;
  readonly ReceiptHandle?: string;
  readonly VisibilityTimeout?: number;
}

function messageBytes(message: SqsMessageFields): number {
  let bytes = Buffer.byteLength(message.MessageBody ?? "");
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {}))
    bytes +=
      Buffer.byteLength(name) +
      Buffer.byteLength(value.DataType ?? "") +
      Buffer.byteLength(value.StringValue ?? "");
  return bytes;
}

function messageViolations(message: SqsMessageFields, fifo: boolean): string[] {
  const issues: string[] = [];
  if (fifo) {
    if (!SQS_FIFO_TOKEN.test(message.MessageGroupId ?? ""))
      issues.push(`MessageGroupId ${message.MessageGroupId}`);
    if (!SQS_FIFO_TOKEN.test(message.MessageDeduplicationId ?? ""))
      issues.push(`MessageDeduplicationId ${message.MessageDeduplicationId}`);
    if (message.DelaySeconds !== undefined) issues.push("DelaySeconds on a FIFO queue");
  } else if (
    message.DelaySeconds !== undefined &&
    !(Number.isInteger(message.DelaySeconds) && message.DelaySeconds >= 0 && message.DelaySeconds <= 900)
  )
    issues.push(`DelaySeconds ${message.DelaySeconds}`);
  if (Object.keys(message.MessageAttributes ?? {}).length > 10)
    issues.push("more than 10 message attributes");
  if (messageBytes(message) > SQS_MESSAGE_BYTES) issues.push(`a message of ${messageBytes(message)} bytes`);
  return issues;
}

/** What SQS would refuse about a SendMessage, SendMessageBatch, ChangeMessageVisibilityBatch or DeleteMessageBatch. */
export function sqsViolations(command: { readonly input: object }): string[] {
  const input = command.input as SqsMessageFields & { QueueUrl?: string; Entries?: SqsMessageFields[] };
  const fifo = (input.QueueUrl ?? "").endsWith(".fifo");
  if (!input.Entries) return messageViolations(input, fifo);
  const issues: string[] = [];
  const ids = input.Entries.map((e) => e.Id ?? "");
  if (input.Entries.length < 1 || input.Entries.length > SQS_BATCH_ENTRIES)
    issues.push(`${input.Entries.length} entries`);
  if (new Set(ids).size !== ids.length || !ids.every((id) => SQS_ENTRY_ID.test(id))) issues.push("entry ids");
  for (const entry of input.Entries) {
    if (entry.VisibilityTimeout !== undefined) {
      const v = entry.VisibilityTimeout;
      if (!(Number.isInteger(v) && v >= 0 && v <= 43_200)) issues.push(`VisibilityTimeout ${v}`);
    } else if (entry.MessageBody !== undefined) issues.push(...messageViolations(entry, fifo));
  }
  const total = input.Entries.reduce((sum, e) => sum + messageBytes(e), 0);
  if (total > SQS_MESSAGE_BYTES) issues.push(`a batch of ${total} bytes`);
  return issues;
}
