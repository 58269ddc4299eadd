import {
  GetEventSourceMappingCommand,
  type LambdaClient,
  UpdateEventSourceMappingCommand,
} from "@aws-sdk/client-lambda";
import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { TopicMapping } from "#shared/contract/topology.js";

/**
 * Holding a topic = disabling its deliver function's SQS event source mapping. Why this and not a flag the
 * deliver function reads: with the mapping disabled Lambda stops receiving, so the due messages stay in the FIFO
 * queue untouched (no receive, so no growth of the receive count towards maxReceiveCount, no attempt consumed,
 * group order kept), the timer and relay keep working so tasks still become `queued` on time, and the happy path
 * pays no extra read. Enabling the mapping again resumes delivery from the queue's head.
 */
export interface TopicSwitch {
  /** Whether the topic's mapping is disabled or being disabled. */
  isPaused(mapping: Pick<TopicMapping, "mappingUuid">): Promise<boolean>;
  /** Whether it is paused, and when it was last switched or updated (Lambda's LastModified). */
  mappingState(mapping: Pick<TopicMapping, "mappingUuid">): Promise<MappingState>;
  /**
   * Disables (paused) or enables the mapping; answers the state Lambda reports after the change. Throws
   * TopicSwitchBusyError, having changed nothing, while a previous update of the mapping is in progress — unless
   * that update already takes the mapping where this one asks (a second pause while the first is still
   * disabling it): that answers the state asked for, as a repeat once it has settled would.
   */
  setPaused(mapping: Pick<TopicMapping, "mappingUuid">, paused: boolean): Promise<boolean>;
}

export interface MappingState {
  readonly paused: boolean;
  /** When the mapping was last updated or its state changed (absent: Lambda did not say). */
  readonly changedAtMs?: number;
}

/**
 * The mapping cannot be switched for now: a previous update (a pause right after a resume, two operators at once)
 * is still in progress. Lambda answers ResourceInUseException (or ResourceConflictException) until the mapping
 * settles, within seconds; nothing was changed, so the same request a moment later gets through.
 */
export class TopicSwitchBusyError extends Error {
  override readonly name = "TopicSwitchBusyError";
  constructor(cause: unknown) {
    super("the topic's event source mapping is still being updated", { cause });
  }
}

const BUSY_ERRORS = new Set(["ResourceInUseException", "ResourceConflictException"]);

/** Lambda's mapping states; `Disabling` counts as paused (no new batches start), `Enabling` as running. */
const PAUSED_STATES = new Set(["Disabled", "Disabling"]);
/** Where a resume takes a mapping. Not `Updating` (a deploy changing it): its Enabled is not told. */
const RUNNING_STATES = new Set(["Enabled", "Enabling"]);

export class LambdaTopicSwitch implements TopicSwitch {
  constructor(private readonly lambda: LambdaClient) {}

  async isPaused(mapping: Pick<TopicMapping, "mappingUuid">): Promise<boolean> {
    return (await this.mappingState(mapping)).paused;
  }

  async mappingState(mapping: Pick<TopicMapping, "mappingUuid">): Promise<MappingState> {
    const out = await this.lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.mappingUuid }));
    const changedAtMs = out.LastModified?.getTime();
    return {
      paused: PAUSED_STATES.has(out.State ?? ""),
      ...(changedAtMs !== undefined && Number.isFinite(changedAtMs) && { changedAtMs }),
    };
  }

  async setPaused(mapping: Pick<TopicMapping, "mappingUuid">, paused: boolean): Promise<boolean> {
    try {
      const out = await this.lambda.send(
        new UpdateEventSourceMappingCommand({ UUID: mapping.mappingUuid, Enabled: !paused }),
      );
      return PAUSED_STATES.has(out.State ?? "");
    } catch (error) {
      if (!(error instanceof Error && BUSY_ERRORS.has(error.name))) throw error;
      if (await this.alreadyGoing(mapping, paused)) return paused;
      throw new TopicSwitchBusyError(error);
    }
  }

  /**
   * Whether a mapping Lambda refused to update (a previous update in progress) is already disabled or disabling
   * (`paused`), or enabled or enabling: two operators pausing at once, or a double click, then both get their
   * 200. A failed read is no answer: the refusal stands.
   */
  private async alreadyGoing(mapping: Pick<TopicMapping, "mappingUuid">, paused: boolean): Promise<boolean> {
    try {
      const state = await this.lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.mappingUuid }));
      return (paused ? PAUSED_STATES : RUNNING_STATES).has(state.State ?? "");
    } catch {
      return false;
    }
  }
}

export interface TopicQueueDepths {
  /** Messages waiting to be received (ApproximateNumberOfMessages of the topic's FIFO queue). */
  readonly visible: number;
  /** Received and not yet deleted (ApproximateNumberOfMessagesNotVisible): being delivered or backing off. */
  readonly inFlight: number;
  /**
   * Messages in the topic's FIFO dead-letter queue, visible or not: the sweeper receives the still-failed ones on
   * every run and makes them visible again only at the end of its pass (topic-dead-letters.ts), and a dead letter
   * it is looking at is still one.
   */
  readonly deadLettered: number;
}

export interface TopicQueueStats {
  depths(mapping: TopicMapping): Promise<TopicQueueDepths>;
}

/** Two GetQueueAttributes calls per topic; SQS's counts are approximate (eventually consistent, ~1 minute). */
export class SqsTopicQueueStats implements TopicQueueStats {
  constructor(private readonly sqs: SQSClient) {}

  async depths(mapping: TopicMapping): Promise<TopicQueueDepths> {
    const [queue, dlq] = await Promise.all([
      this.attributes(mapping.queueUrl, [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
      ]),
      this.attributes(mapping.dlqUrl, [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
      ]),
    ]);
    return {
      visible: Number(queue.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(queue.ApproximateNumberOfMessagesNotVisible ?? 0),
      deadLettered:
        Number(dlq.ApproximateNumberOfMessages ?? 0) + Number(dlq.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  }

  private async attributes(
    queueUrl: string,
    names: ("ApproximateNumberOfMessages" | "ApproximateNumberOfMessagesNotVisible")[],
  ): Promise<Record<string, string>> {
    const out = await this.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: names }),
    );
    return out.Attributes ?? {};
  }
}
