import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { SqsTimerQueue, sqsDelay } from "#shared/adapters/timer-queue.js";
import { useFauxqs } from "../../support/fauxqs.js";

const fauxqs = useFauxqs();
let queues = 0;

function newQueue(): string {
  return fauxqs.server.createQueue(`timer-${++queues}`).queueUrl;
}

async function drain(queueUrl: string, expected: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < 20 && bodies.length < expected; i++) {
    const out = await fauxqs.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    for (const m of out.Messages ?? []) bodies.push(m.Body ?? "");
  }
  return bodies;
}

describe("SqsTimerQueue against fauxqs", () => {
  it("arm sends the task message", async () => {
    const url = newQueue();
    await new SqsTimerQueue(fauxqs.sqs, url).arm("demo._.abc.01JD3ZZZZZZZZZZZZZZZZZZZZZ", 0);
    expect(await drain(url, 1)).toEqual(['{"v":1,"taskId":"demo._.abc.01JD3ZZZZZZZZZZZZZZZZZZZZZ"}']);
  });

  it("arm delays the message", async () => {
    const url = newQueue();
    await new SqsTimerQueue(fauxqs.sqs, url).arm("t-delayed", 30);
    expect(await drain(url, 1)).toEqual([]);
  });

  it("armMany sends any number of entries in batches of ten and reports no failures", async () => {
    const url = newQueue();
    const items = Array.from({ length: 23 }, (_, i) => ({ taskId: `demo._.x.${i}`, delaySeconds: 0 }));
    expect(await new SqsTimerQueue(fauxqs.sqs, url).armMany(items)).toEqual([]);
    const bodies = await drain(url, 23);
    expect(bodies.map((b) => JSON.parse(b).taskId).sort()).toEqual(items.map((i) => i.taskId).sort());
  });

  it("armMany returns the ids of every entry it could not send", async () => {
    const queue = new SqsTimerQueue(
      fauxqs.sqs,
      `http://127.0.0.1:${fauxqs.server.port}/000000000000/no-such-queue`,
    );
    const items = Array.from({ length: 12 }, (_, i) => ({ taskId: `t${i}`, delaySeconds: 1 }));
    expect((await queue.armMany(items)).sort()).toEqual(items.map((i) => i.taskId).sort());
  });

  it("armMany of nothing makes no call", async () => {
    expect(await new SqsTimerQueue(fauxqs.sqs, "http://invalid.invalid/q").armMany([])).toEqual([]);
  });
});

describe("sqsDelay", () => {
  it.each([
    [0, 0],
    [-3, 0],
    [Number.NaN, 0],
    [12.9, 12],
    [900, 900],
    [901, 900],
    [86_400, 900],
  ])("%s s → %s", (input, expected) => expect(sqsDelay(input)).toBe(expected));
});
