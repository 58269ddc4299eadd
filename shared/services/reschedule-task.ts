import type { TaskScheduler } from "#shared/adapters/task-scheduler.js";
import type { TaskStore } from "#shared/adapters/task-store.js";
import type { TimerQueue } from "#shared/adapters/timer-queue.js";
import {
  conflict,
  fanOutUnsupported,
  notFound,
  serviceUnavailable,
  topicNotConfigured,
  validationFailed,
} from "#shared/api/errors.js";
import { type TaskView, taskView } from "#shared/api/task-view.js";
import { type PunctualConfig, type TopicConfig, timerSettings, topicConfig } from "#shared/config/index.js";
import { parseRescheduleRequest } from "#shared/domain/add-task-request.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { claimHolders, successorDueAtMs, successorKey, successorRecord } from "#shared/domain/reschedule.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { planTimer, requestedDueMs } from "#shared/domain/timing.js";
import { arm, claimExpiry, dueTime } from "./add-task.js";

export interface RescheduleTaskDeps {
  readonly store: Pick<
    TaskStore,
    "get" | "markRescheduled" | "putNew" | "settleRescheduled" | "moveIdempotencyClaim"
  >;
  readonly timerQueue: Pick<TimerQueue, "arm">;
  readonly scheduler: Pick<TaskScheduler, "createTaskSchedule" | "deleteTaskSchedule">;
  readonly config: PunctualConfig;
  readonly now: () => number;
  /** Told about failures the caller sees only as a 503, and about an old schedule that could not be deleted. */
  readonly onError?: (message: string, error: unknown, taskId: string) => void;
}

/** The answer: the task as it is now (its new `task_id`), and the id it was moved from. */
export type RescheduleView = TaskView & { readonly rescheduled_from?: string };

/**
 * How a repeat finds out that the task was already moved where it asks (idempotent retries). `movedAtMs`: the
 * clock the earlier move computed its target from (the old item's `rescheduledAtMs`), undefined before a move.
 * `movedOn`: asked again once the successor is read and found moved on itself (`rescheduled`).
 */
type SameTarget = (successorDueAtMs: number, movedAtMs?: number, movedOn?: boolean) => boolean;

/** `PATCH /v1/tasks/{id}` with one of `due_at` | `delay_seconds` | `timing_moment`: the add rules for due times. */
export async function rescheduleTask(
  deps: RescheduleTaskDeps,
  taskId: string | undefined,
  body: unknown,
): Promise<RescheduleView> {
  const { key, topic } = await taskAndTopic(deps, taskId);
  const parsed = parseRescheduleRequest(body, topic.maxDelaySeconds);
  if (!parsed.ok) throw validationFailed(parsed.issues);
  const nowMs = deps.now();
  // A successor may land a few milliseconds after the asked time (see freeSuccessorDue): still that target. A
  // repeat of a move is judged by the target the request had when the task was moved: `delay_seconds` and a past
  // `due_at` (now) name another instant a second later, and the client retries a PATCH after a 503 or a lost
  // answer; a 409 there would leave a successor the first try could not arm to the sweeper, after the old due time.
  const movedTo = (due: number, movedAtMs: number) => isTarget(due, targetAt(parsed.value, movedAtMs));
  let dueAtMs: number;
  try {
    dueAtMs = dueTime(parsed.value, topic, nowMs);
  } catch (refusal) {
    return repeatOfRefused(deps, key.taskId, movedTo, refusal);
  }
  const sameTarget: SameTarget = (due, movedAtMs) => {
    // A past time means now, and a task already due is due now, as `run` finds it: moved to this instant instead,
    // it would leave its place in its group's FIFO queue for one behind the tasks due since (order broken).
    if (movedAtMs === undefined && dueAtMs === nowMs && due <= nowMs) return true;
    return movedAtMs === undefined ? isTarget(due, dueAtMs) : movedTo(due, movedAtMs);
  };
  return moveTask(deps, key.taskId, { dueAtMs, nowMs }, topic, sameTarget);
}

/** Whether a successor due at `due` is the one a move to `target` made (it may land a few ms after it). */
function isTarget(due: number, target: number | undefined): boolean {
  return target !== undefined && due >= target && due - target < SUCCESSOR_TRIES;
}

/**
 * The due time a request had at `clockMs`, when its move was made: by the request alone, not today's settings. A
 * topic's `maxDelay` lowered since (runtime settings) would refuse it, and so turned the repeat of a move it made
 * into a 409 "rescheduled to …". Undefined when it names no representable time.
 */
function targetAt(request: Parameters<typeof dueTime>[0], clockMs: number): number | undefined {
  const requested = requestedDueMs(request.due, clockMs);
  return Number.isSafeInteger(requested) ? Math.max(requested, clockMs) : undefined;
}

/**
 * A PATCH today's settings refuse (a `maxDelay` lowered since) may repeat one they accepted, its answer lost or a
 * 503: answered with the task it moved (and that move finished), as a keyed add's repeat is (add-task.ts,
 * repeatOfRefused). A 400 there told the client a move that stands was refused, and left one stopped before arming
 * to the sweeper, after the old due time. Anything else keeps its refusal, and changes nothing.
 */
async function repeatOfRefused(
  deps: RescheduleTaskDeps,
  taskId: string,
  movedTo: (due: number, movedAtMs: number) => boolean,
  refusal: unknown,
): Promise<RescheduleView> {
  const old = await deps.store.get(taskId);
  const due = old?.status === "rescheduled" ? successorDueAtMs(old) : undefined;
  const movedAtMs = old?.rescheduledAtMs;
  if (!old || due === undefined || movedAtMs === undefined || !movedTo(due, movedAtMs)) throw refusal;
  return repeat(deps, old, (d, at) => at !== undefined && movedTo(d, at));
}

/**
 * `POST /v1/tasks/{id}/run`: a reschedule to now. A repeat finds the task already moved to a due time ≤ now, or
 * moved to "now" by another run: a concurrent run that read its clock a few milliseconds before the winning one
 * wrote (a double click, a retried timeout) finds a successor due just after its own clock, and is the same request.
 */
export async function runTask(deps: RescheduleTaskDeps, taskId: string | undefined): Promise<RescheduleView> {
  const { key, topic } = await taskAndTopic(deps, taskId);
  const nowMs = deps.now();
  // A task moved to a time now past is due, so a run has nothing to do — unless it has since moved on to a later
  // time: then only the run that made it (its repeat after a lost answer) is answered with it.
  const sameTarget: SameTarget = (due, movedAtMs, movedOn) =>
    (due <= nowMs && !movedOn) ||
    (movedAtMs !== undefined && due >= movedAtMs && due - movedAtMs < SUCCESSOR_TRIES);
  return moveTask(deps, key.taskId, { dueAtMs: nowMs, nowMs }, topic, sameTarget);
}

async function taskAndTopic(deps: RescheduleTaskDeps, taskId: string | undefined) {
  const key = taskId ? parseTaskId(taskId) : undefined;
  if (!key) throw notFound();
  const topic = topicConfig(deps.config, key.topic);
  if (!topic) {
    // A task of a topic removed from the configuration cannot be planned: no queue could deliver it. It still
    // reads 200 (GET), so it is a conflict, as a replay answers, not a 404 saying it does not exist.
    if (!(await deps.store.get(key.taskId))) throw notFound();
    throw topicNotConfigured(key.topic);
  }
  return { key, topic };
}

/**
 * Moves a `scheduled` task to a new due time without a transaction (dynalite has none), in an order where a
 * crash between any two steps loses nothing and delivers nothing twice:
 *
 * (a) the old item `scheduled → rescheduled` with `rescheduledTo` = the new id (conditional: this write is the
 *     reschedule; a relay or cancel that got there first wins and this answers 409). It stays in the sweep index;
 * (b) the successor is written (same content, callback, group, key, acceptance ULID) and its timer armed as
 *     add-task arms one;
 * (c) the old item leaves the sweep index, and its schedule, if any, is deleted (best effort: a schedule that
 *     still fires wakes the relay, which drops a task that is not `scheduled`).
 *
 * A crash after (a) or (b) is finished by a retried request (the old item says where it went: same target →
 * steps (b) and (c) again) or by the sweeper, which finds the `rescheduled` item still in its index once the old
 * due time has passed and creates, arms and settles the successor (shared/services/sweeper/repair.ts).
 */
async function moveTask(
  deps: RescheduleTaskDeps,
  taskId: string,
  target: { readonly dueAtMs: number; readonly nowMs: number },
  topic: TopicConfig,
  sameTarget: SameTarget,
): Promise<RescheduleView> {
  const { dueAtMs, nowMs } = target;
  const current = await deps.store.get(taskId);
  if (!current) throw notFound();
  if (current.fanOut || current.parentTaskId) throw fanOutNotMovable();
  if (current.status === "rescheduled") return repeat(deps, current, sameTarget);
  // Already where it is asked to be (the same due time is the same id; a due task run now): nothing to move. So is
  // a `queued` one (the sweeper sent a held task again, or a replay): it is due and on its way, and a run answered
  // 200 before the sweeper's mark, repeated after a lost answer, must not become a 409.
  const inPlace = sameTarget(current.dueAtMs);
  if (current.status !== "scheduled" && !(current.status === "queued" && inPlace))
    throw notScheduled(current);
  if (inPlace) return taskView(current);
  if (current.cancelRequestedAtMs !== undefined) throw cancelPendingNotMovable(current);

  const successorId = await freeSuccessorId(deps, current, dueAtMs);
  const marked = await deps.store.markRescheduled(taskId, {
    to: successorId,
    // The clock the target was computed from: a repeat recomputes its target with it (see rescheduleTask).
    atMs: nowMs,
    // The old item forwards a repeated add (its idempotency claim names the old id) for as long as the claim
    // would live for the new due time; only then may TTL remove it. Nor before its own due time is well past: a
    // move that stops after this write is finished by the sweeper once that time has passed (the sweep index
    // holds the item by it), and a task moved days earlier would otherwise be gone by then, never delivered.
    // Nor, a successor moved on, before its own floor: the item it was moved from may still be in the sweep index
    // (that move stopped after arming, and this one's settling of it may stop too), and the sweeper that finds it
    // at its old due time must find this item there, or it writes and delivers it again. Its successor inherits
    // this TTL as its floor, so the floor of a chain of moves is the latest of its items'.
    expiresAt: Math.max(claimExpiry(Math.max(dueAtMs, current.dueAtMs), topic), current.expiresAtFloor ?? 0),
  });
  if (marked.outcome === "not-found") throw notFound();
  if (marked.outcome === "conflict") {
    if (marked.task.status === "rescheduled") return repeat(deps, marked.task, sameTarget);
    if (marked.task.cancelRequestedAtMs !== undefined) throw cancelPendingNotMovable(marked.task);
    throw notScheduled(marked.task);
  }
  return completeMove(deps, marked.task);
}

/** How many milliseconds after the asked due time a successor's id is looked for (see freeSuccessorId). */
const SUCCESSOR_TRIES = 8;

/**
 * The successor's id: the acceptance ULID at the new due time, unless an item already has that id. That happens
 * when a task is moved back to a due time it had before (A at T1 → T2 → T1): the first item, now `rescheduled`,
 * holds the id, and writing the successor over it would find it "existing" and arm nothing — the task was lost
 * behind a 200. The next free millisecond is taken instead (later by at most a few ms: never early; among its
 * group's tasks due then it sorts by the same ULID). One read per move, which is rare.
 */
async function freeSuccessorId(
  deps: RescheduleTaskDeps,
  current: TaskRecord,
  dueAtMs: number,
): Promise<string> {
  for (let due = dueAtMs; due < dueAtMs + SUCCESSOR_TRIES; due++) {
    const id = successorKey(current, due).taskId;
    if (!(await deps.store.get(id))) return id;
  }
  throw conflict("this task was moved to that due time too often; choose another due time", {
    task_status: current.status,
  });
}

/** A request for a task already rescheduled: the same target finishes that move; another is a conflict. */
async function repeat(
  deps: RescheduleTaskDeps,
  old: TaskRecord,
  sameTarget: SameTarget,
): Promise<RescheduleView> {
  const due = successorDueAtMs(old);
  if (due === undefined || !sameTarget(due, old.rescheduledAtMs)) throw movedElsewhere(old);
  const view = old.sweepShard !== undefined ? await completeMove(deps, old) : await settledMove(deps, old);
  if (view.status === "rescheduled" && !sameTarget(due, old.rescheduledAtMs, true)) throw movedElsewhere(old);
  return view;
}

/** Both a PATCH and a `run` meet it: the message names no verb (it said "reschedule" to a `run`). */
function movedElsewhere(old: TaskRecord) {
  return conflict(`task was rescheduled to ${old.rescheduledTo}; use that task_id instead`, {
    task_status: old.status,
    ...(old.rescheduledTo ? { rescheduled_to: old.rescheduledTo } : {}),
  });
}

/**
 * A repeat of a move that was settled: its successor was written and armed before the old item left the sweep
 * index, so it is answered as it is, finished or not (a finished one is kept as long as the old item: its
 * `expiresAtFloor`). Missing, it finished and was removed while the old item still forwards — written before
 * successors carried that floor, or removed first by TTL, which deletes lazily and in no set order: writing it
 * again (completeMove) would deliver it once more, days later.
 */
async function settledMove(deps: RescheduleTaskDeps, old: TaskRecord): Promise<RescheduleView> {
  const successor = old.rescheduledTo ? await deps.store.get(old.rescheduledTo) : undefined;
  if (successor) return { ...taskView(successor), rescheduled_from: old.taskId };
  throw conflict(
    `task was rescheduled to ${old.rescheduledTo}, which has finished and is no longer retained`,
    { task_status: old.status, ...(old.rescheduledTo ? { rescheduled_to: old.rescheduledTo } : {}) },
  );
}

/** Steps (b) and (c) for an item already marked `rescheduled`; safe to repeat. */
export async function completeMove(deps: RescheduleTaskDeps, old: TaskRecord): Promise<RescheduleView> {
  const due = successorDueAtMs(old);
  if (due === undefined) throw new Error(`rescheduled task ${old.taskId} names no successor`);
  const nowMs = deps.now();
  const plan = planTimer(due, nowMs, timerSettings(deps.config));
  let successor = successorRecord(old, due, plan);
  if ((await deps.store.putNew(successor)) === "exists") {
    successor = (await deps.store.get(successor.taskId)) ?? successor;
  }
  // The claim follows before the arm: a move that answers 503 at arming has pointed it at its successor already,
  // so a move of that successor, which points it on from there, carries it however many such moves came before.
  await keepClaim(deps, old, successor.taskId);
  // Armed also when it existed: the earlier attempt may have stopped before arming; a second timer message is
  // harmless (the relay and FIFO deduplication absorb it), a missing one would leave the task to the sweeper.
  // Planned again as the timer is sent: a delay counted from before the writes would fire it that much late.
  if (successor.status === "scheduled") {
    try {
      await arm(deps, successor.taskId, planTimer(due, deps.now(), timerSettings(deps.config)));
    } catch (error) {
      deps.onError?.("arming a rescheduled task's timer failed", error, successor.taskId);
      throw serviceUnavailable("could not arm the task's new timer; retry the request", error);
    }
  }
  // A successor moved on: the move that made it is settled too (it may have stopped before its last write), or
  // the sweeper would find that item at its old due time and write this one again once its TTL had removed it.
  if (old.rescheduledFrom !== undefined) await deps.store.settleRescheduled(old.rescheduledFrom);
  await deps.store.settleRescheduled(old.taskId);
  await disarmOld(deps, old);
  return { ...taskView(successor), rescheduled_from: old.taskId };
}

/**
 * The task's idempotency claim follows it to its successor, and lives as long as a claim for the new due time:
 * kept as the add wrote it (counted from the first due time, naming the first id), a task moved later outlived its
 * key — a repeated add then claimed it afresh and made a second task — and the items it was moved from. Before
 * the old item is settled, so a move that stops here is finished, this included, by its retry or the sweeper.
 */
async function keepClaim(deps: RescheduleTaskDeps, old: TaskRecord, successorId: string): Promise<void> {
  const topic = topicConfig(deps.config, old.topic);
  const due = parseTaskId(successorId)?.dueAtMs;
  if (old.idempotencyKey === undefined || !topic || due === undefined) return;
  await deps.store.moveIdempotencyClaim(old.topic, old.idempotencyKey, {
    from: claimHolders(old),
    to: successorId,
    // Nor shorter than the old item's TTL (the later of its due times', markRescheduled): a task due in a month
    // run now had its claim cut to now's, and once TTL removed it a repeated add made a second task, due that
    // month and delivered again, while the first was still kept (its floor is that TTL).
    expiresAt: Math.max(claimExpiry(due, topic), old.expiresAt ?? 0),
  });
}

async function disarmOld(deps: RescheduleTaskDeps, old: TaskRecord): Promise<void> {
  if (old.timer !== "schedule" || !old.scheduleName) return;
  try {
    await deps.scheduler.deleteTaskSchedule(old.scheduleName);
  } catch (error) {
    deps.onError?.("deleting a rescheduled task's old schedule failed", error, old.taskId);
  }
}

/**
 * Fan-out tasks are not moved (issue 14, point 3): a parent's copies would each need their own move, and a moved
 * copy would leave its subscriber's lane. Cancel the task and add it again with the new due time instead.
 */
function fanOutNotMovable() {
  return fanOutUnsupported(
    "a fan-out task and its subscribers' copies cannot be rescheduled or run early; cancel it and add it again with the new due time",
  );
}

/**
 * A `scheduled` task carrying a cancel request: deliver started it with its batch behind others of its group, an
 * operator's cancel met that start (202), and its group failed before its turn, so the start was given back with
 * the request kept (its next start ends it `cancelled`, never called). Since 2026-12-06 that give-back ends such a
 * task `cancelled` itself; this stays for one given back by older code. A move would write a successor without the
 * request, delivered at its new time after the operator was told it would not be.
 */
function cancelPendingNotMovable(task: TaskRecord) {
  return conflict(
    "task's cancel was requested: it ends cancelled at its next start and is not called; DELETE it to cancel it now",
    { task_status: task.status },
  );
}

function notScheduled(task: TaskRecord) {
  // Read back scheduled after the store's last refused write (DynamoTaskStore.markRescheduled): deliver held it at
  // each write and gave its start back before each read. A repeat finds it still waiting, or started for good.
  if (task.status === "scheduled") {
    return conflict(
      "task is scheduled, but delivery was starting its attempt each time the move was written; repeat the request",
      { task_status: task.status },
    );
  }
  // A finished task is not moved, but it can be delivered again: the answer says how, as replay's says the reverse.
  const again =
    task.status === "failed" || task.status === "delivered"
      ? `; to deliver it again, replay it (POST /v1/tasks/${task.taskId}/replay)`
      : "";
  return conflict(`task is ${task.status}; only a scheduled task can be rescheduled${again}`, {
    task_status: task.status,
  });
}
