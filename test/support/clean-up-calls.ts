import type { TaskStore } from "#shared/adapters/task-store.js";

/**
 * Replaces an add's clean-up calls on `store` (the removal of a task, its sweep index entry) with ones that only
 * record that they were made, in order: for asserting that an add cleaned nothing up.
 */
export function recordCleanUpCalls(store: Pick<TaskStore, "removeScheduled" | "enterSweepIndex">): string[] {
  const calls: string[] = [];
  store.removeScheduled = async () => {
    calls.push("removeScheduled");
    return true;
  };
  store.enterSweepIndex = async () => {
    calls.push("enterSweepIndex");
    return true;
  };
  return calls;
}
