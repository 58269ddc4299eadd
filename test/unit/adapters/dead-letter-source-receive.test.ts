import { createHash } from "node:crypto";
import { SQSClient } from "@aws-sdk/client-sqs";
import { ConfiguredRetryStrategy } from "@smithy/core/retry";
import { afterEach, describe, expect, it } from "vitest";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { SqsDeadLetterSource } from "#shared/adapters/dead-letter-source.js";

/**
 * The sweeper's receive of a topic's FIFO dead-letter queue through a real SQS client and its own retries, against
 * a transport that plays SQS as AWS documents it for a FIFO queue
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html,
 * ReceiveRequestAttemptId): a receive hides the messages it takes for the visibility timeout, and their message
 * group with them; a later receive carrying the same ReceiveRequestAttemptId gets those same messages back. The
 * emulator the local cloud runs (fauxqs) ignores the id, so only this stand-in can show the difference.
 */
const FIFO_DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/punctual-test-orders-dlq.fifo";
const TIMER_DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/punctual-test-timer-dlq";

interface StoredMessage {
  readonly id: string;
  readonly group: string;
  inFlight: boolean;
}

type Fault = "lose the answer" | "throttle";

interface ReceiveBody {
  readonly MaxNumberOfMessages?: number;
  readonly ReceiveRequestAttemptId?: string;
}

/** A FIFO queue of one message per group, as SQS answers ReceiveMessage over its JSON protocol. */
function fifoStandIn(groups: readonly string[], faults: Fault[]) {
  const messages: StoredMessage[] = groups.map((group, i) => ({ id: `m${i}`, group, inFlight: false }));
  const byAttempt = new Map<string, StoredMessage[]>();
  const refusedAttempts = new Set<string>();
  const seen: ReceiveBody[] = [];
  const take = (max: number) => {
    const taken = messages.filter((m) => !m.inFlight).slice(0, max);
    for (const m of taken) m.inFlight = true;
    return taken;
  };
  const handler = {
    metadata: { handlerProtocol: "test" },
    handle: async (request: { body?: unknown }) => {
      const body = JSON.parse(String(request.body)) as ReceiveBody;
      seen.push(body);
      const attemptId = body.ReceiveRequestAttemptId;
      const fault = faults.shift();
      if (attemptId !== undefined && refusedAttempts.has(attemptId)) {
        return {
          response: error(
            "InvalidParameterValue",
            `Value ${attemptId} for parameter ReceiveRequestAttemptId is invalid. Reason: The receiveRequestAttemptId is not valid anymore since the receive call is not retryable.`,
          ),
        };
      }
      if (fault === "throttle") {
        // Refused before anything was taken: a resend under the same id is refused in turn (issue #213 above).
        if (attemptId !== undefined) refusedAttempts.add(attemptId);
        return { response: error("RequestThrottled", "Queue Throttled") };
      }
      const taken =
        (attemptId !== undefined ? byAttempt.get(attemptId) : undefined) ??
        take(body.MaxNumberOfMessages ?? 1);
      if (attemptId !== undefined) byAttempt.set(attemptId, taken);
      // SQS took the messages; the answer never reaches the caller (a reset connection, which the SDK resends).
      if (fault === "lose the answer")
        throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      return { response: answer(taken) };
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
    destroy: () => undefined,
  };
  return { handler, seen };
}

function answer(taken: readonly StoredMessage[]) {
  const body = {
    Messages: taken.map((m) => {
      const text = `{"v":1,"taskId":"task-${m.id}"}`;
      return {
        MessageId: m.id,
        ReceiptHandle: `handle-${m.id}`,
        // The SDK checks each body against it, as SQS sends it.
        MD5OfBody: createHash("md5").update(text).digest("hex"),
        Body: text,
        Attributes: { MessageDeduplicationId: `task-${m.id}` },
      };
    }),
  };
  return {
    statusCode: 200,
    headers: { "content-type": "application/x-amz-json-1.0" },
    body: new TextEncoder().encode(JSON.stringify(body)),
  };
}

function error(code: string, message: string) {
  return {
    statusCode: 400,
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amzn-query-error": `${code};Sender`,
    },
    body: new TextEncoder().encode(JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message })),
  };
}

const clients: SQSClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

/** A client as the sweeper builds it, on the stand-in, with the SDK's retries (their waits cut to nothing). */
function sqsOn(handler: ReturnType<typeof fifoStandIn>["handler"]): SQSClient {
  const client = createAwsClient(SQSClient, {
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    requestHandler: handler,
    retryStrategy: new ConfiguredRetryStrategy(3, () => 0),
  });
  clients.push(client);
  return client;
}

describe("SqsDeadLetterSource.receive from a FIFO dead-letter queue", () => {
  it("gets the messages of a receive whose answer was lost, not others while those stay hidden", async () => {
    // Prepare: two groups' messages; the first receive takes one and its answer is lost
    const { handler, seen } = fifoStandIn(["g-a", "g-b"], ["lose the answer"]);
    const source = new SqsDeadLetterSource(sqsOn(handler));

    // Act
    const received = await source.receive(FIFO_DLQ, 1, 60, 1);

    // Assess: the SDK's resend carried the same attempt id and got the message the lost answer held (before, it got
    // g-b's, and g-a's message stayed hidden for the 60 s with its group, unseen by this sweeper run)
    expect(received.map((m) => m.messageId)).toEqual(["m0"]);
    expect(seen).toHaveLength(2);
    expect(seen[0]?.ReceiveRequestAttemptId).toBeDefined();
    expect(seen[1]?.ReceiveRequestAttemptId).toBe(seen[0]?.ReceiveRequestAttemptId);
  });

  it("receives under a new attempt id when the resend of a throttled receive is refused for reusing it", async () => {
    // Prepare: the first receive is throttled; SQS refuses its resend's id
    const { handler, seen } = fifoStandIn(["g-a", "g-b"], ["throttle"]);
    const source = new SqsDeadLetterSource(sqsOn(handler));

    // Act
    const received = await source.receive(FIFO_DLQ, 10, 60, 1);

    // Assess: the queue is read, as the SDK's resend without an id read it before the attempt ids (this case guards
    // their fallback: with the refused id kept, the throttle would have failed the receive)
    expect(received.map((m) => m.messageId)).toEqual(["m0", "m1"]);
    const last = seen.at(-1)?.ReceiveRequestAttemptId;
    expect(last === undefined || last !== seen[0]?.ReceiveRequestAttemptId).toBe(true);
  });

  it("sends no attempt id to a standard queue (the timer and schedule DLQs), which takes none", async () => {
    const { handler, seen } = fifoStandIn(["g-a"], []);
    const source = new SqsDeadLetterSource(sqsOn(handler));

    expect((await source.receive(TIMER_DLQ, 10, 60, 1)).map((m) => m.messageId)).toEqual(["m0"]);
    expect(seen[0]?.ReceiveRequestAttemptId).toBeUndefined();
  });
});
