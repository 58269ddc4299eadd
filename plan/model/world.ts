import type { PlannerConfig } from "../config.js";
import { Simulation } from "./engine.js";
import type { Call, Profile } from "./profile.js";

/**
 * One process's CPU as a FIFO server with `cores` cores at `speed` (a share of a core when the machine is busy
 * with other work). Absent on AWS, where every Lambda instance and every service has CPU of its own.
 */
export class Processor {
  readonly #busyUntil: number[];
  busyMs = 0;

  constructor(
    private readonly sim: Simulation,
    cores: number,
    private readonly speed: number,
  ) {
    this.#busyUntil = Array.from({ length: cores }, () => 0);
  }

  run(cpuMs: number, then: () => void): void {
    if (cpuMs <= 0) {
      then();
      return;
    }
    let core = 0;
    for (let i = 1; i < this.#busyUntil.length; i++)
      if ((this.#busyUntil[i] as number) < (this.#busyUntil[core] as number)) core = i;
    const wallMs = cpuMs / this.speed;
    const end = Math.max(this.sim.now, this.#busyUntil[core] as number) + wallMs;
    this.#busyUntil[core] = end;
    this.busyMs += wallMs;
    this.sim.at(end, then);
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
  readonly main?: Processor;
  readonly server?: Processor;
  readonly usage: Usage;
  /** One call: the caller's CPU, the round trip, the service's CPU, then `then`. */
  call(name: Call, then: () => void): void;
  /** CPU on the functions' process (nothing on AWS). */
  cpu(ms: number, then: () => void): void;
}

export function createWorld(
  profile: Profile,
  config: PlannerConfig,
  options: { startMs: number; cpuSpeed?: number },
): World {
  const sim = new Simulation(options.startMs);
  const speed = options.cpuSpeed ?? 1;
  const main = profile.cpu ? new Processor(sim, profile.cpu.mainCores, speed) : undefined;
  const server = profile.cpu ? new Processor(sim, profile.cpu.serverCores, speed) : undefined;
  const usage: Usage = {
    calls: Object.fromEntries(Object.keys(profile.calls).map((c) => [c, 0])) as Record<Call, number>,
    wru: 0,
    rru: 0,
    standardRequests: 0,
    fifoRequests: 0,
  };
  const onMain = (ms: number, then: () => void) => (main ? main.run(ms, then) : then());
  return {
    sim,
    profile,
    config,
    ...(main ? { main } : {}),
    ...(server ? { server } : {}),
    usage,
    cpu: onMain,
    call(name, then) {
      usage.calls[name]++;
      const cost = profile.calls[name];
      onMain(cost.clientCpuMs, () =>
        sim.after(cost.latencyMs, () => (server ? server.run(cost.serverCpuMs, then) : then())),
      );
    },
  };
}
