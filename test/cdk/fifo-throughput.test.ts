/**
 * FIFO throughput: a FIFO queue outside high-throughput mode takes 300 transactions per second per API action
 * (SendMessage, ReceiveMessage, DeleteMessage; 3,000 messages/s batched) and answers ThrottlingException above
 * that — https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/troubleshooting-fifo-throttling-issues.html.
 * High-throughput mode (the page's first remedy) is DeduplicationScope `messageGroup` with FifoThroughputLimit
 * `perMessageGroupId` (HIGH_THROUGHPUT_FIFO, cdk/lib/constructs/queue-defaults.ts).
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { stackConfig } from "../support/stack-config.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

function fifoQueues(environment: string): [string, Json][] {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = addPunctualStack(app, stackConfig(environment));
  const resources = Template.fromStack(stack).findResources("AWS::SQS::Queue");
  return Object.entries(resources).filter(([, r]) => r.Properties?.FifoQueue === true);
}

describe("FIFO queues", () => {
  /**
   * Topic DLQs included: the deliver function dead-letters one SendMessage per task, at the rate tasks exhaust
   * their attempts — a receiver down under prod's 1,000 deliveries/s sustained is above 300/s — and the sweeper
   * receives, deletes and re-shows there. Deduplication per message group drops exactly what per-queue
   * deduplication would: a task's dead letter always travels in the task's group (shared/services/dead-letter.ts).
   */
  it("every FIFO queue, dead-letter queues included, runs in high-throughput mode", () => {
    for (const environment of ["dev", "prod"]) {
      const queues = fifoQueues(environment);
      expect(queues.length, environment).toBeGreaterThanOrEqual(4);
      for (const [id, queue] of queues) {
        expect(
          {
            DeduplicationScope: queue.Properties.DeduplicationScope,
            FifoThroughputLimit: queue.Properties.FifoThroughputLimit,
          },
          `${environment} ${id}`,
        ).toEqual({ DeduplicationScope: "messageGroup", FifoThroughputLimit: "perMessageGroupId" });
      }
    }
  });
});
