import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { type CallbackClient, createCallbackClient } from "#shared/adapters/callback-client.js";
import { DynamoDeliverStore } from "#shared/adapters/dynamo-task-store.js";
import { SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import {
  SETTINGS_FIRST_WAIT_LONG_MS,
  settingsPropagationSeconds,
  type TopicSettingsSource,
  topicSettingsFromEnvironment,
} from "#shared/adapters/topic-settings.js";
import { loadEnvironmentConfig, type PunctualConfig, type TopicConfig } from "#shared/config/index.js";
import { readTopology } from "#shared/contract/topology.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import {
  createFunctionLogger,
  functionMetricsFactory,
  loggerContext,
} from "#shared/runtime/observability.js";
import { signingSecretLoader } from "#shared/security/signing.js";
import { checkCallbackUrl, resolvedAddressAllowed } from "#shared/security/ssrf.js";
import { deliverBindings } from "#shared/services/deliver/bindings.js";
import {
  DEPLOYED_GROUP_CONCURRENCY,
  type DeliverBinding,
  type DeliverDeps,
  DestinationCache,
  deliverBatch,
  PowertoolsDeliveryMetrics,
} from "#shared/services/deliver/index.js";

/**
 * Topic FIFO queue → signed HTTP callbacks. One function per topic in AWS; the handler serves every queue listed
 * in its topology's deliveries (picked by the record's eventSourceARN). Module scope runs once per cold start.
 */
const env = requireEnv([ENV.environment, ENV.tableName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const routes = readTopology("deliveries");
// Fails the cold start on a topology naming an unknown topic.
const deployedBindings = deliverBindings(config, routes);
const logger = createFunctionLogger(config);
// Throws at cold start when neither PUNCTUAL_SIGNING_SECRET nor SIGNING_SECRET_ARN is set. The secret is read
// again every 5 minutes (a rotation reaches warm containers); a failed re-read keeps the last good one and logs.
const loadSigner = signingSecretLoader({ logger });
// Start fetching the secret and deriving this function's topic keys during init (it overlaps the rest of the
// cold start); a failure is retried on use.
for (const { topic } of deployedBindings.values()) loadSigner(topic.name).catch(() => undefined);

/** Topic settings without a deploy: the deployed ones with the AppConfig document applied (refreshed ≤ 45 s). */
const settings = topicSettingsFromEnvironment(config, logger, process.env, {
  firstWaitMs: SETTINGS_FIRST_WAIT_LONG_MS,
});
/** A Metrics instance per topic and flush (see PowertoolsDeliveryMetrics): nothing shared between them. */
const createMetrics = functionMetricsFactory(config, logger);

/**
 * One keep-alive client per topic. Its policy reads the topic's settings of the batch being delivered (`latest`),
 * so a runtime change of the allow-list or of plain-http callbacks applies without a new client.
 */
const callbackClients = new Map<string, { client: CallbackClient; latest: TopicConfig }>();
function callbackClientFor(topic: TopicConfig): CallbackClient {
  const known = callbackClients.get(topic.name);
  if (known) {
    known.latest = topic;
    return known.client;
  }
  const entry = { latest: topic } as { client: CallbackClient; latest: TopicConfig };
  const inner = createCallbackClient({
    policy: { isAllowed: (host, ip) => resolvedAddressAllowed(host, ip, entry.latest) },
    // The scheme is checked below against the current settings before the inner client sees the request.
    allowPlainHttp: true,
    userAgent: "Punctual-Webhooks",
  });
  // The URL was checked when the task was accepted; check it again against today's allow-list.
  entry.client = {
    post: async (request) => {
      const check = checkCallbackUrl(request.url, entry.latest);
      if (!check.ok) {
        return {
          ok: false,
          refused: true,
          error: `destination refused by policy: ${check.reason}`,
          durationMs: 0,
        };
      }
      return inner.post(request);
    },
    close: () => inner.close(),
  };
  callbackClients.set(topic.name, entry);
  return entry.client;
}

export function createDeliverHandler(
  deps: DeliverDeps,
  log: Logger = logger,
  topicSettings?: TopicSettingsSource,
) {
  return middy<SQSEvent, SQSBatchResponse>()
    .use(loggerContext(log))
    .handler(async (event, context) => {
      if (!topicSettings) return deliverBatch(deps, event, context);
      const bindings = bindingsOf(await topicSettings.current());
      return deliverBatch({ ...deps, bindingFor: (arn) => bindings.get(arn) }, event, context);
    });
}

export const handler = createDeliverHandler(
  {
    // The narrowest store class with deliver's methods: its bundle leaves out the rest of DynamoTaskStore.
    store: new DynamoDeliverStore({
      client: createAwsClient(DynamoDBClient),
      tableName: env.TABLE_NAME,
    }),
    topicQueue: new SqsTopicQueue(createAwsClient(SQSClient)),
    bindingFor: (arn) => deployedBindings.get(arn),
    callbackClientFor,
    signer: loadSigner,
    metrics: new PowertoolsDeliveryMetrics(createMetrics),
    logger,
    // Groups are independent: a batch of up to 10 (the mapping's batch size) delivers them all at once.
    groupConcurrency: DEPLOYED_GROUP_CONCURRENCY,
    // Protected topics (issue 14): each host's circuit read at most once per 2 s per container, across batches.
    destinationCache: new DestinationCache(),
    // A task accepted under settings newer than this container's may be refused by its stale allow-list.
    settingsSettleMs: settingsPropagationSeconds(config) * 1000,
  },
  logger,
  settings,
);

/** The bindings of one effective configuration, built once per configuration the settings port answers. */
const bindingsByConfig = new WeakMap<PunctualConfig, Map<string, DeliverBinding>>();
function bindingsOf(current: PunctualConfig): Map<string, DeliverBinding> {
  let bindings = bindingsByConfig.get(current);
  if (!bindings) {
    bindings = deliverBindings(current, routes, config);
    bindingsByConfig.set(current, bindings);
  }
  return bindings;
}
