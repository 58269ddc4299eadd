import type { TopicSwitch } from "#shared/adapters/topic-switch.js";
import type { PunctualConfig } from "#shared/config/index.js";
import type { TopicMapping } from "#shared/contract/topology.js";
import type { ServiceLogger } from "#shared/runtime/observability.js";

export interface SettingsHoldDeps {
  readonly mappings: Readonly<Record<string, Pick<TopicMapping, "mappingUuid">>>;
  readonly topicSwitch: TopicSwitch;
  readonly logger: Pick<ServiceLogger, "info" | "warn">;
}

/**
 * A runtime `paused: true` (topic settings without a deploy) holds the topic the way `POST /v1/topics/{t}/pause`
 * does: its deliver event source mapping is disabled, so its messages wait in the FIFO queue unreceived (no
 * receive count, no attempt). The sweeper applies it every run. It never re-enables a mapping: `paused: false`
 * cannot tell a topic an operator paused through the API from one the settings paused, so resuming stays the
 * API's (`POST /v1/topics/{t}/resume`) — and while the setting says paused, the next sweep holds it again.
 * Answers the topics it paused in this run.
 */
export async function holdPausedTopics(deps: SettingsHoldDeps, config: PunctualConfig): Promise<string[]> {
  const paused: string[] = [];
  for (const [name, topic] of Object.entries(config.resolvedTopics)) {
    const mapping = Object.hasOwn(deps.mappings, name) ? deps.mappings[name] : undefined;
    if (!topic.paused || !mapping) continue;
    try {
      if (await deps.topicSwitch.isPaused(mapping)) continue;
      await deps.topicSwitch.setPaused(mapping, true);
      paused.push(name);
      deps.logger.info("topic paused by its runtime settings", { topic: name });
    } catch (error) {
      deps.logger.warn("pausing a topic held by its runtime settings failed; the next sweep retries", {
        topic: name,
        error,
      });
    }
  }
  return paused;
}
