import { bySortKey } from "#shared/domain/keys.js";
import { byPartition, groupSweepWindow, latestOwnKey, planRelayBatch } from "#shared/domain/relay-plan.js";
import { RELAY_LOOKBACK_MS } from "#shared/services/relay.js";
import { all, bounded, sequence } from "./engine.js";
import type { LambdaFunction } from "./lambda.js";
import type { FifoQueue, StandardQueue } from "./queues.js";
import type { SimTask, TaskTable } from "./table.js";
import type { World } from "./world.js";

export interface RelayParts {
  readonly world: World;
  readonly fn: LambdaFunction;
  readonly table: TaskTable;
  readonly timerQueue: StandardQueue;
  readonly topicQueue: FifoQueue;
}

/** Inline wait the relay allows: a second, plus the early wake-up the timer was armed with. */
export function maxInlineWaitMs(world: World): number {
  return 1000 + (world.config.eventSources.earlyWakeSeconds ?? 0) * 1000;
}

/**
 * One relay invocation over a timer batch, as shared/services/relay.ts runs it: the batch's plan from
 * `planRelayBatch` (forward / one in-place wait / re-arm), due groups forwarded side by side while the rest is
 * waited out, then the waited ones.
 */
export function relayBatch(parts: RelayParts, batch: SimTask[], done: () => void): void {
  const { world, fn } = parts;
  fn.invoke(
    batch.length,
    (finish) => {
      const plan = planRelayBatch(batch, world.sim.now, maxInlineWaitMs(world));
      // Three things end the invocation: the re-arms, the first pass, and the second pass after the wait.
      let pending = 3;
      const step = () => {
        if (--pending === 0) finish();
      };
      rearm(
        parts,
        plan.rearm.map((r) => ({ task: r.message, delaySeconds: r.delaySeconds })),
        step,
      );
      forwardGroups(parts, plan.dueNow, () => {
        // The waited ones start after the first pass and after the wait (never two passes over one group).
        world.sim.at(plan.waitUntilMs, () => forwardGroups(parts, plan.dueSoon, step));
        step();
      });
    },
    done,
  );
}

function rearm(parts: RelayParts, items: { task: SimTask; delaySeconds: number }[], done: () => void): void {
  const chunks = chunked(items, 10);
  all(
    chunks.length,
    (i, next) =>
      parts.world.call("sqsSendBatch", () => {
        parts.world.usage.standardRequests++;
        for (const { task, delaySeconds } of chunks[i] ?? []) parts.timerQueue.send(task, delaySeconds);
        next();
      }),
    done,
  );
}

function forwardGroups(parts: RelayParts, due: readonly SimTask[], done: () => void): void {
  const groups = [...byPartition(due).entries()];
  bounded(
    groups,
    parts.world.config.relayGroupConcurrency,
    ([pk, own], next) => forwardGroup(parts, pk, own, next),
    done,
  );
}

/** Query the group's due, still-scheduled tasks up to this batch's latest own one; send them in order; mark them. */
function forwardGroup(parts: RelayParts, pk: string, own: readonly SimTask[], done: () => void): void {
  const { world, table } = parts;
  world.call("ddbQuery", () => {
    world.usage.rru++;
    const window = groupSweepWindow(own, world.sim.now, RELAY_LOOKBACK_MS);
    const latest = latestOwnKey(own);
    const due = table
      .scheduledInGroup(pk, window.fromMs, window.toMs)
      .filter((t) => t.key.sk <= latest.sk)
      .sort((a, b) => bySortKey(a.key, b.key));
    if (due.length === 0) {
      done();
      return;
    }
    const chunks = chunked(due, 10);
    sequence(
      chunks.map(
        (chunk) => (next: () => void) =>
          world.call("sqsSendBatch", () => {
            world.usage.fifoRequests++;
            parts.topicQueue.send(pk, chunk);
            next();
          }),
      ),
      () => markQueued(parts, due, done),
    );
  });
}

function markQueued(parts: RelayParts, tasks: readonly SimTask[], done: () => void): void {
  all(
    tasks.length,
    (i, next) =>
      parts.world.call("ddbUpdate", () => {
        parts.world.usage.wru++;
        const task = tasks[i] as SimTask;
        if (task.status === "scheduled") task.status = "queued";
        next();
      }),
    done,
  );
}

export function chunked<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
