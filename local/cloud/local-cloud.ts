import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { MessagePort } from "node:worker_threads";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { Context } from "aws-lambda";
import { type AppConfigEmulator, startAppConfigEmulator } from "#local/aws/appconfig-emulator.js";
import { startEmulatorThread } from "#local/aws/emulator-thread.js";
import {
  type EmulatorOptions,
  LOCAL_ACCOUNT,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  resolveLocalhostSubdomains,
  startEmulators,
} from "#local/aws/emulators.js";
import { errorFrom } from "#local/aws/error-copy.js";
import type { LocalFastPath } from "#local/aws/fast-path.js";
import type { AwsService, FaultPolicy, FaultStats } from "#local/aws/faults.js";
import { type LambdaEmulator, startLambdaEmulator } from "#local/aws/lambda-emulator.js";
import { type ApiRoute, startApiServer } from "#local/runtime/api-server.js";
import { type DataDirLock, lockDataDir } from "#local/runtime/data-dir-lock.js";
import { capturingEmf, type EmfSink } from "#local/runtime/emf-capture.js";
import { type FunctionHost, startFunctionHost } from "#local/runtime/function-host.js";
import { createLambdaContext } from "#local/runtime/lambda-context.js";
import { MetricStore } from "#local/runtime/metric-store.js";
import { ensurePortFree } from "#local/runtime/port-free.js";
import { type ScheduledRuleRunner, startScheduledRule } from "#local/runtime/scheduled-rule.js";
import {
  type EventSourceMapping,
  type EventSourceRunner,
  type LambdaHandler,
  startEventSource,
} from "#local/runtime/sqs-event-source.js";
import { createAwsClient, localAwsTransport, setLocalAwsTransport } from "#shared/adapters/aws-clients.js";
import { SETTINGS_MAX_AGE_VARIABLE } from "#shared/adapters/topic-settings.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { mergeTopologies, readTopology, TOPOLOGY_VARIABLE } from "#shared/contract/topology.js";
import { verificationKeys } from "#shared/security/signing.js";
import { localMetricsSource } from "../../console/local-metrics.js";
import { localViewSource } from "../../console/local-view.js";
import { consoleHandler, localApiPrelude, SECURITY_HEADERS } from "../../console/server.js";
import { provision } from "./provision.js";
import { recoverUnfinishedTasks } from "./recover.js";
import { synthLocalTemplate } from "./synth.js";
import {
  type FunctionSpec,
  type LocalTopology,
  type PhysicalResource,
  type ResolveContext,
  resolveIntrinsics,
  topologyOf,
} from "./template.js";

/**
 * Concurrent batches for an event source mapping without MaximumConcurrency (the timer queue). AWS scales such a
 * mapping towards 1,250; locally a batch is just a promise. Many matter: a relay batch holds its slot while it
 * waits out the sub-second rest of its latest task, so slots, not CPU, would cap the relay at (slots × batch
 * size) per second.
 */
const LOCAL_UNCAPPED_CONCURRENCY = 128;

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
  /**
   * Where the emulators run. `thread` (default): a worker thread, reached by this process's AWS clients without
   * sockets or signing (the fast path, local/aws/fast-path.ts). `child`: a child process, over HTTP (the layout
   * before the fast path; `PUNCTUAL_LOCAL_EMULATORS=child` selects it too, for comparisons). `in-process`: this
   * thread, over HTTP (simplest to debug).
   */
  readonly emulators?: EmulatorLayout;
  /**
   * Fault injection between the functions and AWS (local/aws/faults.ts): the functions are pointed at one
   * fault-injecting proxy per service, so unmodified handlers see throttling, 5xx, timeouts and dropped
   * connections over the wire. Off by default, and then nothing is started and nothing is in the path.
   */
  readonly faults?: FaultPolicy;
  /**
   * With `faults`: whether the event-source pollers (Lambda's own ReceiveMessage / DeleteMessageBatch, which AWS
   * retries internally) go through the faults too. Default true: a lost delete or a received-but-unseen batch
   * then shows as on a bad day.
   */
  readonly faultEventSources?: boolean;
  /**
   * Print the functions' EMF metric lines (off by default: CloudWatch's input, noise on a terminal). Printed or
   * not, they are kept in `metrics` (the console's lateness and counts).
   */
  readonly printMetrics?: boolean;
  /**
   * Fire every scheduled EventBridge rule of the template (today: the sweeper's `rate(1 minute)`) at this
   * interval instead of its own rate, so tests see a sweep within a second or so.
   */
  readonly sweeperIntervalMs?: number;
  /**
   * The runtime topic settings document the local AppConfig serves (topic settings without a deploy): written with
   * the CDK's defaults when absent, re-read on every poll. Default: a fresh file in the temp directory.
   */
  readonly settingsFile?: string;
  /** How long the functions cache the topic settings locally (default 1 s; AWS: 45 s). */
  readonly settingsMaxAgeSeconds?: number;
  readonly log?: (line: string) => void;
  /**
   * The emulators' thread ended on its own while the cloud ran (an uncaught error in an emulator: LevelDB's write
   * error when the disk holding --data is full). Nothing AWS answers any more; `npm start` exits saying why.
   */
  readonly onEmulatorsFailed?: (error: Error) => void;
}

export interface LocalCloud {
  readonly apiUrl: string;
  readonly awsEndpoint: string;
  readonly endpoints: Readonly<Record<AwsService, string>>;
  readonly signingSecret: string;
  /** Each topic's Standard Webhooks verification key (what its receivers verify with), derived from the secret. */
  readonly verificationKeys: Readonly<Record<string, string>>;
  /**
   * A fan-out topic's keys per subscriber (topic → subscriber → key): each subscriber's receiver verifies only
   * its own key, not the topic's, so `npm start` prints these too.
   */
  readonly subscriberVerificationKeys: Readonly<Record<string, Readonly<Record<string, string>>>>;
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
  /** The scheduled EventBridge rules being fired, as read from the template, and how often they fire here. */
  readonly scheduledRules: readonly LocalScheduledRule[];
  /** The last hour of every metric the functions emitted (their EMF lines), what CloudWatch would hold. */
  readonly metrics: MetricStore;
  /** Present when started with `faults`: the proxies the functions use, and control over them. */
  readonly faults?: LocalCloudFaults;
  /** The topic settings file and the version of it now deployed (each accepted edit adds one). */
  readonly topicSettings?: { readonly file: string; readonly endpoint: string; deployedVersion(): number };
  stop(): Promise<void>;
}

export interface LocalScheduledRule {
  readonly logicalId: string;
  readonly functionName: string;
  readonly scheduleExpression: string;
  readonly intervalMs: number;
  /** Invocations started so far. */
  readonly invocations: () => number;
}

export interface LocalCloudFaults {
  /** The fault-injecting proxy of each service (the emulators themselves stay at `endpoints`). */
  readonly endpoints: Readonly<Record<AwsService, string>>;
  /** Replaces the policy, e.g. `{}` to stop injecting while the proxies stay in place. */
  set(policy: FaultPolicy): Promise<void>;
  /** Requests and injected faults per `service.Operation` so far. */
  stats(): Promise<FaultStats>;
}

/**
 * Runs the whole pipeline on this machine: emulators, the resources of the synthesized `local` stack, the
 * HTTP API and an event-source runner per SQS mapping, all feeding the same handler modules that deploy.
 */
export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const host = options.host ?? "127.0.0.1";
  resolveLocalhostSubdomains();
  const setup: Setup = {
    options,
    host,
    log: options.log ?? (() => undefined),
    signingSecret: options.signingSecret ?? DEFAULT_LOCAL_SIGNING_SECRET,
  };
  // A taken port refused before anything starts or touches --data (local/runtime/port-free.ts).
  for (const port of [options.apiPort, options.awsPort]) await ensurePortFree(host, port ?? 0);
  // Before anything opens the directory's files: a second local cloud on them is refused, not left hanging.
  const dataDirLock = options.dataDir ? await lockDataDir(options.dataDir) : undefined;
  const aws = await startAwsEmulators(setup).catch(async (error: unknown) => {
    await dataDirLock?.release();
    throw error;
  });
  const started: Started = { runners: [], functionHosts: [], dataDirLock };
  try {
    exportAwsEnvironment(setup, aws);
    const stack = await provisionStack(aws);
    started.appConfig = await startSettingsEmulator(stack.topology, stack.ctx, options, host, setup.log);
    const functionEnvironments = exportFunctionEnvironments(stack, aws);
    const { metrics, emfSink } = captureMetrics(options);
    const functionOf = await loadFunctions(aws, stack.topology, started, emfSink);
    // Recovery refills the queues before any poller runs: started after them, a relay could forward a re-armed
    // follower to its FIFO queue before recovery sent the group's head there again, out of group order.
    await recoverPersistedTasks(setup, stack);
    stack.dynamodb.destroy();
    stack.scheduler.destroy();
    const eventSources = await startEventSources(setup, aws, stack, functionOf, started.runners);
    // Scheduled rules start after recovery, so a restart re-arms first.
    const scheduledRules = startScheduledRules(setup, stack, functionOf, started.runners);
    const api = await startApiAndConsole(setup, aws, stack, functionOf, metrics);
    started.api = api.server;
    return localCloudHandle({
      setup,
      aws,
      stack,
      functionEnvironments,
      metrics,
      eventSources,
      scheduledRules,
      api,
      appConfig: started.appConfig,
      runners: started.runners,
      functionHosts: started.functionHosts,
      dataDirLock,
    });
  } catch (error) {
    await stopAfterFailure(aws, started);
    throw error;
  }
}

/** The caller's options with their defaults applied. */
interface Setup {
  readonly options: LocalCloudOptions;
  readonly host: string;
  readonly log: (line: string) => void;
  readonly signingSecret: string;
}

/** Lambda's API and the emulators, started before anything else, and where the functions' calls go. */
interface LocalAws {
  readonly lambda: LambdaEmulator;
  readonly emulators: RunningEmulatorProcess;
  readonly fastPath: LocalFastPath | undefined;
  readonly faultEndpoints: Record<AwsService, string> | undefined;
  /** The fault proxies when faults are on without a fast path; otherwise the emulators. */
  readonly functionEndpoints: Record<AwsService, string>;
  /** With the fault proxies: points a queue URL at the SQS fault proxy. */
  readonly viaFaults: ((value: string) => string) | undefined;
  /** One of the runtime's own clients, routed past the faults (its calls are AWS's business). */
  own<C extends SdkClientLike>(client: C): C;
}

/** What the steps have started so far: when a later step throws, `stopAfterFailure` stops these. */
interface Started {
  readonly runners: EventSourceRunner[];
  readonly functionHosts: FunctionHost[];
  readonly dataDirLock: DataDirLock | undefined;
  appConfig?: LocalSettings;
  api?: ApiServer;
}

/** The synthesized `local` stack, created in the emulators. */
interface LocalStack {
  readonly stackName: string;
  readonly topology: LocalTopology;
  readonly physical: Map<string, PhysicalResource>;
  readonly ctx: ResolveContext;
  /** The runtime's own clients, routed by `own`. */
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  /** Until recovery has run (it reads the schedules back). */
  readonly scheduler: SchedulerClient;
}

type FunctionOf = (logicalId: string) => { fn: FunctionSpec; handler: LambdaHandler };

interface StartedEventSources {
  readonly mappings: (EventSourceMapping & { logicalId: string })[];
  /** The client the pollers receive and delete with: the runtime's own `sqs` unless faults reach the pollers. */
  readonly pollerSqs: SQSClient;
}

type ApiServer = Awaited<ReturnType<typeof startApiServer>>;

interface StartedApi {
  readonly server: ApiServer;
  readonly routes: ApiRoute[];
  readonly consoleScheduler: SchedulerClient;
}

/** Everything the last step leaves running: what the handle shows and its `stop` stops. */
interface RunningCloud {
  readonly setup: Setup;
  readonly aws: LocalAws;
  readonly stack: LocalStack;
  readonly functionEnvironments: Record<string, Record<string, string>>;
  readonly metrics: MetricStore;
  readonly eventSources: StartedEventSources;
  readonly scheduledRules: LocalScheduledRule[];
  readonly api: StartedApi;
  readonly appConfig: LocalSettings | undefined;
  readonly runners: readonly EventSourceRunner[];
  readonly functionHosts: readonly FunctionHost[];
  readonly dataDirLock: DataDirLock | undefined;
}

/** As lean as the functions' clients: Lambda's pollers are the local runtime's own overhead. */
const LOCAL_CLIENT_CONFIG = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };

async function startAwsEmulators({ options, host, log }: Setup): Promise<LocalAws> {
  // Lambda's event-source-mapping API lives here, beside the runners it pauses (see lambda-emulator.ts).
  const lambda = await startLambdaEmulator({
    host,
    ...(options.dataDir
      ? { persistencePath: path.join(path.resolve(options.dataDir), "event-source-mappings.json") }
      : {}),
  });
  const emulatorOptions = {
    host,
    lambdaUrl: lambda.url,
    gatewayPort: options.awsPort ?? 0,
    ...(options.dataDir ? { dataDir: path.resolve(options.dataDir) } : {}),
    firingWindowSeconds: options.firingWindowSeconds ?? 0,
    ...(options.faults ? { faults: options.faults } : {}),
  };

  const emulators = await startEmulatorsIn(
    emulatorLayout(options),
    emulatorOptions,
    log,
    options.onEmulatorsFailed,
  ).catch(async (error: unknown) => {
    // E.g. the AWS port taken: nothing else was started, so the Lambda API must not be left listening.
    await lambda.stop();
    throw error;
  });
  const fastPath = emulators.fastPath;

  // With faults on, the functions (and, unless told otherwise, the pollers) meet them: on the fast path in its
  // dispatcher (same injector, same decisions), otherwise by talking to the fault proxies.
  const faultEndpoints = emulators.faultEndpoints;
  const viaProxies = faultEndpoints && !fastPath ? faultEndpoints : undefined;
  const functionEndpoints = viaProxies ?? emulators.endpoints;
  const viaFaults = viaProxies ? sqsPortRewrite(emulators.endpoints.sqs, viaProxies.sqs) : undefined;
  // The runtime's own provisioning and recovery calls are AWS's business, never faulted.
  const own = <C extends SdkClientLike>(client: C): C =>
    fastPath ? fastPath.route(client, { faults: false }) : client;
  return { lambda, emulators, fastPath, faultEndpoints, functionEndpoints, viaFaults, own };
}

function exportAwsEnvironment({ options, signingSecret }: Setup, aws: LocalAws): void {
  // The functions read these at import time, exactly as they read Lambda's environment.
  Object.assign(process.env, {
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: aws.functionEndpoints.dynamodb,
    // fauxqs's own host name for its queue URLs: calls then go where the SDK expects, without a warning each.
    AWS_ENDPOINT_URL_SQS: queueUrlOrigin(aws.functionEndpoints.sqs),
    AWS_ENDPOINT_URL_SCHEDULER: aws.functionEndpoints.scheduler,
    AWS_ENDPOINT_URL_LAMBDA: aws.lambda.url,
    PUNCTUAL_SIGNING_SECRET: signingSecret,
    AWS_NODEJS_CONNECTION_REUSE_ENABLED: "1",
  });
  if (options.configOverrides)
    process.env.PUNCTUAL_CONFIG_OVERRIDES = JSON.stringify(options.configOverrides);
}

async function provisionStack(aws: LocalAws): Promise<LocalStack> {
  const stackName = "Punctual-local";
  const template = await synthLocalTemplate();
  const topology = topologyOf(template);
  const { endpoints } = aws.emulators;
  const dynamodb = aws.own(
    createAwsClient(DynamoDBClient, { ...LOCAL_CLIENT_CONFIG, endpoint: endpoints.dynamodb }),
  );
  const sqs = aws.own(
    createAwsClient(SQSClient, { ...LOCAL_CLIENT_CONFIG, endpoint: queueUrlOrigin(endpoints.sqs) }),
  );
  const scheduler = aws.own(
    createAwsClient(SchedulerClient, { ...LOCAL_CLIENT_CONFIG, endpoint: endpoints.scheduler }),
  );
  const physical = await provision(template, topology, {
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT,
    stackName,
    dynamodb,
    sqs,
    scheduler,
  });
  const ctx = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT, stackName, physical };
  return { stackName, topology, physical, ctx, dynamodb, sqs, scheduler };
}

/** Each function's resolved environment, merged into this process's: all local functions share one. */
function exportFunctionEnvironments(
  stack: LocalStack,
  aws: LocalAws,
): Record<string, Record<string, string>> {
  const { viaFaults } = aws;
  const functionEnvironments: Record<string, Record<string, string>> = {};
  for (const fn of stack.topology.functions) {
    const resolved = resolveIntrinsics(fn.environment, stack.ctx) as Record<string, unknown>;
    functionEnvironments[fn.logicalId] = Object.fromEntries(
      // The SQS SDK calls the host of each QueueUrl: with faults on, queue URLs name the SQS fault proxy.
      Object.entries(resolved).map(([k, v]) => [k, viaFaults ? viaFaults(String(v)) : String(v)]),
    );
  }
  Object.assign(process.env, mergeEnvironments(Object.values(functionEnvironments)));
  // Locally the secret comes from PUNCTUAL_SIGNING_SECRET; there is no Secrets Manager to read.
  delete process.env.SIGNING_SECRET_ARN;
  return functionEnvironments;
}

function captureMetrics(options: LocalCloudOptions): { metrics: MetricStore; emfSink: EmfSink } {
  // The functions emit their metrics as on AWS; the local runtime catches the EMF lines (emf-capture.ts) into
  // the metric store, and prints them only when asked: on a terminal they bury what matters.
  process.env.POWERTOOLS_METRICS_DISABLED = "false";
  const metrics = new MetricStore();
  const emfSink = {
    record: (document: unknown) => metrics.record(document),
    print: !!options.printMetrics,
  };
  return { metrics, emfSink };
}

/** The handler modules, in this thread or in function hosts; the settings profile's validator is one of them. */
async function loadFunctions(
  aws: LocalAws,
  topology: LocalTopology,
  started: Started,
  emfSink: EmfSink,
): Promise<FunctionOf> {
  // From here on every client `createAwsClient` makes in this process (the functions' own, at import or on
  // first use) takes the fast path, until this cloud stops.
  if (aws.fastPath) setLocalAwsTransport(aws.fastPath);
  const { emulators } = aws;
  const handlers =
    emulators.connect && functionHostsWanted()
      ? await hostFunctions(topology, emulators.connect, started.functionHosts, emfSink)
      : await importFunctions(topology, emfSink);
  const { appConfig } = started;
  if (appConfig) appConfig.emulator.useValidator(settingsValidator(topology, handlers, appConfig.profileId));
  return (logicalId: string) => {
    const fn = topology.functions.find((f) => f.logicalId === logicalId);
    const handler = handlers.get(logicalId);
    if (!fn || !handler) throw new Error(`no local function for ${logicalId}`);
    return { fn, handler };
  };
}

async function startEventSources(
  { options, log }: Setup,
  aws: LocalAws,
  stack: LocalStack,
  functionOf: FunctionOf,
  runners: EventSourceRunner[],
): Promise<StartedEventSources> {
  const { physical } = stack;
  const faultPollers = aws.faultEndpoints !== undefined && options.faultEventSources !== false;
  const pollerSqs = faultPollers
    ? // On the fast path the registered transport routes this client (faults on); else: the SQS proxy.
      createAwsClient(SQSClient, {
        ...LOCAL_CLIENT_CONFIG,
        endpoint: queueUrlOrigin(aws.functionEndpoints.sqs),
      })
    : stack.sqs;
  const mappings: (EventSourceMapping & { logicalId: string })[] = [];
  for (const source of stack.topology.eventSources.filter((s) => s.enabled)) {
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
      maximumBatchingWindowSeconds: source.maximumBatchingWindowSeconds,
      reportBatchItemFailures: source.reportBatchItemFailures,
      // As on AWS, a mapping's MaximumConcurrency caps its concurrent batches (deliver: the topic's
      // maxConcurrency); without one, Lambda scales with the backlog and a large fixed pool stands in.
      maximumConcurrency: source.maximumConcurrency ?? LOCAL_UNCAPPED_CONCURRENCY,
    };
    mappings.push(mapping);
    const runner = startEventSource(pollerSqs, mapping, log);
    runners.push(runner);
    await registerMapping(
      aws.lambda,
      runner,
      mapping,
      physical.get(source.logicalId),
      physical.get(fn.logicalId),
    );
  }
  return { mappings, pollerSqs };
}

async function recoverPersistedTasks({ options, log }: Setup, stack: LocalStack): Promise<void> {
  if (!options.dataDir) return;
  const recovery = await recoverUnfinishedTasks({
    dynamodb: stack.dynamodb,
    sqs: stack.sqs,
    scheduler: stack.scheduler,
    scheduleGroupName: requiredEnv("SCHEDULE_GROUP_NAME"),
    tableName: requiredEnv("TABLE_NAME"),
    timerQueueUrl: requiredEnv("TIMER_QUEUE_URL"),
    topicQueueUrls: readTopology("topicQueues"),
    horizonSeconds: loadEnvironmentConfig("local").timer.horizonSeconds,
  });
  log(`recovered: ${recovery.rearmed} timer(s) re-armed, ${recovery.requeued} task(s) requeued`);
}

/**
 * Scheduled EventBridge rules (the sweeper) fire their function like EventBridge would, at the template's
 * rate unless the caller speeds them up.
 */
function startScheduledRules(
  { options, log }: Setup,
  stack: LocalStack,
  functionOf: FunctionOf,
  runners: EventSourceRunner[],
): LocalScheduledRule[] {
  const scheduledRules: LocalScheduledRule[] = [];
  for (const rule of stack.topology.scheduledRules.filter((r) => r.enabled)) {
    const { fn, handler } = functionOf(rule.functionLogicalId);
    const intervalMs = options.sweeperIntervalMs ?? rule.rateMs;
    const runner: ScheduledRuleRunner = startScheduledRule(
      {
        ruleArn: stack.physical.get(rule.logicalId)?.attributes.Arn ?? rule.logicalId,
        functionName: fn.logicalId,
        handler,
        timeoutSeconds: fn.timeoutSeconds,
        intervalMs,
      },
      log,
    );
    runners.push({ stop: () => runner.stop(), inFlight: () => 0 });
    scheduledRules.push({
      logicalId: rule.logicalId,
      functionName: fn.logicalId,
      scheduleExpression: rule.scheduleExpression,
      intervalMs,
      invocations: runner.invocations,
    });
  }
  return scheduledRules;
}

async function startApiAndConsole(
  { options, host, log }: Setup,
  aws: LocalAws,
  stack: LocalStack,
  functionOf: FunctionOf,
  metrics: MetricStore,
): Promise<StartedApi> {
  const routes: ApiRoute[] = stack.topology.routes.map((route) => {
    const { fn, handler } = functionOf(route.functionLogicalId);
    return {
      routeKey: route.routeKey,
      functionName: fn.logicalId,
      handler,
      timeoutSeconds: fn.timeoutSeconds,
    };
  });
  const consoleScheduler = createAwsClient(SchedulerClient, {
    ...LOCAL_CLIENT_CONFIG,
    endpoint: aws.emulators.endpoints.scheduler,
  });
  const prelude = localApiPrelude(
    consoleHandler({
      sources: {
        metrics: localMetricsSource(metrics),
        local: localViewSource({
          scheduler: consoleScheduler,
          sqs: stack.sqs,
          scheduleGroupName: requiredEnv("SCHEDULE_GROUP_NAME"),
          timerQueueUrl: requiredEnv("TIMER_QUEUE_URL"),
        }),
      },
      log,
    }),
  );
  const server = await startApiServer({
    host,
    port: options.apiPort ?? 3000,
    routes,
    log,
    prelude,
    parserRefusalHeaders: SECURITY_HEADERS,
  });
  return { server, routes, consoleScheduler };
}

function localCloudHandle(running: RunningCloud): LocalCloud {
  const { aws, stack, api } = running;
  const { signingSecret } = running.setup;
  return {
    apiUrl: api.server.url,
    awsEndpoint: aws.emulators.gatewayUrl,
    endpoints: aws.emulators.endpoints,
    signingSecret,
    ...localVerificationKeys(signingSecret),
    topology: stack.topology,
    functionEnvironments: running.functionEnvironments,
    stackName: stack.stackName,
    physical: stack.physical,
    eventSourceMappings: running.eventSources.mappings,
    routes: Object.fromEntries(api.routes.map((r) => [r.routeKey, r.functionName])),
    scheduledRules: running.scheduledRules,
    metrics: running.metrics,
    ...topicSettingsOf(running.appConfig),
    ...faultControlOf(aws),
    stop: () => stopLocalCloud(running),
  };
}

function topicSettingsOf(appConfig: LocalSettings | undefined): Pick<LocalCloud, "topicSettings"> {
  return appConfig
    ? {
        topicSettings: {
          file: appConfig.file,
          endpoint: appConfig.emulator.url,
          deployedVersion: (appConfig.emulator as AppConfigEmulator).deployedVersion,
        },
      }
    : {};
}

function faultControlOf({ emulators, faultEndpoints }: LocalAws): Pick<LocalCloud, "faults"> {
  return faultEndpoints
    ? {
        faults: {
          endpoints: faultEndpoints,
          set: async (policy: FaultPolicy) => {
            await emulators.setFaults(policy);
          },
          stats: async () => emulators.faultStats(),
        },
      }
    : {};
}

async function stopLocalCloud(running: RunningCloud): Promise<void> {
  const { aws, stack, api, eventSources } = running;
  // Stop accepting, let in-flight deliveries finish, stop pollers, then the emulators.
  await api.server.stop();
  await Promise.all(running.runners.map((r) => r.stop()));
  await Promise.all(running.functionHosts.map((host) => host.stop()));
  stack.sqs.destroy();
  api.consoleScheduler.destroy();
  if (eventSources.pollerSqs !== stack.sqs) eventSources.pollerSqs.destroy();
  if (aws.fastPath && localAwsTransport() === aws.fastPath) setLocalAwsTransport(undefined);
  await aws.emulators.stop();
  await aws.lambda.stop();
  await running.appConfig?.stop();
  await running.dataDirLock?.release();
}

async function stopAfterFailure(aws: LocalAws, started: Started): Promise<void> {
  if (aws.fastPath && localAwsTransport() === aws.fastPath) setLocalAwsTransport(undefined);
  await started.api?.stop();
  await Promise.all(started.runners.map((r) => r.stop()));
  await Promise.all(started.functionHosts.map((host) => host.stop()));
  await aws.emulators.stop();
  await aws.lambda.stop();
  await started.appConfig?.stop();
  await started.dataDirLock?.release();
}

interface LocalSettings {
  readonly emulator: AppConfigEmulator;
  readonly file: string;
  readonly profileId: string;
  stop(): Promise<void>;
}

/**
 * The template's runtime settings profile, served by the local AppConfig Data emulator from a file; the functions
 * find it through AWS_ENDPOINT_URL_APPCONFIGDATA and poll it every `settingsMaxAgeSeconds`.
 */
async function startSettingsEmulator(
  topology: LocalTopology,
  ctx: Parameters<typeof resolveIntrinsics>[1],
  options: LocalCloudOptions,
  host: string,
  log: (line: string) => void,
): Promise<LocalSettings | undefined> {
  const [profile] = topology.settingsProfiles;
  if (!profile) return undefined;
  const idOf = (logicalId: string) => String(resolveIntrinsics({ Ref: logicalId }, ctx));
  // Without a file of the caller's, a fresh one per cloud (removed on stop): parallel clouds never share one.
  const ownDir = options.settingsFile ? undefined : mkdtempSync(path.join(tmpdir(), "punctual-settings-"));
  const file = path.resolve(options.settingsFile ?? path.join(ownDir as string, "settings.json"));
  const ids = {
    application: idOf(profile.applicationLogicalId),
    environment: idOf(profile.environmentLogicalId),
    profile: idOf(profile.profileLogicalId),
  };
  // Its lines start with "topic settings:", which `npm start` prints without --verbose (local/bin/start.ts).
  const settingsMaxAge = options.settingsMaxAgeSeconds ?? 1;
  const emulator = await startAppConfigEmulator({
    host,
    settingsFile: file,
    initialContent: profile.content,
    ids,
    log,
    fastRefresh: true,
  });
  process.env.AWS_ENDPOINT_URL_APPCONFIGDATA = emulator.url;
  process.env[SETTINGS_MAX_AGE_VARIABLE] = String(settingsMaxAge);
  return {
    emulator,
    file,
    profileId: ids.profile,
    stop: async () => {
      await emulator.stop();
      if (ownDir) rmSync(ownDir, { recursive: true, force: true });
    },
  };
}

/**
 * AppConfig's check before a deployment: the profile's LAMBDA validator, invoked as AppConfig invokes it — with a
 * Lambda context, as every other local invocation. Given `{}`, a validator in a function host failed on the proxy's
 * `getRemainingTimeInMillis()` (every edit refused with that TypeError), and in this thread the logger's middleware
 * (functions/validate-topic-settings.ts) logged its lines without a request id.
 */
export function settingsValidator(
  topology: LocalTopology,
  handlers: ReadonlyMap<string, LambdaHandler>,
  profileId: string,
): (content: string, version: number) => Promise<string | undefined> {
  const validatorId = topology.settingsProfiles[0]?.validatorFunctionLogicalId;
  const validate = validatorId ? handlers.get(validatorId) : undefined;
  const fn = topology.functions.find((f) => f.logicalId === validatorId);
  return async (content, version) => {
    if (!validate || !fn) return undefined;
    try {
      const event = {
        applicationId: "local",
        configurationProfileId: profileId,
        configurationVersion: String(version),
        content: Buffer.from(content).toString("base64"),
        uri: "hosted",
      };
      const context = createLambdaContext(fn.logicalId, fn.timeoutSeconds);
      await (validate as (event: unknown, context: Context) => Promise<unknown>)(event, context);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  };
}

/** The emulators as this process sees them, wherever they run. */
interface RunningEmulatorProcess {
  readonly gatewayUrl: string;
  readonly endpoints: Record<AwsService, string>;
  readonly faultEndpoints?: Record<AwsService, string>;
  /** Present in the `thread` layout: the socket-free route for this process's clients. */
  readonly fastPath?: LocalFastPath;
  /** In the `thread` layout: another fast-path port to the emulators, for a function host. */
  readonly connect?: () => MessagePort;
  setFaults(policy: FaultPolicy): Promise<void> | void;
  faultStats(): Promise<FaultStats> | FaultStats;
  stop(): Promise<void>;
}

export type EmulatorLayout = "thread" | "child" | "in-process";
type SdkClientLike = Parameters<LocalFastPath["route"]>[0];

function emulatorLayout(options: LocalCloudOptions): EmulatorLayout {
  const fromEnv = process.env.PUNCTUAL_LOCAL_EMULATORS;
  if (options.emulators) return options.emulators;
  if (fromEnv === "child" || fromEnv === "in-process" || fromEnv === "thread") return fromEnv;
  return "thread";
}

async function startEmulatorsIn(
  layout: EmulatorLayout,
  options: Omit<EmulatorOptions, "log">,
  log: (line: string) => void,
  onFailure: ((error: Error) => void) | undefined,
): Promise<RunningEmulatorProcess> {
  if (layout === "thread") return startEmulatorThread(options, log, onFailure ? { onFailure } : {});
  if (layout === "in-process") return startEmulators({ ...options, log });
  return startEmulatorProcess(options as Record<string, unknown>, log);
}

/** The handler modules, imported into this thread: a fresh instance per local cloud. */
async function importFunctions(
  topology: LocalTopology,
  emfSink: EmfSink,
): Promise<Map<string, LambdaHandler>> {
  const handlers = new Map<string, LambdaHandler>();
  const cloudInstance = ++cloudsStarted;
  for (const fn of topology.functions) {
    // A fresh module instance per local cloud, as a new Lambda container would have: its module-scope
    // clients and environment belong to this cloud, not to one started earlier in the same process.
    const module = (await import(`${moduleUrlOf(fn.entry)}?cloud=${cloudInstance}`)) as {
      handler?: LambdaHandler;
    };
    if (typeof module.handler !== "function") throw new Error(`${fn.entry} exports no handler`);
    handlers.set(fn.logicalId, capturingEmf(emfSink, module.handler));
  }
  return handlers;
}

function moduleUrlOf(entry: string): string {
  return pathToFileURL(path.join(PROJECT_ROOT, entry)).href;
}

/**
 * `PUNCTUAL_LOCAL_FUNCTION_HOSTS=1` runs the functions in two worker threads (an experiment, off by default): the
 * hosts showed no lateness gain on a shared machine, and with them the runtime topic settings (AppConfig from the
 * settings file) did not reach the hosted functions in the end-to-end suite (docs/PERFORMANCE.md).
 */
function functionHostsWanted(): boolean {
  return process.env.PUNCTUAL_LOCAL_FUNCTION_HOSTS === "1";
}

/**
 * The functions in two worker threads (the `thread` layout), each reaching the emulators over its own fast-path
 * port: the deliver functions (consumers of the topic queues, the ones with a MaximumConcurrency) in one, every
 * other function (API, relay, sweeper) in the other. The main thread keeps the API server, the pollers and the
 * scheduled rules, so on two cores the work of a task spreads over three threads instead of queueing on one.
 */
async function hostFunctions(
  topology: LocalTopology,
  connect: () => MessagePort,
  hosts: FunctionHost[],
  emfSink: EmfSink,
): Promise<Map<string, LambdaHandler>> {
  const deliverers = new Set(
    topology.eventSources.filter((s) => s.maximumConcurrency !== undefined).map((s) => s.functionLogicalId),
  );
  const groups = [
    topology.functions.filter((fn) => !deliverers.has(fn.logicalId)),
    topology.functions.filter((fn) => deliverers.has(fn.logicalId)),
  ].filter((group) => group.length > 0);
  const handlers = new Map<string, LambdaHandler>();
  for (const group of groups) {
    const host = await startFunctionHost(
      group.map((fn) => ({ logicalId: fn.logicalId, moduleUrl: moduleUrlOf(fn.entry) })),
      connect(),
      emfSink,
    );
    hosts.push(host);
    for (const fn of group) handlers.set(fn.logicalId, host.handlerFor(fn.logicalId));
  }
  return handlers;
}

/** Makes a running mapping switchable through the local Lambda API (a paused topic's mapping starts paused). */
async function registerMapping(
  lambda: LambdaEmulator,
  runner: EventSourceRunner,
  mapping: EventSourceMapping,
  resource: PhysicalResource | undefined,
  fn: PhysicalResource | undefined,
): Promise<void> {
  const { pause, resume } = runner;
  if (!resource || !pause || !resume) return;
  await lambda.register({
    uuid: resource.ref,
    functionArn: String(fn?.attributes.Arn ?? mapping.functionName),
    eventSourceArn: mapping.queueArn,
    batchSize: mapping.batchSize,
    ...(mapping.maximumBatchingWindowSeconds !== undefined
      ? { maximumBatchingWindowSeconds: mapping.maximumBatchingWindowSeconds }
      : {}),
    pause,
    resume,
  });
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`the local stack defines no ${name}`);
  return value;
}

/** Replaces the SQS emulator's port in queue URLs by the fault proxy's (the proxy maps them back). */
function sqsPortRewrite(sqsEndpoint: string, proxyEndpoint: string): (value: string) => string {
  const from = `.localhost:${new URL(sqsEndpoint).port}/`;
  const to = `.localhost:${new URL(proxyEndpoint).port}/`;
  return (value) => value.replaceAll(from, to);
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
      if (name === TOPOLOGY_VARIABLE) {
        merged[name] = JSON.stringify(mergeTopologies(JSON.parse(existing), JSON.parse(value)));
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
): Promise<RunningEmulatorProcess> {
  const child: ChildProcess = fork(path.join(PROJECT_ROOT, "local/aws/main.ts"), [JSON.stringify(options)], {
    // A profiled local cloud (`node --cpu-prof …`) profiles its emulators too.
    execArgv: [
      "--import",
      "tsx",
      "--no-warnings",
      ...process.execArgv.filter((a) => a.startsWith("--cpu-prof")),
    ],
    stdio: ["ignore", "inherit", "pipe", "ipc"],
  });
  child.stderr?.on("data", (chunk: Buffer) => log(chunk.toString().trimEnd()));
  type Ready = Pick<RunningEmulatorProcess, "gatewayUrl" | "endpoints" | "faultEndpoints">;
  // Requests to the child that expect an answer, by id (fault control).
  const waiters = new Map<number, (answer: { stats?: FaultStats }) => void>();
  let nextId = 0;
  const ask = (message: Record<string, unknown>) =>
    new Promise<{ stats?: FaultStats }>((resolve) => {
      const id = nextId++;
      waiters.set(id, (answer) => {
        waiters.delete(id);
        resolve(answer);
      });
      child.send({ ...message, id });
    });
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`emulator process exited early (code ${code})`)));
    type Message = Ready & {
      type?: string;
      id?: number;
      stats?: FaultStats;
      error?: Record<string, unknown>;
    };
    child.on("message", (message: Message) => {
      if (message?.type === "ready") resolve(message);
      if (message?.type === "failed") reject(errorFrom(message.error));
      if (message?.type === "fault-stats" || message?.type === "faults-set")
        waiters.get(message.id ?? -1)?.(message);
    });
  });
  child.removeAllListeners("exit");
  return {
    gatewayUrl: ready.gatewayUrl,
    endpoints: ready.endpoints,
    ...(ready.faultEndpoints ? { faultEndpoints: ready.faultEndpoints } : {}),
    setFaults: async (policy) => {
      await ask({ type: "set-faults", policy });
    },
    faultStats: async () => (await ask({ type: "fault-stats" })).stats ?? {},
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

/**
 * The current verification keys of the local topics, and of each fan-out topic's subscribers: a rotation document
 * (docs/CALLBACKS.md "Rotating the secret") is accepted here as by deliver, and its current key is the one shown.
 */
export function localVerificationKeys(
  signingSecret: string,
): Pick<LocalCloud, "verificationKeys" | "subscriberVerificationKeys"> {
  const topics = Object.entries(loadEnvironmentConfig("local").resolvedTopics);
  const current = (topic: string, subscriber?: string) =>
    verificationKeys(signingSecret, topic, subscriber)[0] as string;
  return {
    verificationKeys: Object.fromEntries(topics.map(([topic]) => [topic, current(topic)])),
    subscriberVerificationKeys: Object.fromEntries(
      topics
        .filter(([, config]) => (config.subscribers ?? []).length > 0)
        .map(([topic, config]) => [
          topic,
          Object.fromEntries((config.subscribers ?? []).map(({ id }) => [id, current(topic, id)])),
        ]),
    ),
  };
}
