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

/** Something that wants a core: a thread with slices waiting, or one stretch of V8's helper threads. */
interface Runnable {
  /** The slice to run now that it has a core: its CPU, and what follows once it ran. */
  take(): { readonly cpuMs: number; readonly done: () => void };
}

/**
 * The machine's cores at `speed` each (a share of a core when the machine is busy with other work), shared the
 * way the OS scheduler shares them: whatever is runnable waits in one run queue, and a core that frees up takes
 * the next in line at once (work-conserving), runs one slice without pre-emption (the model's slices are
 * sub-millisecond) and, if that thread has more to run, puts it back at the end (round robin, as CFS shares a
 * core among runnable threads). A core never idles while something waits. (Until 2026-11-30 each slice reserved
 * a core ahead of time at its thread's queue end, which left cores idle before later reservations while other
 * work waited: docs/PERFORMANCE.md, "The machine as the model shares it".)
 */
export class Machine {
  #freeCores: number;
  readonly #ready: Runnable[] = [];

  /** `speed`: a constant share of each core, or the share at each moment (ms since `originMs`). */
  constructor(
    private readonly sim: Simulation,
    cores: number,
    private readonly speed: CpuSpeed,
    private readonly originMs = 0,
  ) {
    this.#freeCores = cores;
  }

  /**
   * `runnable` waits for a core (behind whatever already waits); its `take()` runs once it has one. `keepCore`:
   * a thread going on with the same callback keeps the core it just had, ahead of the others.
   */
  request(runnable: Runnable, options: { keepCore?: boolean } = {}): void {
    if (options.keepCore) this.#ready.unshift(runnable);
    else this.#ready.push(runnable);
    this.#dispatch();
  }

  #dispatch(): void {
    while (this.#freeCores > 0 && this.#ready.length > 0) {
      const slice = (this.#ready.shift() as Runnable).take();
      this.#freeCores--;
      const speed = typeof this.speed === "number" ? this.speed : this.speed(this.sim.now - this.originMs);
      // A slice is sub-millisecond: the share at its start holds for all of it.
      this.sim.after(slice.cpuMs / speed, () => {
        this.#freeCores++;
        slice.done();
        this.#dispatch();
      });
    }
  }
}

/**
 * What a slice of an event loop is, by how Node gets to it: the continuation of a fast-path message from another
 * thread (local/aws/mailbox.ts: every answer of the emulators arrives as one), or I/O and timers (an API request
 * or a callback's answer on a socket, a setTimeout).
 */
export type WorkKind = "message" | "io";

/**
 * Node's MessagePort handles at most max(messages waiting, 1000) messages per wake-up, counting those that arrive
 * while it does (src/node_messaging.cc, MessagePort::OnMessage): while the emulators keep answering, the event
 * loop stays on the fast path's messages that long before its poll phase reads the sockets again.
 */
export const MESSAGE_DRAIN_LIMIT = 1000;

interface Slice {
  readonly cpuMs: number;
  readonly then: () => void;
  readonly kind: WorkKind;
}

/**
 * One thread of the local cloud: a JavaScript event loop, one slice at a time on a core of the shared machine, in
 * Node's order (measured, docs/PERFORMANCE.md "The event loop's order"): a drain of the fast-path messages
 * waiting — those arriving meanwhile too, up to MESSAGE_DRAIN_LIMIT —, then one round of the I/O that was ready
 * when the drain ended, then the next drain. What a slice's continuation charges on the same thread at once (the
 * rest of the same synchronous callback) runs next. Absent on AWS, where every Lambda instance and every service
 * has CPU of its own.
 */
export class Processor {
  readonly #io: Slice[] = [];
  readonly #messages: Slice[] = [];
  #continuation: Slice[] = [];
  /** While a slice's continuation runs: what it charges on this thread. */
  #charged: Slice[] | undefined;
  #phase: "drain" | "io" = "io";
  /** Messages this drain may still take, or I/O slices left in this round. */
  #left = 0;
  /** Waiting for a core or running on one. */
  #scheduled = false;
  /** Wall time this thread held a core, and the CPU it used (the same at full speed). */
  busyMs = 0;
  cpuMs = 0;

  constructor(
    private readonly sim: Simulation,
    readonly machine: Machine,
  ) {}

  run(cpuMs: number, then: () => void, kind: WorkKind = "message"): void {
    if (cpuMs <= 0) {
      then();
      return;
    }
    const slice = { cpuMs, then, kind };
    if (this.#charged) this.#charged.push(slice);
    else (kind === "message" ? this.#messages : this.#io).push(slice);
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.machine.request(this);
    }
  }

  take(): { cpuMs: number; done: () => void } {
    const slice = this.#next();
    const startMs = this.sim.now;
    return {
      cpuMs: slice.cpuMs,
      done: () => {
        this.busyMs += this.sim.now - startMs;
        this.cpuMs += slice.cpuMs;
        this.#charged = [];
        this.sim.within(slice.kind, slice.then);
        this.#continuation = [...this.#charged, ...this.#continuation];
        this.#charged = undefined;
        if (this.#continuation.length > 0) this.machine.request(this, { keepCore: true });
        else if (this.#messages.length + this.#io.length > 0) this.machine.request(this);
        else this.#scheduled = false;
      },
    };
  }

  /** The next slice in Node's order (only called with something waiting). */
  #next(): Slice {
    const continued = this.#continuation.shift();
    if (continued) return continued;

    if (this.#phase === "drain") {
      if (this.#left > 0 && this.#messages.length > 0) {
        this.#left--;
        return this.#messages.shift() as Slice;
      }
      // The drain is over: the poll phase serves the I/O that is ready now.
      this.#phase = "io";
      this.#left = this.#io.length;
    }
    if (this.#left > 0) {
      this.#left--;
      return this.#io.shift() as Slice;
    }
    if (this.#messages.length > 0) {
      this.#phase = "drain";
      this.#left = Math.max(this.#messages.length, MESSAGE_DRAIN_LIMIT) - 1;
      return this.#messages.shift() as Slice;
    }
    this.#left = this.#io.length - 1;
    return this.#io.shift() as Slice;
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
    ? createThreads(sim, new Machine(sim, profile.cpu.machineCores, options.cpuSpeed ?? 1, options.startMs))
    : undefined;
  const usage: Usage = {
    calls: Object.fromEntries(Object.keys(profile.calls).map((c) => [c, 0])) as Record<Call, number>,
    wru: 0,
    rru: 0,
    standardRequests: 0,
    fifoRequests: 0,
    helperCpuMs: 0,
  };
  // The emulators' thread only ever gets messages; the others' work is of the kind that charged it.
  const on = (thread: Thread, ms: number, then: () => void) =>
    threads
      ? threads[thread].run(ms, then, thread === "emulators" ? "message" : (sim.context as WorkKind))
      : then();
  // V8's helper threads are several (GC, compilers): each stretch of their work is runnable on its own.
  const helpers = (ms: number) => {
    if (!threads || ms <= 0) return;
    threads.main.machine.request({ take: () => ({ cpuMs: ms, done: () => undefined }) });
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
      if (cost.serverAside) {
        on(thread, part("clientCpuMs"), () => {
          on("emulators", part("serverCpuMs"), () => undefined);
          if (cost.latencyMs > 0) sim.after(cost.latencyMs, then);
          else then();
        });
        return;
      }
      // The answer comes back as a fast-path message: what it sets off is message work for the caller's loop.
      const answered = () => sim.within("message", then);
      on(thread, part("clientCpuMs"), () =>
        sim.after(cost.latencyMs, () => on("emulators", part("serverCpuMs"), answered)),
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
