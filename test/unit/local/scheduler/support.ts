import { randomBytes } from "node:crypto";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll } from "vitest";
import {
  createSqsTargetSender,
  type SchedulerEmulator,
  type SchedulerEmulatorOptions,
  type SqsTargetSender,
  startSchedulerEmulator,
} from "#local/scheduler/emulator.js";
import { type SqsHarness, startSqs } from "../../../support/fauxqs.js";

export const credentials = { accessKeyId: "x", secretAccessKey: "x" };
export const REGION = "us-east-1";
export const ROLE_ARN = "arn:aws:iam::000000000000:role/scheduler";

/** Names unique across tests and runs (queue and schedule names share the emulators with other tests). */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString("hex")}`;
}

export function schedulerClient(endpoint: string): SchedulerClient {
  // One attempt: the tests assert on the emulator's answers, not on the SDK's retries.
  return new SchedulerClient({ endpoint, region: REGION, credentials, maxAttempts: 1 });
}

export { type SqsHarness, startSqs };

export interface EmulatorFixtures {
  /** The file's SQS emulator, started before its first test and stopped after its last. */
  readonly sqs: () => SqsHarness;
  /** A Scheduler emulator whose targets are that SQS, and a client of it: both stopped after the test. */
  readonly start: (
    options?: Partial<SchedulerEmulatorOptions>,
  ) => Promise<{ emulator: SchedulerEmulator; client: SchedulerClient }>;
}

/** The hooks of a test file driving Scheduler emulators against one SQS emulator, registered where it is called. */
export function useEmulatorFixtures(): EmulatorFixtures {
  let sqs: SqsHarness | undefined;
  const running: { emulator: SchedulerEmulator; client: SchedulerClient }[] = [];
  const started = (): SqsHarness => {
    if (!sqs) throw new Error("the SQS emulator starts in beforeAll: use it inside a test");
    return sqs;
  };
  beforeAll(async () => {
    sqs = await startSqs();
  });
  afterEach(async () => {
    for (const { emulator, client } of running.splice(0)) {
      client.destroy();
      await emulator.stop();
    }
  });
  afterAll(async () => {
    await sqs?.stop();
  });
  return {
    sqs: started,
    start: async (options = {}) => {
      const emulator = await startSchedulerEmulator({
        sqs: createSqsTargetSender(started().sqs),
        ...options,
      });
      const client = schedulerClient(emulator.url);
      running.push({ emulator, client });
      return { emulator, client };
    },
  };
}

export async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string> = {},
): Promise<{ url: string; arn: string }> {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const url = created.QueueUrl ?? "";
  const described = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
  );
  return { url, arn: described.Attributes?.QueueArn ?? "" };
}

/** Receives until `count` messages arrived or `waitSeconds` passed without any. */
export async function receive(
  sqs: SQSClient,
  url: string,
  count: number,
  waitSeconds = 2,
): Promise<Message[]> {
  const messages: Message[] = [];
  while (messages.length < count) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: waitSeconds,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: ["All"],
      }),
    );
    if (!out.Messages?.length) break;
    messages.push(...out.Messages);
  }
  return messages;
}

/** For protocol tests that never fire anything into SQS. */
export function recordingSender(): SqsTargetSender & { sent: Parameters<SqsTargetSender["send"]>[0][] } {
  const sent: Parameters<SqsTargetSender["send"]>[0][] = [];
  return {
    sent,
    async send(input) {
      sent.push(input);
    },
  };
}

/** `at()` expression for a UTC instant (whole seconds). */
export function atExpression(epochMs: number): string {
  return `at(${new Date(epochMs).toISOString().slice(0, 19)})`;
}
