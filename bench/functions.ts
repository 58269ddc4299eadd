/**
 * Per-function figures: bundle size (esbuild, PunctualFunction's options), cold-start init (a fresh `node`
 * importing the bundle, median of N) and warm CPU per task with every I/O stubbed (the handler as deployed —
 * middy, zod, Powertools, our services — over in-memory store, queues and HTTP, so what remains is our own code).
 *
 *   npx tsx bench/functions.ts [--runs 10] [--json out.json]
 *
 * Node 20 here; Lambda runs nodejs22.x on arm64 (Graviton), so absolute times differ there.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { build, type Metafile } from "esbuild";
import {
  BUNDLE_LEGAL_COMMENTS,
  BUNDLE_MAIN_FIELDS,
  BUNDLE_TARGET,
  bundledEnvironmentDefine,
  ESM_REQUIRE_BANNER,
  UNREACHED_CREDENTIAL_PROVIDERS,
} from "#cdk/lib/bundling.js";
import { API_ROUTES, type ApiRouteName, DEFAULT_ROUTE, routeVariables } from "#shared/api/routes.js";
import { mergeTopologies, type Topology } from "#shared/contract/topology.js";
import { ENV, type EnvName } from "#shared/runtime/env.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The pipeline's functions, and the API's from its route table (each row's `$default` included). */
const PIPELINE_FUNCTIONS = ["relay", "deliver", "sweeper"] as const;
const API_FUNCTIONS = [...API_ROUTES, DEFAULT_ROUTE];
export const FUNCTIONS = [...API_FUNCTIONS.map((route) => route.name), ...PIPELINE_FUNCTIONS];
export type FunctionName = ApiRouteName | (typeof PIPELINE_FUNCTIONS)[number];

/** A function's handler module: its route's entry for the API, `functions/<name>.ts` for the pipeline. */
function entryOf(name: FunctionName): string {
  return API_FUNCTIONS.find((route) => route.name === name)?.entry ?? `functions/${name}.ts`;
}

export interface FunctionFigures {
  readonly name: FunctionName;
  readonly bundleBytes: number;
  /** Of which the AWS SDK (@aws-sdk, @smithy, @aws-crypto): what the bundle weighs beyond our code and our libraries. */
  readonly sdkBytes: number;
  /** Largest contributors to the bundle: package (or our own code) → bytes in the output. */
  readonly topInputs: { readonly input: string; readonly bytes: number }[];
  readonly initMedianMs: number;
  readonly initRunsMs: number[];
  readonly warmCpuUsPerTask?: number;
}

/**
 * The environment the bench runs its functions as: their dummy variables name it and its topics, and each bundle is
 * built for it (a bundle carries only the environment it is built for: shared/config/environments/index.ts).
 */
export const BENCH_ENVIRONMENT = "dev";

/**
 * The stack's bundling (cdk/lib/bundling.ts), which PunctualFunction hands to esbuild, for `environmentName` (the
 * bench's own by default: a bundle built for another cannot load the config its dummy environment names).
 */
export async function bundle(
  name: FunctionName,
  outdir: string,
  environmentName = BENCH_ENVIRONMENT,
): Promise<{ file: string; metafile: Metafile }> {
  const file = path.join(outdir, name, "index.mjs");
  const result = await build({
    entryPoints: [path.join(ROOT, entryOf(name))],
    outfile: file,
    bundle: true,
    platform: "node",
    target: BUNDLE_TARGET,
    format: "esm",
    minify: true,
    sourcemap: false,
    mainFields: BUNDLE_MAIN_FIELDS,
    banner: { js: ESM_REQUIRE_BANNER },
    define: bundledEnvironmentDefine(environmentName),
    external: UNREACHED_CREDENTIAL_PROVIDERS,
    legalComments: BUNDLE_LEGAL_COMMENTS,
    metafile: true,
    logLevel: "error",
    absWorkingDir: ROOT,
  });
  return { file, metafile: result.metafile };
}

const AWS_SDK_INPUT = /node_modules\/(@aws-sdk|@smithy|@aws-crypto)\//;

export function sdkBytesOf(metafile: Metafile): number {
  let bytes = 0;
  for (const output of Object.values(metafile.outputs))
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs))
      if (AWS_SDK_INPUT.test(input)) bytes += bytesInOutput;
  return bytes;
}

/** Groups the metafile's inputs by package (`@aws-sdk/client-sqs`, `zod`…) or "our code". */
function topInputs(metafile: Metafile, n = 6): { input: string; bytes: number }[] {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const key = match ? (match[1] as string) : "our code";
      byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([input, bytes]) => ({ input, bytes }));
}

/** What each function's stack definition gives it, with dummy values (the contract's per-function list). */
export function dummyEnvironment(name: FunctionName): Record<string, string> {
  const queue = "https://sqs.us-east-1.amazonaws.com/000000000000";
  const common = {
    PUNCTUAL_ENV: BENCH_ENVIRONMENT,
    TABLE_NAME: "Punctual-dev-Tasks",
    POWERTOOLS_SERVICE_NAME: "punctual-dev",
    POWERTOOLS_METRICS_NAMESPACE: "Punctual",
    POWERTOOLS_LOG_LEVEL: "INFO",
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "bench",
    AWS_SECRET_ACCESS_KEY: "bench",
  };
  const dummies: Partial<Record<EnvName, string>> = {
    [ENV.timerQueueUrl]: `${queue}/timer`,
    [ENV.timerQueueArn]: "arn:aws:sqs:us-east-1:000000000000:timer",
    [ENV.scheduleGroupName]: "punctual-dev",
    [ENV.schedulerRoleArn]: "arn:aws:iam::000000000000:role/scheduler",
    [ENV.scheduleDlqArn]: "arn:aws:sqs:us-east-1:000000000000:schedule-dlq",
    // The sections the API's topic and replay routes read (the stack gives them every topic's).
    [ENV.topology]: JSON.stringify({
      topicQueues: { demo: `${queue}/demo.fifo` },
      topicMappings: {
        demo: {
          mappingUuid: "00000000-0000-4000-8000-000000000001",
          queueUrl: `${queue}/demo.fifo`,
          dlqUrl: `${queue}/demo-dlq.fifo`,
        },
      },
    } satisfies Topology),
  };
  const timer = {
    TIMER_QUEUE_URL: dummies[ENV.timerQueueUrl] as string,
    TIMER_QUEUE_ARN: dummies[ENV.timerQueueArn] as string,
  };
  const route = API_FUNCTIONS.find((r) => r.name === name);
  // An API function gets what its row's grants name (shared/api/routes.ts), as the stack gives it.
  if (route) {
    const variables = routeVariables(route).filter((v) => v !== ENV.tableName);
    return { ...common, ...Object.fromEntries(variables.map((v) => [v, dummies[v] as string])) };
  }
  switch (name) {
    case "relay":
      return {
        ...common,
        ...timer,
        [ENV.topology]: JSON.stringify({
          topicQueues: { demo: `${queue}/demo.fifo`, orders: `${queue}/orders.fifo` },
        } satisfies Topology),
      };
    case "sweeper":
      return {
        ...common,
        ...timer,
        TIMER_DLQ_URL: `${queue}/timer-dlq`,
        SCHEDULE_DLQ_URL: `${queue}/schedule-dlq`,
        [ENV.topology]: JSON.stringify({
          sweep: {
            demo: {
              queueUrl: `${queue}/demo.fifo`,
              dlqUrl: `${queue}/demo-dlq.fifo`,
              stalledAfterMs: 600_000,
              mappingUuid: "00000000-0000-4000-8000-000000000001",
            },
            orders: {
              queueUrl: `${queue}/orders.fifo`,
              dlqUrl: `${queue}/orders-dlq.fifo`,
              stalledAfterMs: 600_000,
              mappingUuid: "00000000-0000-4000-8000-000000000002",
            },
          },
        } satisfies Topology),
      };
    case "deliver":
      return {
        ...common,
        [ENV.topology]: JSON.stringify({
          deliveries: {
            [DEMO_QUEUE_ARN]: {
              topic: "demo",
              queueUrl: `${queue}/demo.fifo`,
              dlqUrl: `${queue}/demo-dlq.fifo`,
            },
          },
        } satisfies Topology),
        // The inline form: the ARN form would start a Secrets Manager call during init (it overlaps init on AWS).
        PUNCTUAL_SIGNING_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      };
  }
  throw new Error(`no environment for ${name}`);
}
const DEMO_QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:demo.fifo";

/** Module init of a bundle in a fresh process: time to import it, measured inside that process. */
export function coldInitMs(name: FunctionName, file: string): number {
  const script = `const t=performance.now();await import(${JSON.stringify(file)});process.stdout.write(String(performance.now()-t));process.exit(0);`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { PATH: process.env.PATH, ...dummyEnvironment(name) },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  return Number(out);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

/** CPU µs per task of `run` (after a warm-up), `tasksPerCall` tasks per call, setup excluded. */
async function cpuPerTask<T>(
  iterations: number,
  tasksPerCall: number,
  setup: (i: number) => T | Promise<T>,
  run: (input: T) => Promise<unknown>,
): Promise<number> {
  for (let i = 0; i < Math.min(200, iterations); i++) await run(await setup(-1 - i));
  let total = 0;
  for (let i = 0; i < iterations; i++) {
    const input = await setup(i);
    const before = process.cpuUsage();
    await run(input);
    const used = process.cpuUsage(before);
    total += used.user + used.system;
  }
  return total / (iterations * tasksPerCall);
}

/**
 * Warm CPU per task for every function: the real handler factories (`createHandler`, `createRelayHandler`,
 * `createDeliverHandler`) over fakes. Runs in this process, so call it in a process of its own (`main` does).
 */
async function warmCpu(iterations: number): Promise<Partial<Record<FunctionName, number>>> {
  for (const name of FUNCTIONS) Object.assign(process.env, dummyEnvironment(name));
  // Every handler is imported into this one process: each reads its own section of one merged topology.
  process.env[ENV.topology] = JSON.stringify(
    FUNCTIONS.flatMap((name) => dummyEnvironment(name)[ENV.topology] ?? [])
      .map((raw) => JSON.parse(raw) as Topology)
      .reduce(mergeTopologies),
  );
  const { MemoryTaskStore } = await import("../test/support/memory-task-store.js");
  const { createLambdaContext } = await import("#local/runtime/lambda-context.js");
  const { loadEnvironmentConfig, topicConfig } = await import("#shared/config/index.js");
  const { makeTaskKey, newUlid } = await import("#shared/domain/keys.js");
  const { taskMessageBody } = await import("#shared/domain/messages.js");
  const { createFunctionLogger } = await import("#shared/runtime/observability.js");
  const { CallbackSigner, parseSigningSecrets } = await import("#shared/security/signing.js");
  const { Metrics } = await import("@aws-lambda-powertools/metrics");
  const addTask = await import("#functions/add-task.js");
  const getTask = await import("#functions/get-task.js");
  const cancelTask = await import("#functions/cancel-task.js");
  const relay = await import("#functions/relay.js");
  const deliver = await import("#functions/deliver.js");
  const { PowertoolsDeliveryMetrics } = await import("#shared/services/deliver/index.js");
  const sweeper = await import("#functions/sweeper.js");
  const { scheduledGraceMs } = await import("#shared/domain/sweep.js");
  const { scheduledEvent } = await import("#local/runtime/scheduled-rule.js");

  const config = loadEnvironmentConfig(BENCH_ENVIRONMENT);
  const logger = createFunctionLogger(config);
  const context = () => createLambdaContext("bench", 30);
  const noop = async () => undefined;
  const store = new MemoryTaskStore();
  const http = (method: string, routeKey: string, body?: unknown, id?: string) => ({
    version: "2.0",
    routeKey,
    rawPath: "/v1/tasks",
    rawQueryString: "",
    headers: { "content-type": "application/json" },
    ...(id ? { pathParameters: { id } } : {}),
    requestContext: { http: { method, path: "/v1/tasks" }, requestId: "r", routeKey, stage: "$default" },
    ...(body ? { body: JSON.stringify(body) } : {}),
    isBase64Encoded: false,
  });
  const ids: string[] = [];
  const results: Partial<Record<FunctionName, number>> = {};

  const addHandler = addTask.createHandler({
    store,
    timerQueue: { arm: noop },
    scheduler: { createTaskSchedule: noop },
    config,
    now: Date.now,
    logger,
  });
  results["add-task"] = await cpuPerTask(
    iterations,
    1,
    (i) =>
      http("POST", "POST /v1/tasks", {
        topic: "demo",
        delay_seconds: 60,
        content: { order_id: `o${i % 100}`, amount: 42, note: "bench" },
        callback: { url: "https://example.com/hook" },
      }),
    async (event) => {
      const out = (await addHandler(event as never, context())) as { statusCode: number; body: string };
      if (out.statusCode !== 201) throw new Error(`add-task answered ${out.statusCode}: ${out.body}`);
      ids.push(JSON.parse(out.body).task_id);
    },
  );

  const getHandler = getTask.createHandler({ store, logger });
  results["get-task"] = await cpuPerTask(
    iterations,
    1,
    (i) => http("GET", "GET /v1/tasks/{id}", undefined, ids[Math.abs(i) % ids.length]),
    (event) => getHandler(event as never, context()),
  );

  const cancelHandler = cancelTask.createHandler({
    store,
    scheduler: { deleteTaskSchedule: noop },
    config,
    now: Date.now,
    logger,
  });
  // Each measured call cancels a different scheduled task (the warm-up uses the tail of the list).
  results["cancel-task"] = await cpuPerTask(
    Math.min(iterations, ids.length - 200),
    1,
    (i) => http("DELETE", "DELETE /v1/tasks/{id}", undefined, ids[i >= 0 ? i : ids.length + i]),
    (event) => cancelHandler(event as never, context()),
  );

  // Relay and deliver: batches of 10 tasks in 10 groups, as the event source mappings hand them over.
  const topic = topicConfig(config, "demo");
  if (!topic) throw new Error("dev config has no demo topic");
  const batchStore = (status: "scheduled" | "queued") => {
    const s = new MemoryTaskStore();
    const now = Date.now();
    const tasks = Array.from({ length: 10 }, (_, g) => {
      const key = makeTaskKey("demo", `o${g}`, now - 100, newUlid(now));
      const task = {
        ...key,
        groupValue: `o${g}`,
        status,
        acceptedAtMs: now - 5000,
        content: '{"order_id":"o1","amount":42,"note":"bench"}',
        callbackUrl: "https://example.com/hook",
        timer: "queue" as const,
        attempts: 0,
      };
      s.tasks.set(key.taskId, task);
      return task;
    });
    return { store: s, tasks };
  };
  const sqsEvent = (tasks: { taskId: string; pk: string }[], fifo: boolean): SQSEvent => ({
    Records: tasks.map(
      (t, i) =>
        ({
          messageId: `m${i}`,
          receiptHandle: `h${i}`,
          body: taskMessageBody(t.taskId),
          attributes: {
            ApproximateReceiveCount: "1",
            SentTimestamp: "0",
            SenderId: "bench",
            ApproximateFirstReceiveTimestamp: "0",
            ...(fifo
              ? { MessageGroupId: t.pk, MessageDeduplicationId: t.taskId, SequenceNumber: String(i) }
              : {}),
          },
          messageAttributes: {},
          md5OfBody: "",
          eventSource: "aws:sqs",
          eventSourceARN: DEMO_QUEUE_ARN,
          awsRegion: "us-east-1",
        }) satisfies SQSRecord,
    ),
  });

  const relayIterations = Math.ceil(iterations / 10);
  results.relay = await cpuPerTask(
    relayIterations,
    10,
    () => {
      const { store: s, tasks } = batchStore("scheduled");
      const handler = relay.createRelayHandler(
        {
          store: s,
          topicQueue: {
            sendGroupsInOrder: async (_url, groups) =>
              new Map(groups.map((g) => [g.groupId, { sent: g.taskIds }])),
          },
          timer: { rearm: async () => ({ failedTaskIds: [] }) },
          topicQueueUrls: { demo: "https://sqs.us-east-1.amazonaws.com/000000000000/demo.fifo" },
          logger,
        },
        logger,
      );
      return { handler, event: sqsEvent(tasks, false) };
    },
    ({ handler, event }) => handler(event, context()),
  );

  const signer = new CallbackSigner(
    parseSigningSecrets(dummyEnvironment("deliver").PUNCTUAL_SIGNING_SECRET as string),
  );
  // EMF lines go to stdout as on Lambda (main() sends this process's stdout to /dev/null).
  const metrics = new Metrics({ namespace: "Punctual", serviceName: "punctual-dev" });
  results.deliver = await cpuPerTask(
    relayIterations,
    10,
    () => {
      const { store: s, tasks } = batchStore("queued");
      const handler = deliver.createDeliverHandler(
        {
          store: s,
          topicQueue: { sendToDeadLetter: noop, setVisibility: async () => ({ failed: [] }) },
          bindingFor: () => ({ topic, queueUrl: "q", dlqUrl: "d" }),
          callbackClientFor: () => ({
            post: async () => ({ ok: true, status: 200, durationMs: 1 }),
            close: noop,
          }),
          signer: async () => signer,
          metrics: new PowertoolsDeliveryMetrics(() => metrics),
          logger,
        },
        logger,
      );
      return { handler, event: sqsEvent(tasks, true) };
    },
    async ({ handler, event }) => {
      const out = await handler(event, context());
      if (out.batchItemFailures.length > 0) throw new Error("deliver reported failures");
    },
  );

  // The sweeper works per run: one run over 100 unfinished, past-due tasks in 10 groups, all healthy (queued a
  // second ago), so it reads the index and each group and repairs nothing — its usual minute. Per task examined.
  const sweptPerRun = 100;
  results.sweeper = await cpuPerTask(
    Math.ceil(iterations / sweptPerRun),
    sweptPerRun,
    async () => {
      const s = new MemoryTaskStore();
      const now = Date.now();
      for (let i = 0; i < sweptPerRun; i++) {
        const key = makeTaskKey("demo", `o${i % 10}`, now - 10 * 60_000 + i, newUlid(now));
        await s.putNew({
          ...key,
          groupValue: `o${i % 10}`,
          status: "queued",
          acceptedAtMs: now - 20 * 60_000,
          queuedAtMs: now - 1_000,
          content: "{}",
          callbackUrl: "https://example.com/hook",
          timer: "queue",
          attempts: 0,
        });
      }
      return sweeper.createSweeperHandler(
        {
          store: s,
          topicQueue: {
            sendInOrder: async (_url, _group, taskIds) => ({ sent: taskIds }),
            sendToDeadLetter: noop,
          },
          timer: { armMany: async () => [] },
          topics: { demo: { config: topic, queueUrl: "q", dlqUrl: "d", stalledAfterMs: 30 * 60_000 } },
          scheduledGraceMs: (timer) => scheduledGraceMs(config, timer),
          logger,
        },
        logger,
        metrics,
      );
    },
    async (handler) => {
      const report = await handler(
        scheduledEvent("arn:aws:events:us-east-1:000000000000:rule/sweeper"),
        context(),
      );
      if (report.candidates !== sweptPerRun || report.groupsRepaired !== 0)
        throw new Error(`unexpected sweep: ${JSON.stringify(report)}`);
    },
  );
  return results;
}

export async function measureFunctions(options: {
  runs: number;
  warmIterations: number;
}): Promise<FunctionFigures[]> {
  const outdir = mkdtempSync(path.join(tmpdir(), "punctual-bench-fn-"));
  try {
    // Warm figures in a child of its own: the handlers read their environment at import.
    const warmFile = path.join(outdir, "warm.json");
    execFileSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--no-warnings",
        fileURLToPath(import.meta.url),
        "--warm-only",
        String(options.warmIterations),
        warmFile,
      ],
      { stdio: ["ignore", "ignore", "inherit"], cwd: ROOT },
    );
    const warm = JSON.parse(
      await import("node:fs").then((fs) => fs.readFileSync(warmFile, "utf8")),
    ) as Partial<Record<FunctionName, number>>;
    const figures: FunctionFigures[] = [];
    for (const name of FUNCTIONS) {
      const { file, metafile } = await bundle(name, outdir);
      const initRunsMs = Array.from(
        { length: options.runs },
        () => Math.round(coldInitMs(name, file) * 10) / 10,
      );
      figures.push({
        name,
        bundleBytes: statSync(file).size,
        sdkBytes: sdkBytesOf(metafile),
        topInputs: topInputs(metafile),
        initMedianMs: median(initRunsMs),
        initRunsMs,
        ...(warm[name] === undefined ? {} : { warmCpuUsPerTask: Math.round(warm[name] * 10) / 10 }),
      });
    }
    return figures;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const warmOnly = args.indexOf("--warm-only");
  if (warmOnly >= 0) {
    const results = await warmCpu(Number(args[warmOnly + 1]));
    writeFileSync(args[warmOnly + 2] as string, JSON.stringify(results));
    return;
  }
  const runsAt = args.indexOf("--runs");
  const jsonAt = args.indexOf("--json");
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 10;
  const figures = await measureFunctions({ runs, warmIterations: 2000 });
  if (jsonAt >= 0) writeFileSync(args[jsonAt + 1] as string, JSON.stringify(figures, null, 2));
  console.log(
    "| Function | Bundle (KB) | of which AWS SDK (KB) | Cold init median (ms) | Warm CPU per task (µs) | Largest inputs (KB) |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | --- |");
  for (const f of figures) {
    const top = f.topInputs.map((t) => `${t.input} ${(t.bytes / 1024).toFixed(0)}`).join(", ");
    console.log(
      `| ${f.name} | ${(f.bundleBytes / 1024).toFixed(1)} | ${(f.sdkBytes / 1024).toFixed(1)} | ${f.initMedianMs} | ${f.warmCpuUsPerTask ?? "—"} | ${top} |`,
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
