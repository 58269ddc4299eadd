import { type DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { SqsTimerQueue } from "#shared/adapters/timer-queue.js";
import { SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import { bySortKey } from "#shared/domain/keys.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { queueDelaySeconds } from "#shared/domain/timing.js";

export interface RecoveryReport {
  readonly rearmed: number;
  readonly requeued: number;
}

/**
 * After a restart with `--data`, tasks and schedules are back but SQS messages are not (fauxqs keeps no state):
 * every `scheduled` task due within the horizon gets its timer message again, and every task that had reached
 * its FIFO queue (`queued`, `delivering`) is sent there again, group by group in order. Both are idempotent
 * downstream (the relay and the deliver function check status), so a message that survived costs nothing.
 * Tasks due beyond the horizon still have their persisted schedule.
 */
export async function recoverUnfinishedTasks(options: {
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly tableName: string;
  readonly timerQueueUrl: string;
  readonly topicQueueUrls: Readonly<Record<string, string>>;
  readonly horizonSeconds: number;
  readonly now?: () => number;
}): Promise<RecoveryReport> {
  const now = options.now ?? Date.now;
  const unfinished: TaskRecord[] = [];
  let start: Record<string, never> | undefined;
  do {
    const page = await options.dynamodb.send(
      new ScanCommand({
        TableName: options.tableName,
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

  const horizonMs = options.horizonSeconds * 1000;
  const rearm = unfinished
    .filter((t) => t.status === "scheduled" && t.dueAtMs - now() <= horizonMs)
    .map((t) => ({ taskId: t.taskId, delaySeconds: queueDelaySeconds(t.dueAtMs - now()) }));
  const failedRearm = await new SqsTimerQueue(options.sqs, options.timerQueueUrl).armMany(rearm);

  const groups = new Map<string, TaskRecord[]>();
  for (const task of unfinished.filter((t) => t.status !== "scheduled")) {
    groups.set(task.pk, [...(groups.get(task.pk) ?? []), task]);
  }
  const topicQueue = new SqsTopicQueue(options.sqs);
  let requeued = 0;
  for (const [groupId, tasks] of groups) {
    const queueUrl = options.topicQueueUrls[tasks[0]?.topic ?? ""];
    if (!queueUrl) continue;
    tasks.sort(bySortKey);
    const result = await topicQueue.sendInOrder(
      queueUrl,
      groupId,
      tasks.map((t) => t.taskId),
    );
    if (result.failure)
      throw new Error(`recovery could not requeue group ${groupId}: ${result.failure.error}`);
    requeued += result.sent.length;
  }
  if (failedRearm.length > 0) throw new Error(`recovery could not re-arm ${failedRearm.length} task(s)`);
  return { rearmed: rearm.length, requeued };
}
