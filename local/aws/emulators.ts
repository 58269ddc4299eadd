import { mkdirSync } from "node:fs";
import type http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { SQSClient } from "@aws-sdk/client-sqs";
import { buildApp, interceptLocalhostDns } from "fauxqs";
import { DataFileError } from "#local/runtime/data-file-error.js";
import { createSqsTargetSender, startSchedulerEmulator } from "#local/scheduler/emulator.js";
import { withConditionFailureItems } from "./condition-failure-item.js";
import { guardingDynalite } from "./dynalite-guard.js";
import { startDynalite } from "./dynalite-store.js";
import { AWS_SERVICES, FaultInjector, type FaultPolicy, type FaultStats } from "./faults.js";
import { checkBodiesAsSqsDoes } from "./fauxqs-bodies.js";
import { deduplicateWithinGroupsAsSqsDoes } from "./fauxqs-dedup.js";
import { releaseDelayedMessagesByDueTime } from "./fauxqs-delays.js";
import { createFauxqsDirect } from "./fauxqs-direct.js";
import { receiveFifoGroupsAsSqsDoes } from "./fauxqs-fifo.js";
import { refuseSendParametersSqsRefuses } from "./fauxqs-parameters.js";
import { refuseVisibilityPastReceipt } from "./fauxqs-visibility.js";
import { type AwsService, startGateway, startServiceProxy } from "./gateway.js";
import {
  createInProcessDispatcher,
  type InProcessAnswer,
  type InProcessRequest,
  type RequestListener,
} from "./in-process.js";
import { withPartiql } from "./partiql.js";
import { refusingWebPages } from "./web-pages.js";

export const LOCAL_REGION = "us-east-1";
export const LOCAL_ACCOUNT = "000000000000";
export const LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" } as const;

export interface EmulatorOptions {
  readonly host?: string;
  /** Port of the single AWS endpoint (0 = any). */
  readonly gatewayPort?: number;
  /** Keep DynamoDB data and schedules here across restarts (SQS messages are not kept; see docs/OPERATIONS.md, "Where it differs from AWS"). */
  readonly dataDir?: string;
  /** Reproduce Scheduler's late firing: fire anywhere within N seconds after the at() time. */
  readonly firingWindowSeconds?: number;
  /**
   * Start one fault-injecting proxy per service (see `faultEndpoints`) with this policy. Absent: no proxy, no
   * overhead. `faultsAtGateway` also injects them at the single endpoint.
   */
  readonly faults?: FaultPolicy;
  readonly faultsAtGateway?: boolean;
  /** Where the gateway sends Lambda API calls (the local cloud's mapping emulator, in its main process). */
  readonly lambdaUrl?: string;
  readonly log?: (line: string) => void;
}

export interface RunningEmulators {
  readonly gatewayUrl: string;
  readonly endpoints: Readonly<Record<AwsService, string>>;
  /** The fault-injecting proxies in front of `endpoints`, when started with `faults`. */
  readonly faultEndpoints?: Readonly<Record<AwsService, string>>;
  /** Replaces the fault policy (a policy without rates turns faults off); no-op without `faults`. */
  setFaults(policy: FaultPolicy): void;
  faultStats(): FaultStats;
  /** Serves one call without a socket (the local runtime's fast path, local/aws/in-process.ts). */
  dispatch(request: InProcessRequest): Promise<InProcessAnswer>;
  stop(): Promise<void>;
}

/** DynamoDB (dynalite), SQS (fauxqs) and EventBridge Scheduler (ours), plus the single gateway endpoint. */
export async function startEmulators(options: EmulatorOptions = {}): Promise<RunningEmulators> {
  resolveLocalhostSubdomains();
  const host = options.host ?? "127.0.0.1";
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });

  const dynamo = await createDynalite(options.dataDir);
  const faults = options.faults ? new FaultInjector(options.faults) : undefined;
  const dynamoUrl = await serveDynalite(dynamo, host, faults);
  const fauxqs = await startFauxqs(host);
  const scheduler = await startScheduler(host, options, fauxqs.client);

  const endpoints = { dynamodb: dynamoUrl, sqs: fauxqs.url, scheduler: scheduler.url };
  const gateway = await startGateway({
    host,
    port: options.gatewayPort ?? 0,
    upstreams: endpoints,
    ...(options.lambdaUrl ? { lambdaUpstream: options.lambdaUrl } : {}),
    ...(faults && options.faultsAtGateway ? { faults } : {}),
  });
  const { proxies, faultEndpoints } = await startFaultProxies(host, endpoints, faults);
  const dispatch = createInProcessDispatcher(
    {
      dynamodb: listenerOf(dynamo),
      sqs: fauxqs.listener,
      scheduler: scheduler.requestListener,
    },
    faults,
    fauxqs.direct.call,
  );

  return {
    gatewayUrl: gateway.url,
    endpoints,
    ...(faultEndpoints ? { faultEndpoints } : {}),
    setFaults: (policy) => faults?.setPolicy(policy),
    faultStats: () => faults?.stats() ?? {},
    dispatch,
    stop: async () => {
      await Promise.all(proxies.map((p) => p.stop()));
      await gateway.stop();
      await scheduler.stop();
      fauxqs.client.destroy();
      await fauxqs.app.close();
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
}

async function createDynalite(dataDir: string | undefined): Promise<http.Server> {
  const dbPath = dataDir ? path.join(dataDir, "dynamodb") : undefined;
  const { server, store } = startDynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(dbPath ? { path: dbPath } : {}),
  });
  if (dbPath) await openedOrRefused(store.db, dbPath);
  return server;
}

/**
 * LevelDB opens on its own, and dynalite never asks how that went: a damaged `--data` (an empty CURRENT file) let
 * the emulators report ready, then stop at the first call with "Database is closed", which `npm start` could only
 * put down to a full disk. Waiting for the open here names the directory and LevelDB's own reason instead.
 */
async function openedOrRefused(db: { open(): Promise<void> }, dbPath: string): Promise<void> {
  try {
    await db.open();
  } catch (error) {
    const cause = (error as Error).cause as (Error & { code?: string }) | undefined;
    const reason = cause?.message ?? (error as Error).message;
    if (cause?.code === "LEVEL_LOCKED") {
      // Our own lock file (local-cloud.pid) was deleted or is on another machine's view of a shared disk.
      throw new DataFileError(
        dbPath,
        `${dbPath} (the local DynamoDB's LevelDB) is open in another process (${reason}): stop the local ` +
          "cloud using it, or pass another --data <dir>",
      );
    }
    throw new DataFileError(
      dbPath,
      `${dbPath} (the local DynamoDB's LevelDB) cannot be opened (${reason}); restore that directory, or move ` +
        "it away to start with empty tables (without the tasks it held)",
    );
  }
}

async function serveDynalite(
  dynamo: http.Server,
  host: string,
  faults: FaultInjector | undefined,
): Promise<string> {
  // dynalite has no PartiQL: BatchExecuteStatement is answered in front of it (local/aws/partiql.ts), on every
  // path to it (its socket, the fault proxies behind that, and the in-process fast path, which use its listener).
  // A request dynalite throws on is answered, not left to stop the emulators (local/aws/dynalite-guard.ts): guarded
  // under the PartiQL layer, whose statements reach dynalite from a promise (a throw there was an unhandled
  // rejection, which stopped the thread as well).
  const dynaliteListener = listenerOf(dynamo);
  dynamo.removeAllListeners("request");
  const guarded = guardingDynalite(withConditionFailureItems(dynaliteListener));
  dynamo.on("request", refusingWebPages(withPartiql(guarded, faults ? { faults } : {})));
  await new Promise<void>((resolve) => dynamo.listen(0, host, () => resolve()));
  return `http://${host}:${(dynamo.address() as AddressInfo).port}`;
}

type BuildAppStores = NonNullable<NonNullable<Parameters<typeof buildApp>[0]>["stores"]>;

async function startFauxqs(host: string) {
  await receiveFifoGroupsAsSqsDoes();
  await deduplicateWithinGroupsAsSqsDoes();
  await releaseDelayedMessagesByDueTime();
  await refuseVisibilityPastReceipt();
  await refuseSendParametersSqsRefuses();
  await checkBodiesAsSqsDoes();
  // fauxqs's own app (what its startFauxqs serves), so that the fast path can reach its request listener, on a
  // store the fast path also calls the hot SQS actions on directly (local/aws/fauxqs-direct.ts). The app makes
  // its own SNS and S3 stores when they are not given.
  const direct = await createFauxqsDirect();
  const app = buildApp({ logger: false, stores: { sqsStore: direct.store } as BuildAppStores });
  // fastify's listener, behind the refusal of web pages on its socket; the fast path calls it itself.
  const listener = listenerOf(app.server);
  app.server.removeAllListeners("request");
  app.server.on("request", refusingWebPages(listener));
  await app.listen({ port: 0, host });
  const port = (app.server.address() as AddressInfo).port;
  const url = `http://${host}:${port}`;
  const client = new SQSClient({
    region: LOCAL_REGION,
    endpoint: `http://sqs.${LOCAL_REGION}.localhost:${port}`,
    credentials: LOCAL_CREDENTIALS,
  });
  return { app, url, client, listener, direct };
}

function startScheduler(host: string, options: EmulatorOptions, sqsClient: SQSClient) {
  return startSchedulerEmulator({
    host,
    port: 0,
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT,
    sqs: createSqsTargetSender(sqsClient),
    firingWindowSeconds: options.firingWindowSeconds ?? 0,
    ...(options.dataDir ? { persistencePath: path.join(options.dataDir, "schedules.json") } : {}),
    ...(options.log ? { logger: options.log } : {}),
  });
}

async function startFaultProxies(
  host: string,
  endpoints: Readonly<Record<AwsService, string>>,
  faults: FaultInjector | undefined,
) {
  const proxies = faults
    ? await Promise.all(
        AWS_SERVICES.map((service) =>
          startServiceProxy({ host, service, upstream: endpoints[service], faults }),
        ),
      )
    : [];
  const faultEndpoints = faults
    ? (Object.fromEntries(AWS_SERVICES.map((s, i) => [s, proxies[i]?.url])) as Record<AwsService, string>)
    : undefined;
  return { proxies, faultEndpoints };
}

/** The function an emulator's HTTP server runs for each request. */
function listenerOf(server: http.Server): RequestListener {
  const [listener] = server.listeners("request");
  if (!listener) throw new Error("emulator server has no request listener");
  return listener as RequestListener;
}

let localhostDnsPatched = false;
/**
 * fauxqs names its queues `http://sqs.<region>.localhost:<port>/…`, and the SQS SDK sends every call to the
 * queue URL's host; glibc does not resolve `*.localhost`, so this process resolves it to 127.0.0.1 (fauxqs's own
 * documented fix). Callbacks are unaffected: the SSRF policy refuses `*.localhost` unless allow-listed.
 */
export function resolveLocalhostSubdomains(): void {
  if (localhostDnsPatched) return;
  interceptLocalhostDns();
  localhostDnsPatched = true;
}
