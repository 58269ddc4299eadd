import type { Findings, ObservedCallback } from "../verify.js";

/** Duplicates: more than one successful callback for one task. */
export function duplicates(
  byTask: ReadonlyMap<string, readonly ObservedCallback[]>,
  limit: number,
): Findings["duplicates"] {
  let tasks = 0;
  let extraDeliveries = 0;
  let sameWebhookId = 0;
  let differentWebhookId = 0;
  const examples: { taskId: string; callbacks: string[] }[] = [];
  for (const [taskId, list] of byTask) {
    const successes = list.filter((c) => c.success);
    if (successes.length <= 1) continue;
    tasks++;
    if (examples.length < limit) examples.push({ taskId, callbacks: list.map(describeCallback) });
    extraDeliveries += successes.length - 1;
    if (list.every((c) => c.webhookId === taskId)) sameWebhookId++;
    else differentWebhookId++;
  }
  return { tasks, extraDeliveries, sameWebhookId, differentWebhookId, examples };
}

/** `attempt:behaviour`, success marked with `+`. */
function describeCallback(c: ObservedCallback): string {
  return `${c.attemptHeader ?? "?"}:${c.behaviour ?? "?"}${c.success ? "+" : ""}`;
}
