import type { CallbackRequest } from "#shared/adapters/callback-client.js";
import type { TaskRecord } from "#shared/domain/task.js";
import type { CallbackSigner } from "#shared/security/signing.js";
import type { StartedAttempt } from "./types.js";

/**
 * The callback request body. `content` is the task's content exactly as stored (the API validated it as JSON and
 * stored its text), embedded without re-serialising:
 *
 *   {"task_id":"demo.k3Jx….01JD…","topic":"demo","due_at":"2026-11-23T12:00:05.000Z","attempt":1,"content":{…}}
 */
export function callbackBody(task: TaskRecord, attempt: number): string {
  return (
    `{"task_id":${JSON.stringify(task.taskId)},"topic":${JSON.stringify(task.topic)},` +
    fanOutFields(task) +
    `"due_at":${JSON.stringify(new Date(task.dueAtMs).toISOString())},"attempt":${attempt},` +
    `"content":${task.content}}`
  );
}

/**
 * A fan-out delivery (issue 14, point 3) also names the task the caller added and the subscriber, inside the
 * signed body: `"parent_task_id":"…","subscriber":"billing",`. Other callbacks are unchanged.
 */
function fanOutFields(task: TaskRecord): string {
  if (task.parentTaskId === undefined || task.subscriber === undefined) return "";
  return `"parent_task_id":${JSON.stringify(task.parentTaskId)},"subscriber":${JSON.stringify(task.subscriber)},`;
}

/** The headers of a callback besides content-type / user-agent: Standard Webhooks + `punctual-*`. */
export function callbackHeaders(
  signer: CallbackSigner,
  task: TaskRecord,
  attempt: number,
  body: string,
  at: Date,
): Record<string, string> {
  return {
    ...signer.sign(task.taskId, at, body),
    "punctual-attempt": String(attempt),
    "punctual-topic": task.topic,
  };
}

/** The signed POST for a started attempt, signed with the time the attempt started. */
export function callbackRequest(
  { started, signer, startedAt }: StartedAttempt,
  timeoutMs: number,
): CallbackRequest {
  const attempt = started.attempts;
  const body = callbackBody(started, attempt);
  // A fan-out delivery is signed with its subscriber's key (shared/security/signing.ts `subscriberSigningKey`).
  const keyed = started.subscriber === undefined ? signer : signer.forSubscriber(started.subscriber);
  const headers = callbackHeaders(keyed, started, attempt, body, new Date(startedAt));
  return { url: started.callbackUrl, body, headers, timeoutMs };
}
