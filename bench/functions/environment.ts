import { routeVariables } from "#shared/api/routes.js";
import type { Topology } from "#shared/contract/topology.js";
import { ENV, type EnvName } from "#shared/runtime/env.js";
import { API_FUNCTIONS, BENCH_ENVIRONMENT, type FunctionName } from "./names.js";

const QUEUE = "https://sqs.us-east-1.amazonaws.com/000000000000";
export const DEMO_QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:demo.fifo";

/** What every function gets. */
const COMMON = {
  PUNCTUAL_ENV: BENCH_ENVIRONMENT,
  TABLE_NAME: "Punctual-dev-Tasks",
  POWERTOOLS_SERVICE_NAME: "punctual-dev",
  POWERTOOLS_METRICS_NAMESPACE: "Punctual",
  POWERTOOLS_LOG_LEVEL: "INFO",
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "bench",
  AWS_SECRET_ACCESS_KEY: "bench",
};

/** A dummy value for each variable an API route's grants may name. */
const API_DUMMIES: Partial<Record<EnvName, string>> = {
  [ENV.timerQueueUrl]: `${QUEUE}/timer`,
  [ENV.timerQueueArn]: "arn:aws:sqs:us-east-1:000000000000:timer",
  [ENV.scheduleGroupName]: "punctual-dev",
  [ENV.schedulerRoleArn]: "arn:aws:iam::000000000000:role/scheduler",
  [ENV.scheduleDlqArn]: "arn:aws:sqs:us-east-1:000000000000:schedule-dlq",
  // The sections the API's topic and replay routes read (the stack gives them every topic's).
  [ENV.topology]: JSON.stringify({
    topicQueues: { demo: `${QUEUE}/demo.fifo` },
    topicMappings: {
      demo: {
        mappingUuid: "00000000-0000-4000-8000-000000000001",
        queueUrl: `${QUEUE}/demo.fifo`,
        dlqUrl: `${QUEUE}/demo-dlq.fifo`,
      },
    },
  } satisfies Topology),
};

const TIMER = {
  TIMER_QUEUE_URL: API_DUMMIES[ENV.timerQueueUrl] as string,
  TIMER_QUEUE_ARN: API_DUMMIES[ENV.timerQueueArn] as string,
};

/** What each function's stack definition gives it, with dummy values (the contract's per-function list). */
export function dummyEnvironment(name: FunctionName): Record<string, string> {
  const route = API_FUNCTIONS.find((r) => r.name === name);
  // An API function gets what its row's grants name (shared/api/routes.ts), as the stack gives it.
  if (route) {
    const variables = routeVariables(route).filter((v) => v !== ENV.tableName);
    return { ...COMMON, ...Object.fromEntries(variables.map((v) => [v, API_DUMMIES[v] as string])) };
  }
  switch (name) {
    case "relay":
      return relayEnvironment();
    case "sweeper":
      return sweeperEnvironment();
    case "deliver":
      return deliverEnvironment();
  }
  throw new Error(`no environment for ${name}`);
}

function relayEnvironment(): Record<string, string> {
  return {
    ...COMMON,
    ...TIMER,
    [ENV.topology]: JSON.stringify({
      topicQueues: { demo: `${QUEUE}/demo.fifo`, orders: `${QUEUE}/orders.fifo` },
    } satisfies Topology),
  };
}

function sweeperEnvironment(): Record<string, string> {
  return {
    ...COMMON,
    ...TIMER,
    TIMER_DLQ_URL: `${QUEUE}/timer-dlq`,
    SCHEDULE_DLQ_URL: `${QUEUE}/schedule-dlq`,
    [ENV.topology]: JSON.stringify({
      sweep: {
        demo: {
          queueUrl: `${QUEUE}/demo.fifo`,
          dlqUrl: `${QUEUE}/demo-dlq.fifo`,
          stalledAfterMs: 600_000,
          mappingUuid: "00000000-0000-4000-8000-000000000001",
        },
        orders: {
          queueUrl: `${QUEUE}/orders.fifo`,
          dlqUrl: `${QUEUE}/orders-dlq.fifo`,
          stalledAfterMs: 600_000,
          mappingUuid: "00000000-0000-4000-8000-000000000002",
        },
      },
    } satisfies Topology),
  };
}

function deliverEnvironment(): Record<string, string> {
  return {
    ...COMMON,
    [ENV.topology]: JSON.stringify({
      deliveries: {
        [DEMO_QUEUE_ARN]: {
          topic: "demo",
          queueUrl: `${QUEUE}/demo.fifo`,
          dlqUrl: `${QUEUE}/demo-dlq.fifo`,
        },
      },
    } satisfies Topology),
    // The inline form: the ARN form would start a Secrets Manager call during init (it overlaps init on AWS).
    PUNCTUAL_SIGNING_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  };
}
