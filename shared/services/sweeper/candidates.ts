import type { TaskStore, UnfinishedTaskRef } from "#shared/adapters/task-store.js";
import { errorText, forEachBounded } from "#shared/runtime/async.js";
import { RELAY_LOOKBACK_MS } from "../relay.js";
import { readIndexWindow } from "./index-window.js";
import { type Counters, groupWork, type RunState, type SweeperDeps } from "./types.js";

type ShardRead = Awaited<ReturnType<TaskStore["listUnfinishedDueBy"]>>;

/** The shortest window after which any unfinished task can be overdue: the sweep index is read up to now − it. */
export function shortestWindowMs(deps: SweeperDeps): number {
  return Math.min(
    deps.scheduledGraceMs("queue"),
    deps.scheduledGraceMs("schedule"),
    ...Object.values(deps.topics).map((t) => t.stalledAfterMs),
  );
}

/**
 * Reads every shard of the sweep index up to `dueByMs` into the run's groups: oldest first, and past a backlog
 * through the moving window. Returns false when a shard could not be read: a group's head might then be missing
 * from what was read, and judging the group by a follower could reorder it, so the run repairs only the groups
 * named by dead-letter pointers.
 */
export async function readCandidates(deps: SweeperDeps, dueByMs: number, run: RunState): Promise<boolean> {
  const read = await readShards(deps, dueByMs, run);
  if (!read) return false;
  const cutoff = completeUpTo(read, dueByMs, run.counters);
  const oldest = new Map<number, UnfinishedTaskRef[]>();
  for (const [shard, { tasks }] of read) {
    const kept = tasks.filter((task) => task.dueAtMs <= cutoff);
    oldest.set(shard, kept);
    for (const task of kept) {
      run.counters.candidates++;
      // Back the relay's look-back: a near-term head is outside the index (its timer message carries it), and
      // the relay sweeps a group's earlier `scheduled` tasks along from that far back — so may the repair, or it
      // would judge the group by this follower and send it ahead of that head.
      groupWork(run.groups, task.pk, task.dueAtMs, task.dueAtMs - RELAY_LOOKBACK_MS);
    }
  }
  // A backlog: the younger entries are reached through the index's moving window (index-window.ts).
  if ([...read.values()].some((r) => r.truncated)) await readIndexWindow(deps, dueByMs, cutoff, oldest, run);
  return true;
}

async function readShards(
  deps: SweeperDeps,
  dueByMs: number,
  run: RunState,
): Promise<Map<number, ShardRead> | undefined> {
  const shards = Array.from({ length: run.limits.shards }, (_, i) => i);
  const read = new Map<number, ShardRead>();
  let complete = true;
  await forEachBounded(shards, run.limits.concurrency, async (shard) => {
    try {
      read.set(shard, await deps.store.listUnfinishedDueBy(shard, dueByMs, run.limits.candidatesPerShard));
    } catch (error) {
      complete = false;
      run.counters.failures++;
      deps.logger.warn("reading the sweep index failed", { shard, error: errorText(error) });
    }
  });
  return complete ? read : undefined;
}

/**
 * A shard cut short was read up to its last due time; only what every shard was read up to is complete, so a
 * group's head (due no later than any follower) is never left out while a follower is in.
 */
function completeUpTo(read: Map<number, ShardRead>, dueByMs: number, counters: Counters): number {
  let cutoff = dueByMs;
  for (const { tasks, truncated } of read.values()) {
    const last = tasks[tasks.length - 1];
    if (truncated && last) {
      cutoff = Math.min(cutoff, last.dueAtMs);
      counters.deferred = true;
    }
  }
  return cutoff;
}
