import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SQSClient } from "@aws-sdk/client-sqs";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "#local/aws/emulators.js";
import type { AwsService } from "#local/aws/gateway.js";
import { type LocalCloudFaults, type LocalCloudOptions, startLocalCloud } from "#local/cloud/local-cloud.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV } from "#shared/runtime/env.js";
import { checkCallbackUrl } from "#shared/security/ssrf.js";
import { OpenApiValidator } from "../../support/openapi-validator.js";
import { startCallbackReceiver } from "./callback-receiver.js";
import { DEPLOY_HINT, discoverDeployment, includesConfig, localStackSettings } from "./localstack.js";
import { type SchedulePump, startSchedulePump } from "./schedule-pump.js";

export type Receiver = Awaited<ReturnType<typeof startCallbackReceiver>>;

/**
 * Where the suite runs: `local` (default, what CI runs) starts the built-in local cloud per test file;
 * `localstack` (PUNCTUAL_E2E_TARGET=localstack) drives a stack already deployed to LocalStack (localstack/README.md).
 */
export type E2eTarget = "local" | "localstack";

export function e2eTarget(env: NodeJS.ProcessEnv = process.env): E2eTarget {
  const target = env.PUNCTUAL_E2E_TARGET || "local";
  if (target !== "local" && target !== "localstack") {
    throw new Error(`PUNCTUAL_E2E_TARGET must be "local" or "localstack", not "${target}"`);
  }
  return target;
}

/** What the tests need to know of the cloud under test, whichever the target. */
export interface E2eCloud {
  readonly target: E2eTarget;
  readonly apiUrl: string;
  /** One endpoint for every AWS service the tests call. */
  readonly awsEndpoint: string;
  readonly endpoints: Readonly<Record<AwsService, string>>;
  readonly signingSecret: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly stackName: string;
  readonly tableName: string;
  readonly scheduleGroupName: string;
  /** The local cloud started with `faults`: its fault policy, replaceable mid-test (local/aws/faults.ts). */
  readonly faults?: LocalCloudFaults;
}

export interface Harness {
  readonly cloud: E2eCloud;
  readonly receiver: Receiver;
  readonly dynamodb: DynamoDBClient;
  /** Region, credentials and endpoint for any further SDK client a test makes. */
  readonly clientConfig: {
    readonly region: string;
    readonly credentials: E2eCloud["credentials"];
    readonly endpoint: string;
  };
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** Every item in the task table (the test table is small). */
  tableItems(): Promise<Record<string, unknown>[]>;
  /** Polls GET /v1/tasks/{id} until its status is one of `statuses`. */
  waitForStatus(taskId: string, statuses: string[], timeoutMs?: number): Promise<Record<string, unknown>>;
  /**
   * Polls GET /v1/topics/{topic} until its FIFO backlog (waiting + in flight) holds at least `count` messages:
   * how a test sees that the relay handed tasks over (it records no status of its own).
   */
  waitForBacklog(topic: string, count: number, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown> & { error?: { code: string; message: string; issues?: unknown[] } };
}

export type HarnessOptions = LocalCloudOptions;

interface Connected {
  readonly cloud: E2eCloud;
  stop(): Promise<void>;
}

/**
 * A real callback receiver (loopback by default) and the cloud under test: the built-in local cloud (random
 * ports), or — PUNCTUAL_E2E_TARGET=localstack — the stack deployed to LocalStack, plus a schedule pump that
 * fires due schedules, since LocalStack's Scheduler never does.
 */
const openApi = new OpenApiValidator();

/**
 * `fetch` that checks every API answer against the committed OpenAPI document and throws when it differs, so every
 * end-to-end test that talks to the API (directly, or through the client with this as its `fetch`) also proves
 * the document right.
 */
export const validatingFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
  const method = init?.method ?? (input instanceof Request ? input.method : "GET");
  const body = await response.clone().text();
  const problems = openApi.problems(method, url.pathname, response.status, body);
  if (problems.length > 0)
    throw new Error(`the answer does not match docs/openapi.json:\n${problems.join("\n")}`);
  return response;
};

/**
 * An SQS client for the local cloud's queues, addressed through fauxqs's own host name so its queue URLs resolve
 * (tests that put messages on queues by hand, or read a DLQ's depth).
 */
export function localSqsClient(cloud: E2eCloud): SQSClient {
  return new SQSClient({
    region: cloud.region,
    credentials: cloud.credentials,
    endpoint: `http://sqs.${cloud.region}.localhost:${new URL(cloud.endpoints.sqs).port}`,
  });
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const target = e2eTarget();
  // LocalStack runs the functions in containers, slower to start than in-process handlers.
  const defaultTimeoutMs = target === "localstack" ? 60_000 : 20_000;
  const listenHost = process.env.PUNCTUAL_E2E_CALLBACK_LISTEN_HOST || "127.0.0.1";
  const advertisedHost =
    process.env.PUNCTUAL_E2E_CALLBACK_HOST || (target === "localstack" ? "host.docker.internal" : undefined);
  const receiver = await startCallbackReceiver({
    listenHost,
    ...(advertisedHost ? { advertisedHost } : {}),
    defaultTimeoutMs,
  });
  let connected: Connected;
  try {
    connected =
      target === "localstack" ? await connectLocalStack(options, receiver.url) : await startLocal(options);
  } catch (error) {
    await receiver.stop();
    throw error;
  }
  const { cloud } = connected;
  const clientConfig = { region: cloud.region, credentials: cloud.credentials, endpoint: cloud.awsEndpoint };
  const dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: cloud.endpoints.dynamodb });
  const tableName = cloud.tableName;

  const api: Harness["api"] = async (method, path, body, headers = {}) => {
    const response = await validatingFetch(`${cloud.apiUrl}${path}`, {
      method,
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: ApiResponse["json"] = {};
    try {
      json = JSON.parse(text);
    } catch {
      // left empty: the assertion on `text` will say what came back
    }
    return { status: response.status, headers: response.headers, text, json };
  };

  return {
    cloud,
    receiver,
    dynamodb,
    clientConfig,
    api,
    tableItems: async () => {
      const items: Record<string, unknown>[] = [];
      let start: Record<string, never> | undefined;
      do {
        const page = await dynamodb.send(
          new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: start }),
        );
        items.push(...((page.Items ?? []) as Record<string, unknown>[]));
        start = page.LastEvaluatedKey as Record<string, never> | undefined;
      } while (start);
      return items;
    },
    waitForStatus: async (taskId, statuses, timeoutMs = defaultTimeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { json } = await api("GET", `/v1/tasks/${encodeURIComponent(taskId)}`);
        if (statuses.includes(String(json.status))) return json;
        if (Date.now() > deadline) {
          throw new Error(
            `task ${taskId} never reached ${statuses.join("|")}; last: ${JSON.stringify(json)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    waitForBacklog: async (topic, count, timeoutMs = defaultTimeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { json } = await api("GET", `/v1/topics/${encodeURIComponent(topic)}`);
        const backlog = json.backlog as { waiting?: number; in_flight?: number } | undefined;
        if ((backlog?.waiting ?? 0) + (backlog?.in_flight ?? 0) >= count) return json;
        if (Date.now() > deadline) {
          throw new Error(`topic ${topic} never held ${count} messages; last: ${JSON.stringify(json)}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: async () => {
      await connected.stop();
      await receiver.stop();
      dynamodb.destroy();
    },
  };
}

async function startLocal(options: HarnessOptions): Promise<Connected> {
  const cloud = await startLocalCloud({ apiPort: 0, awsPort: 0, ...options });
  return {
    cloud: {
      target: "local",
      apiUrl: cloud.apiUrl,
      awsEndpoint: cloud.awsEndpoint,
      endpoints: cloud.endpoints,
      signingSecret: cloud.signingSecret,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      stackName: cloud.stackName,
      // The local cloud has put the functions' environment into this process's.
      tableName: process.env[ENV.tableName] as string,
      scheduleGroupName: process.env[ENV.scheduleGroupName] as string,
      ...(cloud.faults ? { faults: cloud.faults } : {}),
    },
    stop: () => cloud.stop(),
  };
}

/**
 * Attaches to the stack deployed to LocalStack. Options that shape a local cloud cannot change a deployed
 * stack: `configOverrides` must already be baked into it (checked when the template can be read), and
 * `firingWindowSeconds` goes to the schedule pump, which fires each schedule that late at most.
 */
async function connectLocalStack(options: HarnessOptions, receiverUrl: string): Promise<Connected> {
  const settings = localStackSettings();
  const deployment = await discoverDeployment(settings);
  const deployed = deployment.configOverrides;
  if (deployed !== undefined) {
    if (options.configOverrides && !includesConfig(deployed, options.configOverrides)) {
      throw new Error(
        `${settings.stackName} was deployed with ${JSON.stringify(deployed ?? {})} as PUNCTUAL_CONFIG_OVERRIDES; ` +
          `this test needs ${JSON.stringify(options.configOverrides)}. Deploy with: ${DEPLOY_HINT}`,
      );
    }
    const demo = loadEnvironmentConfig("local", deployed ? JSON.stringify(deployed) : "").resolvedTopics.demo;
    const check = demo
      ? checkCallbackUrl(`${receiverUrl}/ok`, demo)
      : { ok: false as const, reason: "no demo topic" };
    if (!check.ok) {
      throw new Error(
        `${settings.stackName} would refuse the callback receiver's URL ${receiverUrl}: ${check.reason}. ` +
          "Set PUNCTUAL_E2E_CALLBACK_HOST to a host the functions can reach that the deployed config allows " +
          `(localstack/config-overrides.json allows host.docker.internal), and deploy with: ${DEPLOY_HINT}`,
      );
    }
  }

  const { endpoint, region, credentials } = settings;
  const clientConfig = { endpoint, region, credentials };
  const scheduler = new SchedulerClient(clientConfig);
  const sqs = new SQSClient(clientConfig);
  const pump: SchedulePump = startSchedulePump({
    scheduler,
    sqs,
    groupName: deployment.scheduleGroupName,
    firingWindowSeconds: options.firingWindowSeconds ?? 0,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  return {
    cloud: {
      target: "localstack",
      apiUrl: deployment.apiUrl,
      awsEndpoint: endpoint,
      endpoints: { dynamodb: endpoint, sqs: endpoint, scheduler: endpoint },
      signingSecret: deployment.signingSecret,
      region,
      credentials,
      stackName: settings.stackName,
      tableName: deployment.tableName,
      scheduleGroupName: deployment.scheduleGroupName,
    },
    stop: async () => {
      await pump.stop();
      scheduler.destroy();
      sqs.destroy();
    },
  };
}
