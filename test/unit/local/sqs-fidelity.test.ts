import { randomUUID } from "node:crypto";
import { MessageChannel } from "node:worker_threads";
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type RunningEmulators,
  startEmulators,
} from "#local/aws/emulators.js";
import { LocalFastPath } from "#local/aws/fast-path.js";
import { serveInProcess } from "#local/aws/in-process.js";

/**
 * The local SQS (fauxqs, with local/aws/fauxqs-fifo.ts) against what SQS documents for FIFO queues and what the
 * pipeline relies on: the relay sends a group's tasks in order, deliver gets them in batches and reports the
 * failed and skipped ones (shared/services/deliver/group-runner.ts), the receive backstop redrives
 * (shared/config/receive-backstop.ts), deduplication absorbs a resend (shared/services/relay.ts).
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-exactly-once-processing.html
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html (DelaySeconds)
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html (12 hours)
 */
let emulators: RunningEmulators;
let fastPath: LocalFastPath;
/** The client the tests below use: one of the two routes, set by the describe that runs them. */
let sqs: SQSClient;
const routes = {} as Record<Route, SQSClient>;
type Route = "over HTTP" | "through the local fast path";

beforeAll(async () => {
  emulators = await startEmulators();
  const port = new URL(emulators.endpoints.sqs).port;
  const options = {
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: `http://sqs.${LOCAL_REGION}.localhost:${port}`,
    maxAttempts: 1,
  };
  routes["over HTTP"] = new SQSClient(options);
  // The route the local runtime's own clients take (local/aws/fast-path.ts): the emulators' in-process dispatch,
  // where fauxqs's hot actions skip its HTTP app (local/aws/fauxqs-direct.ts).
  const channel = new MessageChannel();
  serveInProcess(channel.port2, emulators.dispatch);
  fastPath = new LocalFastPath(channel.port1);
  routes["through the local fast path"] = fastPath.route(new SQSClient(options), { faults: false });
});

afterAll(async () => {
  for (const client of Object.values(routes)) client.destroy();
  fastPath.close();
  await emulators.stop();
});

async function fifoQueue(attributes: Record<string, string> = {}): Promise<string> {
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: `fid-${randomUUID().slice(0, 8)}.fifo`,
      Attributes: { FifoQueue: "true", VisibilityTimeout: "30", ...attributes },
    }),
  );
  return QueueUrl as string;
}

async function sendInOrder(queueUrl: string, group: string, bodies: string[]): Promise<void> {
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: bodies.map((body, i) => ({
        Id: String(i),
        MessageBody: body,
        MessageGroupId: group,
        MessageDeduplicationId: `${group}-${body}`,
      })),
    }),
  );
}

async function receive(queueUrl: string, max = 10) {
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: max,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ["All"],
    }),
  );
  return Messages ?? [];
}

describe.each(["over HTTP", "through the local fast path"] as const)("%s", (route: Route) => {
  beforeAll(() => {
    sqs = routes[route];
  });

  describe("local SQS FIFO queues behave as SQS documents", () => {
    it("one receive returns as many of a group's messages as it can, in order, then other groups'", async () => {
      // Prepare
      const queueUrl = await fifoQueue();
      await sendInOrder(queueUrl, "a", ["a1", "a2", "a3"]);
      await sendInOrder(queueUrl, "b", ["b1", "b2"]);

      // Act
      const received = await receive(queueUrl);

      // Assess
      expect(received.map((m) => m.Body)).toEqual(["a1", "a2", "a3", "b1", "b2"]);
    });

    it("a receive stops at MaxNumberOfMessages within a group, and the group's rest waits for them", async () => {
      // Prepare
      const queueUrl = await fifoQueue();
      await sendInOrder(queueUrl, "a", ["a1", "a2", "a3"]);

      // Act
      const first = await receive(queueUrl, 2);
      const whileInFlight = await receive(queueUrl);
      for (const m of first)
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
      const afterDelete = await receive(queueUrl);

      // Assess
      expect(first.map((m) => m.Body)).toEqual(["a1", "a2"]);
      expect(whileInFlight).toEqual([]);
      expect(afterDelete.map((m) => m.Body)).toEqual(["a3"]);
    });

    it("a group stays locked while any of its received messages is in flight", async () => {
      // Prepare
      const queueUrl = await fifoQueue();
      await sendInOrder(queueUrl, "a", ["a1", "a2"]);
      const [a1, a2] = await receive(queueUrl);
      await sendInOrder(queueUrl, "a", ["a3"]);

      // Act
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: a1?.ReceiptHandle }));
      const withA2InFlight = await receive(queueUrl);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: a2?.ReceiptHandle }));
      const afterAll = await receive(queueUrl);

      // Assess
      expect(withA2InFlight).toEqual([]);
      expect(afterAll.map((m) => m.Body)).toEqual(["a3"]);
    });

    it("messages made visible again come back in their group's send order, whatever order they were released in", async () => {
      // Prepare
      const queueUrl = await fifoQueue();
      await sendInOrder(queueUrl, "a", ["a1", "a2"]);
      const [a1, a2] = await receive(queueUrl);

      // Act: released in the batch's order, as deliver's one ChangeMessageVisibilityBatch does
      for (const m of [a1, a2])
        await sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queueUrl,
            ReceiptHandle: m?.ReceiptHandle,
            VisibilityTimeout: 0,
          }),
        );
      const again = await receive(queueUrl);

      // Assess
      expect(again.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([
        ["a1", "2"],
        ["a2", "2"],
      ]);
    });

    it("a batch whose visibility timeout passes comes back in send order", async () => {
      // Prepare
      const queueUrl = await fifoQueue();
      await sendInOrder(queueUrl, "a", ["a1", "a2", "a3"]);
      await receive(queueUrl);
      // fauxqs reads its clock (Date.now) on each receive: passing the 30 s timeout needs no wait.
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 31_000 });

      // Act
      const again = await receive(queueUrl).finally(() => vi.useRealTimers());

      // Assess
      expect(again.map((m) => m.Body)).toEqual(["a1", "a2", "a3"]);
    });

    it("the same deduplication id within 5 minutes is accepted and not delivered again", async () => {
      // Prepare
      const queueUrl = await fifoQueue();
      const send = () =>
        sqs.send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: "once",
            MessageGroupId: "a",
            MessageDeduplicationId: "task-1",
          }),
        );
      const first = await send();

      // Act
      const second = await send();
      const received = await receive(queueUrl);

      // Assess
      expect(second.MessageId).toBe(first.MessageId);
      expect(received.map((m) => m.Body)).toEqual(["once"]);
    });

    it("a message received maxReceiveCount times goes to the dead-letter queue on its next receive", async () => {
      // Prepare
      const dlqUrl = await fifoQueue();
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] }),
      );
      const queueUrl = await fifoQueue({
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes?.QueueArn, maxReceiveCount: 2 }),
      });
      await sendInOrder(queueUrl, "a", ["a1", "a2"]);
      const makeVisible = async (messages: { ReceiptHandle?: string }[]) => {
        for (const m of messages)
          await sqs.send(
            new ChangeMessageVisibilityCommand({
              QueueUrl: queueUrl,
              ReceiptHandle: m.ReceiptHandle,
              VisibilityTimeout: 0,
            }),
          );
      };
      await makeVisible(await receive(queueUrl));
      await makeVisible(await receive(queueUrl));

      // Act
      const third = await receive(queueUrl);
      const deadLettered = await receive(dlqUrl);

      // Assess: both were received twice with the batch (the follower too), both are redriven
      expect(third).toEqual([]);
      expect(deadLettered.map((m) => m.Body)).toEqual(["a1", "a2"]);
    });

    // DeduplicationScope "messageGroup" (the topic queues' setting, with FifoThroughputLimit perMessageGroupId):
    // deduplication occurs within a message group, so one id sent in two groups is delivered in both; "queue" (the
    // default) deduplicates across the queue —
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html (DeduplicationScope),
    // https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_sqs.DeduplicationScope.html.
    it.each([
      ["messageGroup", ["g1:first", "g2:other group"]],
      ["queue", ["g1:first"]],
    ])(
      "with DeduplicationScope %s, an id sent again in another group is delivered %j",
      async (scope, delivered) => {
        // Prepare
        const queueUrl = await fifoQueue({
          DeduplicationScope: scope,
          FifoThroughputLimit: scope === "queue" ? "perQueue" : "perMessageGroupId",
        });
        const send = (group: string, body: string) =>
          sqs.send(
            new SendMessageCommand({
              QueueUrl: queueUrl,
              MessageBody: `${group}:${body}`,
              MessageGroupId: group,
              MessageDeduplicationId: "task-1",
            }),
          );

        // Act
        await send("g1", "first");
        await send("g2", "other group");
        await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: [
              {
                Id: "again",
                MessageBody: "g1:again",
                MessageGroupId: "g1",
                MessageDeduplicationId: "task-1",
              },
            ],
          }),
        );
        const received = await receive(queueUrl);

        // Assess
        expect(received.map((m) => m.Body).sort()).toEqual(delivered);
      },
    );

    it("refuses a per-message DelaySeconds on a FIFO queue", async () => {
      // Prepare
      const queueUrl = await fifoQueue();

      // Act
      const sending = sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: "x",
          MessageGroupId: "a",
          MessageDeduplicationId: "d",
          DelaySeconds: 5,
        }),
      );

      // Assess
      await expect(sending).rejects.toMatchObject({ name: expect.stringMatching(/InvalidParameterValue$/) });
    });
  });

  describe("a message's own parameters, as SQS bounds them (local/aws/fauxqs-parameters.ts)", () => {
    async function standardQueue(): Promise<string> {
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({ QueueName: `fid-${randomUUID().slice(0, 8)}` }),
      );
      return QueueUrl as string;
    }

    const invalid = { name: expect.stringMatching(/InvalidParameterValue$/) };

    it.each([901, -1, 1.5])(
      "refuses a DelaySeconds of %s on a standard queue, and sends nothing",
      async (delay) => {
        // Prepare
        const queueUrl = await standardQueue();

        // Act
        const sending = sqs.send(
          new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "x", DelaySeconds: delay }),
        );

        // Assess
        await expect(sending).rejects.toMatchObject(invalid);
        const { Attributes } = await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: queueUrl,
            AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
          }),
        );
        expect(Attributes).toMatchObject({
          ApproximateNumberOfMessages: "0",
          ApproximateNumberOfMessagesDelayed: "0",
        });
      },
    );

    it("takes a DelaySeconds of 0 and of 900 on a standard queue", async () => {
      // Prepare
      const queueUrl = await standardQueue();

      // Act
      const sent = [0, 900].map((delay) =>
        sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "x", DelaySeconds: delay })),
      );

      // Assess
      await expect(Promise.all(sent)).resolves.toHaveLength(2);
    });

    it.each([
      ["MessageGroupId", "g".repeat(129)],
      ["MessageGroupId", "a b"],
      ["MessageGroupId", "gr\u00fcn"],
      ["MessageDeduplicationId", "d".repeat(129)],
      ["MessageDeduplicationId", "task\u00e9"],
    ])("refuses a %s of %j on a FIFO queue", async (name, value) => {
      // Prepare
      const queueUrl = await fifoQueue();

      // Act
      const sending = sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: "x",
          MessageGroupId: "g",
          MessageDeduplicationId: "d",
          [name]: value,
        }),
      );

      // Assess
      await expect(sending).rejects.toMatchObject(invalid);
      expect(await receive(queueUrl)).toEqual([]);
    });

    // SendMessage: MessageDeduplicationId "applies only to FIFO (first-in-first-out) queues"; MessageGroupId "In
    // standard queues, using MessageGroupId enables fair queues". Refusing the first on a standard queue is the
    // answer AWS gave (InvalidParameterValue, "not valid for this queue type"); docs/OPERATIONS.md says why.
    it("refuses a MessageDeduplicationId on a standard queue, singly and as a batch entry alone, and sends nothing with it", async () => {
      // Prepare
      const queueUrl = await standardQueue();

      // Act
      const refused = await sqs
        .send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "x", MessageDeduplicationId: "d" }))
        .catch((e: unknown) => e);
      const batch = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: [
            { Id: "dedup", MessageBody: "y", MessageDeduplicationId: "d" },
            { Id: "ok", MessageBody: "z" },
          ],
        }),
      );

      // Assess
      expect(refused).toMatchObject(invalid);
      expect((refused as Error).message).toContain("not valid for this queue type");
      expect(batch.Successful?.map((e) => e.Id)).toEqual(["ok"]);
      expect(batch.Failed?.map((e) => [e.Id, e.Code, e.SenderFault])).toEqual([
        ["dedup", "InvalidParameterValue", true],
      ]);
      expect((await receive(queueUrl)).map((m) => m.Body)).toEqual(["z"]);
    });

    it("takes a MessageGroupId on a standard queue (a fair queue's tenant), and refuses one SQS refuses there too", async () => {
      // Prepare
      const queueUrl = await standardQueue();

      // Act
      await sqs.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "x", MessageGroupId: "tenant-1" }),
      );
      const refused = await sqs
        .send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "y", MessageGroupId: "a b" }))
        .catch((e: unknown) => e);

      // Assess
      expect(refused).toMatchObject(invalid);
      expect((await receive(queueUrl)).map((m) => m.Body)).toEqual(["x"]);
    });

    it("takes group and deduplication ids of 128 punctuation and alphanumeric characters", async () => {
      // Prepare
      const queueUrl = await fifoQueue();
      const token = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".padEnd(128, "a");

      // Act
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: "x",
          MessageGroupId: token,
          MessageDeduplicationId: token,
        }),
      );

      // Assess
      expect((await receive(queueUrl)).map((m) => m.Attributes?.MessageGroupId)).toEqual([token]);
    });

    it("refuses a batch whose entry Id is longer than 80 characters, acting on none of it", async () => {
      // Prepare
      const queueUrl = await standardQueue();
      const long = "i".repeat(81);
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "x" }));
      const [message] = await receive(queueUrl);
      const receiptHandle = message?.ReceiptHandle as string;
      const batchIdInvalid = { name: expect.stringMatching(/InvalidBatchEntryId$/) };

      // Act
      const sending = sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: [
            { Id: "ok", MessageBody: "y" },
            { Id: long, MessageBody: "z" },
          ],
        }),
      );
      const changing = sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: [{ Id: long, ReceiptHandle: receiptHandle, VisibilityTimeout: 0 }],
        }),
      );
      const deleting = sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: [{ Id: long, ReceiptHandle: receiptHandle }],
        }),
      );

      // Assess
      await expect(sending).rejects.toMatchObject(batchIdInvalid);
      await expect(changing).rejects.toMatchObject(batchIdInvalid);
      await expect(deleting).rejects.toMatchObject(batchIdInvalid);
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        }),
      );
      // Nothing sent, and the received message neither made visible again nor deleted.
      expect(Attributes).toMatchObject({
        ApproximateNumberOfMessages: "0",
        ApproximateNumberOfMessagesNotVisible: "1",
      });
    });

    it("takes a batch entry Id of 80 characters", async () => {
      // Prepare
      const queueUrl = await standardQueue();

      // Act
      const answer = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: [{ Id: "i".repeat(80), MessageBody: "x" }],
        }),
      );

      // Assess
      expect(answer.Successful).toHaveLength(1);
    });

    it("fails only the batch entries SQS refuses, sending the others", async () => {
      // Prepare
      const fifo = await fifoQueue();
      const standard = await standardQueue();

      // Act
      const fifoAnswer = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: fifo,
          Entries: [
            { Id: "ok", MessageBody: "a1", MessageGroupId: "a", MessageDeduplicationId: "a1" },
            { Id: "long", MessageBody: "a2", MessageGroupId: "a".repeat(129), MessageDeduplicationId: "a2" },
            { Id: "space", MessageBody: "a3", MessageGroupId: "a", MessageDeduplicationId: "a 3" },
          ],
        }),
      );
      const standardAnswer = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: standard,
          Entries: [
            { Id: "late", MessageBody: "s1", DelaySeconds: 901 },
            { Id: "ok", MessageBody: "s2", DelaySeconds: 0 },
          ],
        }),
      );

      // Assess
      expect(fifoAnswer.Successful?.map((e) => e.Id)).toEqual(["ok"]);
      expect(fifoAnswer.Failed?.map((e) => [e.Id, e.Code, e.SenderFault])).toEqual([
        ["long", "InvalidParameterValue", true],
        ["space", "InvalidParameterValue", true],
      ]);
      expect(standardAnswer.Successful?.map((e) => e.Id)).toEqual(["ok"]);
      expect(standardAnswer.Failed?.map((e) => [e.Id, e.Code, e.SenderFault])).toEqual([
        ["late", "InvalidParameterValue", true],
      ]);
      expect((await receive(fifo)).map((m) => m.Body)).toEqual(["a1"]);
      expect((await receive(standard)).map((m) => m.Body)).toEqual(["s2"]);
    });
  });

  // SendMessage's MessageBody: "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF", anything
  // else refused with InvalidMessageContents.
  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
  describe("a message body's characters, as SQS bounds them (local/aws/fauxqs-bodies.ts)", () => {
    const standardQueue = async () =>
      (await sqs.send(new CreateQueueCommand({ QueueName: `fid-${randomUUID().slice(0, 8)}` })))
        .QueueUrl as string;
    const contentsInvalid = { name: expect.stringMatching(/InvalidMessageContents$/) };
    /** Above U+FFFF (fauxqs refused these), and each end of every range SQS allows. */
    const allowed = [
      '{"note":"⏰ due 🚀"}',
      "\u{1D518}\u{20000}\u{10000}\u{10FFFF}",
      "\t\n\r \uD7FF\uE000\uFFFD",
    ];

    it.each(allowed)(
      "takes the body %j on a standard and a FIFO queue, singly and in a batch, and hands it back as sent",
      async (body) => {
        // Prepare
        const standard = await standardQueue();
        const fifo = await fifoQueue();

        // Act
        await sqs.send(new SendMessageCommand({ QueueUrl: standard, MessageBody: body }));
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: fifo,
            MessageBody: body,
            MessageGroupId: "g",
            MessageDeduplicationId: "1",
          }),
        );
        const batch = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: fifo,
            Entries: [{ Id: "b", MessageBody: body, MessageGroupId: "g", MessageDeduplicationId: "2" }],
          }),
        );

        // Assess
        expect(batch.Failed ?? []).toEqual([]);
        expect((await receive(standard)).map((m) => m.Body)).toEqual([body]);
        expect((await receive(fifo)).map((m) => m.Body)).toEqual([body, body]);
      },
    );

    it.each([
      ["U+0000", "a\u0000b"],
      ["U+0001", "a\u0001b"],
      ["U+001F", "a\u001Fb"],
      ["a lone high surrogate", "a\uD800b"],
      ["a lone low surrogate", "a\uDC00b"],
      ["a low surrogate before a high one", "\uDE00\uD83D"],
      ["U+FFFE", "a\uFFFEb"],
      ["U+FFFF", "a\uFFFFb"],
    ])(
      "refuses a body holding %s: SendMessage InvalidMessageContents, a batch failing that entry alone",
      async (_label, body) => {
        // Prepare
        const queueUrl = await standardQueue();

        // Act
        const refused = await sqs
          .send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }))
          .catch((e: unknown) => e);
        const batch = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: [
              { Id: "bad", MessageBody: body },
              { Id: "ok", MessageBody: "fine 🙂" },
            ],
          }),
        );

        // Assess
        expect(refused).toMatchObject(contentsInvalid);
        expect(batch.Successful?.map((e) => e.Id)).toEqual(["ok"]);
        expect(batch.Failed?.map((e) => [e.Id, e.Code, e.SenderFault])).toEqual([
          ["bad", "InvalidMessageContents", true],
        ]);
        expect((await receive(queueUrl)).map((m) => m.Body)).toEqual(["fine 🙂"]);
      },
    );
  });

  describe("a received message's visibility, as SQS bounds it", () => {
    const HOUR = 3600;

    /** One message received with a visibility of 7 hours, then the clock moved 6 hours on. */
    async function receivedSixHoursAgo(): Promise<{ queueUrl: string; receiptHandle: string }> {
      const queueUrl = await fifoQueue();
      await sendInOrder(queueUrl, "a", ["a1"]);
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 7 * HOUR,
        }),
      );
      vi.setSystemTime(Date.now() + 6 * HOUR * 1000);
      return { queueUrl, receiptHandle: Messages?.[0]?.ReceiptHandle as string };
    }

    beforeEach(() => {
      vi.useFakeTimers({ toFake: ["Date"] });
    });

    afterEach(() => {
      vi.useRealTimers();
    });

    it("refuses a visibility that would keep it hidden past 12 hours from its receive, and takes one within them", async () => {
      // Prepare
      const { queueUrl, receiptHandle } = await receivedSixHoursAgo();

      const change = (seconds: number) =>
        sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queueUrl,
            ReceiptHandle: receiptHandle,
            VisibilityTimeout: seconds,
          }),
        );

      // Act
      const pastTwelve = await change(7 * HOUR).catch((error: unknown) => error);
      const within = await change(5 * HOUR);

      // Assess: SQS refuses rather than cutting it down to what is left
      expect(pastTwelve).toMatchObject({ name: expect.stringMatching(/InvalidParameterValue$/) });
      expect(within.$metadata.httpStatusCode).toBe(200);
    });

    it("fails only the batch entries that would pass their receipt's 12 hours", async () => {
      // Prepare: a1 received 6 hours ago, b1 just now, in one queue
      const { queueUrl, receiptHandle: old } = await receivedSixHoursAgo();
      await sendInOrder(queueUrl, "b", ["b1"]);
      const [young] = await receive(queueUrl);

      // Act
      const answer = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: [
            { Id: "old", ReceiptHandle: old, VisibilityTimeout: 7 * HOUR },
            { Id: "young", ReceiptHandle: young?.ReceiptHandle, VisibilityTimeout: 7 * HOUR },
          ],
        }),
      );

      // Assess
      expect(young?.Body).toBe("b1");
      expect(answer.Successful).toEqual([{ Id: "young" }]);
      expect(answer.Failed).toEqual([
        expect.objectContaining({ Id: "old", Code: "InvalidParameterValue", SenderFault: true }),
      ]);
    });

    it.each([
      ["eleven entries", "TooManyEntriesInBatchRequest", (i: number) => `e${i}`, 11],
      ["an Id given twice", "BatchEntryIdsNotDistinct", () => "same", 2],
      ["a malformed Id", "InvalidBatchEntryId", (i: number) => (i === 0 ? "old.one" : `e${i}`), 2],
    ] as const)(
      "refuses a whole batch SQS refuses whole, a refused entry in it or not (%s)",
      async (_what, code, id, count) => {
        // Prepare: the first entry past its receipt's 12 hours, the others a young message's
        const { queueUrl, receiptHandle: old } = await receivedSixHoursAgo();
        await sendInOrder(queueUrl, "b", ["b1"]);
        const [young] = await receive(queueUrl);
        const entries = Array.from({ length: count }, (_, i) => ({
          Id: id(i),
          ReceiptHandle: i === 0 ? old : young?.ReceiptHandle,
          VisibilityTimeout: i === 0 ? 7 * HOUR : 60,
        }));

        // Act
        const sending = sqs.send(
          new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
        );

        // Assess
        await expect(sending).rejects.toMatchObject({ name: expect.stringMatching(new RegExp(`${code}$`)) });
      },
    );
  });

  describe("a FIFO receipt handle once its visibility timeout has passed", () => {
    /**
     * "The receipt handle expires after the visibility timeout period … the message returns to the queue" (FIFO: a
     * DeleteMessage with it answers InvalidParameterValue "The receipt handle has expired"; only a standard queue may
     * still take an old one), https://repost.aws/knowledge-center/sqs-receipt-handle-error. fauxqs moves a message
     * back only on its next receive (or a waiting long poll's tick), and until then took the expired handle (and
     * deleted the message). Once moved back, a delete with the old handle is answered successful and deletes nothing
     * (not covered here: only the answer differs from SQS's).
     */
    async function receivedAndExpired(
      others: readonly string[] = [],
    ): Promise<{ queueUrl: string; receiptHandle: string; live: Message[] }> {
      const queueUrl = await fifoQueue();
      await sendInOrder(queueUrl, "a", ["a1"]);
      const [a1] = await receive(queueUrl);
      // Received 20 s later, with 60 s of visibility: still in flight once a1's 30 s have passed.
      vi.setSystemTime(Date.now() + 20_000);
      const live: Message[] = [];
      for (const group of others) {
        await sendInOrder(queueUrl, group, [`${group}1`]);
        const { Messages } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 60 }),
        );
        live.push(...(Messages ?? []));
      }
      // fauxqs reads its clock (Date.now) per call: passing the 30 s timeout needs no wait.
      vi.setSystemTime(Date.now() + 11_000);
      return { queueUrl, receiptHandle: a1?.ReceiptHandle as string, live };
    }

    beforeEach(() => {
      vi.useFakeTimers({ toFake: ["Date"] });
    });

    afterEach(() => {
      vi.useRealTimers();
    });

    it("refuses a delete with it, and the message comes back", async () => {
      // Prepare
      const { queueUrl, receiptHandle } = await receivedAndExpired();

      // Act
      const deleting = await sqs
        .send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }))
        .catch((error: unknown) => error);
      const again = await receive(queueUrl);

      // Assess
      expect(deleting).toMatchObject({
        name: expect.stringMatching(/InvalidParameterValue$/),
        message: expect.stringContaining("The receipt handle has expired"),
      });
      expect(again.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([["a1", "2"]]);
    });

    it("fails only the batch entries whose handle has expired, deletes and changes the others", async () => {
      // Prepare: a1's handle expired, b1 and c1 still in flight (no receive since a1's expiry: fauxqs not told)
      const { queueUrl, receiptHandle: expired, live } = await receivedAndExpired(["b", "c"]);
      const [b1, c1] = live;

      // Act
      const deleted = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: [
            { Id: "expired", ReceiptHandle: expired },
            { Id: "live", ReceiptHandle: b1?.ReceiptHandle },
          ],
        }),
      );
      const changed = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: [
            { Id: "expired", ReceiptHandle: expired, VisibilityTimeout: 60 },
            { Id: "live", ReceiptHandle: c1?.ReceiptHandle, VisibilityTimeout: 0 },
          ],
        }),
      );
      const again = await receive(queueUrl);

      // Assess
      const refusal = expect.objectContaining({
        Id: "expired",
        Code: "InvalidParameterValue",
        SenderFault: true,
        Message: expect.stringContaining("The receipt handle has expired"),
      });
      expect(deleted.Successful).toEqual([{ Id: "live" }]);
      expect(deleted.Failed).toEqual([refusal]);
      expect(changed.Successful).toEqual([{ Id: "live" }]);
      expect(changed.Failed).toEqual([refusal]);
      expect(again.map((m) => m.Body).sort()).toEqual(["a1", "c1"]);
    });

    it("refuses a visibility change with it", async () => {
      // Prepare
      const { queueUrl, receiptHandle } = await receivedAndExpired();

      // Act
      const changing = await sqs
        .send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queueUrl,
            ReceiptHandle: receiptHandle,
            VisibilityTimeout: 60,
          }),
        )
        .catch((error: unknown) => error);

      // Assess
      expect(changing).toMatchObject({ name: expect.stringMatching(/InvalidParameterValue$/) });
      expect((await receive(queueUrl)).map((m) => m.Body)).toEqual(["a1"]);
    });
  });

  describe("a standard queue's delayed messages (local/aws/fauxqs-delays.ts keeps them in due-time order)", () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ["Date"] });
    });

    afterEach(() => {
      vi.useRealTimers();
    });

    async function standardQueue(): Promise<string> {
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({
          QueueName: `fid-${randomUUID().slice(0, 8)}`,
          Attributes: { VisibilityTimeout: "30" },
        }),
      );
      return QueueUrl as string;
    }

    async function sendDelayed(queueUrl: string, delays: Record<string, number>): Promise<void> {
      for (const [body, delaySeconds] of Object.entries(delays))
        await sqs.send(
          new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, DelaySeconds: delaySeconds }),
        );
    }

    async function delayedCount(queueUrl: string): Promise<number> {
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ["ApproximateNumberOfMessagesDelayed"],
        }),
      );
      return Number(Attributes?.ApproximateNumberOfMessagesDelayed);
    }

    /** Receives and deletes, so that only messages falling due come next. */
    async function take(queueUrl: string): Promise<(string | undefined)[]> {
      const messages = await receive(queueUrl);
      for (const m of messages)
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
      return messages.map((m) => m.Body);
    }

    it("hands out each message when its own delay has passed, not before, those due together in send order", async () => {
      // Prepare: sent out of due order
      const queueUrl = await standardQueue();
      await sendDelayed(queueUrl, { d30: 30, d10a: 10, now: 0, d20: 20, d10b: 10 });
      const start = Date.now();
      const at = (seconds: number) => vi.setSystemTime(start + seconds * 1000);

      // Act
      const atStart = await take(queueUrl);
      at(9.999);
      const justBefore = await take(queueUrl);
      at(10);
      const atTen = await take(queueUrl);
      const delayedAtTen = await delayedCount(queueUrl);
      at(60);
      const atSixty = await take(queueUrl);

      // Assess
      expect(atStart).toEqual(["now"]);
      expect(justBefore).toEqual([]);
      expect(atTen).toEqual(["d10a", "d10b"]);
      expect(delayedAtTen).toBe(2);
      expect(atSixty).toEqual(["d20", "d30"]);
      expect(await delayedCount(queueUrl)).toBe(0);
    });

    it("still brings back a message whose visibility ran out, beside the delayed ones falling due", async () => {
      // Prepare
      const queueUrl = await standardQueue();
      await sendDelayed(queueUrl, { first: 0, later: 20 });
      const [first] = await receive(queueUrl);
      vi.setSystemTime(Date.now() + 31_000);

      // Act
      const received = await take(queueUrl);

      // Assess
      expect(first?.Body).toBe("first");
      expect(received.sort()).toEqual(["first", "later"]);
    });

    it("a long poll waiting on the queue gets a delayed message once it falls due, the later one staying delayed", async () => {
      // Prepare
      const queueUrl = await standardQueue();
      await sendDelayed(queueUrl, { d20: 20, d10: 10 });
      const start = Date.now();

      // Act: fauxqs's 20 ms timer, not the receive's own pass, finds d10 due once the poll is waiting
      const polling = sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 20 }),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      vi.setSystemTime(start + 10_000);
      const { Messages } = await polling;

      // Assess
      expect(Messages?.map((m) => m.Body)).toEqual(["d10"]);
      expect(await delayedCount(queueUrl)).toBe(1);
    });

    it("keeps delaying what is sent after a purge emptied the queue", async () => {
      // Prepare
      const queueUrl = await standardQueue();
      await sendDelayed(queueUrl, { gone: 5 });
      await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
      await sendDelayed(queueUrl, { b: 20, a: 10 });
      const start = Date.now();

      // Act
      vi.setSystemTime(start + 10_000);
      const atTen = await take(queueUrl);
      vi.setSystemTime(start + 20_000);
      const atTwenty = await take(queueUrl);

      // Assess
      expect(atTen).toEqual(["a"]);
      expect(atTwenty).toEqual(["b"]);
    });
  });

  describe("a standard queue's delayed messages when the clock steps back during a timer pass", () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ["Date"] });
    });

    afterEach(() => {
      vi.restoreAllMocks();
      vi.useRealTimers();
    });

    /**
     * Whether this clock read is fauxqs's own pass (its `processTimers` in sqsStore.js) rather than the due-time
     * wrapper around it: the innermost `processTimers` frame on the stack says which.
     */
    function readInsideFauxqsPass(): boolean {
      const frame = (new Error().stack ?? "").split("\n").find((line) => line.includes("processTimers"));
      return frame?.includes("sqsStore.js") ?? false;
    }

    it("keeps a message that the wrapper found due and fauxqs's later clock read did not, and releases it", async () => {
      // Prepare: the wall clock (Date.now) can step back, e.g. when NTP corrects it
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({ QueueName: `fid-${randomUUID().slice(0, 8)}` }),
      );
      const queueUrl = QueueUrl as string;
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "due", DelaySeconds: 10 }));
      const dueAt = Date.now() + 10_000;
      vi.setSystemTime(dueAt);
      const clock = Date.now;
      let steppedReads = 0;
      const stepped = vi.spyOn(Date, "now").mockImplementation(() => {
        if (!readInsideFauxqsPass()) return clock();
        steppedReads++;
        return dueAt - 1;
      });

      // Act
      const duringStep = await receive(queueUrl);
      stepped.mockRestore();
      const afterStep = await receive(queueUrl);

      // Assess
      expect(steppedReads).toBeGreaterThan(0);
      expect([...duringStep, ...afterStep].map((m) => m.Body)).toEqual(["due"]);
    });
  });
});
