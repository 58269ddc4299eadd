import type { SQSEvent, SQSRecord } from "aws-lambda";
import { mergeTopologies, type Topology } from "#shared/contract/topology.js";
import { ENV } from "#shared/runtime/env.js";
import { DEMO_QUEUE_ARN, dummyEnvironment } from "./environment.js";
import { BENCH_ENVIRONMENT, FUNCTIONS, type FunctionName } from "./names.js";

/**
 * Warm CPU per task for every function: the real handler factories (`createHandler`, `createRelayHandler`,
 * `createDeliverHandler`) over fakes. Runs in this process, so call it in a process of its own (`main` does).
 */
export async function warmCpu(iterations: number): Promise<Partial<Record<FunctionName, number>>> {
  setWarmEnvironment();
  const bench = benchOf(await loadModules());
  const store = new bench.m.memoryStore.MemoryTaskStore();
  const ids: string[] = [];
  const results: Partial<Record<FunctionName, number>> = {};
  results["add-task"] = await measureAdd(bench, store, iterations, ids);
  results["get-task"] = await measureGet(bench, store, iterations, ids);
  results["cancel-task"] = await measureCancel(bench, store, iterations, ids);
  // Relay and deliver: batches of 10 tasks in 10 groups, as the event source mappings hand them over.
  results.relay = await measureRelay(bench, Math.ceil(iterations / 10));
  results.deliver = await measureDeliver(bench, Math.ceil(iterations / 10));
  results.sweeper = await measureSweeper(bench, iterations);
  return results;
}

/** Every function's dummy environment in this one process. */
function setWarmEnvironment(): void {
  for (const name of FUNCTIONS) Object.assign(process.env, dummyEnvironment(name));
  // Every handler is imported into this one process: each reads its own section of one merged topology.
  process.env[ENV.topology] = JSON.stringify(
    FUNCTIONS.flatMap((name) => dummyEnvironment(name)[ENV.topology] ?? [])
      .map((raw) => JSON.parse(raw) as Topology)
      .reduce(mergeTopologies),
  );
}

/** Imported only once the environment is set: the handlers read it at import. */
async function loadModules() {
  return {
    memoryStore: await import("../../test/support/memory-task-store.js"),
    lambdaContext: await import("#local/runtime/lambda-context.js"),
    config: await import("#shared/config/index.js"),
    keys: await import("#shared/domain/keys.js"),
    messages: await import("#shared/domain/messages.js"),
    observability: await import("#shared/runtime/observability.js"),
    signing: await import("#shared/security/signing.js"),
    powertoolsMetrics: await import("@aws-lambda-powertools/metrics"),
    addTask: await import("#functions/add-task.js"),
    getTask: await import("#functions/get-task.js"),
    cancelTask: await import("#functions/cancel-task.js"),
    relay: await import("#functions/relay.js"),
    deliver: await import("#functions/deliver.js"),
    deliverServices: await import("#shared/services/deliver/index.js"),
    sweeper: await import("#functions/sweeper.js"),
    sweep: await import("#shared/domain/sweep.js"),
    scheduledRule: await import("#local/runtime/scheduled-rule.js"),
  };
}

type Modules = Awaited<ReturnType<typeof loadModules>>;
type Store = InstanceType<Modules["memoryStore"]["MemoryTaskStore"]>;

/** What every measurement shares: the modules, the bench environment's config, a logger, a Lambda context. */
function benchOf(m: Modules) {
  const config = m.config.loadEnvironmentConfig(BENCH_ENVIRONMENT);
  const topic = m.config.topicConfig(config, "demo");
  if (!topic) throw new Error("dev config has no demo topic");
  return {
    m,
    config,
    topic,
    logger: m.observability.createFunctionLogger(config),
    context: () => m.lambdaContext.createLambdaContext("bench", 30),
    // EMF lines go to stdout as on Lambda (main() sends this process's stdout to /dev/null).
    metrics: new m.powertoolsMetrics.Metrics({ namespace: "Punctual", serviceName: "punctual-dev" }),
  };
}

type Bench = ReturnType<typeof benchOf>;

const noop = async () => undefined;

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

/** An API Gateway (HTTP API, payload 2.0) event for the tasks route. */
function http(method: string, routeKey: string, body?: unknown, id?: string) {
  return {
    version: "2.0",
    routeKey,
    rawPath: "/v1/tasks",
    rawQueryString: "",
    headers: { "content-type": "application/json" },
    ...(id ? { pathParameters: { id } } : {}),
    requestContext: { http: { method, path: "/v1/tasks" }, requestId: "r", routeKey, stage: "$default" },
    ...(body ? { body: JSON.stringify(body) } : {}),
    isBase64Encoded: false,
  };
}

/** Adds scheduled tasks to `store`, their ids to `ids` (the get and cancel measurements use them). */
function measureAdd(bench: Bench, store: Store, iterations: number, ids: string[]): Promise<number> {
  const { m, config, logger, context } = bench;
  const addHandler = m.addTask.createHandler({
    store,
    timerQueue: { arm: noop },
    scheduler: { createTaskSchedule: noop },
    config,
    now: Date.now,
    logger,
  });
  return cpuPerTask(
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
}

function measureGet(bench: Bench, store: Store, iterations: number, ids: string[]): Promise<number> {
  const getHandler = bench.m.getTask.createHandler({
    store,
    config: bench.config,
    now: Date.now,
    logger: bench.logger,
  });
  return cpuPerTask(
    iterations,
    1,
    (i) => http("GET", "GET /v1/tasks/{id}", undefined, ids[Math.abs(i) % ids.length]),
    (event) => getHandler(event as never, bench.context()),
  );
}

function measureCancel(bench: Bench, store: Store, iterations: number, ids: string[]): Promise<number> {
  const cancelHandler = bench.m.cancelTask.createHandler({
    store,
    scheduler: { deleteTaskSchedule: noop },
    config: bench.config,
    now: Date.now,
    logger: bench.logger,
  });
  // Each measured call cancels a different scheduled task (the warm-up uses the tail of the list).
  return cpuPerTask(
    Math.min(iterations, ids.length - 200),
    1,
    (i) => http("DELETE", "DELETE /v1/tasks/{id}", undefined, ids[i >= 0 ? i : ids.length + i]),
    (event) => cancelHandler(event as never, bench.context()),
  );
}

/** A store holding 10 due tasks in 10 groups, all `status`. */
function batchStore(m: Modules, status: "scheduled" | "queued") {
  const s = new m.memoryStore.MemoryTaskStore();
  const now = Date.now();
  const tasks = Array.from({ length: 10 }, (_, g) => {
    const key = m.keys.makeTaskKey("demo", `o${g}`, now - 100, m.keys.newUlid(now));
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
}

/** The tasks' messages as the event source mapping hands them over (from the FIFO topic queue when `fifo`). */
function sqsEvent(m: Modules, tasks: { taskId: string; pk: string }[], fifo: boolean): SQSEvent {
  return {
    Records: tasks.map(
      (t, i) =>
        ({
          messageId: `m${i}`,
          receiptHandle: `h${i}`,
          body: m.messages.taskMessageBody(t.taskId),
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
  };
}

function measureRelay(bench: Bench, iterations: number): Promise<number> {
  const { m, logger } = bench;
  return cpuPerTask(
    iterations,
    10,
    () => {
      const { store: s, tasks } = batchStore(m, "scheduled");
      const handler = m.relay.createRelayHandler(
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
      return { handler, event: sqsEvent(m, tasks, false) };
    },
    ({ handler, event }) => handler(event, bench.context()),
  );
}

function measureDeliver(bench: Bench, iterations: number): Promise<number> {
  const { m, logger, topic, metrics } = bench;
  const signer = new m.signing.CallbackSigner(
    m.signing.parseSigningSecrets(dummyEnvironment("deliver").PUNCTUAL_SIGNING_SECRET as string),
  );
  return cpuPerTask(
    iterations,
    10,
    () => {
      const { store: s, tasks } = batchStore(m, "queued");
      const handler = m.deliver.createDeliverHandler(
        {
          store: s,
          topicQueue: { sendToDeadLetter: noop, setVisibility: async () => ({ failed: [] }) },
          bindingFor: () => ({ topic, queueUrl: "q", dlqUrl: "d" }),
          callbackClientFor: () => ({
            post: async () => ({ ok: true, status: 200, durationMs: 1 }),
            close: noop,
          }),
          signer: async () => signer,
          metrics: new m.deliverServices.PowertoolsDeliveryMetrics(() => metrics),
          logger,
        },
        logger,
      );
      return { handler, event: sqsEvent(m, tasks, true) };
    },
    async ({ handler, event }) => {
      const out = await handler(event, bench.context());
      if (out.batchItemFailures.length > 0) throw new Error("deliver reported failures");
    },
  );
}

// The sweeper works per run: one run over 100 unfinished, past-due tasks in 10 groups, all healthy (queued a
// second ago), so it reads the index and each group and repairs nothing — its usual minute. Per task examined.
const SWEPT_PER_RUN = 100;

function measureSweeper(bench: Bench, iterations: number): Promise<number> {
  const { m, config, logger, topic, metrics } = bench;
  return cpuPerTask(
    Math.ceil(iterations / SWEPT_PER_RUN),
    SWEPT_PER_RUN,
    async () =>
      m.sweeper.createSweeperHandler(
        {
          store: await healthyQueuedStore(m),
          topicQueue: {
            sendInOrder: async (_url, _group, taskIds) => ({ sent: taskIds }),
            sendToDeadLetter: noop,
          },
          timer: { armMany: async () => [] },
          topics: { demo: { config: topic, queueUrl: "q", dlqUrl: "d", stalledAfterMs: 30 * 60_000 } },
          scheduledGraceMs: (timer) => m.sweep.scheduledGraceMs(config, timer),
          logger,
        },
        logger,
        metrics,
      ),
    async (handler) => {
      const report = await handler(
        m.scheduledRule.scheduledEvent("arn:aws:events:us-east-1:000000000000:rule/sweeper"),
        bench.context(),
      );
      if (report.candidates !== SWEPT_PER_RUN || report.groupsRepaired !== 0)
        throw new Error(`unexpected sweep: ${JSON.stringify(report)}`);
    },
  );
}

/** SWEPT_PER_RUN past-due tasks in 10 groups, queued a second ago. */
async function healthyQueuedStore(m: Modules): Promise<Store> {
  const s = new m.memoryStore.MemoryTaskStore();
  const now = Date.now();
  for (let i = 0; i < SWEPT_PER_RUN; i++) {
    const key = m.keys.makeTaskKey("demo", `o${i % 10}`, now - 10 * 60_000 + i, m.keys.newUlid(now));
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
  return s;
}
