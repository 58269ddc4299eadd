import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SQSClient } from "@aws-sdk/client-sqs";
import middy from "@middy/core";
import type { ScheduledEvent } from "aws-lambda";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { SqsDeadLetterSource } from "#shared/adapters/dead-letter-source.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { SqsTimerQueue } from "#shared/adapters/timer-queue.js";
import { SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import {
  SETTINGS_FIRST_WAIT_LONG_MS,
  settingsPropagationSeconds,
  type TopicSettingsSource,
  topicSettingsFromEnvironment,
} from "#shared/adapters/topic-settings.js";
import { LambdaTopicSwitch } from "#shared/adapters/topic-switch.js";
import { ConfigError, loadEnvironmentConfig, type PunctualConfig } from "#shared/config/index.js";
import { readTopology, type SweepRoute, TOPOLOGY_VARIABLE } from "#shared/contract/topology.js";
import { METRIC } from "#shared/domain/metrics.js";
import { currentStalledAfterMs, scheduledGraceMs } from "#shared/domain/sweep.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import {
  createFunctionLogger,
  functionMetricsFactory,
  loggerContext,
} from "#shared/runtime/observability.js";
import { holdPausedTopics, type SettingsHoldDeps } from "#shared/services/settings-hold.js";
import {
  type SweeperDeps,
  type SweeperTopic,
  type SweepReport,
  sweep,
} from "#shared/services/sweeper/index.js";

/**
 * EventBridge rule (every minute) → orphan sweeper (shared/services/sweeper.ts). Module scope runs once per cold
 * start; bad configuration fails the cold start.
 */
const env = requireEnv([
  ENV.environment,
  ENV.tableName,
  ENV.timerQueueUrl,
  ENV.timerDlqUrl,
  ENV.scheduleDlqUrl,
]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const routes = readTopology("sweep");
const topics = sweeperTopics(config, routes);

const logger = createFunctionLogger(config);
const metrics = functionMetricsFactory(config, logger)();
const sqs = createAwsClient(SQSClient);
const settings = topicSettingsFromEnvironment(config, logger, process.env, {
  firstWaitMs: SETTINGS_FIRST_WAIT_LONG_MS,
});
// Each topic's deliver mapping, for the runtime `paused` hold: its sweep route names it.
const mappings = Object.fromEntries(
  Object.entries(routes).map(([name, route]) => [name, { mappingUuid: route.mappingUuid }]),
);

/** Topic settings without a deploy: each run sweeps with the current settings and applies a runtime `paused`. */
export interface SweeperSettings {
  readonly settings: TopicSettingsSource;
  readonly topicsOf: (current: PunctualConfig) => Record<string, SweeperTopic>;
  readonly hold?: SettingsHoldDeps;
}

export type SweeperHandlerDeps = Omit<SweeperDeps, "remainingMs">;

export function createSweeperHandler(
  deps: SweeperHandlerDeps,
  log: Logger = logger,
  emf: Metrics = metrics,
  runtime?: SweeperSettings,
) {
  return middy<ScheduledEvent, SweepReport>()
    .use(loggerContext(log))
    .use(logMetrics(emf))
    .handler(async (_event, context) => {
      const current = await runtime?.settings.current();
      if (current && runtime?.hold) await holdPausedTopics(runtime.hold, current);
      const topicsNow = current && runtime ? runtime.topicsOf(current) : deps.topics;
      const report = await sweep({
        ...deps,
        topics: topicsNow,
        remainingMs: () => context.getRemainingTimeInMillis(),
      });
      // Every run publishes every count, zeros included: a flat line is a sweeper that ran and found nothing.
      emf.addMetric(METRIC.orphansForwarded, MetricUnit.Count, report.forwarded);
      emf.addMetric(METRIC.orphansRequeued, MetricUnit.Count, report.requeued);
      emf.addMetric(METRIC.orphansDeadLettered, MetricUnit.Count, report.deadLettered);
      emf.addMetric(METRIC.timerDeadLettersResolved, MetricUnit.Count, report.pointersResolved);
      emf.addMetric(METRIC.sweepFailures, MetricUnit.Count, report.failures);
      return report;
    });
}

export const handler = createSweeperHandler(
  {
    store: new DynamoTaskStore({
      client: createAwsClient(DynamoDBClient),
      tableName: env.TABLE_NAME,
    }),
    topicQueue: new SqsTopicQueue(sqs),
    timer: new SqsTimerQueue(sqs, env.TIMER_QUEUE_URL),
    topics,
    scheduledGraceMs: (timer) => scheduledGraceMs(config, timer),
    // A refusal this recent may be deliver holding the task for the settings, not its dead-lettering.
    settingsSettleMs: settingsPropagationSeconds(config) * 1000,
    earlyWakeSeconds: config.eventSources.earlyWakeSeconds,
    deadLetters: {
      source: new SqsDeadLetterSource(sqs),
      queueUrls: [env.SCHEDULE_DLQ_URL, env.TIMER_DLQ_URL],
    },
    logger,
  },
  logger,
  metrics,
  {
    settings,
    topicsOf: runtimeSweeperTopics,
    hold: {
      mappings,
      topicSwitch: new LambdaTopicSwitch(createAwsClient(LambdaClient)),
      logger,
      // A mapping resumed since a change of `paused` may have reached this sweeper is not held again yet.
      settleMs: settingsPropagationSeconds(config) * 1000,
    },
  },
);

/** The sweeper's topics under the current runtime settings (a stall window follows a raised backoff cap). */
export function runtimeSweeperTopics(current: PunctualConfig): Record<string, SweeperTopic> {
  return sweeperTopics(current, routes, config);
}

/** The topology's sweep routes joined with each topic's configuration; every configured topic must have one. */
function sweeperTopics(
  config: PunctualConfig,
  routes: Readonly<Record<string, SweepRoute>>,
  deployed: PunctualConfig = config,
): Record<string, SweeperTopic> {
  const result: Record<string, SweeperTopic> = {};
  const problems: string[] = [];
  for (const [name, topic] of Object.entries(config.resolvedTopics)) {
    const route = Object.hasOwn(routes, name) ? routes[name] : undefined;
    const atDeploy = Object.hasOwn(deployed.resolvedTopics, name) ? deployed.resolvedTopics[name] : undefined;
    if (!route) problems.push(`${TOPOLOGY_VARIABLE}.sweep["${name}"]: the topic has no queues`);
    else {
      const stalledAfterMs = currentStalledAfterMs(route.stalledAfterMs, atDeploy ?? topic, topic);
      result[name] = { config: topic, ...route, stalledAfterMs };
    }
  }
  if (problems.length > 0) throw new ConfigError(config.name, problems);
  return result;
}
