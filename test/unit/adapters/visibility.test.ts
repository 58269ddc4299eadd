import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { changeVisibility } from "#shared/adapters/visibility.js";
import { useFauxqs } from "../../support/fauxqs.js";

const fauxqs = useFauxqs();
let queues = 0;

async function receiveBodies(queueUrl: string): Promise<string[]> {
  const out = await fauxqs.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
  );
  return (out.Messages ?? []).map((m) => m.Body ?? "");
}

describe("changeVisibility against fauxqs", () => {
  it("makes a received message visible again after the given seconds, not the queue's visibility timeout", async () => {
    // Prepare: a received message, hidden for fauxqs's default 30 s visibility timeout
    const url = fauxqs.server.createQueue(`visibility-${++queues}`).queueUrl;
    await fauxqs.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "m1" }));
    const received = await fauxqs.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }));
    const handle = received.Messages?.[0]?.ReceiptHandle as string;
    expect(await receiveBodies(url)).toEqual([]);

    // Act
    const result = await changeVisibility(fauxqs.sqs, url, [{ receiptHandle: handle, seconds: 0 }]);

    // Assess
    expect(result).toEqual({ failed: [] });
    expect(await receiveBodies(url)).toEqual(["m1"]);
  });

  it("reports every receipt handle it could not change, over several calls, without throwing", async () => {
    const url = `http://127.0.0.1:${fauxqs.server.port}/000000000000/no-such-queue`;
    const changes = Array.from({ length: 11 }, (_, i) => ({ receiptHandle: `rh${i}`, seconds: 1 }));
    expect((await changeVisibility(fauxqs.sqs, url, changes)).failed.sort()).toEqual(
      changes.map((c) => c.receiptHandle).sort(),
    );
  });
});
