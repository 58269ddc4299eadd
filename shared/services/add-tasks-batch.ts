import pMap from "p-map";
import { type HttpError, isHttpError, serviceUnavailable, validationFailed } from "#shared/api/errors.js";
import {
  type AddTasksBatchResponse,
  addTasksBatchBodySchema,
  type BatchItemResult,
} from "#shared/api/schemas/batch.js";
import { isPlainObject, toIssues } from "#shared/domain/add-task-request.js";
import {
  type AddTaskDeps,
  addTask,
  type CheckedAddRequest,
  checkAddRequest,
  orderingLaneOf,
} from "./add-task.js";
import {
  addBatched,
  answeredItem,
  type BatchedAddDeps,
  type BatchedItem,
  errorItem,
} from "./add-tasks-batched.js";

/**
 * Items added at once on the per-item path. Each item is a few sequential AWS calls (claim, put, arm); 10 in
 * flight keeps a batch of 100 to ~10 round-trip chains, well inside API Gateway's 30 s, without a burst of 100 parallel calls per request.
 */
export const BATCH_CONCURRENCY = 10;

/**
 * POST /v1/tasks/batch. The whole request is refused (400) only when it is not a batch at all; past that, every
 * item is exactly as safe as a single add: refused before anything is written, or written and armed before it is
 * answered 201/200, or answered 503 with the single add's clean-up done (removed, or kept for a retry with its
 * idempotency key).
 *
 * Two paths (issue 13, point 3). Items without an idempotency key on topics without subscribers, whose whole
 * ordering group in the request is such items, take the batched path (./add-tasks-batched.ts): BatchWriteItem
 * calls of 25, then SendMessageBatch calls of 10, ~14 calls for 100 items instead of ~200. Everything else (keyed
 * items, whose claim and replay need the conditional single write; fan-out topics; items the single add refuses;
 * a group that mixes them) goes through the single add (shared/services/add-task.ts) item by item, as before.
 * Both paths run side by side: they never share a group, so neither can reorder the other's items.
 */
export async function addTasksBatch(deps: BatchedAddDeps, body: unknown): Promise<AddTasksBatchResponse> {
  const tasks = parseBatch(body);
  const results: BatchItemResult[] = new Array(tasks.length);
  const nowMs = deps.now();
  const { batched, single } = splitBatch(deps, tasks, nowMs);
  await Promise.all([
    addBatched(deps, batched, nowMs).then((done) => {
      for (const [index, result] of done) results[index] = result;
    }),
    pMap(
      single,
      async (lane) => {
        for (const index of lane) results[index] = await addOne(deps, tasks[index]);
      },
      { concurrency: BATCH_CONCURRENCY },
    ),
  ]);
  const added = results.filter((result) => result.status < 300).length;
  return { results, added, failed: results.length - added };
}

/**
 * The items that may take the batched path, and the lanes that keep the single add's. A lane (one ordering group,
 * or one item without a group) is batched only when every item in it passes the single add's checks, has no
 * idempotency key and its topic no subscribers: then it is all new tasks under fresh keys, which a batch write
 * without conditions cannot lose or overwrite. A lane with anything else stays whole on the per-item path.
 */
function splitBatch(
  deps: AddTaskDeps,
  tasks: readonly unknown[],
  nowMs: number,
): { batched: BatchedItem[]; single: number[][] } {
  const batched: BatchedItem[] = [];
  const single: number[][] = [];
  for (const lane of lanesOf(deps, tasks)) {
    const checked = lane.map((index) => batchable(deps, tasks[index], nowMs));
    if (checked.every((c) => c !== undefined)) {
      lane.forEach((index, i) => {
        batched.push({ index, checked: checked[i] as CheckedAddRequest });
      });
    } else single.push(lane);
  }
  return { batched, single };
}

/** The item's checked request when it may be batched; undefined when it goes the single add's way. */
function batchable(deps: AddTaskDeps, item: unknown, nowMs: number): CheckedAddRequest | undefined {
  try {
    const checked = checkAddRequest(deps.config, item, nowMs);
    if (checked.request.idempotencyKey !== undefined || checked.topic.subscribers) return undefined;
    return checked;
  } catch {
    // Refused: the single add refuses it again, with exactly its answer.
    return undefined;
  }
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
    return answeredItem(statusCode, body);
  } catch (error) {
    return errorItem(isHttpError(error) && error.status < 500 ? error : retryable(deps, error));
  }
}

function retryable(deps: AddTaskDeps, error: unknown): HttpError {
  if (isHttpError(error) && error.status === 503) return error;
  // The single route's error responder would log this; here the item answers, so say it ourselves.
  deps.onError?.("adding a batch item failed; answered 503 for it", error, "");
  return serviceUnavailable("could not add this task; retry it (with its idempotency key)", error);
}
