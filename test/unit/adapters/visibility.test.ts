import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { startFauxqs } from "fauxqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeVisibility } from "#shared/adapters/visibility.js";

let server: Awaited<ReturnType<typeof startFauxqs>>;
let sqs: SQSClient;
let queues = 0;

beforeAll(async () => {
  server = await startFauxqs({ port: 0, host: "127.0.0.1", logger: false });
  sqs = new SQSClient({
    endpoint: `http://127.0.0.1:${server.port}`,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
});

afterAll(async () => {
  sqs?.destroy();
  await server?.stop();
});

async function receiveBodies(queueUrl: string): Promise<string[]> {
  const out = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
  );
  return (out.Messages ?? []).map((m) => m.Body ?? "");
}

describe("changeVisibility against fauxqs", () => {
  it("makes a received message visible again after the given seconds, not the queue's visibility timeout", async () => {
    // Prepare: a received message, hidden for fauxqs's default 30 s visibility timeout
    const url = server.createQueue(`visibility-${++queues}`).queueUrl;
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "m1" }));
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }));
    const handle = received.Messages?.[0]?.ReceiptHandle as string;
    expect(await receiveBodies(url)).toEqual([]);

    // Act
    const result = await changeVisibility(sqs, url, [{ receiptHandle: handle, seconds: 0 }]);

    // Assess
    expect(result).toEqual({ failed: [] });
    expect(await receiveBodies(url)).toEqual(["m1"]);
  });

  it("reports every receipt handle it could not change, over several calls, without throwing", async () => {
    const url = `http://127.0.0.1:${server.port}/000000000000/no-such-queue`;
    const changes = Array.from({ length: 11 }, (_, i) => ({ receiptHandle: `rh${i}`, seconds: 1 }));
    expect((await changeVisibility(sqs, url, changes)).failed.sort()).toEqual(
      changes.map((c) => c.receiptHandle).sort(),
    );
  });
});
