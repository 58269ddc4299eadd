import type * as z from "zod/mini";
import type { TimerSettings } from "#shared/domain/timing.js";
import { MAX_LISTED_TOPICS } from "#shared/domain/view-bounds.js";
import { safeParseBounded } from "#shared/zod.js";
import { defaultCallbackProblems } from "./default-callback.js";
import { DEFAULT_EVENT_SOURCES } from "./event-sources.js";
import { DEFAULT_FUNCTIONS, functionLoggingProblems } from "./function-observability.js";
import {
  DEFAULT_SYSTEM_SETTINGS,
  type EnvironmentConfig,
  type EnvironmentConfigInput,
  environmentConfigSchema,
  type TopicOverrides,
  type TopicSettings,
  topicSettingsSchema,
} from "./schema.js";
import { serviceProblems } from "./services.js";
import { subscriberProblems } from "./subscribers.js";
import { DEFAULT_TASK_TABLE } from "./table-capacity.js";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly environment: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid configuration for environment "${environment}":\n  - ${problems.join("\n  - ")}`);
  }
}

/** A topic's effective settings: the system defaults with the topic's overrides on top (seed 000's rule). */
export interface TopicConfig extends TopicSettings {
  readonly name: string;
}

export interface PunctualConfig extends EnvironmentConfig {
  readonly resolvedTopics: Readonly<Record<string, TopicConfig>>;
}

export function mergeTopicSettings(
  system: TopicSettings,
  overrides: TopicOverrides | undefined,
): TopicSettings {
  const given = stripUndefined(overrides ?? {});
  const merged: Record<string, unknown> = {
    ...system,
    ...given,
    backoff: { ...system.backoff, ...stripUndefined(overrides?.backoff ?? {}) },
    alarms: { ...system.alarms, ...stripUndefined(overrides?.alarms ?? {}) },
  };
  // `null` removes an optional row (topicOverridesSchema); the result is checked against the settings schema.
  for (const [row, value] of Object.entries(given)) if (value === null) delete merged[row];
  return merged as TopicSettings;
}

/**
 * Validates an environment's configuration and resolves every topic. Errors name the environment, the topic
 * and the field, so a bad deploy fails at synth time and a bad bundle fails at cold start, never mid-delivery.
 */
export function parseConfig(input: EnvironmentConfigInput): PunctualConfig {
  const environment = typeof input?.name === "string" ? input.name : "(unnamed)";
  const withDefaults = {
    api: { auth: { type: "iam" } },
    services: {},
    removalPolicy: "retain",
    pointInTimeRecovery: true,
    logLevel: "INFO",
    ...input,
    timer: {
      horizonSeconds: 300,
      leadSeconds: 120,
      scheduleRetry: { maximumRetryAttempts: 185, maximumEventAgeSeconds: 86_400 },
      ...stripUndefined(input.timer ?? {}),
    },
    sweeper: {
      scheduledGraceSeconds: 120,
      stallMarginSeconds: 60,
      ...stripUndefined(input.sweeper ?? {}),
    },
    eventSources: { ...DEFAULT_EVENT_SOURCES, ...stripUndefined(input.eventSources ?? {}) },
    taskTable: { ...DEFAULT_TASK_TABLE, ...stripUndefined(input.taskTable ?? {}) },
    functions: { ...DEFAULT_FUNCTIONS, ...stripUndefined(input.functions ?? {}) },
    system: mergeTopicSettings(DEFAULT_SYSTEM_SETTINGS, input.system),
    alarmSubscribers: { emails: [], httpsUrls: [], ...stripUndefined(input.alarmSubscribers ?? {}) },
  };
  const parsed = safeParseBounded(environmentConfigSchema, withDefaults);
  if (!parsed.success) throw new ConfigError(environment, describeIssues(parsed.error.issues));

  const config = parsed.data;
  const problems: string[] = [];
  const topicCount = Object.keys(config.topics).length;
  if (topicCount === 0) problems.push("topics: declare at least one topic");
  // GET /v1/topics lists every topic in one answer, and the client, the CLI and the console refuse a longer one as a
  // broken API's (client/routes.ts listsAtMost): an environment holding more could not be listed at all. A deployed
  // stack stops at about 13 (README "Honest limits"); this bounds the local one, whose overrides add any number.
  if (topicCount > MAX_LISTED_TOPICS) {
    problems.push(
      `topics: at most ${MAX_LISTED_TOPICS} topics (${topicCount} declared), as GET /v1/topics lists them`,
    );
  }
  const resolvedTopics: Record<string, TopicConfig> = {};
  for (const [name, overrides] of Object.entries(config.topics)) {
    const checked = checkTopicSettings(name, mergeTopicSettings(config.system, overrides));
    problems.push(...checked.problems);
    if (checked.topic) resolvedTopics[name] = checked.topic;
  }
  if (config.timer.horizonSeconds > 0 && config.timer.leadSeconds > config.timer.horizonSeconds) {
    problems.push(
      'field "timer.leadSeconds": must not exceed timer.horizonSeconds, or an early schedule could need a delay the timer queue cannot express',
    );
  }
  problems.push(...serviceProblems(config.services, resolvedTopics));
  problems.push(...provisionedModeConflicts(config, input.system));
  problems.push(...functionLoggingProblems(config.functions, config.logLevel));
  if (config.system.subscribers !== undefined) {
    problems.push(
      'field "system.subscribers": subscribers belong to one topic, not to the defaults of every topic',
    );
  }
  if (problems.length > 0) throw new ConfigError(environment, problems);
  return { ...config, alarmSubscribers: distinctSubscribers(config.alarmSubscribers), resolvedTopics };
}

/**
 * Each alarm subscriber once (e-mail addresses compared without case; the first spelling kept): the same address
 * in the file and in `-c alarmEmails` must not fail synthesis, and one SNS subscription per address is all an
 * address can use.
 */
export function distinctSubscribers(
  subscribers: EnvironmentConfig["alarmSubscribers"],
): EnvironmentConfig["alarmSubscribers"] {
  const distinct = (items: readonly string[], key: (item: string) => string) =>
    items.filter((item, index) => items.findIndex((other) => key(other) === key(item)) === index);
  return {
    emails: distinct(subscribers.emails, (email) => email.toLowerCase()),
    httpsUrls: distinct(subscribers.httpsUrls, (url) => url),
  };
}

/**
 * A topic's `maxConcurrency` becomes its deliver mapping's MaximumConcurrency, which Lambda refuses on a mapping
 * in provisioned mode: an explicit one would silently not apply, so it is refused instead — a topic's, or the
 * system section's, which every topic would inherit.
 */
function provisionedModeConflicts(config: EnvironmentConfig, system: TopicOverrides | undefined): string[] {
  if (!config.eventSources.deliver.provisionedPollers) return [];
  const why =
    "cannot apply while eventSources.deliver.provisionedPollers is set: Lambda refuses MaximumConcurrency on a mapping in provisioned mode (provisionedPollers.max bounds it)";
  const problems = system?.maxConcurrency !== undefined ? [`field "system.maxConcurrency": ${why}`] : [];
  for (const [name, overrides] of Object.entries(config.topics)) {
    if (overrides.maxConcurrency !== undefined)
      problems.push(`topic "${name}", field "maxConcurrency": ${why}`);
  }
  return problems;
}

/** What planning a timer needs: the timer section and the relay's early wake. */
export function timerSettings(config: EnvironmentConfig): TimerSettings {
  // Named fields, not a spread of the parsed section: this runs once or twice for every added task.
  const { horizonSeconds, leadSeconds } = config.timer;
  return { horizonSeconds, leadSeconds, earlyWakeSeconds: config.eventSources.earlyWakeSeconds };
}

/**
 * One topic's merged settings through the topic settings schema and the rules across its fields. The same check
 * runs at synth, at cold start and on every runtime settings document (shared/config/runtime-settings.ts).
 */
export function checkTopicSettings(
  name: string,
  candidate: unknown,
): { topic?: TopicConfig; problems: string[] } {
  const merged = safeParseBounded(topicSettingsSchema, candidate);
  if (!merged.success) return { problems: describeIssues(merged.error.issues, `topic "${name}"`) };
  const topic = { ...merged.data, name };
  const problems: string[] = [];
  if (topic.backoff.maxSeconds < topic.backoff.initialSeconds) {
    problems.push(`topic "${name}", field "backoff.maxSeconds": must be at least backoff.initialSeconds`);
  }
  problems.push(...subscriberProblems(topic));
  problems.push(...defaultCallbackProblems(topic));
  return { topic, problems };
}

export function topicConfig(config: PunctualConfig, topic: string): TopicConfig | undefined {
  return Object.hasOwn(config.resolvedTopics, topic) ? config.resolvedTopics[topic] : undefined;
}

export function describeIssues(issues: readonly z.core.$ZodIssue[], prefix?: string): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String);
    let where = prefix ? `${prefix}, ` : "";
    if (!prefix && path[0] === "topics" && path.length >= 2) {
      where = `topic "${path[1]}", `;
      path.splice(0, 2);
    }
    return `${where}field "${path.join(".") || "(root)"}": ${issue.message}`;
  });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
