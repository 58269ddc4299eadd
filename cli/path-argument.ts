import { UsageError } from "./exit-codes.js";

/**
 * An argument the client sends as one segment of the URL's path: a schedule id, a topic, a callback host. None of
 * them is ever empty, `.`, `..` or holds a `/`, and sent so it reached another route or none: a `/` goes as `%2F`,
 * which API Gateway decodes before it matches a route; URL parsing drops a `.` or `..` segment; an empty one leaves
 * `//` (an unset shell variable, `"$ID"`). The answer was a 404 "no such route", or a 405 "use GET" (`topics pause .`
 * reached GET /v1/topics/{topic} as topic `pause`), that said nothing of the mistake: a usage error instead, nothing
 * sent. `within` finds what the caller most likely meant in a path or URL given whole (a `Location`, a callback URL).
 */
export function pathArgument(
  value: string,
  name: string,
  what: string,
  within?: (value: string) => string | undefined,
): string {
  if (value === "") throw new UsageError(`${name} is empty: give ${what}`);
  if (!value.includes("/") && value !== "." && value !== "..") return value;
  const meant = within?.(value);
  throw new UsageError(`${name} is ${what}, not a path or URL${meant ? `: give ${meant}` : ""}`);
}

/** A topic's name where the client puts it in the path (`topics show|pause|resume|replay`, `groups cancel`). */
export function topicArgument(topic: string, name = "<topic>"): string {
  return pathArgument(topic, name, "a topic's name (e.g. orders)");
}

/** A task's id where the client puts it in the path (`tasks get|cancel|run|reschedule|replay`). */
export function taskIdArgument(taskId: string): string {
  return pathArgument(taskId, "<task-id>", "the task_id that add answered");
}
