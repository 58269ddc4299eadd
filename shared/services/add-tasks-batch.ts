import pMap from "p-map";
import { type HttpError, isHttpError, serviceUnavailable, validationFailed } from "#shared/api/errors.js";
import {
  type AddTasksBatchResponse,
  addTasksBatchBodySchema,
  type BatchItemResult,
} from "#shared/api/schemas/batch.js";
import { isPlainObject, toIssues } from "#shared/domain/add-task-request.js";
import { type AddTaskDeps, addTask, orderingLaneOf } from "./add-task.js";

/**
 * Items added at once. Each item is a few sequential AWS calls (claim, put, arm); 10 in flight keeps a batch of
 * 100 to ~10 round-trip chains, well inside API Gateway's 30 s, without a burst of 100 parallel calls per request.
 */
export const BATCH_CONCURRENCY = 10;

/**
 * POST /v1/tasks/batch. The whole request is refused (400) only when it is not a batch at all; past that, every
 * item goes through the single add (shared/services/add-task.ts) on its own, so each item is exactly as safe as a
 * single add: refused before anything is written, or written and armed before it is answered 201/200, or
 * answered 503 with the single add's clean-up done (removed, or kept for a retry with its idempotency key).
 *
 * Why the timer arms are not grouped into SendMessageBatch: the single add answers an item only after its own
 * timer is armed, and removes (or keeps, with a key) exactly that item when arming fails. Grouping would split
 * every item into a write phase and an arm phase across items, with per-entry failures of the batch call mapped
 * back to per-item removals: a second copy of the add's crash-safety logic for at most 1 request in 10 saved on
 * the add side (docs/COST-AND-SCALE.md). Not worth a second path that chaos does not exercise.
 */
export async function addTasksBatch(deps: AddTaskDeps, body: unknown): Promise<AddTasksBatchResponse> {
  const tasks = parseBatch(body);
  const results: BatchItemResult[] = new Array(tasks.length);
  await pMap(
    lanesOf(deps, tasks),
    async (lane) => {
      for (const index of lane) results[index] = await addOne(deps, tasks[index]);
    },
    { concurrency: BATCH_CONCURRENCY },
  );
  const added = results.filter((result) => result.status < 300).length;
  return { results, added, failed: results.length - added };
}

/**
 * Item indexes by ordering group, in request order. Items of one group are added one after another, each written
 * and armed before the next is accepted, so request order within a group is acceptance order, and so delivery
 * order, exactly as for a client sending single adds one at a time; added concurrently, a later item could be
 * written (and, due now, relayed) before an earlier one. Items without a group (no deliver_by value, or refused)
 * are lanes of their own.
 */
function lanesOf(deps: AddTaskDeps, tasks: readonly unknown[]): number[][] {
  const lanes = new Map<string, number[]>();
  const alone: number[][] = [];
  tasks.forEach((task, index) => {
    const lane = orderingLaneOf(deps.config, task);
    if (lane === undefined) alone.push([index]);
    else if (lanes.has(lane)) lanes.get(lane)?.push(index);
    else lanes.set(lane, [index]);
  });
  return [...lanes.values(), ...alone];
}

function parseBatch(body: unknown): readonly unknown[] {
  if (!isPlainObject(body)) {
    throw validationFailed([{ path: "", message: "the request body must be a JSON object" }]);
  }
  const parsed = addTasksBatchBodySchema.safeParse(body);
  if (!parsed.success) throw validationFailed(toIssues(parsed.error.issues, body));
  return parsed.data.tasks;
}

/**
 * One item through the single add. Its refusal is its result; a failure that is not one of our answers (a
 * dependency threw, after the add's own clean-up) is a 503 for that item: retrying it (with its idempotency key)
 * is what the single add's client would do with a 5xx.
 */
async function addOne(deps: AddTaskDeps, item: unknown): Promise<BatchItemResult> {
  try {
    const { statusCode, body } = await addTask(deps, { body: item });
    return {
      status: statusCode,
      task_id: body.task_id,
      topic: body.topic,
      task_status: body.status,
      due_at: body.due_at,
      ...(body.subscribers ? { subscribers: body.subscribers.map((s) => ({ ...s })) } : {}),
    };
  } catch (error) {
    const refusal = isHttpError(error) && error.status < 500 ? error : retryable(deps, error);
    const { issues, ...rest } = refusal.toBody().error;
    return { status: refusal.status, error: { ...rest, ...(issues ? { issues: [...issues] } : {}) } };
  }
}

function retryable(deps: AddTaskDeps, error: unknown): HttpError {
  if (isHttpError(error) && error.status === 503) return error;
  // The single route's error responder would log this; here the item answers, so say it ourselves.
  deps.onError?.("adding a batch item failed; answered 503 for it", error, "");
  return serviceUnavailable("could not add this task; retry it (with its idempotency key)", error);
}
