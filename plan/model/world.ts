import type { PlannerConfig } from "../config.js";
import { Simulation } from "./engine.js";
import {
  type Call,
  type CallCost,
  type CallSite,
  type FunctionName,
  type Profile,
  THREADS,
  type Thread,
} from "./profile.js";

/**
 * The machine's cores at `speed` each (a share of a core when the machine is busy with other work). A thread's
 * slice takes the core that frees up first: no pre-emption, a close enough stand-in for the OS scheduler at the
 * sub-millisecond slices the model charges.
 */
export class Machine {
  readonly #busyUntil: number[];

  /** `speed`: a constant share of each core, or the share at each moment (ms since `originMs`). */
  constructor(
    cores: number,
    private readonly speed: CpuSpeed,
    private readonly originMs = 0,
  ) {
    this.#busyUntil = Array.from({ length: cores }, () => 0);
  }

  /** Reserves `cpuMs` of CPU starting no earlier than `earliestMs`; returns when it ends. */
  reserve(earliestMs: number, cpuMs: number): { startMs: number; endMs: number } {
    let core = 0;
    for (let i = 1; i < this.#busyUntil.length; i++)
      if ((this.#busyUntil[i] as number) < (this.#busyUntil[core] as number)) core = i;
    const startMs = Math.max(earliestMs, this.#busyUntil[core] as number);
    const speed = typeof this.speed === "number" ? this.speed : this.speed(startMs - this.originMs);
    // A slice is sub-millisecond: the share at its start holds for all of it.
    const endMs = startMs + cpuMs / speed;
    this.#busyUntil[core] = endMs;
    return { startMs, endMs };
  }
}

/**
 * One thread of the local cloud: runs one slice at a time (a JavaScript event loop), each on a core of the
 * shared machine. Absent on AWS, where every Lambda instance and every service has CPU of its own.
 */
export class Processor {
  #busyUntil = 0;
  /** Wall time this thread held a core, and the CPU it used (the same at full speed). */
  busyMs = 0;
  cpuMs = 0;

  constructor(
    private readonly sim: Simulation,
    readonly machine: Machine,
  ) {}

  run(cpuMs: number, then: () => void): void {
    if (cpuMs <= 0) {
      then();
      return;
    }
    const slot = this.machine.reserve(Math.max(this.sim.now, this.#busyUntil), cpuMs);
    this.#busyUntil = slot.endMs;
    this.busyMs += slot.endMs - slot.startMs;
    this.cpuMs += cpuMs;
    this.sim.at(slot.endMs, then);
  }
}

/** Share of each core the local cloud can use: constant, or over time (ms since the run's start). */
export type CpuSpeed = number | ((sinceStartMs: number) => number);

export interface CallOptions {
  readonly entries?: number;
  readonly site?: CallSite;
}

/** What the run cost, by call and capacity unit (for the monthly cost and the quotas). */
export interface Usage {
  readonly calls: Record<Call, number>;
  wru: number;
  rru: number;
  /** SQS requests by queue kind (billed differently). */
  standardRequests: number;
  fifoRequests: number;
  /** Local profiles: the CPU charged to V8's helper threads. */
  helperCpuMs: number;
}

export interface World {
  readonly sim: Simulation;
  readonly profile: Profile;
  readonly config: PlannerConfig;
  /** The local cloud's threads (absent on AWS). */
  readonly threads?: Readonly<Record<Thread, Processor>>;
  readonly usage: Usage;
  /**
   * One call from thread `on`: the caller's CPU there, the round trip, the emulators' CPU, then `then`; the
   * helpers' CPU alongside. A call with a per-entry cost costs its fixed part plus that part per entry
   * (`entries`, default 1; 0 when they are charged after the answer, see `entries()`); `site`: the call site,
   * where the profile prices one apart.
   */
  call(name: Call, then: () => void, on?: Thread, options?: CallOptions): void;
  /** A batch's entries known only after the call answered (a receive): their CPU, then `then`. */
  entries(name: Call, count: number, then: () => void, on?: Thread): void;
  /** CPU of V8's helper threads: it takes a core, holding up no event loop (nothing on AWS). */
  helpers(ms: number): void;
  /** CPU on thread `on` (nothing on AWS). */
  cpu(ms: number, then: () => void, on?: Thread): void;
  /** The thread a function's handler runs on. */
  threadOf(fn: FunctionName): Thread;
}

export function createWorld(
  profile: Profile,
  config: PlannerConfig,
  options: { startMs: number; cpuSpeed?: CpuSpeed },
): World {
  const sim = new Simulation(options.startMs);
  const threads = profile.cpu
    ? createThreads(sim, new Machine(profile.cpu.machineCores, options.cpuSpeed ?? 1, options.startMs))
    : undefined;
  const usage: Usage = {
    calls: Object.fromEntries(Object.keys(profile.calls).map((c) => [c, 0])) as Record<Call, number>,
    wru: 0,
    rru: 0,
    standardRequests: 0,
    fifoRequests: 0,
    helperCpuMs: 0,
  };
  const on = (thread: Thread, ms: number, then: () => void) =>
    threads ? threads[thread].run(ms, then) : then();
  const helpers = (ms: number) => {
    if (!threads || ms <= 0) return;
    threads.main.machine.reserve(sim.now, ms);
    usage.helperCpuMs += ms;
  };
  const warmUp = createWarmUp(profile);
  return {
    sim,
    profile,
    config,
    ...(threads ? { threads } : {}),
    usage,
    cpu: (ms, then, thread = "main") => on(thread, ms, then),
    helpers,
    call(name, then, thread = "main", options = {}) {
      usage.calls[name]++;
      const cost = (options.site && profile.callSites?.[options.site]) || profile.calls[name];
      const entries = Math.max(0, options.entries ?? 1);
      const extra = warmUp(options.site ?? name, cost);
      const part = (k: "clientCpuMs" | "serverCpuMs" | "helperCpuMs") =>
        (cost[k] ?? 0) + entries * (cost.perEntry?.[k] ?? 0) + extra[k];
      helpers(part("helperCpuMs"));
      on(thread, part("clientCpuMs"), () =>
        sim.after(cost.latencyMs, () => on("emulators", part("serverCpuMs"), then)),
      );
    },
    entries(name, count, then, thread = "main") {
      const perEntry = profile.calls[name].perEntry;
      if (!perEntry || count <= 0) {
        then();
        return;
      }
      helpers(count * perEntry.helperCpuMs);
      on("emulators", count * perEntry.serverCpuMs, () => on(thread, count * perEntry.clientCpuMs, then));
    },
    threadOf: (fn) => profile.cpu?.functionThreads[fn] ?? "main",
  };
}

/** The warm-up CPU each call adds: its kind's warm-up spread over the kind's first calls. */
function createWarmUp(profile: Profile) {
  const made = new Map<string, number>();
  const none = { clientCpuMs: 0, serverCpuMs: 0, helperCpuMs: 0 };
  return (kind: string, cost: CallCost) => {
    const n = (made.get(kind) ?? 0) + 1;
    made.set(kind, n);
    if (!profile.cpu || !cost.warmUp || n > cost.warmUp.calls) return none;
    const { calls, clientCpuMs, serverCpuMs, helperCpuMs } = cost.warmUp;
    return {
      clientCpuMs: clientCpuMs / calls,
      serverCpuMs: serverCpuMs / calls,
      helperCpuMs: helperCpuMs / calls,
    };
  };
}

function createThreads(sim: Simulation, machine: Machine): Record<Thread, Processor> {
  return Object.fromEntries(THREADS.map((t) => [t, new Processor(sim, machine)])) as Record<
    Thread,
    Processor
  >;
}
