import { RECENT_SEND_WINDOW_MS } from "#shared/adapters/recent-sends.js";
import {
  byPartition,
  dueWave,
  groupSweepWindow,
  latestOwnKey,
  splitRelayBatch,
} from "#shared/domain/relay-plan.js";
import { chunksOf } from "#shared/runtime/chunks.js";
import { RELAY_LOOKBACK_MS } from "#shared/services/relay.js";
import { AWS_PARAMETERS as P } from "../parameters.js";
import { all, Slots, sequence } from "./engine.js";
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
 * The relay's `forwardWhenDue`: one wave at a time, each taking everything due when the previous one finished
 * (or, when nothing is due, the relay sleeps until the next held task is); group reads bounded by the group
 * concurrency, the wave's sends packed across groups.
 */
function forwardInWaves(parts: RelayParts, held: readonly SimTask[], done: () => void): void {
  const { world } = parts;
  const slots = new Slots(world.config.relayGroupConcurrency);
  const loop = (pending: readonly SimTask[]): void => {
    if (pending.length === 0) {
      done();
      return;
    }
    const { wave, rest } = dueWave(pending, world.sim.now);
    if (wave.length === 0) {
      world.sim.at((rest[0] as SimTask).key.dueAtMs, () => loop(rest));
      return;
    }
    forwardWave(parts, slots, wave, () => loop(rest));
  };
  loop(held);
}

/** One wave: each group's Query (bounded; none for tasks the relay sent recently), then the wave's sends, packed. */
function forwardWave(parts: RelayParts, slots: Slots, wave: readonly SimTask[], done: () => void): void {
  const { world } = parts;
  const groups = [...byPartition(wave)];
  const due: SimTask[][] = [];
  all(
    groups.length,
    (i, next) => {
      const [pk, own] = groups[i] as [string, SimTask[]];
      // Sent by the relay (with everything before them) less than the window ago: nothing to do, no Query.
      if (own.every((t) => sentRecently(world.sim.now, t))) {
        due[i] = [];
        next();
        return;
      }
      slots.acquire((release) =>
        queryGroup(parts, pk, own, (tasks) => {
          due[i] = tasks;
          release();
          next();
        }),
      );
    },
    () => sendPacked(parts, due.flat(), done),
  );
}

/**
 * Query the group's due, still-scheduled tasks up to this batch's latest own one, in order: one Query call per page
 * the read takes (`TaskTable.relayRead`), each billed on the items it read.
 */
function queryGroup(
  parts: RelayParts,
  pk: string,
  own: readonly SimTask[],
  then: (due: SimTask[]) => void,
): void {
  const { world, table } = parts;
  const window = groupSweepWindow(own, world.sim.now, RELAY_LOOKBACK_MS);
  const latest = latestOwnKey(own);
  const read = table.relayRead(pk, window.fromMs, window.toMs);
  const due = read.due.filter((t) => t.key.sk <= latest.sk);
  sequence(
    read.pages.map(
      (items) => (next: () => void) =>
        relayCall(
          world,
          "ddbQuery",
          () => {
            world.usage.rru += queryReadUnits(items, P.dynamoTaskItemBytes.value);
            // The items the page returned: their CPU once the answer is in.
            world.entries("ddbQuery", items, next, world.threadOf("relay"));
          },
          { entries: 0 },
        ),
    ),
    () => then(due),
  );
}

/** A strongly consistent Query's read units: its items' total size rounded up to 4 KB, at least one. */
function queryReadUnits(items: number, itemBytes: number): number {
  return Math.max(1, Math.ceil((items * itemBytes) / 4096));
}

/**
 * The wave's tasks in SendMessageBatch calls of 10 entries, one after another. Tasks the relay sent less than
 * RECENT_SEND_WINDOW_MS ago are skipped (shared/adapters/recent-sends.ts; modelled as one memory for all relay
 * containers, which is the local cloud's case and optimistic for AWS, where each container remembers its own).
 * The relay writes nothing to the table.
 */
function sendPacked(parts: RelayParts, tasks: readonly SimTask[], done: () => void): void {
  const { world } = parts;
  const fresh = tasks.filter((t) => !sentRecently(world.sim.now, t));
  sequence(
    chunksOf(fresh, 10).map(
      (chunk) => (next: () => void) =>
        relayCall(
          world,
          "sqsSendBatch",
          () => {
            world.usage.fifoRequests++;
            for (const [pk, ofGroup] of byPartition(chunk)) {
              for (const task of ofGroup) task.relaySentAtMs = world.sim.now;
              parts.topicQueue.send(pk, ofGroup);
            }
            next();
          },
          { entries: chunk.length },
        ),
    ),
    done,
  );
}

function rearm(parts: RelayParts, items: { task: SimTask; delaySeconds: number }[], done: () => void): void {
  const chunks = chunksOf(items, 10);
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

function sentRecently(now: number, task: SimTask): boolean {
  return task.relaySentAtMs !== undefined && now - task.relaySentAtMs < RECENT_SEND_WINDOW_MS;
}

/** A call from the relay's handler, on its thread. */
function relayCall(world: World, name: Call, then: () => void, options?: CallOptions): void {
  world.call(name, then, world.threadOf("relay"), options);
}
