import { describe, expect, it } from "vitest";
import { SqsDeadLetterSource } from "#shared/adapters/dead-letter-source.js";
import { fakeSqs } from "../../support/fakes/sqs-client.js";

const QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/punctual-test-timer-dlq";

/** The sweeper's DeleteMessageBatch of resolved dead-letter pointers: SQS answers each entry inside a 200. */
describe("SqsDeadLetterSource.remove", () => {
  it("deletes again an entry SQS failed on its own side, as the other SQS batches do", async () => {
    // Prepare: the first call fails its second entry on SQS's side (a 200 with it in Failed); later calls succeed
    const { client, sent } = fakeSqs((_, i) =>
      i === 0 ? { Failed: [{ Id: "d1", Code: "InternalError", SenderFault: false }] } : { Failed: [] },
    );
    const source = new SqsDeadLetterSource(client);

    // Act
    const { failed } = await source.remove(QUEUE, ["h-0", "h-1", "h-2"]);

    // Assess: removed after all, in a second call of that entry alone (else it came back after its visibility
    // timeout, for another sweeper run to resolve)
    expect(failed).toEqual([]);
    expect(sent.map((call) => call.input.Entries)).toEqual([
      [
        { Id: "d0", ReceiptHandle: "h-0" },
        { Id: "d1", ReceiptHandle: "h-1" },
        { Id: "d2", ReceiptHandle: "h-2" },
      ],
      [{ Id: "d0", ReceiptHandle: "h-1" }],
    ]);
  });

  it("reports an entry refused as the request's fault, and every entry of a call that threw, without sending them again", async () => {
    // Prepare: 12 handles in two calls; the first refuses one receipt handle, the second throws
    const { client, sent } = fakeSqs((_, i) => {
      if (i === 0) return { Failed: [{ Id: "d3", Code: "ReceiptHandleIsInvalid", SenderFault: true }] };
      throw Object.assign(new Error("throttled"), { name: "ThrottlingException" });
    });
    const source = new SqsDeadLetterSource(client);
    const handles = Array.from({ length: 12 }, (_, i) => `h-${i}`);

    // Act
    const { failed } = await source.remove(QUEUE, handles);

    // Assess
    expect(failed.sort()).toEqual(["h-10", "h-11", "h-3"]);
    expect(sent).toHaveLength(2);
  });
});
