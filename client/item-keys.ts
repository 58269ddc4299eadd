/**
 * A batch's items, each with an idempotency key: its own `idempotency_key` where it has one, else `newKey()`. An
 * item that is no object (the API refuses it as an add) is sent as it is. The client keys `addTasks` so, its retries
 * creating nothing twice; the CLI keys a batch file so before sending, to know the keys it sent (cli/rerun-file.ts).
 */
export function withItemKeys<T>(tasks: readonly T[], newKey: () => string): T[] {
  return tasks.map((task) =>
    task !== null &&
    typeof task === "object" &&
    !Array.isArray(task) &&
    (task as { idempotency_key?: unknown }).idempotency_key === undefined
      ? { ...task, idempotency_key: newKey() }
      : task,
  );
}
