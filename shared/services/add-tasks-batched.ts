import pMap from "p-map";
import type { TaskStore } from "#shared/adapters/task-store.js";
import type { TimerQueue } from "#shared/adapters/timer-queue.js";
import { type HttpError, isHttpError, serviceUnavailable } from "#shared/api/errors.js";
import type { BatchItemResult } from "#shared/api/schemas/batch.js";
import { timerSettings } from "#shared/config/index.js";
import { makeTaskKey, newUlid } from "#shared/domain/keys.js";
import { indexedOnAdd } from "#shared/domain/sweep.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { planTimer, type TimerPlan } from "#shared/domain/timing.js";
import {
  type AddTaskDeps,
  type AddTaskResponse,
  addResponse,
  arm,
  type CheckedAddRequest,
  checkItemSize,
  leaveForTheSweeper,
  newRecord,
} from "./add-task.js";

/** What the batched path needs beyond the single add: a batch write and a batch arm. */
export interface BatchedAddDeps extends AddTaskDeps {
  readonly store: AddTaskDeps["store"] & Pick<TaskStore, "putNewMany">;
  readonly timerQueue: Pick<TimerQueue, "arm" | "armMany">;
}

/** An item that passed every check and may take the batched path (no idempotency key, no subscribers). */
export interface BatchedItem {
  readonly index: number;
  readonly checked: CheckedAddRequest;
}

/** CreateSchedule has no batch form: Scheduler-path items are armed one call each, this many at once. */
const SCHEDULE_CONCURRENCY = 10;

/** One item's outcome: its answer, by its index in the request. */
export type IndexedResult = readonly [index: number, result: BatchItemResult];

/** A minted item: its task and the timer planned for it when it was made. */
interface MintedItem {
  readonly index: number;
  readonly task: TaskRecord;
  readonly plan: TimerPlan;
}

/**
 * The batched path of POST /v1/tasks/batch (issue 13, point 3): every item of `items` is written in BatchWriteItem
 * calls of 25, then the near-term ones are armed in SendMessageBatch calls of 10 (Scheduler-path ones keep one
 * CreateSchedule each). Each item keeps the single add's contract: 201 only once written AND armed; an item whose
 * write or arming failed answers 503 and is removed as the single add's `armOrRemove` removes a task without an
 * idempotency key (and left to the sweeper when the removal fails too). Never half-added silently.
 *
 * Order: the ULIDs are minted here in request order (the factory is monotonic within a millisecond), and no timer
 * is armed before every write of the batch has returned, so a group's later item cannot be relayed before an
 * earlier one exists: the relay of any of them finds all of them, in key (= request) order.
 */
export async function addBatched(
  deps: BatchedAddDeps,
  items: readonly BatchedItem[],
  nowMs: number,
): Promise<IndexedResult[]> {
  const results: IndexedResult[] = [];
  const tasks: MintedItem[] = [];
  for (const item of [...items].sort((a, b) => a.index - b.index)) {
    try {
      tasks.push({ index: item.index, ...mintTask(deps, item.checked, nowMs) });
    } catch (error) {
      results.push([item.index, refusedItem(error)]);
    }
  }
  const written = await writeAll(deps, tasks, results);
  const armed = await armAll(deps, written, results);
  for (const { index, task } of armed) results.push([index, answeredItem(201, addResponse(task))]);
  return results;
}

/** The task record the single add would make for this request, under a key minted now, and its timer plan. */
function mintTask(
  deps: AddTaskDeps,
  checked: CheckedAddRequest,
  nowMs: number,
): { task: TaskRecord; plan: TimerPlan } {
  const ulid = (deps.newUlid ?? newUlid)(nowMs);
  const key = makeTaskKey(checked.topic.name, checked.groupValue, checked.dueAtMs, ulid);
  const plan = planTimer(checked.dueAtMs, nowMs, timerSettings(deps.config));
  const task = newRecord(key, nowMs, plan, {
    content: checked.request.content.text,
    callbackUrl: checked.callbackUrl,
    groupValue: checked.groupValue,
    idempotencyKey: undefined,
  });
  checkItemSize(task);
  return { task, plan };
}

/**
 * All writes, in batch calls. Items not written answer 503; an item perhaps written (its call failed, its answer
 * may have been lost) is removed first, exactly as the single add's `writeOrRemove` removes a task without a key.
 */
async function writeAll(
  deps: BatchedAddDeps,
  tasks: readonly MintedItem[],
  results: IndexedResult[],
): Promise<MintedItem[]> {
  if (tasks.length === 0) return [];
  const failures = await deps.store.putNewMany(
    tasks.map(({ task }) => ({ task, sweepIndex: indexedOnAdd(task, deps.config.sweeper) })),
  );
  const failed = new Map(failures.map((f) => [f.taskId, f.maybeWritten]));
  await pMap(
    tasks.filter(({ task }) => failed.has(task.taskId)),
    async ({ index, task }) => {
      deps.onError?.("writing a batch item failed; answered 503 for it", undefined, task.taskId);
      if (failed.get(task.taskId)) await removeUnaccepted(deps, task.taskId);
      results.push([index, unavailableItem("could not store the task; it was not accepted, retry it")]);
    },
    { concurrency: SCHEDULE_CONCURRENCY },
  );
  return tasks.filter(({ task }) => !failed.has(task.taskId));
}

/**
 * Arms every written task: near-term ones in SendMessageBatch calls (per-entry results), Scheduler-path ones one
 * CreateSchedule each. An item whose arming failed is removed (no key: nobody else knows its id) and answers 503.
 */
async function armAll(
  deps: BatchedAddDeps,
  written: readonly MintedItem[],
  results: IndexedResult[],
): Promise<MintedItem[]> {
  const queued: { taskId: string; delaySeconds: number }[] = [];
  const scheduled: MintedItem[] = [];
  for (const item of written) {
    if (item.plan.kind === "queue")
      queued.push({ taskId: item.task.taskId, delaySeconds: item.plan.delaySeconds });
    else scheduled.push(item);
  }
  const [unsent, unscheduled] = await Promise.all([
    queued.length > 0 ? deps.timerQueue.armMany(queued) : Promise.resolve([]),
    createSchedules(deps, scheduled),
  ]);
  const failed = new Set([...unsent, ...unscheduled]);
  await pMap(
    written.filter(({ task }) => failed.has(task.taskId)),
    async ({ index, task }) => {
      deps.onError?.("arming the task's timer failed; removing the task", undefined, task.taskId);
      await removeUnaccepted(deps, task.taskId);
      results.push([
        index,
        unavailableItem("could not arm the task's timer; the task was not accepted, retry the request"),
      ]);
    },
    { concurrency: SCHEDULE_CONCURRENCY },
  );
  return written.filter(({ task }) => !failed.has(task.taskId));
}

/** One CreateSchedule per Scheduler-path task (the single add's `arm`); resolves with the ids that failed. */
async function createSchedules(deps: BatchedAddDeps, scheduled: readonly MintedItem[]): Promise<string[]> {
  const failed: string[] = [];
  await pMap(
    scheduled,
    async ({ task, plan }) => {
      try {
        await arm(deps, task.taskId, plan);
      } catch (error) {
        deps.onError?.("creating a batch item's schedule failed", error, task.taskId);
        failed.push(task.taskId);
      }
    },
    { concurrency: SCHEDULE_CONCURRENCY },
  );
  return failed;
}

/**
 * Removes a task the client is told was not accepted, as the single add's `armOrRemove` does for a task without
 * an idempotency key; when the removal fails too, the task goes to the sweeper (it may then be delivered once past
 * due: the documented outcome of a 503 whose clean-up failed, README "POST /v1/tasks").
 */
async function removeUnaccepted(deps: BatchedAddDeps, taskId: string): Promise<void> {
  try {
    await deps.store.removeScheduled(taskId);
  } catch (cleanupError) {
    deps.onError?.("removing an unaccepted batch item failed", cleanupError, taskId);
    await leaveForTheSweeper(deps, taskId);
  }
}

/** An item's result from the single add's answer (status and body), as a batch reports it. */
export function answeredItem(status: number, body: AddTaskResponse): BatchItemResult {
  return {
    status,
    task_id: body.task_id,
    topic: body.topic,
    task_status: body.status,
    due_at: body.due_at,
    ...(body.subscribers ? { subscribers: body.subscribers.map((s) => ({ ...s })) } : {}),
  };
}

function unavailableItem(message: string): BatchItemResult {
  return errorItem(serviceUnavailable(message));
}

/** An item's result from its refusal, as the single add would have answered it (no internals: `toBody`). */
export function errorItem(refusal: HttpError): BatchItemResult {
  const { issues, ...rest } = refusal.toBody().error;
  return { status: refusal.status, error: { ...rest, ...(issues ? { issues: [...issues] } : {}) } };
}

/** `checkItemSize`'s 413, or (never expected) anything else as a 503 for that item alone. */
function refusedItem(error: unknown): BatchItemResult {
  return errorItem(
    isHttpError(error) ? error : serviceUnavailable("could not add this task; retry it", error),
  );
}
