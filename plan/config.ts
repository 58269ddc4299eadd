import {
  eventSourcesSchema,
  loadEnvironmentConfig,
  MAX_TIMER_HORIZON_SECONDS,
  type PunctualConfig,
  relayGroupConcurrency,
  type TableCapacity,
  tableCapacitySchema,
  topicConfig,
} from "#shared/config/index.js";
import * as z from "#shared/zod.js";

/** Provisioned mode of an SQS event source mapping (Lambda's ProvisionedPollerConfig). */
export interface ProvisionedPollers {
  readonly min: number;
  readonly max: number;
}

/**
 * The event-source settings the planner varies: the names of the config section `eventSources`
 * (shared/config/event-sources.ts); `deliver.maxConcurrency` is the mapping's effective MaximumConcurrency.
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
  /** The timer fires this much earlier and the relay holds each task until due (0: none). */
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
  /** The task table's capacity mode (config `taskTable.capacity`): what its reads and writes cost. */
  readonly tableCapacity: TableCapacity;
  /**
   * Deliver mappings the environment deploys: one per topic (cdk/lib/punctual-stack.ts `addTopics`). The run models
   * one topic, but each mapping in provisioned mode bills its own minimum pollers around the clock.
   */
  readonly deliverMappings: number;
}

/**
 * An environment's configuration as the planner sees it: its `eventSources` (loadConfig(env).eventSources), its
 * timer section, the relay's group concurrency as functions/relay.ts derives it, and one topic's deliver mapping
 * as cdk/lib/constructs/event-sources.ts builds it (provisioned pollers, or the topic's MaximumConcurrency capped
 * by the environment's).
 */
export function plannerConfigOf(config: PunctualConfig, topicName?: string): PlannerConfig {
  const topic = topicName ? topicConfig(config, topicName) : Object.values(config.resolvedTopics)[0];
  if (!topic) throw new Error(`environment "${config.name}" has no topic ${topicName ?? ""}`.trim());
  const { relay, deliver, earlyWakeSeconds } = config.eventSources;
  return {
    eventSources: {
      relay: { ...relay },
      deliver: deliver.provisionedPollers
        ? { batchSize: deliver.batchSize, provisionedPollers: { ...deliver.provisionedPollers } }
        : {
            batchSize: deliver.batchSize,
            maxConcurrency: Math.min(
              topic.maxConcurrency,
              deliver.maxConcurrency ?? Number.POSITIVE_INFINITY,
            ),
          },
      earlyWakeSeconds,
    },
    timer: { horizonSeconds: config.timer.horizonSeconds, leadSeconds: config.timer.leadSeconds },
    relayGroupConcurrency: relayGroupConcurrency(config.eventSources),
    deliverGroupConcurrency: DELIVER_GROUP_CONCURRENCY,
    tableCapacity: config.taskTable.capacity,
    deliverMappings: Object.keys(config.resolvedTopics).length,
  };
}

/** Groups a deliver batch runs side by side: functions/deliver.ts's `groupConcurrency`. */
const DELIVER_GROUP_CONCURRENCY = 10;

/** The named environment's planner configuration (`--env`); PUNCTUAL_CONFIG_OVERRIDES is not applied. */
export function plannerConfigFor(env: string, topicName?: string): PlannerConfig {
  return plannerConfigOf(loadEnvironmentConfig(env, ""), topicName);
}

/**
 * The defaults: the `local` environment (batches of 10, no window, no early wake, the topic's MaximumConcurrency),
 * which is what the calibration runs and what every environment declared before issue 13.1.
 */
export const DEFAULT_CONFIG: PlannerConfig = plannerConfigFor("local");

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
  /** A whole `taskTable.capacity` section, checked by the config schema (e.g. `{"mode":"provisioned",…}`). */
  readonly tableCapacity?: unknown;
  /** Topics (deliver mappings) whose provisioned pollers the idle cost counts. */
  readonly deliverMappings?: number;
}

export function withOverrides(base: PlannerConfig, given: ConfigOverrides = {}): PlannerConfig {
  const overrides = checkedOverrides(given);
  const es = overrides.eventSources ?? {};
  const eventSources = checkedEventSources({
    relay: mapping(base.eventSources.relay, es.relay),
    deliver: mapping(base.eventSources.deliver, es.deliver),
    earlyWakeSeconds: es.earlyWakeSeconds ?? base.eventSources.earlyWakeSeconds ?? 0,
  });
  return {
    eventSources,
    timer: checkedTimer({ ...base.timer, ...overrides.timer }),
    relayGroupConcurrency: overrides.relayGroupConcurrency ?? base.relayGroupConcurrency,
    deliverGroupConcurrency: overrides.deliverGroupConcurrency ?? base.deliverGroupConcurrency,
    tableCapacity:
      overrides.tableCapacity === undefined
        ? base.tableCapacity
        : tableCapacitySchema().parse(overrides.tableCapacity),
    deliverMappings: checkedMappingCount(overrides.deliverMappings ?? base.deliverMappings),
  };
}

const wholeFrom = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.optional(z.number().check(z.int(), z.gte(min), z.lte(max)));
const section = () => z.optional(z.record(z.string(), z.unknown()));

/**
 * What `--config` may hold: its sections by name (a misspelt one would be ignored, and the prediction made for the
 * configuration it meant to change), the timer as the config schema bounds it, and group concurrencies of at least
 * one (0 forwards or delivers nothing). Mappings, table capacity and mapping count are checked once merged, below.
 */
const overridesSchema = z.strictObject({
  eventSources: z.optional(
    z.strictObject({ relay: section(), deliver: section(), earlyWakeSeconds: z.optional(z.number()) }),
  ),
  timer: z.optional(
    z.strictObject({
      horizonSeconds: wholeFrom(0, MAX_TIMER_HORIZON_SECONDS),
      leadSeconds: wholeFrom(0, 3_600),
    }),
  ),
  relayGroupConcurrency: wholeFrom(1),
  deliverGroupConcurrency: wholeFrom(1),
  tableCapacity: z.optional(z.unknown()),
  deliverMappings: z.optional(z.number()),
});

function checkedOverrides(overrides: unknown): ConfigOverrides {
  const checked = z.safeParse(overridesSchema, overrides);
  if (checked.success) return overrides as ConfigOverrides;
  const problems = checked.error.issues.map((i) => `${["config", ...i.path].join(".")}: ${i.message}`);
  throw new Error(problems.join("; "));
}

/** As shared/config/load.ts refuses it: an early schedule would need a delay the timer queue cannot express. */
function checkedTimer(timer: PlannerConfig["timer"]): PlannerConfig["timer"] {
  if (timer.horizonSeconds > 0 && timer.leadSeconds > timer.horizonSeconds)
    throw new Error("timer.leadSeconds: must not exceed timer.horizonSeconds");
  return timer;
}

/**
 * The mappings as the config schema checks an environment's (shared/config/event-sources.ts: AWS's documented
 * ranges, provisioned mode without MaximumConcurrency, an early wake at least the relay's window): a prediction
 * for a mapping Lambda would refuse answers nothing a deployment could use.
 */
function checkedEventSources(eventSources: EventSourcesConfig): EventSourcesConfig {
  const checked = eventSourcesSchema().safeParse(eventSources);
  if (checked.success) return eventSources;
  const problems = checked.error.issues.map((i) => `eventSources.${i.path.join(".")}: ${i.message}`);
  throw new Error(problems.join("; "));
}

function checkedMappingCount(count: number): number {
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`deliverMappings: ${count} is not a whole number of topics (at least 1)`);
  return count;
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
