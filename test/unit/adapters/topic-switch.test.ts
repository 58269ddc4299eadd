import {
  GetEventSourceMappingCommand,
  InvalidParameterValueException,
  type LambdaClient,
  ResourceConflictException,
  ResourceInUseException,
  UpdateEventSourceMappingCommand,
} from "@aws-sdk/client-lambda";
import type { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import {
  LambdaTopicSwitch,
  SqsTopicQueueStats,
  TopicSwitchBusyError,
} from "#shared/adapters/topic-switch.js";
import { topicMapping } from "../../support/fakes/topic-switch.js";

/** A Lambda client whose every call throws `error`, recording the commands sent. */
function failingLambda(error: Error): { lambda: LambdaClient; sent: unknown[] } {
  const sent: unknown[] = [];
  const lambda = {
    send: async (command: unknown) => {
      sent.push(command);
      throw error;
    },
  } as unknown as LambdaClient;
  return { lambda, sent };
}

const $metadata = { httpStatusCode: 400 };

describe("LambdaTopicSwitch.setPaused", () => {
  it.each([
    [
      "ResourceInUseException (an update of the mapping is still in progress)",
      new ResourceInUseException({ message: "The resource is in use", $metadata }),
    ],
    [
      "ResourceConflictException (another operation is in progress)",
      new ResourceConflictException({ message: "operation in progress", $metadata }),
    ],
  ])("answers %s as a busy switch, which a retry gets past", async (_name, error) => {
    const { lambda, sent } = failingLambda(error);

    const refused = await new LambdaTopicSwitch(lambda).setPaused(topicMapping("demo"), true).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    expect(refused).toBeInstanceOf(TopicSwitchBusyError);
    expect((refused as TopicSwitchBusyError).cause).toBe(error);
    // One update, not retried; then one read of where the mapping is going (here refused too: no answer).
    expect(sent.map((command) => (command as object).constructor)).toEqual([
      UpdateEventSourceMappingCommand,
      GetEventSourceMappingCommand,
    ]);
  });

  it("lets any other refusal through as it is", async () => {
    const error = new InvalidParameterValueException({ message: "bad", $metadata });
    const { lambda } = failingLambda(error);

    await expect(new LambdaTopicSwitch(lambda).setPaused(topicMapping("demo"), false)).rejects.toBe(error);
  });
});

describe("LambdaTopicSwitch.mappingState", () => {
  it("answers the paused state and Lambda's LastModified (when the mapping was last switched)", async () => {
    const lastModified = new Date("2026-12-01T10:00:00.000Z");
    const answers = [
      { State: "Enabled", LastModified: lastModified },
      { State: "Disabling", LastModified: lastModified },
      { State: "Enabled" },
    ];
    const lambda = { send: async () => answers.shift() } as unknown as LambdaClient;
    const topicSwitch = new LambdaTopicSwitch(lambda);

    const states = [
      await topicSwitch.mappingState(topicMapping("demo")),
      await topicSwitch.mappingState(topicMapping("demo")),
      await topicSwitch.mappingState(topicMapping("demo")),
    ];

    expect(states).toEqual([
      { paused: false, changedAtMs: lastModified.getTime() },
      { paused: true, changedAtMs: lastModified.getTime() },
      { paused: false },
    ]);
  });
});

describe("SqsTopicQueueStats.depths", () => {
  it("counts the dead letters the sweeper holds hidden while it checks them (a DLQ's in-flight messages)", async () => {
    const mapping = topicMapping("demo");
    // The sweeper's pass receives every still-failed dead letter and makes them visible again only at its end:
    // meanwhile the DLQ's visible count is down to what it has not reached yet.
    const attributes: Record<string, Record<string, string>> = {
      [mapping.queueUrl]: { ApproximateNumberOfMessages: "5", ApproximateNumberOfMessagesNotVisible: "2" },
      [mapping.dlqUrl]: { ApproximateNumberOfMessages: "1", ApproximateNumberOfMessagesNotVisible: "6" },
    };
    const sqs = {
      send: async (command: GetQueueAttributesCommand) => {
        const all = attributes[command.input.QueueUrl ?? ""] ?? {};
        const asked = command.input.AttributeNames ?? [];
        return {
          Attributes: Object.fromEntries(
            Object.entries(all).filter(([name]) => asked.includes(name as never)),
          ),
        };
      },
    } as unknown as SQSClient;

    const depths = await new SqsTopicQueueStats(sqs).depths(mapping);

    expect(depths).toEqual({ visible: 5, inFlight: 2, deadLettered: 7 });
  });
});
