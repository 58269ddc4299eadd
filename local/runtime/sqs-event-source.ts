import { setMaxListeners } from "node:events";
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { LOCAL_REGION } from "#local/aws/emulators.js";
import { createLambdaContext, invokeWithTimeout } from "./lambda-context.js";

export type LambdaHandler = (event: never, context: Context) => Promise<unknown>;

export interface EventSourceMapping {
  readonly functionName: string;
  readonly handler: LambdaHandler;
  readonly timeoutSeconds: number;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly batchSize: number;
  /**
   * Lambda's MaximumBatchingWindowInSeconds: with a batch above one receive's 10 messages, keep gathering for up
   * to this long (or until the batch is full) before invoking. Absent or 0: invoke with what one receive got.
   */
  readonly maximumBatchingWindowSeconds?: number;
  readonly reportBatchItemFailures: boolean;
  /** Lambda's ScalingConfig.MaximumConcurrency; locally it is the number of concurrent pollers. */
  readonly maximumConcurrency: number;
}

export interface EventSourceRunner {
  /** Stop receiving, let in-flight invocations finish. */
  stop(): Promise<void>;
  /**
   * A disabled mapping (Lambda UpdateEventSourceMapping Enabled=false): stop receiving, let in-flight batches
   * finish; messages stay in the queue untouched. Optional: only SQS runners can be paused.
   */
  pause?(): Promise<void>;
  /** Enabled again: receive from where the queue is. */
  resume?(): void;
  readonly inFlight: () => number;
}

/**
 * Feeds an SQS queue to a handler the way Lambda's event source mapping does: batches of up to `batchSize`,
 * at most `maximumConcurrency` batches in flight, successful messages deleted, messages named in
 * `batchItemFailures` (or the whole batch when the handler fails or times out) left for their visibility
 * timeout to expire. FIFO order and one in-flight batch per group come from the queue itself, as on AWS.
 */
export function startEventSource(
  sqs: SQSClient,
  mapping: EventSourceMapping,
  log: (line: string) => void = () => undefined,
): EventSourceRunner {
  const abort = new AbortController();
  // Every concurrent ReceiveMessage listens on this one signal; that many listeners is by design, not a leak.
  setMaxListeners(0, abort.signal);
  const poller: Poller = {
    sqs,
    mapping,
    log,
    abort,
    maxBatches: Math.max(1, mapping.maximumConcurrency),
    batches: new Set(),
    slotWaiters: [],
    paused: false,
    generation: 0,
  };
  const receivers = startReceivers(poller);

  return {
    inFlight: () => poller.batches.size,
    stop: async () => {
      abort.abort();
      wakeReceivers(poller);
      await Promise.allSettled(receivers);
      await finishBatches(poller);
    },
    pause: async () => {
      poller.paused = true;
      wakeReceivers(poller);
      await finishBatches(poller);
    },
    resume: () => {
      if (abort.signal.aborted || !poller.paused) return;
      poller.paused = false;
      poller.generation++;
      receivers.push(...startReceivers(poller));
    },
  };
}

/** One mapping's running state, shared by its receivers, its batches and the runner's controls. */
interface Poller {
  readonly sqs: SQSClient;
  readonly mapping: EventSourceMapping;
  readonly log: (line: string) => void;
  readonly abort: AbortController;
  readonly maxBatches: number;
  readonly batches: Set<Promise<void>>;
  readonly slotWaiters: (() => void)[];
  paused: boolean;
  generation: number;
}

function wakeReceivers(poller: Poller): void {
  for (const wake of poller.slotWaiters.splice(0)) wake();
}

function startReceivers(poller: Poller): Promise<void>[] {
  return Array.from({ length: Math.min(RECEIVERS_PER_MAPPING, poller.maxBatches) }, () =>
    receive(poller, poller.abort.signal, poller.generation),
  );
}

async function finishBatches(poller: Poller): Promise<void> {
  // In-flight invocations finish (and delete what they handled).
  while (poller.batches.size > 0) await Promise.allSettled([...poller.batches]);
}

/**
 * Few receivers feeding up to `maximumConcurrency` concurrent batches, as Lambda's pollers are apart from the
 * function's concurrency. One long poll per batch slot would be simpler, but fauxqs wakes every waiting poll
 * when a message arrives: at a steady trickle, N idle polls cost N receives per message for nothing.
 * Pause (a disabled mapping) does not abort a long poll: fauxqs would still hand the message to the abandoned
 * request, hiding it for a visibility timeout. Receivers of an older generation leave after their poll.
 */
async function receive(poller: Poller, signal: AbortSignal, mine: number): Promise<void> {
  const { sqs, mapping, log } = poller;
  while (!signal.aborted && !poller.paused && mine === poller.generation) {
    if (poller.batches.size >= poller.maxBatches) {
      // Received messages start their visibility timeout at once: only receive when a batch can start.
      await new Promise<void>((resolve) => poller.slotWaiters.push(resolve));
      continue;
    }
    const received = await longPoll(poller, signal);
    if (received === undefined) return;
    if (received.length === 0) continue;
    const messages = await gatherBatch(sqs, mapping, received, signal);
    if (poller.paused) {
      // Received after the pause: hand it straight back (one receive counted, no attempt, order kept).
      await releaseMessages(sqs, mapping, messages, log);
      return;
    }
    startBatch(poller, messages);
  }
}

/** One receive: the messages it got, none after a failure (logged, then a pause), undefined once stopped. */
async function longPoll(poller: Poller, signal: AbortSignal): Promise<Message[] | undefined> {
  const { mapping } = poller;
  try {
    const received = await poller.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: mapping.queueUrl,
        MaxNumberOfMessages: Math.min(MAX_RECEIVE_MESSAGES, mapping.batchSize),
        // Lambda's pollers long-poll for the maximum 20 s; fauxqs answers as soon as a message is visible
        // (it re-checks delayed messages every 20 ms), so this only saves idle receives. stop() aborts it.
        WaitTimeSeconds: 20,
        MessageSystemAttributeNames: ["All"],
        MessageAttributeNames: ["All"],
      }),
      { abortSignal: signal },
    );
    return received.Messages ?? [];
  } catch (error) {
    if (signal.aborted) return undefined;
    poller.log(`[${mapping.functionName}] receive failed: ${(error as Error).message}`);
    await sleep(200);
    return [];
  }
}

function startBatch(poller: Poller, messages: Message[]): void {
  const { mapping, log } = poller;
  const batch: Promise<void> = deliverBatch(poller.sqs, mapping, messages, log)
    .catch((error: Error) => log(`[${mapping.functionName}] batch failed: ${error.message}`))
    .finally(() => {
      poller.batches.delete(batch);
      wakeReceivers(poller);
    });
  poller.batches.add(batch);
}

/** Makes messages received during a pause visible again at once, so they wait at the head of their group. */
async function releaseMessages(
  sqs: SQSClient,
  mapping: EventSourceMapping,
  messages: Message[],
  log: (line: string) => void,
): Promise<void> {
  try {
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: mapping.queueUrl,
        Entries: messages.map((m, index) => ({
          Id: String(index),
          ReceiptHandle: m.ReceiptHandle,
          VisibilityTimeout: 0,
        })),
      }),
    );
  } catch (error) {
    // They come back after their visibility timeout instead.
    log(`[${mapping.functionName}] release failed: ${(error as Error).message}`);
  }
}

/** SQS returns at most 10 messages per ReceiveMessage; Lambda's larger batches gather several receives. */
const MAX_RECEIVE_MESSAGES = 10;
/** Between two empty receives while a batching window is open. */
const GATHER_POLL_MS = 20;

/**
 * Fills a batch the way Lambda's batching window does: after the first messages, keep receiving until the batch
 * is full or the window has passed since the first receive. Short polls, never an aborted long poll: fauxqs would
 * still hand a message to an abandoned request and hide it for a visibility timeout.
 */
async function gatherBatch(
  sqs: SQSClient,
  mapping: EventSourceMapping,
  first: Message[],
  signal: AbortSignal,
): Promise<Message[]> {
  const windowMs = (mapping.maximumBatchingWindowSeconds ?? 0) * 1000;
  const batch = [...first];
  const deadline = Date.now() + windowMs;
  while (windowMs > 0 && batch.length < mapping.batchSize && Date.now() < deadline && !signal.aborted) {
    const received = await sqs
      .send(
        new ReceiveMessageCommand({
          QueueUrl: mapping.queueUrl,
          MaxNumberOfMessages: Math.min(MAX_RECEIVE_MESSAGES, mapping.batchSize - batch.length),
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ["All"],
          MessageAttributeNames: ["All"],
        }),
      )
      .then((r) => r.Messages ?? [])
      // A failed receive ends the gathering: invoke with what we have, as a poller would.
      .catch(() => undefined);
    if (!received) break;
    batch.push(...received);
    if (received.length === 0) await sleep(Math.min(GATHER_POLL_MS, Math.max(0, deadline - Date.now())));
  }
  return batch;
}

/** Concurrent long polls per mapping: enough to keep batch slots filled, few enough not to stampede. */
const RECEIVERS_PER_MAPPING = 2;

async function deliverBatch(
  sqs: SQSClient,
  mapping: EventSourceMapping,
  messages: Message[],
  log: (line: string) => void,
): Promise<void> {
  const event: SQSEvent = { Records: messages.map((m) => toRecord(m, mapping.queueArn)) };
  let failedIds: Set<string>;
  try {
    const context = createLambdaContext(mapping.functionName, mapping.timeoutSeconds);
    const response = (await invokeWithTimeout(
      () => mapping.handler(event as never, context),
      mapping.timeoutSeconds,
    )) as SQSBatchResponse | undefined;
    failedIds = failuresOf(response, event, mapping);
  } catch (error) {
    log(`[${mapping.functionName}] invocation failed: ${(error as Error).message}`);
    return; // nothing deleted: the whole batch comes back after its visibility timeout
  }
  const done = messages.filter((m) => !failedIds.has(m.MessageId ?? ""));
  for (let i = 0; i < done.length; i += 10) {
    const chunk = done.slice(i, i + 10);
    try {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: mapping.queueUrl,
          Entries: chunk.map((m, index) => ({ Id: String(index), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    } catch (error) {
      // As on AWS: an undeleted message is delivered again, and our handlers are idempotent.
      log(`[${mapping.functionName}] delete failed: ${(error as Error).message}`);
    }
  }
}

/** Lambda's rules for a partial batch response: an unknown or empty identifier fails the whole batch. */
function failuresOf(response: SQSBatchResponse | undefined, event: SQSEvent, mapping: EventSourceMapping) {
  const all = new Set(event.Records.map((r) => r.messageId));
  if (!mapping.reportBatchItemFailures || !response?.batchItemFailures) return new Set<string>();
  const failed = new Set<string>();
  for (const failure of response.batchItemFailures) {
    if (!failure.itemIdentifier || !all.has(failure.itemIdentifier)) return all;
    failed.add(failure.itemIdentifier);
  }
  return failed;
}

function toRecord(message: Message, queueArn: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? "",
    receiptHandle: message.ReceiptHandle ?? "",
    body: message.Body ?? "",
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? "1",
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? "local",
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(attributes.MessageGroupId ? { MessageGroupId: attributes.MessageGroupId } : {}),
      ...(attributes.MessageDeduplicationId
        ? { MessageDeduplicationId: attributes.MessageDeduplicationId }
        : {}),
      ...(attributes.SequenceNumber ? { SequenceNumber: attributes.SequenceNumber } : {}),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        {
          dataType: value.DataType ?? "String",
          ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
          stringListValues: [],
          binaryListValues: [],
        },
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: LOCAL_REGION,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
