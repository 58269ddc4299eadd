import pMap from "p-map";
import type { TaskStore } from "#shared/adapters/task-store.js";
import {
  type TopicQueueStats,
  type TopicSwitch,
  TopicSwitchBusyError,
} from "#shared/adapters/topic-switch.js";
import { conflict, notFound, serviceUnavailable } from "#shared/api/errors.js";
import { type TopicPauseResponse, type TopicView, topicParamsSchema } from "#shared/api/schemas/topics.js";
import { type PunctualConfig, topicConfig } from "#shared/config/index.js";
import type { TopicMapping } from "#shared/contract/topology.js";
import { echoed } from "#shared/domain/echoed.js";
import { SWEEP_SHARDS } from "#shared/domain/sweep.js";

export interface TopicDeps {
  readonly config: PunctualConfig;
  /** topic → its deliver mapping and queues (topology section `topicMappings`). */
  readonly mappings: Readonly<Record<string, TopicMapping>>;
  readonly topicSwitch: TopicSwitch;
  /**
   * How long an edit of the runtime settings document takes to reach this function (settingsPropagationSeconds):
   * a resume's 409 says so, since an operator who has just set `paused: false` may still meet it that long.
   */
  readonly settingsPropagationSeconds?: number;
}

export interface TopicReadDeps extends TopicDeps {
  readonly queues: TopicQueueStats;
  readonly store: Pick<TaskStore, "listUnfinishedDueBy">;
  readonly now: () => number;
}

/** Per sweep shard, how many due unfinished tasks (of every topic) the oldest-age look-up reads at most. */
export const OLDEST_AGE_SCAN_LIMIT = 100;

/**
 * How many topics the list reads at once: each read is one Lambda GetEventSourceMapping, a control-plane call
 * whose rate is limited per account and Region, shared with every other control-plane call of the account (15
 * requests per second: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Lambda API
 * requests"). Read all at once, a stack of many topics sent that many calls in one burst and was throttled.
 */
export const TOPIC_READ_CONCURRENCY = 4;

/** An unknown or malformed topic name is a 404: there is no such resource to pause or show. */
function mappingOf(deps: TopicDeps, topic: string | undefined): { name: string; mapping: TopicMapping } {
  const parsed = topicParamsSchema.safeParse({ topic });
  const name = parsed.success ? parsed.data.topic : undefined;
  const mapping = name && Object.hasOwn(deps.mappings, name) ? deps.mappings[name] : undefined;
  if (!name || !mapping) throw notFound(`no such topic "${echoed(String(topic ?? ""))}"`);
  return { name, mapping };
}

/**
 * Pause (`paused` true) or resume a topic. Idempotent: pausing a paused topic answers the same. Nothing else
 * changes: tasks keep being accepted, armed and relayed to the FIFO queue, where they wait. `deps.config` must be
 * the current settings (runtime document applied): a resume it holds paused is a 409.
 */
export async function setTopicPaused(
  deps: TopicDeps,
  topic: string | undefined,
  paused: boolean,
): Promise<TopicPauseResponse> {
  const { name, mapping } = mappingOf(deps, topic);
  if (!paused && topicConfig(deps.config, name)?.paused) {
    throw heldBySettings(name, deps.settingsPropagationSeconds);
  }
  try {
    await deps.topicSwitch.setPaused(mapping, paused);
  } catch (error) {
    if (error instanceof TopicSwitchBusyError) throw switchBusy(name, error);
    throw error;
  }
  // Lambda answers `Disabling`/`Enabling` at first: report what was asked, which is what the mapping converges to.
  return { topic: name, paused };
}

/**
 * A resume the runtime settings document overrules: it says `paused: true`, so the next sweep would disable the
 * mapping again (settings-hold.ts) and a 200 `paused: false` would be a lie. Nothing is changed; the settings
 * document is the place to resume such a topic.
 */
function heldBySettings(topic: string, propagationSeconds: number | undefined) {
  const lag =
    propagationSeconds === undefined
      ? ""
      : ` (an edit takes up to ${propagationSeconds} s to reach this route: just set false? retry then)`;
  return conflict(
    `topic "${topic}" is held paused by its runtime settings document (AppConfig topic settings: paused: true); set paused to false there, then resume${lag}`,
    { reason: "paused_by_settings" },
  );
}

/** Lambda settles a mapping update within seconds; this is how long a caller should wait before trying again. */
export const SWITCH_BUSY_RETRY_AFTER_SECONDS = 5;

/**
 * A pause or resume while the mapping's previous update is in progress (a pause right after a resume): nothing
 * was changed, and the same request gets through once the mapping settles, so it is the retryable 503 (with
 * Retry-After, which the client follows; pause and resume are idempotent), not a 500.
 */
function switchBusy(topic: string, cause: TopicSwitchBusyError) {
  return serviceUnavailable(
    `topic "${topic}": its deliver mapping is still being updated by a previous pause or resume; nothing was changed, retry in a few seconds`,
    cause,
    undefined,
    SWITCH_BUSY_RETRY_AFTER_SECONDS,
  );
}

export async function getTopic(deps: TopicReadDeps, topic: string | undefined): Promise<TopicView> {
  const { name, mapping } = mappingOf(deps, topic);
  const [paused, depths] = await Promise.all([
    deps.topicSwitch.isPaused(mapping),
    deps.queues.depths(mapping),
  ]);
  const oldest = depths.visible + depths.inFlight > 0 ? await oldestDueAgeSeconds(deps, name) : null;
  return {
    topic: name,
    paused,
    settings: { ...(topicConfig(deps.config, name) ?? {}) },
    backlog: { waiting: depths.visible, in_flight: depths.inFlight },
    oldest_age_seconds: oldest,
    dead_letter_count: depths.deadLettered,
  };
}

/**
 * Every topic of the stack, in name order. One clock reading and one scan of each sweep shard serve every topic:
 * a shard's first due tasks are the same whichever topic looks for its own among them, and read per topic a
 * dashboard polling this list made 32 index Queries per busy topic (taken from the capacity the sweeper reads on
 * a provisioned table).
 */
export async function listTopics(deps: TopicReadDeps): Promise<{ topics: TopicView[] }> {
  const names = Object.keys(deps.mappings).sort();
  const nowMs = deps.now();
  const shared: TopicReadDeps = { ...deps, now: () => nowMs, store: scannedOnce(deps.store) };
  // A read Lambda still throttles past the SDK's retries is a retryable 503 (errors.ts: toHttpError), not a 500.
  return {
    topics: await pMap(names, (name) => getTopic(shared, name), { concurrency: TOPIC_READ_CONCURRENCY }),
  };
}

/** The store with each distinct index scan sent once (the same promise answers every topic that asks). */
function scannedOnce(store: TopicReadDeps["store"]): TopicReadDeps["store"] {
  const scans = new Map<string, ReturnType<TopicReadDeps["store"]["listUnfinishedDueBy"]>>();
  return {
    listUnfinishedDueBy: (shard, dueByMs, limit, after) => {
      if (after !== undefined) return store.listUnfinishedDueBy(shard, dueByMs, limit, after);
      const key = `${shard}:${dueByMs}:${limit}`;
      const scan = scans.get(key) ?? store.listUnfinishedDueBy(shard, dueByMs, limit);
      scans.set(key, scan);
      return scan;
    },
  };
}

/**
 * The age of the topic's oldest task that came due and is unfinished (scheduled, queued or delivering): now minus
 * its due time, in seconds. Why not SQS: AWS exposes the queue's oldest-message age only as a CloudWatch metric
 * (ApproximateAgeOfOldestMessage, one-minute granularity), which the local cloud cannot answer and which counts
 * from the send, not the due time. The sparse sweep index already lists unfinished tasks by due time per shard,
 * with the group partition (`<topic>#…`) projected: the first of this topic in each shard is that shard's oldest.
 * Only asked when the queue holds something, so an idle topic costs nothing; a shard whose first
 * OLDEST_AGE_SCAN_LIMIT due tasks all belong to other topics is skipped (the answer is then a lower bound).
 */
async function oldestDueAgeSeconds(deps: TopicReadDeps, topic: string): Promise<number | null> {
  const nowMs = deps.now();
  const prefix = `${topic}#`;
  const shards = Array.from({ length: SWEEP_SHARDS }, (_, shard) => shard);
  const oldestPerShard = await Promise.all(
    shards.map(async (shard) => {
      const { tasks } = await deps.store.listUnfinishedDueBy(shard, nowMs, OLDEST_AGE_SCAN_LIMIT);
      return tasks.find((task) => task.pk.startsWith(prefix))?.dueAtMs;
    }),
  );
  const dueTimes = oldestPerShard.filter((due): due is number => due !== undefined);
  if (dueTimes.length === 0) return null;
  return Math.max(0, (nowMs - Math.min(...dueTimes)) / 1000);
}
