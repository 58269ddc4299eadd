import { bySortKey } from "#shared/domain/keys.js";
import {
  byPartition,
  dueWave,
  groupSweepWindow,
  latestOwnKey,
  splitRelayBatch,
} from "#shared/domain/relay-plan.js";
import { RELAY_LOOKBACK_MS } from "#shared/services/relay.js";
import { all, KeyedChain, Slots, sequence } from "./engine.js";
import type { LambdaFunction } from "./lambda.js";
import type { Call } from "./profile.js";
import type { FifoQueue, StandardQueue } from "./queues.js";
import type { SimTask, TaskTable } from "./table.js";
import type { CallOptions, World } from "./world.js";

export interface RelayParts {
  readonly world: World;
  readonly fn: LambdaFunction;
  readonly table: TaskTable;
  readonly timerQueue: StandardQueue;
  readonly topicQueue: FifoQueue;
}

/**
 * One relay invocation over a timer batch, as shared/services/relay.ts runs it: `splitRelayBatch` re-arms what is
 * further off than the early wake (plus a second) and holds the rest; the held tasks go in waves (`dueWave`), each
 * the moment it comes due, while the re-arms run. The invocation ends when both are done.
 */
export function relayBatch(parts: RelayParts, batch: SimTask[], done: () => void): void {
  const { world, fn } = parts;
  fn.invoke(
    batch.length,
    (finish) => {
      const split = splitRelayBatch(batch, world.sim.now, world.config.eventSources.earlyWakeSeconds ?? 0);
      let pending = 2;
      const step = () => {
        if (--pending === 0) finish();
      };
      rearm(
        parts,
        split.rearm.map((r) => ({ task: r.message, delaySeconds: r.delaySeconds })),
        step,
      );
      forwardInWaves(parts, split.hold, step);
    },
    done,
  );
}

/**
 * The relay's `forwardWhenDue`: each wave's groups start at once (bounded by the group concurrency, one bound over
 * all waves); a group in two waves is forwarded the second time only after the first finished; between waves the
 * relay sleeps until the next held task is due.
 */
function forwardInWaves(parts: RelayParts, held: readonly SimTask[], done: () => void): void {
  const { world } = parts;
  const slots = new Slots(world.config.relayGroupConcurrency);
  const chain = new KeyedChain();
  let outstanding = 1; // the wave loop itself, until it has placed every held task
  const finishOne = () => {
    if (--outstanding === 0) done();
  };
  const loop = (pending: readonly SimTask[]): void => {
    if (pending.length === 0) {
      finishOne();
      return;
    }
    const { wave, rest } = dueWave(pending, world.sim.now);
    if (wave.length === 0) {
      world.sim.at((rest[0] as SimTask).key.dueAtMs, () => loop(rest));
      return;
    }
    for (const [pk, own] of byPartition(wave)) {
      outstanding++;
      chain.run(pk, (next) =>
        slots.acquire((release) =>
          forwardGroup(parts, pk, own, () => {
            release();
            next();
            finishOne();
          }),
        ),
      );
    }
    loop(rest);
  };
  loop(held);
}

function rearm(parts: RelayParts, items: { task: SimTask; delaySeconds: number }[], done: () => void): void {
  const chunks = chunked(items, 10);
  all(
    chunks.length,
    (i, next) =>
      relayCall(
        parts.world,
        "sqsSendBatch",
        () => {
          parts.world.usage.standardRequests++;
          for (const { task, delaySeconds } of chunks[i] ?? []) parts.timerQueue.send(task, delaySeconds);
          next();
        },
        { entries: chunks[i]?.length ?? 0 },
      ),
    done,
  );
}

/** Query the group's due, still-scheduled tasks up to this batch's latest own one; send them in order; mark them. */
function forwardGroup(parts: RelayParts, pk: string, own: readonly SimTask[], done: () => void): void {
  const { world, table } = parts;
  relayCall(
    world,
    "ddbQuery",
    () => {
      world.usage.rru++;
      const window = groupSweepWindow(own, world.sim.now, RELAY_LOOKBACK_MS);
      const latest = latestOwnKey(own);
      const due = table
        .scheduledInGroup(pk, window.fromMs, window.toMs)
        .filter((t) => t.key.sk <= latest.sk)
        .sort((a, b) => bySortKey(a.key, b.key));
      // The items the Query returned: their CPU once the answer is in.
      world.entries("ddbQuery", due.length, () => forwardDue(parts, pk, due, done), world.threadOf("relay"));
    },
    { entries: 0 },
  );
}

/** Sends the group's due tasks in order, chunk after chunk, then marks them queued. */
function forwardDue(parts: RelayParts, pk: string, due: readonly SimTask[], done: () => void): void {
  const { world } = parts;
  if (due.length === 0) {
    done();
    return;
  }
  const chunks = chunked(due, 10);
  sequence(
    chunks.map(
      (chunk) => (next: () => void) =>
        relayCall(
          world,
          "sqsSendBatch",
          () => {
            world.usage.fifoRequests++;
            parts.topicQueue.send(pk, chunk);
            next();
          },
          { entries: chunk.length },
        ),
    ),
    () => markQueued(parts, due, done),
  );
}

function markQueued(parts: RelayParts, tasks: readonly SimTask[], done: () => void): void {
  all(
    tasks.length,
    (i, next) =>
      relayCall(
        parts.world,
        "ddbUpdate",
        () => {
          parts.world.usage.wru++;
          const task = tasks[i] as SimTask;
          if (task.status === "scheduled") task.status = "queued";
          next();
        },
        { site: "markQueued" },
      ),
    done,
  );
}

/** A call from the relay's handler, on its thread. */
function relayCall(world: World, name: Call, then: () => void, options?: CallOptions): void {
  world.call(name, then, world.threadOf("relay"), options);
}

export function chunked<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
