import type { PlannerConfig } from "../config.js";
import { Simulation } from "./engine.js";
import { type Call, type FunctionName, type Profile, THREADS, type Thread } from "./profile.js";

/**
 * The machine's cores at `speed` each (a share of a core when the machine is busy with other work). A thread's
 * slice takes the core that frees up first: no pre-emption, a close enough stand-in for the OS scheduler at the
 * sub-millisecond slices the model charges.
 */
export class Machine {
  readonly #busyUntil: number[];

  constructor(
    cores: number,
    private readonly speed: number,
  ) {
    this.#busyUntil = Array.from({ length: cores }, () => 0);
  }

  /** Reserves `cpuMs` of CPU starting no earlier than `earliestMs`; returns when it ends. */
  reserve(earliestMs: number, cpuMs: number): { startMs: number; endMs: number } {
    let core = 0;
    for (let i = 1; i < this.#busyUntil.length; i++)
      if ((this.#busyUntil[i] as number) < (this.#busyUntil[core] as number)) core = i;
    const startMs = Math.max(earliestMs, this.#busyUntil[core] as number);
    const endMs = startMs + cpuMs / this.speed;
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
  busyMs = 0;

  constructor(
    private readonly sim: Simulation,
    private readonly machine: Machine,
  ) {}

  run(cpuMs: number, then: () => void): void {
    if (cpuMs <= 0) {
      then();
      return;
    }
    const slot = this.machine.reserve(Math.max(this.sim.now, this.#busyUntil), cpuMs);
    this.#busyUntil = slot.endMs;
    this.busyMs += slot.endMs - slot.startMs;
    this.sim.at(slot.endMs, then);
  }
}

/** What the run cost, by call and capacity unit (for the monthly cost and the quotas). */
export interface Usage {
  readonly calls: Record<Call, number>;
  wru: number;
  rru: number;
  /** SQS requests by queue kind (billed differently). */
  standardRequests: number;
  fifoRequests: number;
}

export interface World {
  readonly sim: Simulation;
  readonly profile: Profile;
  readonly config: PlannerConfig;
  /** The local cloud's threads (absent on AWS). */
  readonly threads?: Readonly<Record<Thread, Processor>>;
  readonly usage: Usage;
  /** One call from thread `on`: the caller's CPU there, the round trip, the emulators' CPU, then `then`. */
  call(name: Call, then: () => void, on?: Thread): void;
  /** CPU on thread `on` (nothing on AWS). */
  cpu(ms: number, then: () => void, on?: Thread): void;
  /** The thread a function's handler runs on. */
  threadOf(fn: FunctionName): Thread;
}

export function createWorld(
  profile: Profile,
  config: PlannerConfig,
  options: { startMs: number; cpuSpeed?: number },
): World {
  const sim = new Simulation(options.startMs);
  const threads = profile.cpu
    ? createThreads(sim, profile.cpu.machineCores, options.cpuSpeed ?? 1)
    : undefined;
  const usage: Usage = {
    calls: Object.fromEntries(Object.keys(profile.calls).map((c) => [c, 0])) as Record<Call, number>,
    wru: 0,
    rru: 0,
    standardRequests: 0,
    fifoRequests: 0,
  };
  const on = (thread: Thread, ms: number, then: () => void) =>
    threads ? threads[thread].run(ms, then) : then();
  return {
    sim,
    profile,
    config,
    ...(threads ? { threads } : {}),
    usage,
    cpu: (ms, then, thread = "main") => on(thread, ms, then),
    call(name, then, thread = "main") {
      usage.calls[name]++;
      const cost = profile.calls[name];
      on(thread, cost.clientCpuMs, () =>
        sim.after(cost.latencyMs, () => on("emulators", cost.serverCpuMs, then)),
      );
    },
    threadOf: (fn) => profile.cpu?.functionThreads[fn] ?? "main",
  };
}

function createThreads(sim: Simulation, cores: number, speed: number): Record<Thread, Processor> {
  const machine = new Machine(cores, speed);
  return Object.fromEntries(THREADS.map((t) => [t, new Processor(sim, machine)])) as Record<
    Thread,
    Processor
  >;
}
