import pMap from "p-map";
import { validationFailed } from "#shared/api/errors.js";
import type { AddTasksBatchResponse, BatchItemResult } from "#shared/api/schemas/batch.js";
import { addTasksBatchBodySchema } from "#shared/api/schemas/batch-request.js";
import {
  type AddTaskRequest,
  isPlainObject,
  parseAddTaskRequest,
  toIssues,
} from "#shared/domain/add-task-request.js";
import {
  type AddTaskDeps,
  type CheckedAddRequest,
  checkParsedAddRequest,
  laneKey,
  maxDelayOf,
  orderingLaneOf,
} from "./add-task.js";
import {
  addBatched,
  addOne,
  type BatchedAddDeps,
  type BatchedItem,
  errorItem,
  inLaneOrder,
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
 * Two paths (issue 13, point 3). Items on topics without subscribers, whose whole ordering group in the request is
 * such items, take the batched path (./add-tasks-batched.ts): their idempotency keys claimed in batch INSERTs of
 * 25, their tasks written in batch calls of 25, their timers armed in SendMessageBatch calls of 10, ~14 calls for
 * 100 keyless items instead of ~200 (~18 with keys; a keyed group of 100 claims its keys one at a time: ~114); a
 * lane whose key was not claimed there falls back to one item at a time. Everything else (fan-out topics; items the single add refuses; an idempotency key that two items of
 * the request share; a group that holds any of them) goes through the single add (shared/services/add-task.ts)
 * item by item, as before (lanes sharing a key one after another: `keyedRuns`). Both paths run side by side: they never share a group, so neither can reorder the
 * other's items.
 */
export async function addTasksBatch(
  deps: BatchedAddDeps,
  body: unknown,
  idempotencyKeyHeader?: string,
): Promise<AddTasksBatchResponse> {
  refuseRequestKey(idempotencyKeyHeader);
  const tasks = parseBatch(body);
  const results: BatchItemResult[] = new Array(tasks.length);
  const nowMs = deps.now();
  const { batched, single, refusals, keys, shared } = splitBatch(deps, tasks, nowMs);
  const { runs, labelsOf } = keyedRuns(single, keys, shared);
  await Promise.all([
    addBatched(deps, batched, nowMs).then((done) => {
      for (const [index, result] of done) results[index] = result;
    }),
    pMap(
      runs,
      (run) =>
        inLaneOrder(
          run,
          (index) => refusals.get(index) ?? addOne(deps, tasks[index]),
          (index, result) => {
            results[index] = result;
          },
          labelsOf,
        ),
      { concurrency: BATCH_CONCURRENCY },
    ),
  ]);
  const added = results.filter((result) => result.status < 300).length;
  return { results, added, failed: results.length - added };
}

/**
 * The lanes that may take the batched path, and the lanes that keep the single add's. A lane (one ordering group,
 * or one item without a group) is batched only when every item in it passes the single add's checks, its topic
 * has no subscribers, and its idempotency key (if any) is held by no other item of the request: a batch of claims
 * holds each key once, and two items with one key are settled by the single add in request order (`keyedRuns`). A
 * group of several items with a key among them is batched only when every item has one (as the typed client sends
 * them): its keys are claimed one at a time in request order, never in the batch INSERTs, so two racing copies of
 * the request cannot each win some of them under ids minted at their own start (./add-tasks-batched.ts,
 * `claimInOrder`, says why that keeps the group's order). A group mixing keyed and keyless items stays on the
 * per-item path: a racing copy adds its keyless items again, and such a duplicate, minted after the other copy's
 * later keys, would be delivered after them. A lane with anything else stays whole on the per-item path.
 */
function splitBatch(
  deps: AddTaskDeps,
  tasks: readonly unknown[],
  nowMs: number,
): {
  batched: BatchedItem[][];
  single: number[][];
  refusals: Map<number, Promise<BatchItemResult>>;
  keys: (string | undefined)[];
  shared: Set<string | undefined>;
} {
  const checks = tasks.map((task) => checkItem(deps, task, nowMs));
  const checked = checks.map((check) => check.checked);
  const keys = checks.map((check) => keyOf(check.request));
  const shared = sharedKeys(keys);
  const batched: BatchedItem[][] = [];
  const single: number[][] = [];
  for (const lane of lanesOf(deps, checks)) {
    const items = lane.map((index) => ({ index, body: tasks[index], checked: checked[index] }));
    // A group of several items with a key among them is batched only when every item has one (see the comment).
    const keyed = items.filter((item) => keys[item.index] !== undefined).length;
    const mixedGroup = items.length > 1 && keyed > 0 && keyed < items.length;
    if (!mixedGroup && items.every((item) => item.checked !== undefined && !shared.has(keys[item.index]))) {
      batched.push(items as BatchedItem[]);
    } else single.push(lane);
  }
  const refusals = new Map<number, Promise<BatchItemResult>>();
  checks.forEach(({ refusal }, index) => {
    if (refusal) refusals.set(index, Promise.resolve(refusal));
  });
  return { batched, single, refusals, keys, shared };
}

/** How the batch adds an item, from one reading of it. */
interface ItemCheck {
  /** The item's request, when it passes the body's own rules. */
  readonly request?: AddTaskRequest;
  /** Every check passed and its topic has no subscribers: it may be batched. */
  readonly checked?: CheckedAddRequest;
  /**
   * Refused by the body's own rules: the single add's answer (`checkAddRequest` throws exactly this), which neither
   * the clock nor the store can change. Read once, not again for its lane and by the single add: an item of 4 MiB
   * (450,000 unknown fields) took seconds a reading, and three readings outlasted the function.
   */
  readonly refusal?: BatchItemResult;
}

function checkItem(deps: AddTaskDeps, item: unknown, nowMs: number): ItemCheck {
  const parsed = parseAddTaskRequest(item, undefined, "caller", maxDelayOf(deps.config));
  if (!parsed.ok) return { refusal: errorItem(validationFailed(parsed.issues)) };
  try {
    const checked = checkParsedAddRequest(deps.config, parsed.value, nowMs);
    return checked.topic.subscribers ? { request: parsed.value } : { request: parsed.value, checked };
  } catch {
    // Refused past the body's own rules (topic, size, due time, group, callback): the single add refuses it again,
    // with exactly its answer at its own time.
    return { request: parsed.value };
  }
}

/** The idempotency key an item would claim, as its topic's claim holds it (keys are per topic), if it has one. */
function keyOf(request: AddTaskRequest | undefined): string | undefined {
  const key = request?.idempotencyKey;
  return key === undefined ? undefined : JSON.stringify([request?.topic, key]);
}

/** Keys that more than one item of the request would claim. */
function sharedKeys(keys: readonly (string | undefined)[]): Set<string | undefined> {
  const seen = new Set<string>();
  const shared = new Set<string | undefined>();
  for (const key of keys) {
    if (key === undefined) continue;
    if (seen.has(key)) shared.add(key);
    seen.add(key);
  }
  return shared;
}

/**
 * Item indexes by ordering group, in request order. Items of one group are added one after another, each written
 * and armed before the next is accepted, so request order within a group is acceptance order, and so delivery
 * order, exactly as for a client sending single adds one at a time; added concurrently, a later item could be
 * written (and, due now, relayed) before an earlier one. Items without a group (no deliver_by value, or refused)
 * are lanes of their own.
 */
function lanesOf(deps: AddTaskDeps, checks: readonly ItemCheck[]): number[][] {
  const lanes = new Map<string, number[]>();
  const alone: number[][] = [];
  checks.forEach(({ request, checked: item }, index) => {
    // An item checked has its lane; one refused later than its body's rules is looked at again for its lane.
    const lane = item
      ? laneKey(item.topic.name, item.groupValue)
      : request && orderingLaneOf(deps.config, request);
    if (lane === undefined) alone.push([index]);
    else if (lanes.has(lane)) lanes.get(lane)?.push(index);
    else lanes.set(lane, [index]);
  });
  return [...lanes.values(), ...alone];
}

/**
 * The per-item path's lanes, those holding a key that another item of the request holds joined into one run in
 * request order, and each item's labels for `inLaneOrder`: its lane and its key (an item after a 5xx of either is not attempted). Run side by side, two items of
 * one key in different groups (different `deliver_by` values, or none) would race for its claim: which one was
 * added, and whose content the key holds, would be chance. Run one after another in request order, the earlier item
 * is the one added and the later one answers what a later request with that key gets (200 with that task; 409 for
 * another body). Such requests are rare: their lanes lose only their concurrency.
 */
function keyedRuns(
  lanes: readonly number[][],
  keys: readonly (string | undefined)[],
  shared: ReadonlySet<string | undefined>,
): { runs: number[][]; labelsOf: (index: number) => unknown[] } {
  const laneOf: number[] = [];
  for (const [n, lane] of lanes.entries()) for (const index of lane) laneOf[index] = n;
  const joined = lanes.filter((lane) => lane.some((index) => shared.has(keys[index])));
  return {
    runs: [...lanes.filter((lane) => !joined.includes(lane)), joined.flat().sort((a, b) => a - b)],
    labelsOf: (index) => [laneOf[index], keys[index] ?? laneOf[index]],
  };
}

/**
 * A batch is keyed item by item (`idempotency_key`). A key for the request as a whole, as a single add takes it,
 * would key no item: ignored, the caller's retry of "an idempotent request" would add every keyless item again.
 */
function refuseRequestKey(idempotencyKeyHeader: string | undefined): void {
  if (idempotencyKeyHeader === undefined) return;
  throw validationFailed([
    {
      path: "Idempotency-Key",
      message: "a batch takes no Idempotency-Key header: give each item its own idempotency_key",
    },
  ]);
}

function parseBatch(body: unknown): readonly unknown[] {
  if (!isPlainObject(body)) {
    throw validationFailed([{ path: "", message: "the request body must be a JSON object" }]);
  }
  const parsed = addTasksBatchBodySchema.safeParse(body);
  if (!parsed.success) throw validationFailed(toIssues(parsed.error.issues, body));
  return parsed.data.tasks;
}
