import type { PlannerConfig } from "../config.js";
import { type AddParts, addTask } from "./add.js";
import { type DeliverParts, deliverBatch } from "./deliver.js";
import { Slots } from "./engine.js";
import { EventSource } from "./event-source.js";
import { LambdaFunction } from "./lambda.js";
import type { Profile } from "./profile.js";
import { type FifoMessage, FifoQueue, StandardQueue } from "./queues.js";
import { type RelayParts, relayBatch } from "./relay.js";
import { type SimTask, TaskTable } from "./table.js";
import { DEFAULT_CLIENTS, DEFAULT_MAX_IN_FLIGHT, taskCount, type Workload } from "./workload.js";
import { type CpuSpeed, createWorld, type World } from "./world.js";

export interface SimulationRun {
  readonly world: World;
  readonly table: TaskTable;
  readonly functions: {
    readonly add: LambdaFunction;
    readonly relay: LambdaFunction;
    readonly deliver: LambdaFunction;
  };
  readonly relaySource: EventSource<SimTask>;
  /** The one topic's deliver mapping the run models. */
  readonly deliverSource: EventSource<FifoMessage>;
  /** Adds: first send, last answer. */
  readonly adds: { firstMs: number; lastMs: number; accepted: number };
  readonly duplicates: number;
}

const START_MS = Date.UTC(2026, 0, 1);

/** A seeded generator (mulberry32): the same run gives the same answer. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs the workload through the modelled pipeline until every task is received (or a generous time-out). */
export function simulate(
  workload: Workload,
  config: PlannerConfig,
  profile: Profile,
  options: { cpuSpeed?: CpuSpeed } = {},
): SimulationRun {
  const world = createWorld(profile, config, { startMs: START_MS, ...options });
  const table = new TaskTable();
  const timerQueue = new StandardQueue(world.sim, profile.eventSources.visibilityTickMs);
  const functions = {
    add: new LambdaFunction(world, "add"),
    relay: new LambdaFunction(world, "relay"),
    deliver: new LambdaFunction(world, "deliver"),
  };
  const adds = { firstMs: Number.NaN, lastMs: Number.NaN, accepted: 0 };
  const total = taskCount(workload);
  const pipeline = startPipeline(world, table, timerQueue, functions, () => adds.accepted >= total, total);

  const addParts: AddParts = { world, fn: functions.add, table, timerQueue, random: seeded(42) };
  // The callers' connection pool: requests beyond it wait on the caller's side.
  const pool = new Slots(workload.clients ?? DEFAULT_CLIENTS);
  const connection = (work: (release: () => void) => void) => pool.acquire(work);
  drive(world, workload, (i, issuedAtMs, dueAtMs, done) => {
    if (Number.isNaN(adds.firstMs)) adds.firstMs = issuedAtMs;
    connection((release) =>
      addTask(addParts, { group: `g${i % workload.groups}`, dueAtMs, issuedAtMs }, () => {
        adds.accepted++;
        adds.lastMs = world.sim.now;
        release();
        done();
      }),
    );
  });
  const lastDue = START_MS + (workload.delaySeconds + (workload.durationSeconds ?? 0)) * 1000;
  world.sim.run(lastDue + 600_000);
  return {
    world,
    table,
    functions,
    relaySource: pipeline.relaySource,
    deliverSource: pipeline.deliverSource,
    adds,
    duplicates: pipeline.duplicates(),
  };
}

/** The relay and deliver event sources over their queues; they stop polling once every task was received. */
function startPipeline(
  world: World,
  table: TaskTable,
  timerQueue: StandardQueue,
  functions: SimulationRun["functions"],
  allAdded: () => boolean,
  total: number,
): {
  relaySource: EventSource<SimTask>;
  deliverSource: EventSource<FifoMessage>;
  duplicates: () => number;
} {
  const { config } = world;
  const topicQueue = new FifoQueue();
  let received = 0;
  let duplicates = 0;
  const finished = () => received >= total && allAdded();
  const relayParts: RelayParts = { world, fn: functions.relay, table, timerQueue, topicQueue };
  const deliverParts: DeliverParts = {
    world,
    fn: functions.deliver,
    table,
    onReceived: (task) => {
      task.deliveries++;
      if (task.receivedAtMs === undefined) {
        task.receivedAtMs = world.sim.now;
        received++;
      } else duplicates++;
    },
  };
  const relaySource = new EventSource(
    world,
    timerQueue,
    { ...config.eventSources.relay, queueKind: "standard" },
    (batch, done) => relayBatch(relayParts, batch, done),
  );
  const deliverSource = new EventSource(
    world,
    topicQueue,
    { ...config.eventSources.deliver, queueKind: "fifo" },
    (batch, done) => deliverBatch(deliverParts, batch, done),
    (batch) => topicQueue.release(new Set(batch.map((m) => m.group))),
  );
  for (const source of [relaySource, deliverSource] as EventSource<unknown>[]) {
    source.stopWhen = finished;
    source.start();
  }
  return { relaySource, deliverSource, duplicates: () => duplicates };
}

type AddOne = (i: number, issuedAtMs: number, dueAtMs: number, done: () => void) => void;

/** The bench's callers: a closed loop for the burst, an open loop (with an in-flight cap) for a rate. */
function drive(world: World, workload: Workload, add: AddOne): void {
  const { sim } = world;
  if (workload.burst !== undefined) {
    const dueAtMs = Math.ceil((sim.now + workload.delaySeconds * 1000) / 1000) * 1000;
    let next = 0;
    const caller = () => {
      if (next >= (workload.burst as number)) return;
      add(next++, sim.now, dueAtMs, caller);
    };
    // A caller past the burst's size would add nothing; starting each of 2^40 connections only spun the CPU.
    const callers = Math.min(workload.clients ?? DEFAULT_CLIENTS, workload.burst as number);
    for (let c = 0; c < callers; c++) caller();
    return;
  }
  openLoop(world, workload, add);
}

function openLoop(world: World, workload: Workload, add: AddOne): void {
  const { sim } = world;
  const rate = workload.rate ?? 0;
  const durationMs = (workload.durationSeconds ?? 0) * 1000;
  const total = Math.round((rate * durationMs) / 1000);
  const cap = workload.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const start = sim.now;
  let issued = 0;
  let inFlight = 0;
  const issue = () => {
    // Like the bench: requests go out on schedule, up to the cap; far behind (1.5 × duration) it stops issuing.
    const elapsed = sim.now - start;
    const due = Math.min(total, Math.floor((elapsed * rate) / 1000) + 1);
    while (issued < due && inFlight < cap && elapsed <= durationMs * 1.5) {
      inFlight++;
      add(issued++, sim.now, sim.now + workload.delaySeconds * 1000, () => {
        inFlight--;
      });
    }
    if (issued < total && elapsed <= durationMs * 1.5) sim.after(2, issue);
  };
  issue();
}
