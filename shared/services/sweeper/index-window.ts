import type { SweepCursor, SweepPosition, UnfinishedTaskRef } from "#shared/adapters/task-store.js";
import { errorText, forEachBounded } from "#shared/runtime/async.js";
import { RELAY_LOOKBACK_MS } from "../relay.js";
import { pointedShare } from "./repair.js";
import { groupWork, type RunState, type ShardWindow, type SweeperDeps } from "./types.js";

/**
 * The sweep index's moving window. Read oldest first alone, `candidatesPerShard` entries per shard and run, a
 * backlog of overdue indexed tasks that are alive (a receiver's outage, a paused topic) stayed the oldest on every
 * run and hid everything younger — a newer task whose timer or message was lost — until it drained. So past the
 * oldest part each shard is also read from where the previous run's window stopped (a cursor item in the table),
 * a few entries per shard sized to the younger half of the group budget, and the window moves on past the
 * entries whose groups the run examined; at the end of a shard it starts again at its beginning. Every
 * overdue indexed task is therefore examined within about (its shard's backlog ÷ entries per shard) runs of the
 * window passing it, whatever the backlog — as fast as the group budget allows.
 *
 * Order: a task found by the window may have an earlier unfinished task of its group that is in the index but
 * not read. Every unread entry is due after `cutoff` (the oldest part is complete up to it), so such a group is
 * read back from the cutoff (less the relay's look-back, for a near-term head outside the index) and judged by
 * its real head, as when the whole index is read.
 */
export async function readIndexWindow(
  deps: SweeperDeps,
  dueByMs: number,
  cutoff: number,
  oldest: ReadonlyMap<number, readonly UnfinishedTaskRef[]>,
  run: RunState,
): Promise<void> {
  for (const group of run.groups.values()) group.fromMs = Math.min(group.fromMs, cutoff - RELAY_LOOKBACK_MS);
  const perShard = windowPerShard(run);
  if (perShard === 0) return;
  const cursor = await readCursor(deps, run);
  const shards = new Map<number, ShardWindow>();
  await forEachBounded([...oldest.keys()], run.limits.concurrency, async (shard) => {
    const after = windowStart(cursor[shard], dueByMs);
    try {
      shards.set(shard, await deps.store.listUnfinishedDueBy(shard, dueByMs, perShard, after));
    } catch (error) {
      // This shard's window stays where it is: the next run reads it again.
      run.counters.failures++;
      deps.logger.warn("reading the sweep index window failed", { shard, error: errorText(error) });
    }
  });
  run.window = { cursor, shards };
  const kept = new Set([...oldest.values()].flat().map((t) => t.taskId));
  for (const task of roundRobin(shards, run.now)) {
    if (!kept.has(task.taskId)) run.counters.candidates++;
    const readBack = Math.min(task.dueAtMs, cutoff) - RELAY_LOOKBACK_MS;
    groupWork(run.groups, task.pk, task.dueAtMs, readBack).windowed = true;
  }
}

/** Entries per shard: together no more than the younger half of the group budget left after pointed groups. */
function windowPerShard(run: RunState): number {
  const pointed = Math.min(
    pointedShare(run.limits.maxGroups),
    [...run.groups.values()].filter((g) => g.pointers.length > 0).length,
  );
  const left = Math.max(0, run.limits.maxGroups - pointed);
  return Math.floor((left - Math.ceil(left / 2)) / run.limits.shards);
}

async function readCursor(deps: SweeperDeps, run: RunState): Promise<SweepCursor> {
  try {
    return await deps.store.readSweepCursor();
  } catch (error) {
    run.counters.failures++;
    deps.logger.warn("reading the sweep index cursor failed; the window starts afresh", {
      error: errorText(error),
    });
    return {};
  }
}

/**
 * Where a shard's window starts: the cursor, or else the shard's first entry. Not past the oldest part: what that
 * part read beyond the group budget's oldest half is reached only by the window (the budget's own moving window
 * gets what the index window leaves of the younger half, often nothing under a backlog). A cursor past `dueByMs`
 * (the windows were lengthened since) is dropped: DynamoDB refuses a starting key outside the query's range, and
 * the shard's window would fail on every run.
 */
function windowStart(position: SweepPosition | undefined, dueByMs: number): SweepPosition | undefined {
  return position && position.dueAtMs <= dueByMs ? position : undefined;
}

/**
 * The window's entries, one of each shard in turn, starting at a shard that moves on every minute: a run cut
 * short by time then moves every shard's window on alike, rather than always the same shards'.
 */
function roundRobin(shards: ReadonlyMap<number, ShardWindow>, now: number): UnfinishedTaskRef[] {
  const lists = [...shards.entries()].sort(([a], [b]) => a - b).map(([, w]) => w.tasks);
  if (lists.length === 0) return [];
  const first = Math.floor(now / 60_000) % lists.length;
  const rotated = [...lists.slice(first), ...lists.slice(0, first)];
  const longest = Math.max(...rotated.map((l) => l.length));
  const out: UnfinishedTaskRef[] = [];
  for (let i = 0; i < longest; i++) {
    for (const list of rotated) {
      const task = list[i];
      if (task) out.push(task);
    }
  }
  return out;
}

/**
 * After the repairs: each shard's window moves on past its entries whose groups were examined, up to the first
 * one that was not (cut short by time, it is read again next run); a shard read to its end starts afresh.
 */
export async function advanceIndexWindow(deps: SweeperDeps, run: RunState): Promise<void> {
  const window = run.window;
  if (!window) return;
  const next: Record<number, SweepPosition> = { ...window.cursor };
  for (const [shard, { tasks, truncated }] of window.shards) {
    const stop = tasks.findIndex((t) => !run.examined.has(t.pk));
    const last = stop === -1 ? tasks.at(-1) : tasks[stop - 1];
    if (stop === -1 && !truncated) delete next[shard];
    else if (last) next[shard] = { taskId: last.taskId, dueAtMs: last.dueAtMs };
  }
  if (JSON.stringify(next) === JSON.stringify(window.cursor)) return;
  try {
    await deps.store.writeSweepCursor(next);
  } catch (error) {
    run.counters.failures++;
    deps.logger.warn("writing the sweep index cursor failed; the next run reads the same window", {
      error: errorText(error),
    });
  }
}
