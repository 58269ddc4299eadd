import { monitorEventLoopDelay } from "node:perf_hooks";
import { DynamoDBClient, paginateScan } from "@aws-sdk/client-dynamodb";
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "#local/aws/emulators.js";
import { type FaultPolicy, type FaultStats, uniformFaultRates } from "#local/aws/faults.js";
import { DEFAULT_LOCAL_SIGNING_SECRET, type LocalCloud, startLocalCloud } from "#local/cloud/local-cloud.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { taskMessageSchema } from "#shared/domain/messages.js";
import type { TaskStatus } from "#shared/domain/task.js";
import { topicSigningKey } from "#shared/security/signing.js";
import { type BehaviourRates, DEFAULT_BEHAVIOUR_RATES, startFlakyReceiver } from "./flaky-receiver.js";
import { type AcceptedTask, type Findings, isTerminal, verify } from "./verify.js";
import {
  type PlannedBatch,
  type PlannedStep,
  type PlannedTask,
  planBatches,
  planWorkload,
  type WorkloadShape,
} from "./workload.js";

export interface ChaosOptions {
  readonly seed: number;
  readonly workload: WorkloadShape;
  /** Probability of an error fault on every AWS call (spread evenly over the kinds), plus `slowRate`. */
  readonly faultRate: number;
  readonly slowRate?: number;
  /** A full policy instead of `faultRate` (its seed is replaced by `seed`). */
  readonly faultPolicy?: FaultPolicy;
  /** How long a `timeout` fault holds a call before dropping it. */
  readonly faultTimeoutMs: number;
  /** Route Lambda's own pollers (ReceiveMessage / DeleteMessageBatch) through the faults too. */
  readonly faultEventSources: boolean;
  /** The functions' SDK attempts per call (AWS_MAX_ATTEMPTS; the SDK's default is 3). */
  readonly sdkMaxAttempts: number;
  readonly receiverRates?: BehaviourRates;
  /** Local config tightening: timer horizon/lead, topic attempts/backoff/callback timeout. */
  readonly configOverrides: Record<string, unknown>;
  readonly firingWindowSeconds: number;
  /** Visibility timeout of the queues the functions consume (0: keep the stack's 6 × function timeout). */
  readonly visibilityTimeoutSeconds: number;
  /** Requests the client keeps in flight. */
  readonly concurrency: number;
  /** Give up waiting for every task to finish this long after the last one was due. */
  readonly settleTimeoutMs: number;
  readonly log?: (line: string) => void;
  /** The functions' own log lines (JSON): printed as they come, or only counted for the report (default). */
  readonly functionLogs?: "print" | "count";
  /** Progress lines while running (default: none). */
  readonly progress?: (line: string) => void;
}

export interface ClientStats {
  /** POST requests sent (every attempt, copy and repeat). */
  readonly posts: number;
  /** Answers by status (`network` for a request that got none). */
  readonly postAnswers: Record<string, number>;
  /** Planned tasks the client gave up on (never acknowledged). */
  readonly notAccepted: number;
  /** Idempotent requests (copies, repeats, retries) answered with a different task than the first. */
  readonly idempotencyMismatches: number;
  readonly idempotentRepeats: number;
  readonly concurrentCopies: number;
  readonly schedulerPathTasks: number;
  readonly cancelRequests: number;
  /** Latency of POST requests (ms): p50, p99, max. */
  readonly postLatencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Multi-item POST /v1/tasks/batch (their requests are among `posts`, answers as `multi-batch <status>`). */
  readonly multiBatches: {
    /** Batches planned and sent (each once, before copies, retries and repeats). */
    readonly batches: number;
    /** Items in them (tasks), and batches holding more than one group (or ungrouped tasks along). */
    readonly items: number;
    readonly mixed: number;
    /** Requests for them: every copy, retry and repeat. */
    readonly requests: number;
    /** The items' answers inside 200 responses, by status. */
    readonly itemAnswers: Record<string, number>;
  };
}

export interface ChaosReport {
  readonly options: ChaosOptions;
  readonly findings: Findings;
  readonly client: ClientStats;
  readonly faults: FaultStats;
  readonly callbacks: { readonly total: number; readonly byBehaviour: Record<string, number> };
  /** Messages left on the timer and schedule dead-letter queues (a timer given up on). */
  readonly timerDeadLetters: number;
  readonly timings: {
    readonly submitMs: number;
    readonly settleMs: number;
    readonly totalMs: number;
    /**
     * Event-loop delay of the process running the functions, the client and the receiver (p99 / max, ms). A
     * long stall can make a callback the receiver answered in time look timed out to the pipeline: a duplicate.
     */
    readonly eventLoopDelayMs: { readonly p99: number; readonly max: number };
  };
  /** Whether every accepted task reached a final status before the deadline. */
  readonly settled: boolean;
  /** The functions' log lines by `LEVEL message` (when counted rather than printed). */
  readonly functionLogs: Record<string, number>;
}

const TOPIC = "demo";

/** `total` spread over the per-statement answers a DynamoDB batch can give inside an HTTP 200. */
function statementFaultRates(total: number): Record<string, number> {
  const codes = ["ConditionalCheckFailed", "InternalServerError", "ThrottlingError"];
  return Object.fromEntries(codes.map((code) => [code, total / codes.length]));
}

/**
 * One chaos run: a local cloud whose every AWS call may fail, a receiver that misbehaves, a client that sends
 * the planned work (retrying as a real client would, with its idempotency key when it has one), then a wait
 * until every accepted task is final (or the deadline), and the invariants checked from the outside.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const progress = options.progress ?? (() => undefined);
  const policy: FaultPolicy = {
    ...(options.faultPolicy ?? {
      rates: uniformFaultRates(options.faultRate, options.slowRate ?? 0),
      // Inside a PartiQL batch (deliver's starts and finishes, the batch add's INSERTs), single statements fail too,
      // each at the same rate.
      statementErrors: statementFaultRates(options.faultRate),
    }),
    seed: options.seed,
    timeoutMs: options.faultTimeoutMs,
    slowMs: options.faultPolicy?.slowMs ?? 150,
  };

  const previousMaxAttempts = process.env.AWS_MAX_ATTEMPTS;
  process.env.AWS_MAX_ATTEMPTS = String(options.sdkMaxAttempts);
  const functionLogs: Record<string, number> = {};
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  const restoreOutput = options.functionLogs === "print" ? () => undefined : countLogLines(functionLogs);
  let cloud: LocalCloud | undefined;
  const receiver = await startFlakyReceiver({
    seed: options.seed,
    rates: options.receiverRates ?? DEFAULT_BEHAVIOUR_RATES,
    slowMs: 500,
    signingSecret: topicSigningKey(DEFAULT_LOCAL_SIGNING_SECRET, TOPIC),
  });
  try {
    cloud = await startLocalCloud({
      apiPort: 0,
      awsPort: 0,
      faults: policy,
      faultEventSources: options.faultEventSources,
      configOverrides: options.configOverrides,
      firingWindowSeconds: options.firingWindowSeconds,
      signingSecret: DEFAULT_LOCAL_SIGNING_SECRET,
      log,
    });
    const raw = {
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 10,
    };
    const dynamodb = new DynamoDBClient({ ...raw, endpoint: cloud.endpoints.dynamodb });
    const sqs = new SQSClient({ ...raw, endpoint: cloud.endpoints.sqs });
    try {
      if (options.visibilityTimeoutSeconds > 0) {
        for (const mapping of cloud.eventSourceMappings) {
          await sqs.send(
            new SetQueueAttributesCommand({
              QueueUrl: mapping.queueUrl,
              Attributes: { VisibilityTimeout: String(options.visibilityTimeoutSeconds) },
            }),
          );
        }
      }
      const client = new ChaosClient(cloud.apiUrl, `${receiver.url}`, options.concurrency);
      const lanes = planWorkload(options.workload, options.seed);
      const runners = options.workload.batches
        ? planBatches(lanes, options.workload.batches, options.seed)
        : lanes.map((lane) => lane.map((task): PlannedStep => ({ kind: "task", task })));
      const submitStarted = Date.now();
      const ticker = setInterval(
        () => progress(`sending: ${client.acceptedCount()} accepted, ${client.stats().posts} requests`),
        5_000,
      );
      try {
        await Promise.all(runners.map((steps) => client.runSteps(steps)));
        await client.drain();
      } finally {
        clearInterval(ticker);
      }
      const submitMs = Date.now() - submitStarted;
      const accepted = client.accepted();
      progress(
        `sent in ${(submitMs / 1000).toFixed(1)} s: ${accepted.length} accepted; waiting for them to finish`,
      );

      const tableName = process.env.TABLE_NAME as string;
      const lastDue = Math.max(0, ...accepted.map((t) => parseTaskId(t.taskId)?.dueAtMs ?? 0));
      const deadline = Math.max(Date.now(), lastDue) + options.settleTimeoutMs;
      const settleStarted = Date.now();
      let { statuses, timers } = await scanTasks(dynamodb, tableName);
      let settled = false;
      for (;;) {
        const open = accepted.filter((t) => !isTerminal(statuses.get(t.taskId)));
        if (open.length === 0 && receiver.open() === 0) {
          settled = true;
          break;
        }
        if (Date.now() > deadline) break;
        progress(`waiting: ${open.length} of ${accepted.length} accepted tasks not final yet`);
        await sleep(open.length === 0 ? 200 : 3_000);
        ({ statuses, timers } = await scanTasks(dynamodb, tableName));
      }
      const settleMs = Date.now() - settleStarted;

      const faults = (await cloud.faults?.stats()) ?? {};
      const dlqUrls = queueUrls(cloud, (name) => name.includes("DeadLetter"));
      const topicDlqs = dlqUrls.filter((u) => u.endsWith(".fifo"));
      const timerDlqs = dlqUrls.filter((u) => !u.endsWith(".fifo"));
      const deadLetterQueue = new Set<string>();
      // A dead-letter message the sweeper is looking at (or whose receive answer a fault lost) is in flight for
      // up to its pointer visibility (60 s): invisible to a receive, but on the queue. Wait for those first, or
      // they would count as missing.
      for (const url of topicDlqs) await untilNoneInFlight(sqs, url, 90_000, progress);
      for (const url of topicDlqs) for (const id of await drainTaskIds(sqs, url)) deadLetterQueue.add(id);
      let timerDeadLetters = 0;
      for (const url of timerDlqs) timerDeadLetters += await approximateCount(sqs, url);

      const findings = verify(
        accepted,
        receiver.receipts,
        { statuses, deadLetterQueue },
        { nowMs: Date.now() },
      );
      const byBehaviour: Record<string, number> = {};
      for (const r of receiver.receipts) byBehaviour[r.behaviour] = (byBehaviour[r.behaviour] ?? 0) + 1;
      return {
        options,
        findings,
        client: {
          ...client.stats(),
          schedulerPathTasks: accepted.filter((t) => timers.get(t.taskId) === "schedule").length,
        },
        faults,
        callbacks: { total: receiver.receipts.length, byBehaviour },
        timerDeadLetters,
        timings: {
          submitMs,
          settleMs,
          totalMs: Date.now() - started,
          eventLoopDelayMs: {
            p99: Math.round(loopDelay.percentile(99) / 1e6),
            max: Math.round(loopDelay.max / 1e6),
          },
        },
        settled,
        functionLogs,
      };
    } finally {
      dynamodb.destroy();
      sqs.destroy();
    }
  } finally {
    await cloud?.stop();
    await receiver.stop();
    restoreOutput();
    loopDelay.disable();
    if (previousMaxAttempts === undefined) delete process.env.AWS_MAX_ATTEMPTS;
    else process.env.AWS_MAX_ATTEMPTS = previousMaxAttempts;
  }
}

/** A 2xx for a task: which task, when the client got it, and its due time. */
interface AddAnswer {
  readonly taskId: string;
  readonly atMs: number;
  readonly dueAt: string;
}

/** One item's result in a batch answer. */
interface BatchItemAnswer {
  readonly status: number;
  readonly task_id?: string;
  readonly due_at?: string;
}

/** When a task is due: after a delay, or at a named time (its group's previous task's). */
type DueSpec = { readonly due_at: string } | { readonly delay_seconds: number };

/**
 * A batch's item bodies, in request order, made once (every copy, retry and repeat sends exactly these). An item
 * due with its group's previous task names the same due: that task's `due_at` when it was accepted in an earlier
 * step, or the same `delay_seconds` when it is in this batch (the batch resolves every delay from one clock).
 */
export function batchBodies(
  items: readonly PlannedTask[],
  previousDue: ReadonlyMap<string | undefined, string>,
  body: (task: PlannedTask, due: DueSpec) => Record<string, unknown>,
): Record<string, unknown>[] {
  const lastInBatch = new Map<string, DueSpec>();
  return items.map((task) => {
    const group = task.group;
    const earlier = group !== undefined ? lastInBatch.get(group) : undefined;
    const before = group !== undefined ? previousDue.get(group) : undefined;
    const due: DueSpec = !task.sameDueAsPrevious
      ? { delay_seconds: task.delayMs / 1000 }
      : (earlier ?? (before ? { due_at: before } : { delay_seconds: task.delayMs / 1000 }));
    if (group !== undefined) lastInBatch.set(group, due);
    return body(task, due);
  });
}

function count(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** An HTTP answer as the chaos client sees it: status 0 when none came. */
interface HttpAnswer {
  readonly status: number;
  readonly json: unknown;
  readonly atMs: number;
  readonly sentAtMs: number;
}

/**
 * The client side: sends each lane's tasks in order (a group's acceptance order is its lane order), retries a
 * request that got a 5xx, a 429 or no answer — with the same idempotency key when the task has one, as a new
 * request otherwise — repeats idempotent requests (some concurrently, some later), and cancels some tasks.
 */
class ChaosClient {
  readonly #accepted = new Map<string, AcceptedTask & { cancel?: AcceptedTask["cancel"] }>();
  readonly #background: Promise<void>[] = [];
  readonly #answers: Record<string, number> = {};
  #posts = 0;
  #notAccepted = 0;
  #idempotencyMismatches = 0;
  #repeats = 0;
  #copies = 0;
  #cancels = 0;
  #multiBatches = 0;
  #multiBatchItems = 0;
  #mixedBatches = 0;
  #multiBatchRequests = 0;
  readonly #multiBatchItemAnswers: Record<string, number> = {};
  readonly #latencies: number[] = [];
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    private readonly apiUrl: string,
    private readonly receiverUrl: string,
    private readonly concurrency: number,
  ) {}

  acceptedCount(): number {
    return this.#accepted.size;
  }

  accepted(): AcceptedTask[] {
    return [...this.#accepted.values()];
  }

  stats(): ClientStats {
    return {
      posts: this.#posts,
      postAnswers: { ...this.#answers },
      notAccepted: this.#notAccepted,
      idempotencyMismatches: this.#idempotencyMismatches,
      idempotentRepeats: this.#repeats,
      concurrentCopies: this.#copies,
      schedulerPathTasks: 0,
      cancelRequests: this.#cancels,
      postLatencyMs: percentiles(this.#latencies),
      multiBatches: {
        batches: this.#multiBatches,
        items: this.#multiBatchItems,
        mixed: this.#mixedBatches,
        requests: this.#multiBatchRequests,
        itemAnswers: { ...this.#multiBatchItemAnswers },
      },
    };
  }

  /** A runner's steps one after another (each group's acceptance order is its lane order). */
  async runSteps(steps: readonly PlannedStep[]): Promise<void> {
    // The due time of each group's last accepted task: a task "due with the previous one" names it.
    const previousDue = new Map<string | undefined, string>();
    for (const step of steps) {
      if (step.kind === "task") await this.#sendTask(step.task, previousDue);
      else await this.#sendBatch(step.batch, previousDue);
    }
  }

  async #sendTask(task: PlannedTask, previousDue: Map<string | undefined, string>): Promise<void> {
    const previousDueAt = task.group !== undefined ? previousDue.get(task.group) : undefined;
    const dueAt = task.sameDueAsPrevious && previousDueAt ? previousDueAt : undefined;
    const body = this.#body(task, dueAt ? { due_at: dueAt } : { delay_seconds: task.delayMs / 1000 }, false);
    const headers: Record<string, string> =
      task.idempotencyKey && !task.viaBatch && !task.clientKey.endsWith("0")
        ? { "idempotency-key": task.idempotencyKey }
        : {};
    if (task.copies > 1) this.#copies += task.copies - 1;
    const answers = await Promise.all(
      Array.from({ length: task.copies }, () => this.#addWithRetries(task, body, headers)),
    );
    const first = this.#settle(task, answers);
    if (!first) return;
    if (task.group !== undefined) previousDue.set(task.group, first.dueAt);
    if (task.repeatAfterMs !== undefined) {
      this.#background.push(
        sleep(task.repeatAfterMs).then(async () => {
          this.#repeats++;
          const again = await this.#addWithRetries(task, body, headers);
          if (again && again.taskId !== first.taskId) this.#idempotencyMismatches++;
        }),
      );
    }
  }

  /**
   * A multi-item batch: its copies at once, each retried whole (same bodies, same keys) until every item answered
   * 2xx or a final 4xx. An item is accepted at its first 2xx in any copy; the next step starts once all settled.
   */
  async #sendBatch(batch: PlannedBatch, previousDue: Map<string | undefined, string>): Promise<void> {
    const bodies = batchBodies(batch.items, previousDue, (task, due) => this.#body(task, due, true));
    this.#multiBatches++;
    this.#multiBatchItems += batch.items.length;
    if (new Set(batch.items.map((t) => t.group)).size > 1) this.#mixedBatches++;
    if (batch.copies > 1) this.#copies += batch.copies - 1;
    const copies = await Promise.all(
      Array.from({ length: batch.copies }, () => this.#batchWithRetries(bodies)),
    );
    const firsts = batch.items.map((task, i) =>
      this.#settle(
        task,
        copies.map((answers) => answers[i]),
      ),
    );
    batch.items.forEach((task, i) => {
      const first = firsts[i];
      if (first && task.group !== undefined) previousDue.set(task.group, first.dueAt);
    });
    if (batch.repeatAfterMs === undefined) return;
    this.#background.push(
      sleep(batch.repeatAfterMs).then(async () => {
        this.#repeats++;
        const again = await this.#batchWithRetries(bodies);
        again.forEach((answer, i) => {
          const first = firsts[i];
          if (answer && first && answer.taskId !== first.taskId) this.#idempotencyMismatches++;
        });
      }),
    );
  }

  /** A task's add body; its key in the body for half the tasks, and always for a batch item. */
  #body(task: PlannedTask, due: DueSpec, inBatch: boolean): Record<string, unknown> {
    return {
      topic: TOPIC,
      ...due,
      content: {
        chaos_id: task.clientKey,
        ...(task.group !== undefined ? { order_id: task.group } : {}),
      },
      callback: { url: `${this.receiverUrl}/${task.path}/${task.clientKey}` },
      ...(task.idempotencyKey && (inBatch || task.viaBatch || task.clientKey.endsWith("0"))
        ? { idempotency_key: task.idempotencyKey }
        : {}),
    };
  }

  /**
   * A task's outcome from its copies' answers: accepted at the first 2xx (every copy must name the same task), or
   * not accepted at all; its cancel scheduled.
   */
  #settle(task: PlannedTask, answers: readonly (AddAnswer | undefined)[]): AddAnswer | undefined {
    const ok = answers.filter((a): a is AddAnswer => a !== undefined);
    if (ok.length === 0) {
      this.#notAccepted++;
      return undefined;
    }
    const first = ok.reduce((a, b) => (b.atMs < a.atMs ? b : a));
    if (ok.some((a) => a.taskId !== first.taskId)) this.#idempotencyMismatches++;
    this.#accepted.set(task.clientKey, {
      clientKey: task.clientKey,
      taskId: first.taskId,
      acceptedAtMs: first.atMs,
      laneOrder: this.#accepted.size,
    });
    if (task.cancelAfterMs !== undefined) {
      const at = Math.max(0, task.cancelAfterMs);
      this.#background.push(sleep(at).then(() => this.#cancel(task.clientKey, first.taskId)));
    }
    return first;
  }

  /** Waits for repeats and cancels still running in the background. */
  async drain(): Promise<void> {
    await Promise.all(this.#background);
  }

  async #addWithRetries(
    task: PlannedTask,
    body: Record<string, unknown>,
    headers: Record<string, string>,
  ): Promise<AddAnswer | undefined> {
    for (let attempt = 0; attempt < 8; attempt++) {
      if (attempt > 0) await sleep(Math.min(3_000, 100 * 2 ** attempt));
      const answer = task.viaBatch
        ? await this.#postAsBatch(body)
        : await this.#request("POST", "/v1/tasks", body, headers);
      this.#latencies.push(answer.atMs - answer.sentAtMs);
      this.#posts++;
      const key = `${task.viaBatch ? "batch " : ""}${answer.status === 0 ? "network" : String(answer.status)}`;
      this.#answers[key] = (this.#answers[key] ?? 0) + 1;
      if (answer.status === 200 || answer.status === 201) {
        const json = answer.json as { task_id: string; due_at: string };
        return { taskId: json.task_id, atMs: answer.atMs, dueAt: json.due_at };
      }
      // 4xx other than 429: the request itself is wrong, retrying cannot help (and the report shows it).
      if (answer.status >= 400 && answer.status < 500 && answer.status !== 429) return undefined;
    }
    return undefined;
  }

  /**
   * A one-item POST /v1/tasks/batch, answered as the single add would be: the item's status and body (a request
   * refused whole, or not answered, keeps its own status).
   */
  async #postAsBatch(body: Record<string, unknown>): Promise<HttpAnswer> {
    const answer = await this.#request("POST", "/v1/tasks/batch", { tasks: [body] });
    const item = (answer.json as { results?: { status: number }[] } | undefined)?.results?.[0];
    return answer.status === 200 && item ? { ...answer, status: item.status, json: item } : answer;
  }

  /**
   * One copy of a multi-item batch, retried whole with the same bodies until every item answered 2xx (its first
   * 2xx kept) or a 4xx other than 429 (final), at most 8 requests. Per item: its first 2xx, or undefined.
   */
  async #batchWithRetries(bodies: readonly Record<string, unknown>[]): Promise<(AddAnswer | undefined)[]> {
    const accepted: (AddAnswer | undefined)[] = bodies.map(() => undefined);
    const final = bodies.map(() => false);
    for (let attempt = 0; attempt < 8 && final.some((done) => !done); attempt++) {
      if (attempt > 0) await sleep(Math.min(3_000, 100 * 2 ** attempt));
      const answer = await this.#request("POST", "/v1/tasks/batch", { tasks: bodies });
      this.#latencies.push(answer.atMs - answer.sentAtMs);
      this.#posts++;
      this.#multiBatchRequests++;
      count(this.#answers, `multi-batch ${answer.status === 0 ? "network" : String(answer.status)}`);
      const results = (answer.json as { results?: BatchItemAnswer[] } | undefined)?.results;
      if (answer.status !== 200 || results?.length !== bodies.length) {
        // Refused whole (not a batch at all): nothing to retry.
        if (answer.status >= 400 && answer.status < 500 && answer.status !== 429) final.fill(true);
        continue;
      }
      results.forEach((item, i) => {
        count(this.#multiBatchItemAnswers, String(item.status));
        if (item.status === 200 || item.status === 201) {
          final[i] = true;
          const previous = accepted[i];
          if (previous && previous.taskId !== item.task_id) this.#idempotencyMismatches++;
          accepted[i] ??= { taskId: item.task_id ?? "", atMs: answer.atMs, dueAt: item.due_at ?? "" };
        } else if (item.status >= 400 && item.status < 500 && item.status !== 429) final[i] = true;
      });
    }
    return accepted;
  }

  async #cancel(clientKey: string, taskId: string): Promise<void> {
    this.#cancels++;
    let outcome: NonNullable<AcceptedTask["cancel"]>["outcome"] = "gave-up";
    let atMs = Date.now();
    let firstSentAtMs: number | undefined;
    let discarded = false;
    for (let attempt = 0; attempt < 10; attempt++) {
      if (attempt > 0) await sleep(Math.min(3_000, 100 * 2 ** attempt));
      const answer = await this.#request("DELETE", `/v1/tasks/${encodeURIComponent(taskId)}`);
      atMs = answer.atMs;
      firstSentAtMs ??= answer.sentAtMs;
      // A 200 for a dead-lettered task is a discard (failed → cancelled); the view still shows when it failed.
      discarded =
        answer.status === 200 && (answer.json as { failed_at?: string } | undefined)?.failed_at !== undefined;
      if (answer.status === 200) outcome = "cancelled";
      else if (answer.status === 409) outcome = "conflict";
      else if (answer.status === 404) outcome = "not-found";
      else continue;
      break;
    }
    const accepted = this.#accepted.get(clientKey);
    const discard = discarded && firstSentAtMs !== undefined ? { discardSentAtMs: firstSentAtMs } : {};
    if (accepted) this.#accepted.set(clientKey, { ...accepted, cancel: { outcome, atMs, ...discard } });
  }

  async #request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpAnswer> {
    await this.#slot();
    const sentAtMs = Date.now();
    try {
      const response = await fetch(`${this.apiUrl}${path}`, {
        method,
        headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      const atMs = Date.now();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, json, atMs, sentAtMs };
    } catch {
      return { status: 0, json: undefined, atMs: Date.now(), sentAtMs };
    } finally {
      this.#release();
    }
  }

  async #slot(): Promise<void> {
    if (this.#inFlight < this.concurrency) {
      this.#inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#inFlight--;
  }
}

/** Every task's status (and how its timer was armed), strongly consistent, from the emulator itself. */
async function scanTasks(
  dynamodb: DynamoDBClient,
  tableName: string,
): Promise<{ statuses: Map<string, TaskStatus>; timers: Map<string, string> }> {
  const statuses = new Map<string, TaskStatus>();
  const timers = new Map<string, string>();
  for await (const page of paginateScan(
    { client: dynamodb },
    {
      TableName: tableName,
      ConsistentRead: true,
      ProjectionExpression: "taskId, #s, #t",
      ExpressionAttributeNames: { "#s": "status", "#t": "timer" },
    },
  )) {
    for (const item of page.Items ?? []) {
      const id = item.taskId?.S;
      const status = item.status?.S;
      if (id && status) statuses.set(id, status as TaskStatus);
      if (id && item.timer?.S) timers.set(id, item.timer.S);
    }
  }
  return { statuses, timers };
}

function queueUrls(cloud: LocalCloud, predicate: (name: string) => boolean): string[] {
  const urls: string[] = [];
  for (const resource of cloud.physical.values()) {
    const name = resource.attributes.QueueName;
    const url = resource.attributes.QueueUrl;
    if (typeof name === "string" && typeof url === "string" && predicate(name)) urls.push(url);
  }
  return urls;
}

/** Reads (and deletes) every message of a dead-letter queue: the task ids it holds. */
async function drainTaskIds(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  const ids: string[] = [];
  for (let empty = 0; empty < 2; ) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      empty++;
      continue;
    }
    empty = 0;
    for (const message of messages) {
      try {
        const parsed = taskMessageSchema.safeParse(JSON.parse(message.Body ?? ""));
        if (parsed.success) ids.push(parsed.data.taskId);
      } catch {
        // not a task message: not ours to count
      }
    }
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
  return ids;
}

/** Waits (at most `limitMs`) until no message of the queue is in flight. */
async function untilNoneInFlight(
  sqs: SQSClient,
  queueUrl: string,
  limitMs: number,
  progress: (line: string) => void,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const out = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    const inFlight = Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    if (inFlight === 0 || Date.now() > deadline) return;
    progress(`waiting for ${inFlight} dead-letter message(s) in flight`);
    await sleep(1_000);
  }
}

async function approximateCount(sqs: SQSClient, queueUrl: string): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/**
 * Takes the functions' JSON log lines (Powertools writes them to stdout / stderr) out of the output and counts
 * them by level and message instead; anything else passes through. Returns the undo.
 */
function countLogLines(counts: Record<string, number>): () => void {
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write);
  streams.forEach((stream, i) => {
    const original = originals[i] as typeof stream.write;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = typeof chunk === "string" ? chunk : Buffer.isBuffer(chunk) ? chunk.toString("utf8") : "";
      if (!text.startsWith('{"level":'))
        return (original as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
      for (const line of text.split("\n")) {
        if (!line) continue;
        try {
          const entry = JSON.parse(line) as { level?: string; message?: string };
          const key = `${entry.level ?? "?"} ${entry.message ?? ""}`;
          counts[key] = (counts[key] ?? 0) + 1;
        } catch {
          counts["? unparsable log line"] = (counts["? unparsable log line"] ?? 0) + 1;
        }
      }
      const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof stream.write;
  });
  return () => {
    streams.forEach((stream, i) => {
      stream.write = originals[i] as typeof stream.write;
    });
  };
}

function percentiles(values: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? 0 };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
