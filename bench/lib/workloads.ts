import os from "node:os";
import type { Progress } from "./progress.js";
import { cdfPoints, type Distribution, distribution, machineCpuMeter, type ThreadSplit } from "./stats.js";
import { type BenchTask, CLIENT_CONNECTIONS, type CpuReading, type Target } from "./targets.js";

export interface Cpu {
  /** CPU ms of the system under test (Punctual: functions + emulators; BullMQ: worker + Redis). */
  readonly systemMs: number;
  /** Average cores busy during the run. */
  readonly systemCores: number;
  /** System CPU ms per task. */
  readonly systemMsPerTask: number;
  /** Cores busy in the system's main process alone (Punctual: one Node event loop for every function). */
  readonly mainCores: number;
  /** The bench's own load generator and receiver. */
  readonly clientMs: number;
  /** Average cores the whole machine was busy (this run and whatever else ran: the machine is shared). */
  readonly machineCores?: number;
  /**
   * The main process's CPU ms per task by thread (Punctual: `main` = API, pollers and functions; `emulators` =
   * its busiest other thread, the emulators' in the default layout; `helpers` = V8's and libuv's threads): what
   * the capacity planner's local profile charges per thread, measured in the run.
   */
  readonly threadMsPerTask?: { readonly main: number; readonly emulators: number; readonly helpers: number };
  /**
   * Cumulative CPU ms every CPU_SAMPLE_MS from the run's start (the machine's, the system's, the bench's): how
   * much of the machine other work took, interval by interval, for the planner's CPU share over time.
   */
  readonly timeline?: readonly CpuSample[];
}

export interface CpuSample {
  readonly atMs: number;
  readonly machineMs: number;
  readonly systemMs: number;
  readonly clientMs: number;
}

/** How often a run samples the CPU for its timeline. */
export const CPU_SAMPLE_MS = 500;

export interface RunResult {
  readonly tasks: number;
  readonly addErrors: number;
  readonly undelivered: number;
  readonly duplicates: number;
  /** Lateness (receive − due) in ms. */
  readonly lateness: Distribution;
  readonly latenessCdf: number[];
  /** Adds accepted per second while adding. */
  readonly addRate: number;
  /** Tasks received per second, from the first due time to the last receive. */
  readonly deliveryRate: number;
  readonly cpu: Cpu;
  readonly firstErrors: string[];
  /** 1-minute load average when the run started: these machines are shared, so a busy neighbour shows here. */
  readonly loadAverageAtStart: number;
  /** The unmeasured warm-up before an adds measurement (none: measured from the system's start). */
  readonly warmUp?: WarmUp;
}

/** What the warm-up before an adds measurement did: the same adds, counted apart. */
export interface WarmUp {
  readonly durationMs: number;
  readonly tasks: number;
  readonly addRate: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `fn` for items 0..n-1 with at most `concurrency` in flight (a closed loop, like a client pool). */
async function closedLoop(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/**
 * Open loop at `rate`/s for `durationMs`: requests go out on schedule whatever the answers, capped at `maxInFlight`
 * outstanding (past that the achieved rate falls, and the result says so).
 */
async function openLoop(
  rate: number,
  durationMs: number,
  maxInFlight: number,
  fn: (i: number) => Promise<void>,
  tick: (elapsedMs: number) => void,
): Promise<void> {
  const start = Date.now();
  const total = Math.round((rate * durationMs) / 1000);
  let issued = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  while (issued < total) {
    const elapsed = Date.now() - start;
    const due = Math.min(total, Math.floor((elapsed * rate) / 1000) + 1);
    while (issued < due && inFlight < maxInFlight) {
      inFlight++;
      const p: Promise<void> = fn(issued++).finally(() => {
        inFlight--;
        pending.delete(p);
      });
      pending.add(p);
    }
    if (elapsed > durationMs * 1.5) break; // far behind the rate: stop issuing, the achieved rate says so
    tick(elapsed);
    await sleep(2);
  }
  await Promise.all(pending);
}

class Run {
  readonly tasks: BenchTask[] = [];
  readonly errors: string[] = [];
  addErrors = 0;
  #addStart = 0;
  #addEnd = 0;
  #readCpu: () => CpuReading;
  #readMachine = machineCpuMeter();
  #startedAt = Date.now();
  #load = os.loadavg()[0] ?? 0;
  #duplicatesBefore: number;
  readonly #timeline: CpuSample[] = [];
  readonly #sampler: NodeJS.Timeout;

  constructor(
    readonly target: Target,
    readonly prefix: string,
  ) {
    this.#readCpu = target.cpuMeter();
    this.#duplicatesBefore = target.stats.duplicates;
    this.#sampler = setInterval(() => this.#sample(), CPU_SAMPLE_MS);
    this.#sampler.unref();
  }

  #sample(): void {
    const cpu = this.#readCpu();
    this.#timeline.push({
      atMs: Date.now() - this.#startedAt,
      machineMs: Math.round(this.#readMachine()),
      systemMs: Math.round(cpu.systemMs),
      clientMs: Math.round(cpu.clientMs),
    });
  }

  /** One add: a raw HTTP request (Punctual) or Queue.add (BullMQ), or (`client`) through the system's own client. */
  async add(task: BenchTask, via: "api" | "client" = "api"): Promise<void> {
    if (this.#addStart === 0) this.#addStart = Date.now();
    try {
      await (via === "client" ? this.target.addThroughClient(task) : this.target.add(task));
      this.tasks.push(task);
    } catch (error) {
      this.addErrors++;
      if (this.errors.length < 5) this.errors.push((error as Error).message);
    }
    this.#addEnd = Date.now();
  }

  /** A batch: one request (Punctual's POST /v1/tasks/batch, BullMQ's addBulk) for all of `tasks`. */
  async addMany(tasks: readonly BenchTask[]): Promise<void> {
    if (this.#addStart === 0) this.#addStart = Date.now();
    try {
      await this.target.addMany(tasks);
      this.tasks.push(...tasks);
    } catch (error) {
      this.addErrors += tasks.length;
      if (this.errors.length < 5) this.errors.push((error as Error).message);
    }
    this.#addEnd = Date.now();
  }

  get accepted(): number {
    return this.tasks.length;
  }

  addRate(): number {
    const seconds = (this.#addEnd - this.#addStart) / 1000;
    return seconds > 0 ? this.tasks.length / seconds : 0;
  }

  /** Waits until every accepted task was received, or `timeoutMs` after the last due time. */
  async drain(progress: Progress, timeoutMs: number): Promise<void> {
    const lastDue = Math.max(...this.tasks.map((t) => t.dueMs), Date.now());
    const deadline = lastDue + timeoutMs;
    for (;;) {
      const got = this.tasks.reduce((n, t) => n + (this.target.received.has(t.id) ? 1 : 0), 0);
      progress.update(got / Math.max(1, this.tasks.length), `received ${got}/${this.tasks.length}`);
      if (got === this.tasks.length || Date.now() > deadline) return;
      await sleep(100);
    }
  }

  result(): RunResult {
    const lateness: number[] = [];
    let firstDue = Number.POSITIVE_INFINITY;
    let lastReceive = 0;
    for (const task of this.tasks) {
      firstDue = Math.min(firstDue, task.dueMs);
      const at = this.target.received.get(task.id);
      if (at === undefined) continue;
      lateness.push(at - task.dueMs);
      lastReceive = Math.max(lastReceive, at);
    }
    clearInterval(this.#sampler);
    this.#sample();
    const cpu = this.#readCpu();
    const wallMs = Math.max(1, Date.now() - this.#startedAt);
    return {
      tasks: this.tasks.length,
      addErrors: this.addErrors,
      undelivered: this.tasks.length - lateness.length,
      duplicates: this.target.stats.duplicates - this.#duplicatesBefore,
      lateness: distribution(lateness),
      latenessCdf: cdfPoints(lateness),
      addRate: round(this.addRate()),
      deliveryRate: round(lastReceive > firstDue ? (lateness.length * 1000) / (lastReceive - firstDue) : 0),
      cpu: {
        systemMs: Math.round(cpu.systemMs),
        systemCores: round(cpu.systemMs / wallMs, 2),
        systemMsPerTask: round(cpu.systemMs / Math.max(1, this.tasks.length), 3),
        mainCores: round(cpu.mainMs / wallMs, 2),
        clientMs: Math.round(cpu.clientMs),
        machineCores: round(this.#readMachine() / wallMs, 2),
        // The thread roles are the local cloud's; a BullMQ worker's threads are not split.
        ...(this.target.name === "punctual"
          ? { threadMsPerTask: perTaskByThread(cpu.threads, this.tasks.length) }
          : {}),
        timeline: this.#timeline,
      },
      firstErrors: this.errors,
      loadAverageAtStart: round(this.#load, 2),
    };
  }
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

function perTaskByThread(threads: ThreadSplit, tasks: number): Cpu["threadMsPerTask"] {
  const per = (ms: number) => round(ms / Math.max(1, tasks), 3);
  return { main: per(threads.mainMs), emulators: per(threads.busiestMs), helpers: per(threads.restMs) };
}

/**
 * Adds/s with 64 callers adding one task at a time; tasks due far enough out that none fires during the
 * measurement. `via: "api"` (default): raw HTTP requests (Punctual) or Queue.add (BullMQ), 64 in flight; `"client"`:
 * Punctual's typed client, whose natural batching sends the calls that overlap as batches (BullMQ: Queue.add with a
 * job id, as our client keys every add).
 */
export async function addsWorkload(
  target: Target,
  progress: Progress,
  options: { durationMs: number; delayMs: number; via?: "api" | "client"; warmUpMs?: number },
): Promise<RunResult> {
  const via = options.via ?? "api";
  const addFor = async (run: Run, durationMs: number, idPrefix: string) => {
    const start = Date.now();
    let i = 0;
    await Promise.all(
      Array.from({ length: CLIENT_CONNECTIONS }, async () => {
        while (Date.now() - start < durationMs) {
          const n = i++;
          const task = { id: `${idPrefix}${n}`, group: `a${n % 1000}`, dueMs: Date.now() + options.delayMs };
          await run.add(task, via);
          if (n % 100 === 0) progress.update((Date.now() - start) / durationMs, `${n} added`);
        }
      }),
    );
  };
  const warmUp = await warmingUp(target, options.warmUpMs, (run, ms) => addFor(run, ms, `w${via}`));
  const run = new Run(target, via === "client" ? "c" : "a");
  await addFor(run, options.durationMs, via);
  return addsOnly(run.result(), warmUp);
}

/**
 * The same adds for `warmUpMs` before the measurement, counted apart (reported, not measured): each workload
 * starts a fresh system, and a Node process's first seconds are spent compiling its hot code (V8's optimizing
 * compiler on helper threads: docs/PERFORMANCE.md, "What the helper threads do"), which BullMQ's server, a C
 * program, does not pay. The measurement is then of the system running, as a service in use is.
 */
async function warmingUp(
  target: Target,
  warmUpMs: number | undefined,
  add: (run: Run, durationMs: number) => Promise<void>,
): Promise<WarmUp | undefined> {
  if (!warmUpMs) return undefined;
  const run = new Run(target, "w");
  await add(run, warmUpMs);
  const { tasks, addRate } = run.result();
  return { durationMs: warmUpMs, tasks, addRate };
}

/** Nothing was delivered on purpose: the add side only. */
function addsOnly(result: RunResult, warmUp: WarmUp | undefined): RunResult {
  return {
    ...result,
    undelivered: 0,
    lateness: distribution([]),
    latenessCdf: [],
    deliveryRate: 0,
    ...(warmUp ? { warmUp } : {}),
  };
}

/**
 * Adds/s through batches of `batchSize` (Punctual: POST /v1/tasks/batch; BullMQ: Queue.addBulk) with `inFlight`
 * batches in flight; tasks due far enough out that none fires during the measurement.
 */
export async function batchAddsWorkload(
  target: Target,
  progress: Progress,
  options: {
    durationMs: number;
    delayMs: number;
    batchSize: number;
    inFlight: number;
    keyed?: boolean;
    warmUpMs?: number;
  },
): Promise<RunResult> {
  const addFor = async (run: Run, durationMs: number, idPrefix: string) => {
    const stamp = `${idPrefix}-${Date.now().toString(36)}`;
    const start = Date.now();
    let i = 0;
    await Promise.all(
      Array.from({ length: options.inFlight }, async () => {
        while (Date.now() - start < durationMs) {
          const first = i;
          i += options.batchSize;
          const dueMs = Date.now() + options.delayMs;
          const batch = Array.from({ length: options.batchSize }, (_, k) => ({
            id: `${idPrefix}${first + k}`,
            group: `m${(first + k) % 1000}`,
            dueMs,
            ...(options.keyed ? { key: `bench-${stamp}-${first + k}` } : {}),
          }));
          await run.addMany(batch);
          progress.update((Date.now() - start) / durationMs, `${i} added`);
        }
      }),
    );
  };
  const warmUp = await warmingUp(target, options.warmUpMs, (run, ms) => addFor(run, ms, "wm"));
  const run = new Run(target, options.keyed ? "k" : "m");
  await addFor(run, options.durationMs, "m");
  return addsOnly(run.result(), warmUp);
}

/** Batch requests in flight when the burst is added through the batch API (as the batch-adds workload's). */
const BATCH_IN_FLIGHT = 8;

/**
 * `tasks` tasks over `groups` groups, all due the same whole second, added ahead of it at full speed: one add per
 * task, or (`batchSize`) through the batch API.
 */
export async function burstWorkload(
  target: Target,
  progress: Progress,
  options: {
    tasks: number;
    groups: number;
    leadMs: number;
    drainMs: number;
    batchSize?: number;
    via?: "api" | "client";
  },
): Promise<RunResult & { addsFinishedBeforeDueMs: number }> {
  const run = new Run(target, "b");
  const dueMs = Math.ceil((Date.now() + options.leadMs) / 1000) * 1000;
  const task = (i: number) => ({ id: `b${i}`, group: `b${i % options.groups}`, dueMs });
  const { batchSize } = options;
  if (batchSize === undefined) {
    await closedLoop(options.tasks, CLIENT_CONNECTIONS, async (i) => {
      await run.add(task(i), options.via);
      if (i % 100 === 0) progress.update(i / options.tasks / 2, `added ${i}/${options.tasks}`);
    });
  } else {
    // --burst-via=batch: the same tasks through the batch API (BullMQ: addBulk), BATCH_IN_FLIGHT requests at once.
    const batches = Math.ceil(options.tasks / batchSize);
    await closedLoop(batches, BATCH_IN_FLIGHT, async (b) => {
      const first = b * batchSize;
      const count = Math.min(batchSize, options.tasks - first);
      await run.addMany(Array.from({ length: count }, (_, k) => task(first + k)));
      progress.update((b + 1) / batches / 2, `added ${first + count}/${options.tasks}`);
    });
  }
  const margin = dueMs - Date.now();
  await run.drain(progress, options.drainMs);
  return { ...run.result(), addsFinishedBeforeDueMs: margin };
}

/** `rate` tasks/s for `durationMs`, each due `delayMs` after it is added. */
export async function sustainedWorkload(
  target: Target,
  progress: Progress,
  options: {
    rate: number;
    durationMs: number;
    delayMs: number;
    groups: number;
    drainMs: number;
    prefix: string;
    /** After measuring, keep waiting (unmeasured) this long for stragglers so they do not spill into what follows. */
    settleMs?: number;
    via?: "api" | "client";
  },
): Promise<RunResult> {
  const run = new Run(target, options.prefix);
  await openLoop(
    options.rate,
    options.durationMs,
    1024,
    (i) =>
      run.add(
        {
          id: `${options.prefix}${i}`,
          group: `${options.prefix}${i % options.groups}`,
          dueMs: Date.now() + options.delayMs,
        },
        options.via,
      ),
    (elapsed) => {
      const got = run.tasks.reduce((n, t) => n + (target.received.has(t.id) ? 1 : 0), 0);
      progress.update(
        elapsed / (options.durationMs + options.delayMs),
        `added ${run.accepted}, received ${got}`,
      );
    },
  );
  await run.drain(progress, options.drainMs);
  const result = run.result();
  if (options.settleMs && result.undelivered > 0) await run.drain(progress, options.settleMs);
  return result;
}

/** A ramp step passes only if the system accepted its adds at ≥ this share of the offered rate. */
export const RAMP_MIN_ACCEPTED_SHARE = 0.95;

export interface RampStep {
  readonly rate: number;
  readonly passed: boolean;
  readonly result: RunResult;
}

/**
 * The highest rate at which p99 lateness stays ≤ `p99LimitMs`: grow from `startRate` until a step fails (p99
 * over the limit, tasks not received, the load generator unable to send the step, or the system accepting its adds
 * below RAMP_MIN_ACCEPTED_SHARE of the rate), then bisect between the last pass and the failure.
 */
export async function rampWorkload(
  target: Target,
  progress: Progress,
  options: {
    startRate: number;
    /** Each step multiplies the rate by this until a step fails. */
    growth: number;
    maxRate: number;
    stepMs: number;
    delayMs: number;
    bisections: number;
    p99LimitMs: number;
    drainMs: number;
    /** After a failed step, how long stragglers may take before the next step starts. */
    settleMs: number;
  },
): Promise<{ bestRate: number; steps: RampStep[] }> {
  const steps: RampStep[] = [];
  // Unmeasured warm-up (JIT, connection pools), so the first measured step is not also the coldest.
  await sustainedWorkload(target, progress, {
    rate: options.startRate,
    durationMs: 1_000,
    delayMs: options.delayMs,
    groups: 1000,
    drainMs: options.drainMs,
    prefix: "warm-",
  });
  const tryRate = async (rate: number): Promise<boolean> => {
    const result = await sustainedWorkload(target, progress, {
      rate,
      durationMs: options.stepMs,
      delayMs: options.delayMs,
      groups: 1000,
      drainMs: options.drainMs,
      prefix: `r${steps.length}-`,
      settleMs: options.settleMs,
    });
    // What must not happen is the load generator giving up on part of the step (the open loop's in-flight cap or
    // cut-off), nor the system taking the step's tasks more slowly than they were offered: an add that waits does
    // not show as lateness (its due time was fixed when it was sent, seconds ahead), so a system whose API fell
    // behind would pass a rate it never took — 900/s "passed" at 618 adds/s before this check.
    const planned = Math.round((rate * options.stepMs) / 1000);
    const passed =
      result.undelivered === 0 &&
      result.addErrors === 0 &&
      result.tasks >= planned &&
      result.addRate >= rate * RAMP_MIN_ACCEPTED_SHARE &&
      result.lateness.p99 <= options.p99LimitMs;
    steps.push({ rate, passed, result });
    progress.note(
      `  ${target.name} ramp ${rate}/s: p99 ${Math.round(result.lateness.p99)} ms, adds ${result.addRate}/s → ${passed ? "pass" : "fail"}`,
    );
    return passed;
  };
  let lo = 0;
  let hi = 0;
  for (let rate = options.startRate; rate <= options.maxRate; rate *= options.growth) {
    if (!(await tryRate(rate))) {
      hi = rate;
      break;
    }
    lo = rate;
  }
  for (let i = 0; i < options.bisections && hi > 0 && hi - lo > 50; i++) {
    const mid = Math.round((lo + hi) / 2 / 50) * 50;
    if (mid <= lo || mid >= hi) break;
    if (await tryRate(mid)) lo = mid;
    else hi = mid;
  }
  return { bestRate: lo, steps };
}
