import type { CancelOptions, CancelOutcome, TaskStore } from "#shared/adapters/task-store.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { type CancelDeps, cancelAndDisarm, fenceSuccessor } from "../cancel-task.js";

export interface CancelOccurrenceDeps extends CancelDeps {
  /** `putNew`: a successor not written yet (a move stopped part-way) is written `cancelled` in its place. */
  readonly store: CancelDeps["store"] & Pick<TaskStore, "putNew">;
}

/** How many moves of one occurrence are followed (as a repeated add follows them, add-task.ts). */
const MAX_MOVES = 32;

/**
 * Cancels an occurrence's task — the task its idempotency claim names, or the one it became. An operator may have
 * moved it (PATCH, run now): the claim's id then reads `rescheduled` and the task lives on under `rescheduledTo`,
 * which a pause or delete of the schedule must cancel as well, or it is delivered after the stop answered. A
 * successor not written yet (its move stopped after marking the old item; a retried PATCH or the sweeper writes it
 * later) is written `cancelled` under its id, so that move finds it there and arms nothing. `options`: the group
 * cancel's (OPERATOR_CANCEL) also stops a task waiting for its retry; a schedule's stop passes none.
 */
export async function cancelOccurrenceTask(
  deps: CancelOccurrenceDeps,
  taskId: string,
  topic: string,
  options: CancelOptions = {},
): Promise<CancelOutcome> {
  let result = await cancelAndDisarm(deps, taskId, topic, options);
  for (let move = 0; move < MAX_MOVES && isMoved(result); move++) {
    const old = result.task;
    const next = await cancelAndDisarm(deps, old.rescheduledTo as string, topic, options);
    if (next.outcome !== "not-found") result = next;
    else if (await fenceSuccessor(deps, old)) return { outcome: "cancelled", task: old };
  }
  return result;
}

function isMoved(result: CancelOutcome): result is CancelOutcome & { readonly task: TaskRecord } {
  return result.outcome === "conflict" && result.task.status === "rescheduled" && !!result.task.rescheduledTo;
}
