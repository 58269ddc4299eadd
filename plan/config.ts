import { DEFAULT_SYSTEM_SETTINGS } from "#shared/config/schema.js";

/** Provisioned mode of an SQS event source mapping (Lambda's ProvisionedPollerConfig). */
export interface ProvisionedPollers {
  readonly min: number;
  readonly max: number;
}

/**
 * The event-source settings the planner varies: the same names as the config section `eventSources` (issue 13
 * point 1), so the planner can read `loadConfig(env).eventSources` once it exists.
 */
export interface EventSourcesConfig {
  readonly relay: {
    readonly batchSize: number;
    readonly maxBatchingWindowSeconds: number;
    readonly provisionedPollers?: ProvisionedPollers;
    readonly maxConcurrency?: number;
  };
  readonly deliver: {
    readonly batchSize: number;
    readonly provisionedPollers?: ProvisionedPollers;
    readonly maxConcurrency?: number;
  };
  /** The timer fires this much earlier and the relay waits the rest out in place (0: today's behaviour). */
  readonly earlyWakeSeconds?: number;
}

export interface PlannerConfig {
  readonly eventSources: EventSourcesConfig;
  /** shared/config's timer section: near-term tasks ride the timer queue, later ones a one-time schedule. */
  readonly timer: { readonly horizonSeconds: number; readonly leadSeconds: number };
  /** Groups a relay batch forwards side by side (shared/services/relay.ts). */
  readonly relayGroupConcurrency: number;
  /** Groups a deliver batch runs side by side (functions/deliver.ts). */
  readonly deliverGroupConcurrency: number;
}

/**
 * Today's settings: cdk/lib/constructs/timer-queues.ts (relay: batches of 10, no batching window, no
 * MaximumConcurrency), topic.ts (deliver: batches of 10, the topic's maxConcurrency), shared/config/load.ts
 * (timer horizon 300 s, lead 120 s), relay.ts and functions/deliver.ts (8 and 10 groups side by side).
 */
export const DEFAULT_CONFIG: PlannerConfig = {
  eventSources: {
    relay: { batchSize: 10, maxBatchingWindowSeconds: 0 },
    deliver: { batchSize: 10, maxConcurrency: DEFAULT_SYSTEM_SETTINGS.maxConcurrency },
    earlyWakeSeconds: 0,
  },
  timer: { horizonSeconds: 300, leadSeconds: 120 },
  relayGroupConcurrency: 8,
  deliverGroupConcurrency: 10,
};

/** A partial configuration (`--config <json>`) over the defaults, section by section. */
export interface ConfigOverrides {
  readonly eventSources?: {
    readonly relay?: Partial<EventSourcesConfig["relay"]>;
    readonly deliver?: Partial<EventSourcesConfig["deliver"]>;
    readonly earlyWakeSeconds?: number;
  };
  readonly timer?: Partial<PlannerConfig["timer"]>;
  readonly relayGroupConcurrency?: number;
  readonly deliverGroupConcurrency?: number;
}

export function withOverrides(base: PlannerConfig, overrides: ConfigOverrides = {}): PlannerConfig {
  const es = overrides.eventSources ?? {};
  return {
    eventSources: {
      relay: mapping(base.eventSources.relay, es.relay),
      deliver: mapping(base.eventSources.deliver, es.deliver),
      earlyWakeSeconds: es.earlyWakeSeconds ?? base.eventSources.earlyWakeSeconds ?? 0,
    },
    timer: { ...base.timer, ...overrides.timer },
    relayGroupConcurrency: overrides.relayGroupConcurrency ?? base.relayGroupConcurrency,
    deliverGroupConcurrency: overrides.deliverGroupConcurrency ?? base.deliverGroupConcurrency,
  };
}

/**
 * One mapping's settings over its defaults. Lambda refuses provisioned mode together with MaximumConcurrency, so
 * choosing provisioned pollers drops an inherited MaximumConcurrency, and asking for both is an error.
 */
function mapping<M extends { provisionedPollers?: ProvisionedPollers; maxConcurrency?: number }>(
  base: M,
  overrides: Partial<M> = {},
): M {
  if (overrides.provisionedPollers && overrides.maxConcurrency !== undefined)
    throw new Error(
      "provisionedPollers and maxConcurrency cannot be combined (Lambda refuses both on one mapping)",
    );
  const merged = { ...base, ...overrides };
  if (overrides.provisionedPollers) delete merged.maxConcurrency;
  if (overrides.maxConcurrency !== undefined) delete merged.provisionedPollers;
  return merged;
}
