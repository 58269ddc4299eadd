import {
  type GroupItemView,
  type GroupPageStep,
  type GroupReadState,
  readGroupPage,
  startGroupRead,
} from "#shared/domain/group-read.js";
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
   * The relay's `listScheduledInGroup` with `stopAtStarted`, paged and ended by the rule the DynamoDB store reads by
   * (shared/domain/group-read.ts): latest first from the window's end. A page reads (and DynamoDB bills) every item
   * it returns, taken or not; a page that reached its Limit carries a LastEvaluatedKey, so the next is asked for
   * whenever the last came back full and the read has not ended.
   */
  relayRead(pk: string, fromMs: number, toMs: number): GroupRead {
    const group = this.#groups.get(pk) ?? [];
    const due: SimTask[] = [];
    const pages: number[] = [];
    let next = lastAtOrBefore(group, sortKeyUpperBound(toMs));
    let read: GroupReadState | undefined = startGroupRead(fromMs);
    while (read) {
      // As the store's Query serves it: at most Limit items, none below the floor its key condition starts at.
      const page: SimTask[] = [];
      while (page.length < read.limit && next >= 0 && (group[next] as SimTask).key.dueAtMs >= read.floorMs) {
        page.push(group[next--] as SimTask);
      }
      pages.push(page.length);
      const step: GroupPageStep = readGroupPage(read, page, SIM_VIEW, page.length === read.limit);
      for (const task of page.slice(0, step.taken)) if (task.status === "scheduled") due.push(task);
      read = step.next;
    }
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

/** A simulated task has started once deliver wrote its start (`started`, then `delivered`). */
const SIM_VIEW: GroupItemView<SimTask> = {
  dueAtMs: (t) => t.key.dueAtMs,
  started: (t) => t.status !== "scheduled",
};

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
