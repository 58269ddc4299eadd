import { type ChildProcess, fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SQSClient } from "@aws-sdk/client-sqs";
import {
  LOCAL_ACCOUNT,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  resolveLocalhostSubdomains,
  startEmulators,
} from "#local/aws/emulators.js";
import type { AwsService } from "#local/aws/gateway.js";
import { type ApiRoute, startApiServer } from "#local/runtime/api-server.js";
import {
  type EventSourceMapping,
  type EventSourceRunner,
  type LambdaHandler,
  startEventSource,
} from "#local/runtime/sqs-event-source.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { provision } from "./provision.js";
import { recoverUnfinishedTasks } from "./recover.js";
import { synthLocalTemplate } from "./synth.js";
import { type LocalTopology, type PhysicalResource, resolveIntrinsics, topologyOf } from "./template.js";

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

let cloudsStarted = 0;

/** Fixed and documented so that a receiver you write once keeps verifying across restarts. Never use in AWS. */
export const DEFAULT_LOCAL_SIGNING_SECRET = "whsec_cHVuY3R1YWwtbG9jYWwtc2lnbmluZy1zZWNyZXQtMDE=";

export interface LocalCloudOptions {
  readonly host?: string;
  /** HTTP API port; 0 picks a free one. */
  readonly apiPort?: number;
  /** Port of the single AWS-compatible endpoint; 0 picks a free one. */
  readonly awsPort?: number;
  readonly dataDir?: string;
  readonly firingWindowSeconds?: number;
  readonly signingSecret?: string;
  /** Local-only config tightening (see PUNCTUAL_CONFIG_OVERRIDES). */
  readonly configOverrides?: Record<string, unknown>;
  /** Emulators in a child process (default, faster under load) or in this process (simplest to debug). */
  readonly emulators?: "child" | "in-process";
  /** Print the functions' EMF metric lines (off by default: CloudWatch's input, noise on a terminal). */
  readonly printMetrics?: boolean;
  readonly log?: (line: string) => void;
}

export interface LocalCloud {
  readonly apiUrl: string;
  readonly awsEndpoint: string;
  readonly endpoints: Readonly<Record<AwsService, string>>;
  readonly signingSecret: string;
  readonly topology: LocalTopology;
  /** Resolved environment variables per function logical id (what Lambda would see). */
  readonly functionEnvironments: Readonly<Record<string, Record<string, string>>>;
  readonly stackName: string;
  /** What every logical id of the template became locally (queue URLs, table names, ARNs). */
  readonly physical: ReadonlyMap<string, PhysicalResource>;
  /** The running event-source mappings, as configured from the template. */
  readonly eventSourceMappings: readonly (EventSourceMapping & { readonly logicalId: string })[];
  /** The API routes being served, by route key → function logical id. */
  readonly routes: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * Runs the whole pipeline on this machine: emulators, the resources of the synthesized `local` stack, the
 * HTTP API and an event-source runner per SQS mapping, all feeding the same handler modules that deploy.
 */
export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const host = options.host ?? "127.0.0.1";
  resolveLocalhostSubdomains();
  const log = options.log ?? (() => undefined);
  const signingSecret = options.signingSecret ?? DEFAULT_LOCAL_SIGNING_SECRET;
  const emulatorOptions = {
    host,
    gatewayPort: options.awsPort ?? 0,
    ...(options.dataDir ? { dataDir: path.resolve(options.dataDir) } : {}),
    firingWindowSeconds: options.firingWindowSeconds ?? 0,
  };

  const emulators =
    options.emulators === "in-process"
      ? await startEmulators({ ...emulatorOptions, log })
      : await startEmulatorProcess(emulatorOptions, log);

  const stackName = "Punctual-local";
  const runners: EventSourceRunner[] = [];
  let api: Awaited<ReturnType<typeof startApiServer>> | undefined;
  try {
    // The functions read these at import time, exactly as they read Lambda's environment.
    Object.assign(process.env, {
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: emulators.endpoints.dynamodb,
      // fauxqs's own host name for its queue URLs: calls then go where the SDK expects, without a warning each.
      AWS_ENDPOINT_URL_SQS: queueUrlOrigin(emulators.endpoints.sqs),
      AWS_ENDPOINT_URL_SCHEDULER: emulators.endpoints.scheduler,
      PUNCTUAL_SIGNING_SECRET: signingSecret,
      AWS_NODEJS_CONNECTION_REUSE_ENABLED: "1",
    });
    if (options.configOverrides)
      process.env.PUNCTUAL_CONFIG_OVERRIDES = JSON.stringify(options.configOverrides);

    const template = await synthLocalTemplate();
    const topology = topologyOf(template);
    const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
    const dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: emulators.endpoints.dynamodb });
    const sqs = new SQSClient({ ...clientConfig, endpoint: queueUrlOrigin(emulators.endpoints.sqs) });
    const scheduler = new SchedulerClient({ ...clientConfig, endpoint: emulators.endpoints.scheduler });
    const physical = await provision(template, topology, {
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
      stackName,
      dynamodb,
      sqs,
      scheduler,
    });
    scheduler.destroy();

    const ctx = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT, stackName, physical };
    const functionEnvironments: Record<string, Record<string, string>> = {};
    for (const fn of topology.functions) {
      const resolved = resolveIntrinsics(fn.environment, ctx) as Record<string, unknown>;
      functionEnvironments[fn.logicalId] = Object.fromEntries(
        Object.entries(resolved).map(([k, v]) => [k, String(v)]),
      );
    }
    Object.assign(process.env, mergeEnvironments(Object.values(functionEnvironments)));
    // Locally the secret comes from PUNCTUAL_SIGNING_SECRET; there is no Secrets Manager to read.
    delete process.env.SIGNING_SECRET_ARN;
    // EMF metric lines are CloudWatch's input; on a terminal they only bury what matters.
    if (!options.printMetrics) process.env.POWERTOOLS_METRICS_DISABLED = "true";

    const handlers = new Map<string, LambdaHandler>();
    const cloudInstance = ++cloudsStarted;
    for (const fn of topology.functions) {
      // A fresh module instance per local cloud, as a new Lambda container would have: its module-scope
      // clients and environment belong to this cloud, not to one started earlier in the same process.
      const moduleUrl = `${pathToFileURL(path.join(PROJECT_ROOT, fn.entry)).href}?cloud=${cloudInstance}`;
      const module = (await import(moduleUrl)) as {
        handler?: LambdaHandler;
      };
      if (typeof module.handler !== "function") throw new Error(`${fn.entry} exports no handler`);
      handlers.set(fn.logicalId, module.handler);
    }
    const functionOf = (logicalId: string) => {
      const fn = topology.functions.find((f) => f.logicalId === logicalId);
      const handler = handlers.get(logicalId);
      if (!fn || !handler) throw new Error(`no local function for ${logicalId}`);
      return { fn, handler };
    };

    const eventSourceMappings: (EventSourceMapping & { logicalId: string })[] = [];
    for (const source of topology.eventSources.filter((s) => s.enabled)) {
      const { fn, handler } = functionOf(source.functionLogicalId);
      const queue = physical.get(source.queueLogicalId);
      if (!queue) throw new Error(`event source ${source.logicalId} reads an unknown queue`);
      const mapping = {
        logicalId: source.logicalId,
        functionName: fn.logicalId,
        handler,
        timeoutSeconds: fn.timeoutSeconds,
        queueUrl: queue.ref,
        queueArn: queue.attributes.Arn as string,
        batchSize: source.batchSize,
        reportBatchItemFailures: source.reportBatchItemFailures,
        // Lambda scales pollers with the backlog; locally a few concurrent batches per mapping suffice.
        maximumConcurrency: Math.min(source.maximumConcurrency ?? 5, 8),
      };
      eventSourceMappings.push(mapping);
      runners.push(startEventSource(sqs, mapping, log));
    }

    if (options.dataDir) {
      const recovery = await recoverUnfinishedTasks({
        dynamodb,
        sqs,
        tableName: requiredEnv("TABLE_NAME"),
        timerQueueUrl: requiredEnv("TIMER_QUEUE_URL"),
        topicQueueUrls: JSON.parse(requiredEnv("TOPIC_QUEUE_URLS")),
        horizonSeconds: loadEnvironmentConfig("local").timer.horizonSeconds,
      });
      log(`recovered: ${recovery.rearmed} timer(s) re-armed, ${recovery.requeued} task(s) requeued`);
    }
    dynamodb.destroy();

    const routes: ApiRoute[] = topology.routes.map((route) => {
      const { fn, handler } = functionOf(route.functionLogicalId);
      return {
        routeKey: route.routeKey,
        functionName: fn.logicalId,
        handler,
        timeoutSeconds: fn.timeoutSeconds,
      };
    });
    api = await startApiServer({ host, port: options.apiPort ?? 3000, routes, log });

    const runningApi = api;
    return {
      apiUrl: runningApi.url,
      awsEndpoint: emulators.gatewayUrl,
      endpoints: emulators.endpoints,
      signingSecret,
      topology,
      functionEnvironments,
      stackName,
      physical,
      eventSourceMappings,
      routes: Object.fromEntries(routes.map((r) => [r.routeKey, r.functionName])),
      stop: async () => {
        // Stop accepting, let in-flight deliveries finish, stop pollers, then the emulators.
        await runningApi.stop();
        await Promise.all(runners.map((r) => r.stop()));
        sqs.destroy();
        await emulators.stop();
      },
    };
  } catch (error) {
    await api?.stop();
    await Promise.all(runners.map((r) => r.stop()));
    await emulators.stop();
    throw error;
  }
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`the local stack defines no ${name}`);
  return value;
}

function queueUrlOrigin(sqsEndpoint: string): string {
  const { port } = new URL(sqsEndpoint);
  return `http://sqs.${LOCAL_REGION}.localhost:${port}`;
}

/**
 * All local functions share one process environment. Variables that hold JSON objects (one deliver function
 * per topic, each with its own queue map) are merged; any other disagreement is a bug in the stack.
 */
function mergeEnvironments(environments: Record<string, string>[]): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const env of environments) {
    for (const [name, value] of Object.entries(env)) {
      const existing = merged[name];
      if (existing === undefined || existing === value) {
        merged[name] = value;
        continue;
      }
      const a = tryJsonObject(existing);
      const b = tryJsonObject(value);
      if (!a || !b) throw new Error(`functions disagree on ${name}: ${existing} vs ${value}`);
      merged[name] = JSON.stringify({ ...a, ...b });
    }
  }
  return merged;
}

function tryJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

async function startEmulatorProcess(
  options: Record<string, unknown>,
  log: (line: string) => void,
): Promise<{ gatewayUrl: string; endpoints: Record<AwsService, string>; stop(): Promise<void> }> {
  const child: ChildProcess = fork(path.join(PROJECT_ROOT, "local/aws/main.ts"), [JSON.stringify(options)], {
    execArgv: ["--import", "tsx", "--no-warnings"],
    stdio: ["ignore", "inherit", "pipe", "ipc"],
  });
  child.stderr?.on("data", (chunk: Buffer) => log(chunk.toString().trimEnd()));
  const ready = await new Promise<{ gatewayUrl: string; endpoints: Record<AwsService, string> }>(
    (resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`emulator process exited early (code ${code})`)));
      child.on(
        "message",
        (message: { type?: string; gatewayUrl: string; endpoints: Record<AwsService, string> }) => {
          if (message?.type === "ready") resolve(message);
        },
      );
    },
  );
  child.removeAllListeners("exit");
  return {
    ...ready,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.send({ type: "stop" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
