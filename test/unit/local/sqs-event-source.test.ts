import type { Message, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSEvent } from "aws-lambda";
import { afterEach, describe, expect, it } from "vitest";
import { type EventSourceRunner, startEventSource } from "#local/runtime/sqs-event-source.js";

/**
 * The local event-source runner's batching against a stub SQS client (the seam it is handed): an in-memory queue
 * that answers ReceiveMessage with at most MaxNumberOfMessages, holds a long poll until a message arrives or the
 * runner stops, and records deletes.
 */
class StubQueue {
  readonly visible: Message[] = [];
  readonly receiveSizes: number[] = [];
  readonly deleted: string[] = [];
  private wake: (() => void)[] = [];
  private next = 0;

  put(count: number): void {
    for (let i = 0; i < count; i++) {
      const id = `m-${++this.next}`;
      this.visible.push({ MessageId: id, ReceiptHandle: id, Body: "{}" });
    }
    for (const wake of this.wake.splice(0)) wake();
  }

  readonly client = {
    send: async (
      command: { constructor: { name: string }; input: Record<string, unknown> },
      options?: { abortSignal?: AbortSignal },
    ) => {
      const input = command.input;
      if (command.constructor.name === "DeleteMessageBatchCommand") {
        for (const entry of input.Entries as { ReceiptHandle: string }[])
          this.deleted.push(entry.ReceiptHandle);
        return {};
      }
      if ((input.WaitTimeSeconds as number) > 0 && this.visible.length === 0) {
        await new Promise<void>((resolve, reject) => {
          this.wake.push(resolve);
          options?.abortSignal?.addEventListener("abort", () => reject(new Error("aborted")));
        });
      }
      const taken = this.visible.splice(0, input.MaxNumberOfMessages as number);
      this.receiveSizes.push(taken.length);
      return { Messages: taken };
    },
  } as unknown as SQSClient;
}

const runners: EventSourceRunner[] = [];
afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.stop();
});

function run(queue: StubQueue, batchSize: number, maximumBatchingWindowSeconds: number) {
  const batches: number[] = [];
  let done: () => void = () => undefined;
  const allHandled = (total: number) =>
    new Promise<void>((resolve) => {
      done = () => {
        if (batches.reduce((a, b) => a + b, 0) >= total) resolve();
      };
    });
  const runner = startEventSource(queue.client, {
    functionName: "relay",
    handler: async (event: SQSEvent) => {
      batches.push(event.Records.length);
      done();
      return { batchItemFailures: [] };
    },
    timeoutSeconds: 30,
    queueUrl: "http://127.0.0.1:1/000000000000/timer",
    queueArn: "arn:aws:sqs:us-east-1:000000000000:timer",
    batchSize,
    maximumBatchingWindowSeconds,
    reportBatchItemFailures: true,
    maximumConcurrency: 1,
  } as never);
  runners.push(runner);
  return { batches, allHandled, runner };
}

describe("local SQS event source: batch size and batching window from the template", () => {
  it("gathers several receives into one batch up to the batch size when a window is declared", async () => {
    // Prepare
    const queue = new StubQueue();
    queue.put(25);
    const { batches, allHandled, runner } = run(queue, 25, 1);

    // Act
    await allHandled(25);
    await runner.stop();

    // Assess: one invocation of 25, from receives of at most 10 (SQS's cap).
    expect(batches).toEqual([25]);
    expect(Math.max(...queue.receiveSizes)).toBeLessThanOrEqual(10);
    expect(queue.deleted).toHaveLength(25);
  });

  it("without a window invokes with what one receive returned, at most 10", async () => {
    // Prepare
    const queue = new StubQueue();
    queue.put(25);
    const { batches, allHandled } = run(queue, 10, 0);

    // Act
    await allHandled(25);

    // Assess
    expect(batches).toEqual([10, 10, 5]);
  });
});

/**
 * Lambda's rules for a partial batch response (ReportBatchItemFailures), which deliver's answers rely on
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html): an empty or absent list, or no
 * response at all, is a complete success; an empty or missing itemIdentifier, or one naming no message of the
 * batch, is a complete failure; otherwise exactly the named messages stay, the rest are deleted.
 */
describe("local SQS event source: partial batch responses, as Lambda reads them", () => {
  async function deletedAfter(response: unknown): Promise<string[]> {
    const queue = new StubQueue();
    queue.put(3);
    let handled: () => void = () => undefined;
    const invoked = new Promise<void>((resolve) => {
      handled = resolve;
    });
    const runner = startEventSource(queue.client, {
      functionName: "deliver",
      handler: async () => {
        handled();
        return response;
      },
      timeoutSeconds: 30,
      queueUrl: "http://127.0.0.1:1/000000000000/topic.fifo",
      queueArn: "arn:aws:sqs:us-east-1:000000000000:topic.fifo",
      batchSize: 10,
      reportBatchItemFailures: true,
      maximumConcurrency: 1,
    });
    runners.push(runner);
    await invoked;
    await runner.stop();
    return queue.deleted;
  }

  it.each([
    ["an empty list", { batchItemFailures: [] }],
    ["a null list", { batchItemFailures: null }],
    ["an empty response", {}],
    ["no response", undefined],
  ])("%s is a complete success: every message deleted", async (_, response) => {
    expect(await deletedAfter(response)).toEqual(["m-1", "m-2", "m-3"]);
  });

  it.each([
    ["an empty itemIdentifier", { batchItemFailures: [{ itemIdentifier: "m-2" }, { itemIdentifier: "" }] }],
    ["a null itemIdentifier", { batchItemFailures: [{ itemIdentifier: null }] }],
    ["a bad key name", { batchItemFailures: [{ itemId: "m-2" }] }],
    [
      "an id not in the batch",
      { batchItemFailures: [{ itemIdentifier: "m-2" }, { itemIdentifier: "other" }] },
    ],
  ])("%s is a complete failure: nothing deleted", async (_, response) => {
    expect(await deletedAfter(response)).toEqual([]);
  });

  it("the named messages stay, the others are deleted", async () => {
    expect(
      await deletedAfter({ batchItemFailures: [{ itemIdentifier: "m-2" }, { itemIdentifier: "m-3" }] }),
    ).toEqual(["m-1"]);
  });
});
