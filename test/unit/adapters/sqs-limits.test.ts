import type { SQSClient } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { SqsDeadLetterSource } from "#shared/adapters/dead-letter-source.js";
import { SqsTimerQueue } from "#shared/adapters/timer-queue.js";
import { SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import { laneHash } from "#shared/domain/fan-out.js";
import { makeTaskKey, newUlid } from "#shared/domain/keys.js";
import { replayDeduplicationId } from "#shared/domain/replay.js";
import { sqsViolations } from "../../support/aws-limits.js";

/**
 * The SQS calls the adapters build, at the largest inputs our ids allow (the longest topic name, lone-task and
 * fan-out partitions, a task replayed a billion times, more entries than a batch takes, delays and visibility
 * timeouts out of range), checked against SQS's documented constraints: fauxqs accepts some that SQS refuses.
 */
const TOPIC = `t${"x".repeat(23)}`;
const FIFO = "https://sqs.us-east-1.amazonaws.com/123456789012/punctual-prod-topic.fifo";
const STANDARD = "https://sqs.us-east-1.amazonaws.com/123456789012/punctual-prod-timer";

function recordingSqs() {
  const commands: { input: object }[] = [];
  const client = {
    send: async (command: { input: object }) => {
      commands.push(command);
      return {};
    },
  } as unknown as SQSClient;
  return { client, commands };
}

/** Task ids as long as they get: the longest topic, the latest due time, a lone task or a fan-out lane. */
function longestIds(count: number): { taskId: string; pk: string }[] {
  return Array.from({ length: count }, (_, i) => {
    const ulid = newUlid(Date.now());
    const key = makeTaskKey(TOPIC, i % 2 === 0 ? undefined : `g${i}`, 8_640_000_000_000_000 - i, ulid);
    return i % 3 === 0
      ? { taskId: key.taskId, pk: `${TOPIC}#${laneHash(TOPIC, "s", undefined, ulid)}` }
      : key;
  });
}

describe("SQS calls within SQS's limits", () => {
  it("the topic queue: 25 groups' sends packed, a replay, a dead-lettering, visibility changes", async () => {
    const { client, commands } = recordingSqs();
    const queue = new SqsTopicQueue(client);
    const ids = longestIds(25);
    await queue.sendGroupsInOrder(
      FIFO,
      ids.map(({ pk, taskId }) => ({ groupId: pk, taskIds: [taskId, taskId] })),
    );
    const [first] = ids as [{ taskId: string; pk: string }];
    const dedup = replayDeduplicationId({ taskId: first.taskId, replays: 1_000_000_000 });
    await queue.sendReplay(FIFO, first.pk, first.taskId, dedup);
    await queue.sendToDeadLetter(FIFO, first.pk, first.taskId, "e".repeat(5_000), dedup);
    await queue.setVisibility(
      FIFO,
      [-1, 0.5, 42_300, 1e9, Number.NaN, ...Array(20).fill(30)].map((seconds, i) => ({
        receiptHandle: `h${i}`,
        seconds,
      })),
    );
    expect(commands.length).toBeGreaterThanOrEqual(5 + 2 + 3);
    for (const command of commands) expect(sqsViolations(command)).toEqual([]);
  });

  it("the timer queue and the dead-letter source: 25 arms, delays out of range, 25 deletions and releases", async () => {
    const { client, commands } = recordingSqs();
    const timer = new SqsTimerQueue(client, STANDARD);
    const ids = longestIds(25);
    await timer.arm(ids[0]?.taskId ?? "", 1e9);
    await timer.armMany(
      ids.map(({ taskId }, i) => ({ taskId, delaySeconds: [-3, 0.9, 900.5, 1e6, Number.NaN][i % 5] ?? 0 })),
    );
    const source = new SqsDeadLetterSource(client);
    const handles = ids.map((_, i) => `handle-${i}`);
    await source.remove(STANDARD, handles);
    await source.release(STANDARD, handles);
    expect(commands.length).toBe(1 + 3 + 3 + 3);
    for (const command of commands) expect(sqsViolations(command)).toEqual([]);
  });

  it("the checker refuses what SQS refuses", () => {
    const fifo = (entry: object) => ({ input: { QueueUrl: FIFO, ...entry } });
    expect(
      sqsViolations(fifo({ MessageBody: "x", MessageGroupId: "g".repeat(129), MessageDeduplicationId: "d" })),
    ).toHaveLength(1);
    expect(
      sqsViolations(fifo({ MessageBody: "x", MessageGroupId: "g é", MessageDeduplicationId: "d" })),
    ).toHaveLength(1);
    expect(
      sqsViolations(
        fifo({ MessageBody: "x", MessageGroupId: "g", MessageDeduplicationId: "d", DelaySeconds: 0 }),
      ),
    ).toHaveLength(1);
    expect(
      sqsViolations({ input: { QueueUrl: STANDARD, MessageBody: "x", DelaySeconds: 901 } }),
    ).toHaveLength(1);
    const entries = Array.from({ length: 11 }, (_, i) => ({ Id: `m${i}`, MessageBody: "x" }));
    expect(sqsViolations({ input: { QueueUrl: STANDARD, Entries: entries } })).toEqual(["11 entries"]);
  });
});
