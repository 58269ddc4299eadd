import type {
  MappingState,
  TopicQueueDepths,
  TopicQueueStats,
  TopicSwitch,
} from "#shared/adapters/topic-switch.js";
import type { TopicMapping } from "#shared/contract/topology.js";

/** The TopicSwitch port: each mapping's paused state by UUID (unknown = running), every change recorded. */
export class FakeTopicSwitch implements TopicSwitch {
  readonly paused = new Map<string, boolean>();
  /** When each mapping was last switched (Lambda's LastModified); unset = never, long ago. */
  readonly changedAtMs = new Map<string, number>();
  readonly changes: { mappingUuid: string; paused: boolean }[] = [];
  now: () => number = Date.now;
  /** Thrown by every read (GetEventSourceMapping) when set: a throttle the SDK's retries did not get past. */
  readError: unknown;
  /** The most reads that were in flight at once. Each read yields once, so reads started together overlap. */
  maxReadsInFlight = 0;
  private readsInFlight = 0;

  async isPaused(mapping: TopicMapping): Promise<boolean> {
    this.readsInFlight++;
    this.maxReadsInFlight = Math.max(this.maxReadsInFlight, this.readsInFlight);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.readError !== undefined) throw this.readError;
      return this.paused.get(mapping.mappingUuid) ?? false;
    } finally {
      this.readsInFlight--;
    }
  }

  async mappingState(mapping: TopicMapping): Promise<MappingState> {
    const changedAtMs = this.changedAtMs.get(mapping.mappingUuid);
    return { paused: await this.isPaused(mapping), ...(changedAtMs !== undefined && { changedAtMs }) };
  }

  async setPaused(mapping: TopicMapping, paused: boolean): Promise<boolean> {
    this.changes.push({ mappingUuid: mapping.mappingUuid, paused });
    this.paused.set(mapping.mappingUuid, paused);
    this.changedAtMs.set(mapping.mappingUuid, this.now());
    return paused;
  }
}

/** The TopicQueueStats port: depths set per queue URL (unset = empty), every read recorded. */
export class FakeTopicQueueStats implements TopicQueueStats {
  readonly depthsByQueue = new Map<string, TopicQueueDepths>();
  readonly reads: string[] = [];

  async depths(mapping: TopicMapping): Promise<TopicQueueDepths> {
    this.reads.push(mapping.queueUrl);
    return this.depthsByQueue.get(mapping.queueUrl) ?? { visible: 0, inFlight: 0, deadLettered: 0 };
  }
}

/** The topology's `topicMappings` entry a stack would give `topic` (loopback URLs; never contacted). */
export function topicMapping(topic: string): TopicMapping {
  return {
    mappingUuid: `00000000-0000-4000-8000-${Buffer.from(topic).toString("hex").padEnd(12, "0").slice(0, 12)}`,
    queueUrl: `http://127.0.0.1:4566/000000000000/punctual-test-${topic}.fifo`,
    dlqUrl: `http://127.0.0.1:4566/000000000000/punctual-test-${topic}-dlq.fifo`,
  };
}
