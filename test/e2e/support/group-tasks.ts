import type { PunctualClient, TaskView } from "punctual/client";

/** Every page of one ordering group of the `demo` topic, in delivery order. */
export async function groupTasks(client: PunctualClient, group: string): Promise<TaskView[]> {
  const tasks: TaskView[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listGroupTasks({ topic: "demo", group, ...(cursor ? { cursor } : {}) });
    tasks.push(...page.tasks);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return tasks;
}

/**
 * Polls (every 100 ms, at most `tries` times) until every task of the group is in one of the `finished` statuses:
 * a correctness bound, not a speed target.
 */
export async function settledGroup(
  client: PunctualClient,
  group: string,
  finished: readonly TaskView["status"][],
  tries: number,
): Promise<TaskView[]> {
  for (let i = 0; i < tries; i++) {
    const tasks = await groupTasks(client, group);
    if (tasks.every((t) => finished.includes(t.status))) return tasks;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`group ${group} never settled: ${JSON.stringify(await groupTasks(client, group))}`);
}
