import { monitorEventLoopDelay } from "node:perf_hooks";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "#local/aws/emulators.js";
import { type FaultPolicy, type FaultStats, uniformFaultRates } from "#local/aws/faults.js";
import { DEFAULT_LOCAL_SIGNING_SECRET, type LocalCloud, startLocalCloud } from "#local/cloud/local-cloud.js";
import { topicSigningKey } from "#shared/security/signing.js";
import { ChaosClient, TOPIC } from "./engine/client.js";
import { collectDeadLetters, waitUntilSettled } from "./engine/end-state.js";
import {
  type BehaviourRates,
  DEFAULT_BEHAVIOUR_RATES,
  type FlakyReceiver,
  type Receipt,
  startFlakyReceiver,
} from "./flaky-receiver.js";
import { type Findings, verify } from "./verify.js";
import { type PlannedStep, planBatches, planWorkload, type WorkloadShape } from "./workload.js";

export interface ChaosOptions {
  readonly seed: number;
  readonly workload: WorkloadShape;
  /** Probability of an error fault on every AWS call (spread evenly over the kinds), plus `slowRate`. */
  readonly faultRate: number;
  readonly slowRate?: number;
  /**
   * SendMessageBatch entries refused one by one at `faultRate` inside a 200 while the call's other entries land
   * (local/aws/batch-entry-faults.ts), in this shape; absent: none.
   */
  readonly batchEntryFaults?: "independent" | "stopGroup";
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
    cloud = await startChaosCloud(options);
    const report = await runAgainst(cloud, receiver, options);
    return {
      ...report,
      timings: {
        ...report.timings,
        totalMs: Date.now() - started,
        eventLoopDelayMs: {
          p99: Math.round(loopDelay.percentile(99) / 1e6),
          max: Math.round(loopDelay.max / 1e6),
        },
      },
      functionLogs,
    };
  } finally {
    await cloud?.stop();
    await receiver.stop();
    restoreOutput();
    loopDelay.disable();
    if (previousMaxAttempts === undefined) delete process.env.AWS_MAX_ATTEMPTS;
    else process.env.AWS_MAX_ATTEMPTS = previousMaxAttempts;
  }
}

/** The report but for what `runChaos` itself measures: the total time, the event-loop delay, the log lines. */
type RunResult = Omit<ChaosReport, "timings" | "functionLogs"> & {
  readonly timings: Pick<ChaosReport["timings"], "submitMs" | "settleMs">;
};

function faultPolicyOf(options: ChaosOptions): FaultPolicy {
  return {
    ...(options.faultPolicy ?? {
      rates: uniformFaultRates(options.faultRate, options.slowRate ?? 0),
      // Inside a PartiQL batch (deliver's starts and finishes, the batch add's INSERTs), single statements fail too,
      // each at the same rate.
      statementErrors: statementFaultRates(options.faultRate),
      ...(options.batchEntryFaults && {
        batchEntryErrors: { rate: options.faultRate, shape: options.batchEntryFaults },
      }),
    }),
    seed: options.seed,
    timeoutMs: options.faultTimeoutMs,
    slowMs: options.faultPolicy?.slowMs ?? 150,
  };
}

function startChaosCloud(options: ChaosOptions): Promise<LocalCloud> {
  return startLocalCloud({
    apiPort: 0,
    awsPort: 0,
    faults: faultPolicyOf(options),
    faultEventSources: options.faultEventSources,
    configOverrides: options.configOverrides,
    firingWindowSeconds: options.firingWindowSeconds,
    signingSecret: DEFAULT_LOCAL_SIGNING_SECRET,
    log: options.log ?? (() => undefined),
  });
}

/** Sends the workload through the running cloud, waits for it to settle, and checks what became of it. */
async function runAgainst(
  cloud: LocalCloud,
  receiver: FlakyReceiver,
  options: ChaosOptions,
): Promise<RunResult> {
  const progress = options.progress ?? (() => undefined);
  const raw = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 10 };
  const dynamodb = new DynamoDBClient({ ...raw, endpoint: cloud.endpoints.dynamodb });
  const sqs = new SQSClient({ ...raw, endpoint: cloud.endpoints.sqs });
  try {
    if (options.visibilityTimeoutSeconds > 0)
      await setVisibilityTimeouts(sqs, cloud, options.visibilityTimeoutSeconds);
    const client = new ChaosClient(cloud.apiUrl, `${receiver.url}`, options.concurrency);
    const submitMs = await sendWorkload(client, options, progress);
    const accepted = client.accepted();
    progress(
      `sent in ${(submitMs / 1000).toFixed(1)} s: ${accepted.length} accepted; waiting for them to finish`,
    );
    const end = await waitUntilSettled(dynamodb, accepted, receiver, options.settleTimeoutMs, progress);
    const faults = (await cloud.faults?.stats()) ?? {};
    // The run is over: stop injecting before reading the dead-letter queues. A fault that refused the sweeper's
    // release of a DLQ message (or lost a receive's answer) hid it for a pointer visibility, and the next run could
    // hide it again; with faults still on that could go on past any wait and read as 'not on the DLQ'. Stopping
    // them cannot hide a loss: a lost message is on no queue, and every fault of the run is already in `faults`.
    await cloud.faults?.set({});
    const { deadLetterQueue, timerDeadLetters } = await collectDeadLetters(sqs, cloud, progress);
    const findings = verify(
      accepted,
      receiver.receipts,
      { statuses: end.statuses, deadLetterQueue },
      { nowMs: Date.now() },
    );
    return {
      options,
      findings,
      client: {
        ...client.stats(),
        schedulerPathTasks: accepted.filter((t) => end.timers.get(t.taskId) === "schedule").length,
      },
      faults,
      callbacks: { total: receiver.receipts.length, byBehaviour: countBehaviours(receiver.receipts) },
      timerDeadLetters,
      timings: { submitMs, settleMs: end.settleMs },
      settled: end.settled,
    };
  } finally {
    dynamodb.destroy();
    sqs.destroy();
  }
}

async function setVisibilityTimeouts(sqs: SQSClient, cloud: LocalCloud, seconds: number): Promise<void> {
  for (const mapping of cloud.eventSourceMappings) {
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: mapping.queueUrl,
        Attributes: { VisibilityTimeout: String(seconds) },
      }),
    );
  }
}

/** Runs every lane of the planned work (as single tasks or keyed batches) to the end; returns how long it took. */
async function sendWorkload(
  client: ChaosClient,
  options: ChaosOptions,
  progress: (line: string) => void,
): Promise<number> {
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
  return Date.now() - submitStarted;
}

function countBehaviours(receipts: readonly Receipt[]): Record<string, number> {
  const byBehaviour: Record<string, number> = {};
  for (const r of receipts) byBehaviour[r.behaviour] = (byBehaviour[r.behaviour] ?? 0) + 1;
  return byBehaviour;
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
