import { ChangeMessageVisibilityBatchCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { SQS_BATCH_ROUNDS } from "#shared/adapters/sqs-batch.js";
import { SqsTimerQueue } from "#shared/adapters/timer-queue.js";
import { changeVisibility } from "#shared/adapters/visibility.js";
import { fakeSqs, type SentCommand } from "../../support/fakes/sqs-client.js";

/**
 * SQS batch entries failed on SQS's own side (`SenderFault` false, inside a 200) are sent again, as the SDK would
 * retry the single call they replace; entries failed for the request's own fault, and calls that failed whole
 * (already retried by the SDK), are not. Both adapters that send batches of entries on the pipeline's path.
 */
const QUEUE = "https://sqs.local/queue";

const serverFault = (Id: string) => ({ Id, Code: "InternalError", Message: "try again", SenderFault: false });
const senderFault = (Id: string) => ({ Id, Code: "ReceiptHandleIsInvalid", SenderFault: true });

const entriesOf = (command: SentCommand | undefined) =>
  (command?.input.Entries ?? []) as { Id: string; MessageBody?: string; ReceiptHandle?: string }[];
const taskIdsOf = (command: SentCommand | undefined) =>
  entriesOf(command).map((e) => (JSON.parse(e.MessageBody ?? "{}") as { taskId: string }).taskId);

describe("SqsTimerQueue.armMany: entries SQS failed on its side", () => {
  it("sends them again, alone, and reports only the entry refused for the request's fault", async () => {
    // Prepare: the first call fails t1 on SQS's side and t2 for the sender's fault; the second call succeeds
    const { client, sent } = fakeSqs((_, i) =>
      i === 0 ? { Failed: [serverFault("1"), senderFault("2")] } : { Failed: [] },
    );
    const items = ["t0", "t1", "t2"].map((taskId) => ({ taskId, delaySeconds: 3 }));

    // Act
    const notSent = await new SqsTimerQueue(client, QUEUE).armMany(items);

    // Assess
    expect(notSent).toEqual(["t2"]);
    expect(sent.map((s) => s.name)).toEqual([SendMessageBatchCommand.name, SendMessageBatchCommand.name]);
    expect(taskIdsOf(sent[1])).toEqual(["t1"]);
    expect(entriesOf(sent[1]).map((e) => e.Id)).toEqual(["0"]);
  });

  it(`reports an entry SQS failed in every one of its ${SQS_BATCH_ROUNDS} calls`, async () => {
    const { client, sent } = fakeSqs(() => ({ Failed: [serverFault("0")] }));

    const notSent = await new SqsTimerQueue(client, QUEUE).armMany([{ taskId: "t0", delaySeconds: 0 }]);

    expect(notSent).toEqual(["t0"]);
    expect(sent).toHaveLength(SQS_BATCH_ROUNDS);
  });

  it("does not send a batch again whose call failed whole (the SDK retried it; its answer may be lost)", async () => {
    const { client, sent } = fakeSqs(() => {
      throw new Error("InternalFailure");
    });
    const items = ["t0", "t1"].map((taskId) => ({ taskId, delaySeconds: 0 }));

    const notSent = await new SqsTimerQueue(client, QUEUE).armMany(items);

    expect(notSent.sort()).toEqual(["t0", "t1"]);
    expect(sent).toHaveLength(1);
  });

  it("retries within each batch of ten: an entry of the second batch comes back with its own position", async () => {
    const { client, sent } = fakeSqs((command, i) =>
      i < 2 && taskIdsOf(command).includes("t12") ? { Failed: [serverFault("2")] } : { Failed: [] },
    );
    const items = Array.from({ length: 13 }, (_, n) => ({ taskId: `t${n}`, delaySeconds: 0 }));

    expect(await new SqsTimerQueue(client, QUEUE).armMany(items)).toEqual([]);
    expect(sent.map((s) => taskIdsOf(s).length).sort()).toEqual([1, 10, 3]);
    expect(taskIdsOf(sent[2])).toEqual(["t12"]);
  });
});

describe("SqsTimerQueue.armMany: given up by its signal", () => {
  it("keeps the batches sent by then and reports the one still unanswered, at once", async () => {
    // Prepare: the second batch of ten never answers (a dropped connection)
    const { client, sent } = fakeSqs((command) =>
      taskIdsOf(command).includes("t12") ? new Promise(() => undefined) : { Failed: [] },
    );
    const items = Array.from({ length: 13 }, (_, n) => ({ taskId: `t${n}`, delaySeconds: 0 }));
    const abort = new AbortController();
    const arming = new SqsTimerQueue(client, QUEUE).armMany(items, abort.signal);
    await new Promise((resolve) => setImmediate(resolve));

    // Act
    abort.abort();

    // Assess: only the hung batch's three are not armed, and nothing was sent again
    expect((await arming).sort()).toEqual(["t10", "t11", "t12"]);
    expect(sent).toHaveLength(2);
  });

  it("sends nothing once aborted", async () => {
    const { client, sent } = fakeSqs(() => ({ Failed: [] }));

    const notSent = await new SqsTimerQueue(client, QUEUE).armMany(
      [{ taskId: "t0", delaySeconds: 0 }],
      AbortSignal.abort(),
    );

    expect(notSent).toEqual(["t0"]);
    expect(sent).toHaveLength(0);
  });
});

describe("changeVisibility: entries SQS failed on its side", () => {
  it("changes them again, and reports only what the request's own fault refused", async () => {
    // Prepare: the first call fails rh1 on SQS's side and rh2 for the sender's fault
    const { client, sent } = fakeSqs((_, i) =>
      i === 0 ? { Failed: [serverFault("v1"), senderFault("v2")] } : { Failed: [] },
    );
    const changes = ["rh0", "rh1", "rh2"].map((receiptHandle) => ({ receiptHandle, seconds: 5 }));

    // Act
    const { failed, errors } = await changeVisibility(client, QUEUE, changes);

    // Assess: the back-off is set for rh1 after all (the message is not left to the queue's visibility timeout);
    // only the refusal that stands is named
    expect(failed).toEqual(["rh2"]);
    expect(errors).toEqual(["ReceiptHandleIsInvalid"]);
    expect(sent.map((s) => s.name)).toEqual([
      ChangeMessageVisibilityBatchCommand.name,
      ChangeMessageVisibilityBatchCommand.name,
    ]);
    expect(entriesOf(sent[1])).toEqual([{ Id: "v0", ReceiptHandle: "rh1", VisibilityTimeout: 5 }]);
  });

  it("sends nothing more once its signal gives the changes up (deliver's bound on the invocation)", async () => {
    // Prepare: SQS fails the entry on its side; the caller gives up while that first call is answered
    const givenUp = new AbortController();
    const { client, sent } = fakeSqs(() => {
      givenUp.abort();
      return { Failed: [serverFault("v0")] };
    });

    // Act
    const { failed } = await changeVisibility(
      client,
      QUEUE,
      [{ receiptHandle: "rh0", seconds: 0 }],
      givenUp.signal,
    );

    // Assess
    expect(failed).toEqual(["rh0"]);
    expect(sent).toHaveLength(1);
  });

  it("maps each call's entry ids back to that call's own entries as the pending list shrinks", async () => {
    // Prepare: call 1 fails rh1, rh3 and rh5 on SQS's side, listed out of order; call 2 (ids v0..v2 over what was
    // left) refuses rh1 for the sender's fault and fails rh3 on SQS's side again; call 3 succeeds
    const { client, sent } = fakeSqs((command, i) => {
      const byHandle = new Map(entriesOf(command).map((e) => [e.ReceiptHandle, e.Id]));
      const idOf = (rh: string) => byHandle.get(rh) ?? "missing";
      if (i === 0) return { Failed: ["rh5", "rh1", "rh3"].map((rh) => serverFault(idOf(rh))) };
      if (i === 1) return { Failed: [senderFault(idOf("rh1")), serverFault(idOf("rh3"))] };
      return { Failed: [] };
    });
    const changes = Array.from({ length: 6 }, (_, n) => ({ receiptHandle: `rh${n}`, seconds: 5 }));

    // Act
    const { failed, errors } = await changeVisibility(client, QUEUE, changes);

    // Assess: every call numbers its own entries from v0; only the refusal that stands is reported
    expect(failed).toEqual(["rh1"]);
    expect(errors).toEqual(["ReceiptHandleIsInvalid"]);
    expect(sent).toHaveLength(3);
    expect(
      entriesOf(sent[1])
        .map((e) => e.ReceiptHandle)
        .sort(),
    ).toEqual(["rh1", "rh3", "rh5"]);
    expect(entriesOf(sent[1]).map((e) => e.Id)).toEqual(["v0", "v1", "v2"]);
    expect(entriesOf(sent[2])).toEqual([{ Id: "v0", ReceiptHandle: "rh3", VisibilityTimeout: 5 }]);
  });

  it(`reports a change SQS failed in every one of its ${SQS_BATCH_ROUNDS} calls`, async () => {
    const { client, sent } = fakeSqs(() => ({ Failed: [serverFault("v0")] }));

    const { failed } = await changeVisibility(client, QUEUE, [{ receiptHandle: "rh0", seconds: 0 }]);

    expect(failed).toEqual(["rh0"]);
    expect(sent).toHaveLength(SQS_BATCH_ROUNDS);
  });
});
