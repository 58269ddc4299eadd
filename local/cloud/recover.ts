import { type DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { ListSchedulesCommand, type SchedulerClient } from "@aws-sdk/client-scheduler";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { SqsTimerQueue, type TimerArm } from "#shared/adapters/timer-queue.js";
import { SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import { isFanOutParent } from "#shared/domain/fan-out.js";
import { bySortKey, scheduleNameFor } from "#shared/domain/keys.js";
import { scheduleIdsOf } from "#shared/domain/messages.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { queueDelaySeconds } from "#shared/domain/timing.js";

export interface RecoveryReport {
  readonly rearmed: number;
  readonly requeued: number;
}

/**
 * After a restart with `--data`, tasks and schedules are back but SQS messages are not (fauxqs keeps no state):
 * every `scheduled` task that was on the timer queue, or rides a schedule due within the horizon, gets its timer
 * message again, and every task that had reached its FIFO queue (`queued`, `delivering`) is sent there again,
 * group by group in order (`planRecovery`). Both are idempotent downstream (the relay and the deliver function
 * check status), so a message that survived costs nothing. The local cloud runs this before any event source
 * starts, so no relay or deliver run sees the queues half refilled.
 */
export async function recoverUnfinishedTasks(options: {
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly scheduler: SchedulerClient;
  readonly scheduleGroupName: string;
  readonly tableName: string;
  readonly timerQueueUrl: string;
  readonly topicQueueUrls: Readonly<Record<string, string>>;
  readonly horizonSeconds: number;
  readonly now?: () => number;
}): Promise<RecoveryReport> {
  const now = options.now ?? Date.now;
  const unfinished = await readUnfinished(options.dynamodb, options.tableName);
  const schedules = await readScheduleNames(options.scheduler, options.scheduleGroupName);
  const plan = planRecovery(unfinished, now(), options.horizonSeconds * 1000, schedules);
  const failedRearm = await new SqsTimerQueue(options.sqs, options.timerQueueUrl).armMany(plan.rearm);
  const topicQueue = new SqsTopicQueue(options.sqs);
  let requeued = 0;
  for (const [groupId, tasks] of plan.requeue) {
    const queueUrl = options.topicQueueUrls[tasks[0]?.topic ?? ""];
    if (!queueUrl) continue;
    const result = await topicQueue.sendInOrder(
      queueUrl,
      groupId,
      tasks.map((t) => t.taskId),
      scheduleIdsOf(tasks),
    );
    if (result.failure)
      throw new Error(`recovery could not requeue group ${groupId}: ${result.failure.error}`);
    requeued += result.sent.length;
  }
  if (failedRearm.length > 0) throw new Error(`recovery could not re-arm ${failedRearm.length} task(s)`);
  return { rearmed: plan.rearm.length, requeued };
}

/** Every `scheduled`, `queued` or `delivering` item of the table, in one consistent Scan (a local table is small). */
async function readUnfinished(dynamodb: DynamoDBClient, tableName: string): Promise<TaskRecord[]> {
  const unfinished: TaskRecord[] = [];
  let start: Record<string, never> | undefined;
  do {
    const page = await dynamodb.send(
      new ScanCommand({
        TableName: tableName,
        ConsistentRead: true,
        FilterExpression: "#s IN (:scheduled, :queued, :delivering)",
        ExpressionAttributeNames: { "#s": "status" },
        ExpressionAttributeValues: {
          ":scheduled": { S: "scheduled" },
          ":queued": { S: "queued" },
          ":delivering": { S: "delivering" },
        },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    unfinished.push(...(page.Items ?? []).map((item) => unmarshall(item) as TaskRecord));
    start = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (start);
  return unfinished;
}

/** The names of the schedules the restarted Scheduler emulator holds in the task schedules' group. */
async function readScheduleNames(scheduler: SchedulerClient, groupName: string): Promise<Set<string>> {
  const names = new Set<string>();
  let token: string | undefined;
  do {
    const page = await scheduler.send(
      new ListSchedulesCommand({ GroupName: groupName, ...(token ? { NextToken: token } : {}) }),
    );
    for (const schedule of page.Schedules ?? []) if (schedule.Name) names.add(schedule.Name);
    token = page.NextToken;
  } while (token);
  return names;
}

/** What a restart sends again: timer messages, and each group's tasks for its FIFO queue in sort-key order. */
export interface RecoveryPlan {
  readonly rearm: readonly TimerArm[];
  readonly requeue: ReadonlyMap<string, readonly TaskRecord[]>;
}

/**
 * What a restart must send again, from the unfinished items read back:
 * - a fan-out parent: nothing. It is never delivered itself (the relay and the sweeper skip it); its copies are
 *   tasks of their own, recovered as such.
 * - a `scheduled` task armed on the timer queue: its timer message, whatever its due time — the queue's messages
 *   were lost with the process (a rescheduled task's successor, or a horizon since shrunk, can be on the timer
 *   queue beyond today's horizon; the relay re-arms a message that arrives early until its task is due).
 * - a `scheduled` task armed through a schedule: its timer message within the horizon (its schedule may
 *   have fired into the lost timer queue already; a second message is harmless). Beyond it the persisted
 *   schedule fires as planned; one missing from `schedules` gets its timer message too: schedules.json is
 *   written a moment after each change, so a process killed (SIGKILL, a crash) just after accepting a task came
 *   back without its schedule, and the task was otherwise left to the sweeper, minutes late.
 * - a `queued` or `delivering` task: sent to its FIFO queue again, group by group in sort-key order.
 */
export function planRecovery(
  unfinished: readonly TaskRecord[],
  nowMs: number,
  horizonMs: number,
  schedules: ReadonlySet<string>,
): RecoveryPlan {
  const tasks = unfinished.filter((t) => !isFanOutParent(t));
  const scheduleLost = (t: TaskRecord) => !schedules.has(t.scheduleName ?? scheduleNameFor(t.taskId));
  const rearm = tasks
    .filter(
      (t) =>
        t.status === "scheduled" &&
        (t.timer === "queue" || t.dueAtMs - nowMs <= horizonMs || scheduleLost(t)),
    )
    .map((t) => ({ taskId: t.taskId, delaySeconds: queueDelaySeconds(t.dueAtMs - nowMs) }));
  const requeue = new Map<string, TaskRecord[]>();
  for (const task of tasks.filter((t) => t.status !== "scheduled")) {
    requeue.set(task.pk, [...(requeue.get(task.pk) ?? []), task]);
  }
  for (const tasks of requeue.values()) tasks.sort(bySortKey);
  return { rearm, requeue };
}
