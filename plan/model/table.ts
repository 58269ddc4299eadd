import { FIRST_GROUP_PAGE, MAX_GROUP_PAGE } from "#shared/adapters/dynamo-task-store.js";
import { MAX_READ_PAST_STARTED, STARTED_OVERTAKE_MARGIN_MS } from "#shared/adapters/task-store.js";
import { bySortKey, sortKeyUpperBound, type TaskKey } from "#shared/domain/keys.js";

/** `started`: deliver's start is written (`delivering` in the table); the relay's group read stops there. */
export type SimStatus = "scheduled" | "started" | "delivered";

/** One relay group read as DynamoDB serves it: the due tasks it lists, and the items each page read (and billed). */
export interface GroupRead {
  readonly due: SimTask[];
  readonly pages: readonly number[];
}

export interface SimTask {
  readonly key: TaskKey;
  /** When the client sent the add (the bench fixes the due time then). */
  readonly issuedAtMs: number;
  status: SimStatus;
  /** When the relay last had it accepted by the FIFO queue (its recent-send memory). */
  relaySentAtMs?: number;
  /** First time the receiver saw the callback. */
  receivedAtMs?: number;
  deliveries: number;
}

/** The task table as the relay's Query sees it: each group's tasks in sort-key order. */
export class TaskTable {
  readonly #groups = new Map<string, SimTask[]>();
  readonly all: SimTask[] = [];

  put(task: SimTask): void {
    this.all.push(task);
    const group = this.#groups.get(task.key.pk);
    if (!group) {
      this.#groups.set(task.key.pk, [task]);
      return;
    }
    group.push(task);
    // Adds arrive almost in order: one insertion step, not a sort of the whole group.
    for (let i = group.length - 1; i > 0 && bySortKey((group[i - 1] as SimTask).key, task.key) > 0; i--) {
      group[i] = group[i - 1] as SimTask;
      group[i - 1] = task;
    }
  }

  /**
   * The relay's `listScheduledInGroup` with `stopAtStarted`, as shared/adapters/dynamo-task-store.ts reads it:
   * latest first from the window's end, in pages of FIRST_GROUP_PAGE doubling, on for STARTED_OVERTAKE_MARGIN_MS
   * of due time below the group's latest started task and at most MAX_READ_PAST_STARTED items past it. A page
   * reads (and DynamoDB bills) every item it returns, listed or not; the next page is asked for only when a page
   * came back full (DynamoDB's LastEvaluatedKey) and the read has not ended.
   */
  relayRead(pk: string, fromMs: number, toMs: number): GroupRead {
    const group = this.#groups.get(pk) ?? [];
    const due: SimTask[] = [];
    const pages: number[] = [];
    let next = lastAtOrBefore(group, sortKeyUpperBound(toMs));
    let limit = FIRST_GROUP_PAGE;
    let floorMs = fromMs;
    let pastStarted: number | undefined;
    let stopped = false;
    let full: boolean;
    do {
      const page: SimTask[] = [];
      for (; next >= 0 && page.length < limit && (group[next] as SimTask).key.dueAtMs >= floorMs; next--) {
        page.push(group[next] as SimTask);
      }
      pages.push(page.length);
      full = page.length === limit;
      for (const task of page) {
        if (
          task.key.dueAtMs < floorMs ||
          (pastStarted !== undefined && ++pastStarted > MAX_READ_PAST_STARTED)
        ) {
          stopped = true;
          break;
        }
        if (pastStarted === undefined && task.status !== "scheduled") {
          pastStarted = 0;
          floorMs = Math.max(fromMs, task.key.dueAtMs - STARTED_OVERTAKE_MARGIN_MS);
        }
        if (task.status === "scheduled") due.push(task);
      }
      const left = pastStarted === undefined ? MAX_GROUP_PAGE : MAX_READ_PAST_STARTED - pastStarted;
      if (left <= 0) stopped = true;
      limit = Math.min(limit * 2, MAX_GROUP_PAGE, left);
    } while (full && !stopped);
    return { due: due.reverse(), pages };
  }

  /** Deliver's start is written: the task is `delivering`, where the relay's group read stops. */
  start(task: SimTask): void {
    if (task.status === "scheduled") task.status = "started";
  }

  /** Delivered tasks stay in their group (until their TTL, far beyond a run): the relay's reads pass over them. */
  finish(task: SimTask): void {
    task.status = "delivered";
  }
}

/** The index of the group's last task whose sort key is at most `sk` (−1: none). */
function lastAtOrBefore(group: readonly SimTask[], sk: string): number {
  let lo = 0;
  let hi = group.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((group[mid] as SimTask).key.sk <= sk) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
