import { bySortKey, type TaskKey } from "#shared/domain/keys.js";

export type SimStatus = "scheduled" | "queued" | "delivered";

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

  /** `listScheduledInGroup`: the group's scheduled tasks due within [fromMs, toMs], in sort-key order. */
  scheduledInGroup(pk: string, fromMs: number, toMs: number): SimTask[] {
    const group = this.#groups.get(pk) ?? [];
    return group.filter((t) => t.status === "scheduled" && t.key.dueAtMs >= fromMs && t.key.dueAtMs <= toMs);
  }

  /** Delivered tasks leave the group's list: the relay's Query reads back only to 15 s below the latest started task. */
  finish(task: SimTask): void {
    task.status = "delivered";
    const group = this.#groups.get(task.key.pk);
    if (!group) return;
    const i = group.indexOf(task);
    if (i >= 0) group.splice(i, 1);
  }
}
