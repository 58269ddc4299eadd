import type { SQSEvent, SQSRecord } from "aws-lambda";
import { mulberry32 } from "#local/aws/faults.js";
import { makeTaskKey, newUlid } from "#shared/domain/keys.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import { makeScheduleKey, type ScheduleRecord } from "#shared/domain/schedule.js";
import type { TaskRecord, TaskStatus } from "#shared/domain/task.js";
import type { TimerMessage } from "#shared/services/relay.js";
import { QUEUE_ARN } from "./deliver-binding.js";

/** A whole second, well inside the ULID range: the instant most unit specs start from. */
export const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

export interface TaskOptions extends Partial<Omit<TaskRecord, "pk" | "sk" | "taskId" | "groupValue">> {
  readonly dueAtMs: number;
  readonly acceptedAtMs: number;
  /** The `deliverBy` value (absent: the task is its own group). */
  readonly group?: string;
  /** When the task's ULID was minted (default: when it was accepted, as add-task does). */
  readonly ulidAtMs?: number;
}

/**
 * THE task-record factory: a task exactly as add-task writes it (keys from the domain's own key maker), with any
 * field overridden. Unset fields read as a scheduled `demo` task with a queue timer and no attempts.
 */
export function makeTask(options: TaskOptions): TaskRecord {
  const { group, ulidAtMs, ...given } = options;
  const fields = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
  const topic = options.topic ?? "demo";
  const key = makeTaskKey(topic, group, options.dueAtMs, newUlid(ulidAtMs ?? options.acceptedAtMs));
  return {
    pk: key.pk,
    sk: key.sk,
    taskId: key.taskId,
    topic,
    ...(group !== undefined ? { groupValue: group } : {}),
    status: "scheduled",
    dueAtMs: options.dueAtMs,
    acceptedAtMs: options.acceptedAtMs,
    content: `{"order_id":${JSON.stringify(group ?? null)},"n":1}`,
    callbackUrl: "https://hooks.example.com/punctual",
    timer: "queue",
    attempts: 0,
    ...fields,
  };
}

export interface TaskItemOptions {
  readonly group: string;
  readonly dueAtMs: number;
  readonly status: TaskStatus;
  readonly callbackUrl: string;
  readonly seq?: number;
  readonly queuedAtMs?: number;
}

/**
 * A `demo` task item as add-task / the relay would have written it in a running system (ULID minted now), for
 * end-to-end tests that put the table in a state only a crash, a lost message or a long delay leaves behind.
 */
export function demoTaskItem(options: TaskItemOptions): TaskRecord {
  return makeTask({
    group: options.group,
    dueAtMs: options.dueAtMs,
    acceptedAtMs: options.dueAtMs - 1_000,
    ulidAtMs: Date.now(),
    status: options.status,
    content: JSON.stringify({ order_id: options.group, seq: options.seq ?? 0 }),
    callbackUrl: options.callbackUrl,
    queuedAtMs: options.queuedAtMs,
  });
}

let recordSeq = 0;
/**
 * The SQS record Lambda hands the deliver function for a topic FIFO message carrying `task`: with its `scheduleId`
 * when it has one, as today's writers send an occurrence's (pass `{ taskId, pk }` for a message without it).
 */
export function fifoRecord(
  task: Pick<TaskRecord, "taskId" | "pk"> & { readonly scheduleId?: string | undefined },
  options: {
    receiveCount?: number;
    arn?: string;
    messageId?: string;
    sentAtMs?: number;
    firstReceivedAtMs?: number;
  } = {},
): SQSRecord {
  recordSeq++;
  return {
    messageId: options.messageId ?? `m-${recordSeq}`,
    receiptHandle: `rh-${recordSeq}`,
    body: taskMessageBody(task.taskId, task.scheduleId),
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: String(options.sentAtMs ?? 0),
      SenderId: "test",
      ApproximateFirstReceiveTimestamp: String(options.firstReceivedAtMs ?? 0),
      MessageGroupId: task.pk,
      MessageDeduplicationId: task.taskId,
      SequenceNumber: String(recordSeq),
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: options.arn ?? QUEUE_ARN,
    awsRegion: "eu-west-1",
  };
}

export const eventOf = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

let timerSeq = 0;
/** A timer-queue message as the relay receives it. */
export function timerMessage(taskId: string, receiveCount = 1): TimerMessage {
  timerSeq++;
  return { messageId: `msg-${timerSeq}`, body: taskMessageBody(taskId), receiveCount };
}

/** Deterministic PRNG for seeded shuffles: the fault layer's own mulberry32. */
export const seeded = mulberry32;

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * A one-second `demo` schedule made at `madeAtMs` and materialized up to `materializedUntilMs` (default: when made),
 * `active` in epoch 0 unless overridden: the schedule deliver's occurrence check reads.
 */
export function makeSchedule(
  madeAtMs: number,
  fields: Partial<Omit<ScheduleRecord, "pk" | "sk" | "scheduleId">> = {},
): ScheduleRecord {
  return {
    ...makeScheduleKey("demo", newUlid(madeAtMs)),
    topic: "demo",
    cron: "* * * * * *",
    timezone: "UTC",
    content: "{}",
    status: "active",
    createdAtMs: madeAtMs,
    updatedAtMs: madeAtMs,
    materializedUntilMs: madeAtMs,
    epoch: 0,
    ...fields,
  };
}
