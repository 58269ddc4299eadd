import type { TopicSwitch } from "#shared/adapters/topic-switch.js";
import type { PunctualConfig } from "#shared/config/index.js";
import type { TopicMapping } from "#shared/contract/topology.js";
import type { ServiceLogger } from "#shared/runtime/observability.js";

export interface SettingsHoldDeps {
  readonly mappings: Readonly<Record<string, Pick<TopicMapping, "mappingUuid">>>;
  readonly topicSwitch: TopicSwitch;
  readonly logger: Pick<ServiceLogger, "info" | "warn">;
  /**
   * How long a settings change can take to reach every function (the AppConfig rollout plus the port's cache,
   * `settingsPropagationSeconds`): a mapping switched more recently than that is not disabled. Default 0.
   */
  readonly settleMs?: number;
  readonly now?: () => number;
}

/**
 * A runtime `paused: true` (topic settings without a deploy) holds the topic the way `POST /v1/topics/{t}/pause`
 * does: its deliver event source mapping is disabled, so its messages wait in the FIFO queue unreceived (no
 * receive count, no attempt). The sweeper applies it every run. It never re-enables a mapping: `paused: false`
 * cannot tell a topic an operator paused through the API from one the settings paused, so resuming stays the
 * API's (`POST /v1/topics/{t}/resume`) — and while the setting says paused, the next sweep holds it again.
 *
 * Except right after the mapping was switched: the documented way out of a hold is `paused: false` in the
 * document, then a resume, and this sweeper's copy of the document may still say `paused: true` for as long as
 * a change takes to reach every function (a rollout step, a cached copy). Disabling then would silently undo a
 * resume that answered 200, with nothing left to resume the topic. So a mapping switched within `settleMs` is
 * left alone this run; once that window is over every function's copy is newer than the switch, and a
 * `paused: true` still read is the document's (a resume that read a stale `false` is then held again).
 * Answers the topics it paused in this run.
 */
export async function holdPausedTopics(deps: SettingsHoldDeps, config: PunctualConfig): Promise<string[]> {
  const paused: string[] = [];
  for (const [name, topic] of Object.entries(config.resolvedTopics)) {
    const mapping = Object.hasOwn(deps.mappings, name) ? deps.mappings[name] : undefined;
    if (!topic.paused || !mapping) continue;
    try {
      const state = await deps.topicSwitch.mappingState(mapping);
      if (state.paused || switchedRecently(deps, name, state.changedAtMs)) continue;
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

/** Whether the mapping was switched within the settings' propagation window (logged: the hold waits). */
function switchedRecently(deps: SettingsHoldDeps, topic: string, changedAtMs: number | undefined): boolean {
  const settleMs = deps.settleMs ?? 0;
  if (changedAtMs === undefined || settleMs <= 0) return false;
  const sinceMs = (deps.now ?? Date.now)() - changedAtMs;
  if (sinceMs >= settleMs) return false;
  deps.logger.info(
    "topic held by its runtime settings was switched recently; the hold waits for every function to see the current settings",
    {
      topic,
      switchedAt: new Date(changedAtMs).toISOString(),
      retryAfterSeconds: Math.ceil((settleMs - sinceMs) / 1000),
    },
  );
  return true;
}
