import type { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { type CallbackClient, createCallbackClient } from "#shared/adapters/callback-client.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import { ConfigError, loadEnvironmentConfig, type TopicConfig, topicConfig } from "#shared/config/index.js";
import { type DeliveryRoute, readTopology, TOPOLOGY_VARIABLE } from "#shared/contract/topology.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger, functionMetricsFactory } from "#shared/runtime/observability.js";
import { signingSecretLoader } from "#shared/security/signing.js";
import { checkCallbackUrl, resolvedAddressAllowed } from "#shared/security/ssrf.js";
import {
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
const bindings = deliverBindings(readTopology("deliveries"));
// Throws at cold start when neither PUNCTUAL_SIGNING_SECRET nor SIGNING_SECRET_ARN is set.
const loadSigner = signingSecretLoader();
// Start fetching the secret and deriving this function's topic keys during init (it overlaps the rest of the
// cold start); a failure is retried on use.
for (const { topic } of bindings.values()) loadSigner(topic.name).catch(() => undefined);

const logger = createFunctionLogger(config);
/** A Metrics instance per topic and flush (see PowertoolsDeliveryMetrics): nothing shared between them. */
const createMetrics = functionMetricsFactory(config, logger);

/** One keep-alive client per topic: the SSRF policy at connect time depends on the topic's allow-list. */
const callbackClients = new Map<string, CallbackClient>();
function callbackClientFor(topic: TopicConfig): CallbackClient {
  let client = callbackClients.get(topic.name);
  if (!client) {
    const inner = createCallbackClient({
      policy: { isAllowed: (host, ip) => resolvedAddressAllowed(host, ip, topic) },
      allowPlainHttp: topic.allowHttpCallbacks,
      userAgent: "Punctual-Webhooks",
    });
    // The URL was checked when the task was accepted; check it again against today's allow-list.
    client = {
      post: async (request) => {
        const check = checkCallbackUrl(request.url, topic);
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
    callbackClients.set(topic.name, client);
  }
  return client;
}

export function createDeliverHandler(deps: DeliverDeps, log: Logger = logger) {
  return middy<SQSEvent, SQSBatchResponse>()
    .use(injectLambdaContext(log))
    .handler((event, context) => deliverBatch(deps, event, context));
}

export const handler = createDeliverHandler({
  store: new DynamoTaskStore({
    client: createAwsClient(DynamoDBClient),
    tableName: env.TABLE_NAME,
  }),
  topicQueue: new SqsTopicQueue(createAwsClient(SQSClient)),
  bindingFor: (arn) => bindings.get(arn),
  callbackClientFor,
  signer: loadSigner,
  metrics: new PowertoolsDeliveryMetrics(createMetrics),
  logger,
  // Groups are independent: a batch of up to 10 (the mapping's batch size) delivers them all at once.
  groupConcurrency: 10,
  // Protected topics (issue 14): each host's circuit read at most once per 2 s per container, across batches.
  destinationCache: new DestinationCache(),
});

/** The topology's deliveries (queue ARN → topic and queues) joined with each topic's configuration. */
function deliverBindings(routes: Readonly<Record<string, DeliveryRoute>>): Map<string, DeliverBinding> {
  const result = new Map<string, DeliverBinding>();
  const problems: string[] = [];
  for (const [arn, { topic, queueUrl, dlqUrl }] of Object.entries(routes)) {
    const resolved = topicConfig(config, topic);
    if (resolved) result.set(arn, { topic: resolved, queueUrl, dlqUrl });
    else problems.push(`${TOPOLOGY_VARIABLE}.deliveries["${arn}"]: unknown topic ${JSON.stringify(topic)}`);
  }
  if (problems.length > 0) throw new ConfigError(config.name, problems);
  return result;
}
