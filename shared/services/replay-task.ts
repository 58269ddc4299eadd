import type { TaskStore } from "#shared/adapters/task-store.js";
import type { TopicQueue } from "#shared/adapters/topic-queue.js";
import type { TopicSettingsSource } from "#shared/adapters/topic-settings.js";
import {
  conflict,
  HttpError,
  isHttpError,
  isThrottledUnapplied,
  notFound,
  serviceUnavailable,
  toHttpError,
  topicNotConfigured,
  validationFailed,
} from "#shared/api/errors.js";
import { replayTaskQuerySchema } from "#shared/api/schemas/tasks.js";
import { type TaskView, taskView } from "#shared/api/task-view.js";
import { type PunctualConfig, topicConfig } from "#shared/config/index.js";
import { echoed } from "#shared/domain/echoed.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { replayDeduplicationId } from "#shared/domain/replay.js";
import { toIssues } from "#shared/domain/request-issues.js";
import { FIFO_DEDUPLICATION_WINDOW_MS } from "#shared/domain/sweep.js";
import {
  claimExpiry,
  retentionEnded,
  retentionExpiry,
  type TaskRecord,
  type TaskSummary,
} from "#shared/domain/task.js";
import { forEachBounded } from "#shared/runtime/async.js";
import { replayEveryCopy, replaySubscriber } from "./fan-out/replay.js";

export interface ReplayDeps {
  /** `get`: a fan-out task's replay reads it and answers its subscribers' rows (issue 14, point 3). */
  readonly store: Pick<TaskStore, "markReplayed" | "get" | "revertReplay" | "keepFanOutParent">;
  readonly topicQueue: Pick<TopicQueue, "sendReplay">;
  /** Topic → its FIFO queue URL (the topology's `topicQueues`). */
  readonly topicQueues: Readonly<Record<string, string>>;
  readonly now: () => number;
  /**
   * The deployed topics' settings: their retention and delivery window decide whether a fan-out task completed and
   * expired, how long a replayed copy keeps its parent, and a reverted task's TTL without an `expiresAt` of its own.
   */
  readonly config?: PunctualConfig;
  /** The runtime topic settings, which win over `config` where a replay reads a topic's setting (currentTopics). */
  readonly settings?: TopicSettingsSource;
  /** A send that failed after the task was marked and could not be undone: the sweeper re-sends it. */
  readonly onSendError?: (error: unknown, taskId: string) => void;
}

/**
 * `POST /v1/tasks/{id}/replay`: a `failed` or `delivered` task is delivered again, keeping its id and history.
 *
 * Table first, queue second (dynalite has no transactions, and none is needed): the conditional write makes the
 * task `queued` again and puts it back in the sweep index; then its message goes to the topic's FIFO queue
 * (MessageGroupId = its group, dedup id `<id>#r<replays>`). A crash between the two leaves a `queued` task with
 * no message — exactly the stalled task the sweeper re-sends — so the replay is never lost. A send that fails is
 * undone (sendOrUndo): left `queued` for the sweeper's stall window, a later task of its group replayed meanwhile
 * went first. The other order could deliver a message whose task still reads `failed`, which deliver drops.
 */
export async function replayTask(
  deps: ReplayDeps,
  taskId: string | undefined,
  rawQuery: Readonly<Record<string, string | undefined>> = {},
): Promise<TaskView> {
  const query = replayTaskQuerySchema.safeParse(rawQuery);
  if (!query.success) throw validationFailed(toIssues(query.error.issues, rawQuery));
  const key = taskId ? parseTaskId(taskId) : undefined;
  if (!taskId || !key) throw notFound();
  await refuseUndeliverable(deps, taskId, key.topic);
  if (query.data.subscriber !== undefined) return replaySubscriber(deps, taskId, query.data.subscriber);
  const read = await readBeforeMark(deps, taskId);
  await keepParents(deps, [read]);
  const { result, before } = await markForReplay(deps, taskId, read).catch((error: unknown) => {
    throw replayFailure(error, false);
  });
  if (result.outcome === "not-found") throw notFound();
  if (result.outcome === "conflict" && retentionEnded(result.task, deps.now()))
    throw retentionOver(result.task);
  // A fan-out parent is never failed or delivered itself: its replay is its copies' (shared/services/fan-out/).
  if (result.outcome === "conflict" && result.task.fanOut) return replayEveryCopy(deps, result.task);
  if (result.outcome === "conflict") {
    await sendIfJustReplayed(deps, result.task);
    throw notReplayable(result.task);
  }
  throwIfUndone(await sendOrUndo(deps, before, result.task));
  return taskView(result.task);
}

/** How a replay marks its task (markForReplay). */
export interface MarkOptions {
  /** Only a `failed` task (the bulk replay of dead letters): a `delivered` one is a conflict. */
  readonly onlyFailed?: boolean;
  /**
   * Told each mark's time before it is written: a mark that fails may have landed, and the bulk replay knows its
   * own by that time (`replayedAtMs`) when it reads the task back (sendIfMarkLanded).
   */
  readonly onMark?: (atMs: number) => void;
}

/**
 * A replay's mark (a single replay's, a fan-out copy's, the bulk replay's), with `before` as the undo of a failed
 * send must restore it. Refused by another replay's mark that was undone before the refusal was read (its send
 * failed: its 503 says nothing was replayed), the task is the dead letter (or delivered task) it was: it is marked
 * again, once, with `before` the task as read. A 409 "only a failed or delivered task can be replayed; this one is
 * failed" matched no order of the two requests; the bulk replay passed such a task over, and its group's later
 * tasks were sent ahead of it.
 */
export async function markForReplay(
  deps: Pick<ReplayDeps, "store" | "now">,
  taskId: string,
  read: TaskSummary | undefined,
  options: MarkOptions = {},
): Promise<{
  result: Awaited<ReturnType<ReplayDeps["store"]["markReplayed"]>>;
  before: TaskSummary | undefined;
}> {
  const mark = () => {
    const atMs = deps.now();
    options.onMark?.(atMs);
    return options.onlyFailed
      ? deps.store.markReplayed(taskId, atMs, { onlyFailed: true })
      : deps.store.markReplayed(taskId, atMs);
  };
  const result = await mark();
  if (result.outcome !== "conflict" || !sameLife(read, result.task, deps.now()))
    return { result, before: read };
  return { result: await mark(), before: result.task };
}

/**
 * Whether `now` is still the finished task `before` was: same status and finish time (a replay undone puts it back
 * so; one delivered or dead-lettered again since finished anew), within its retention. A fan-out parent is neither.
 */
export function sameLife(before: TaskSummary | undefined, now: TaskSummary, nowMs: number): boolean {
  if (!before || now.fanOut || before.status !== now.status || retentionEnded(now, nowMs)) return false;
  if (now.status === "failed") return now.failedAtMs === before.failedAtMs;
  return now.status === "delivered" && now.deliveredAtMs === before.deliveredAtMs;
}

/**
 * A single replay of a task that is not finished. A moved task (its old id, `rescheduled`) lives on under
 * `rescheduled_to`, which the answer names as cancel and PATCH do: that is the task to replay once it has finished.
 */
function notReplayable(task: TaskSummary): HttpError {
  const moved = task.status === "rescheduled" && task.rescheduledTo !== undefined;
  const where = moved ? ` (moved: replay ${task.rescheduledTo} instead)` : "";
  return conflict(`only a failed or delivered task can be replayed; this one is ${task.status}${where}`, {
    task_status: task.status,
    ...(moved ? { rescheduled_to: task.rescheduledTo } : {}),
  });
}

/**
 * The task as it is before a single replay's mark: what a failed send puts back (undoReplay), the mark itself
 * resetting `attempts` and removing `expiresAt`. A read that failed wrote nothing, however it failed (throttled, a
 * 5xx, a timeout): the 503 "retry" any failed read answers, not a write's 500 "may have been replayed".
 */
export async function readBeforeMark(deps: ReplayDeps, taskId: string): Promise<TaskRecord | undefined> {
  return deps.store.get(taskId).catch((error: unknown) => {
    throw toHttpError(error);
  });
}

/**
 * Sends a task a single replay has just marked; a failed send is undone (undoReplay) when `before` is the task
 * this replay marked (one replay more; none came between the read and the mark). Else it is left to the sweeper.
 */
export async function sendOrUndo(
  deps: ReplayDeps,
  before: TaskSummary | undefined,
  marked: TaskSummary,
): Promise<"sent" | Undone> {
  if (await sendReplayed(deps, marked)) return "sent";
  if (!before || (before.replays ?? 0) + 1 !== marked.replays) return "moved-on";
  return undoReplay(deps, before, marked);
}

/** A single replay's answer when its send failed: 503 when undone (nothing replayed), 409 when cancelled. */
export function throwIfUndone(outcome: "sent" | Undone, subscriber?: string): void {
  const whose = subscriber === undefined ? "the task" : `subscriber "${echoed(subscriber)}"'s copy`;
  const details: Record<string, string> = subscriber === undefined ? {} : { subscriber: echoed(subscriber) };
  if (outcome === "reverted")
    throw serviceUnavailable(
      `${whose} could not be sent to its queue, so it was not replayed (it is as it was): retry the request`,
      undefined,
      details,
    );
  if (outcome === "cancelled")
    throw conflict(`${whose} was cancelled before its replay was sent; it was not replayed`, {
      task_status: "cancelled",
      ...details,
    });
  if (outcome === "not_found") throw notFound();
}

/** Why a task whose send failed and whose revert was refused was not replayed after all (undoReplay). */
export const UNDONE_ELSEWHERE = {
  cancelled: "status cancelled: cancelled before its replay was sent; not replayed",
  not_found: "not_found",
} as const;

export type Undone = "reverted" | "moved-on" | keyof typeof UNDONE_ELSEWHERE;

/**
 * A task whose send failed goes back to what it was (`failed` or `delivered`, as `before`), so a retry replays
 * its group from it: left `queued` without a message, it would travel only once the sweeper found its group
 * stalled (minutes later), after the followers the retry sends at once. Not undone when it has moved on (a lost
 * send that landed, an attempt started) or the write fails: then it is replayed, and its message (or the
 * sweeper's) carries it. Not undone either when it was cancelled meanwhile (a `queued` task can be, until its
 * attempt starts): then it was not replayed, and the answer says so with its status rather than counting it.
 */
export async function undoReplay(
  deps: ReplayDeps,
  before: TaskSummary,
  marked: TaskSummary,
): Promise<Undone> {
  const status: "failed" | "delivered" = before.status === "delivered" ? "delivered" : "failed";
  const finishedAtMs = status === "delivered" ? before.deliveredAtMs : before.failedAtMs;
  const expiresAt = before.expiresAt ?? (await retentionFrom(deps, before.topic, finishedAtMs ?? deps.now()));
  try {
    const replay = { replays: marked.replays ?? 0, attempts: before.attempts, expiresAt, status };
    if (await deps.store.revertReplay(before.taskId, replay)) return "reverted";
    // Only on this rare path (a failed send, then a refused revert): one strongly consistent read says why.
    const now = await deps.store.get(before.taskId);
    if (!now) return "not_found";
    return now.status === "cancelled" ? "cancelled" : "moved-on";
  } catch (error) {
    deps.onSendError?.(error, before.taskId);
    return "moved-on";
  }
}

/** A finished task's TTL by its topic's current retention (none known: it ends at once, as before). */
async function retentionFrom(deps: ReplayDeps, topic: string, finishedAtMs: number): Promise<number> {
  const config = await currentTopics(deps);
  return retentionExpiry(finishedAtMs, (config && topicConfig(config, topic)?.retentionDays) ?? 0);
}

/**
 * The topics' settings as a replay's decision reads them: the runtime ones when the function has a settings source,
 * as GET, DELETE, the list and the add read them (docs/OPERATIONS.md "Topic settings without a deploy"). With the
 * deployed ones, a retention raised at runtime had a replay refuse as completed and expired (404) a fan-out task GET
 * still served, and keep a replayed copy's parent only for the deployed retention: the parent expired (404 on its
 * id) while deliver retained its copy. Read only where a setting decides, so a plain replay never waits on AppConfig.
 */
export async function currentTopics(deps: ReplayDeps): Promise<PunctualConfig | undefined> {
  return deps.settings ? deps.settings.current() : deps.config;
}

/**
 * A task of a topic no longer configured (removed while its tasks are retained) has no queue to go to, and the
 * sweeper skips its group: replayed, it would stay `queued` for good, out of the dead-letter list and without its
 * TTL. Refused before anything is written: 409 for a task that is there (it reads 200), 404 for an id naming none —
 * a typo in its topic, say — as GET, DELETE, PATCH and run answer it, not a conflict about a topic "not configured
 * any more" that may never have been. The read is paid only on this path.
 */
async function refuseUndeliverable(deps: ReplayDeps, taskId: string, topic: string): Promise<void> {
  if (Object.hasOwn(deps.topicQueues, topic)) return;
  if (!(await readBeforeMark(deps, taskId))) throw notFound();
  throw topicNotConfigured(topic);
}

/** Parents kept at once by a bulk replay's copies (one UpdateItem each). */
const KEEP_CONCURRENCY = 16;

/**
 * The fan-out parents of the copies about to be replayed (`failed` or `delivered`, within their retention), each
 * kept as its add kept it but counted from now (claimExpiry). A parent's TTL is set once, at its
 * add, and a copy's new life is not bounded by it: a copy replayed near that TTL (or replayed again) was being
 * delivered, or was dead-lettered with days of its retention left, while DynamoDB's TTL removed its parent — the
 * task's id then answered 404, and until then a replay through it was a 409 "retention ended". Kept before the
 * mark, so a crash between them only keeps a parent longer. A failed write changed nothing: a 503, nothing replayed.
 */
export async function keepParents(
  deps: ReplayDeps,
  tasks: readonly (TaskSummary | undefined)[],
  details?: Record<string, number>,
): Promise<void> {
  const nowMs = deps.now();
  const copies = tasks.filter(
    (task): task is TaskSummary & { parentTaskId: string } =>
      task?.parentTaskId !== undefined &&
      ["failed", "delivered"].includes(task.status) &&
      !retentionEnded(task, nowMs),
  );
  // The settings deliver retains the replayed copy by, read only when there is a parent to keep.
  const config = copies.length > 0 ? await currentTopics(deps) : undefined;
  const parents = new Map<string, number>();
  for (const task of copies) {
    const topic = config && topicConfig(config, task.topic);
    if (topic) parents.set(task.parentTaskId, claimExpiry(nowMs, topic));
  }
  try {
    await forEachBounded([...parents], KEEP_CONCURRENCY, async ([id, expiresAt]) => {
      await deps.store.keepFanOutParent(id, expiresAt);
    });
  } catch (error) {
    const message = "keeping the task's fan-out parent for the replay failed; nothing was replayed: retry";
    throw serviceUnavailable(message, error, details);
  }
}

/** Why a bulk replay skips a task past its retention (retentionOver). */
export const RETENTION_ENDED = "retention ended: kept only until DynamoDB's TTL removes it, not replayed";

/**
 * A task past its retention that DynamoDB's TTL has not deleted yet (it deletes lazily, up to days later): GET and
 * the lists still show it, so it is a 409 that says why rather than a 404; the store's mark refused it.
 */
export function retentionOver(task: TaskSummary, subscriber?: string): HttpError {
  const endedAt = new Date((task.expiresAt ?? 0) * 1000).toISOString();
  const whose = subscriber === undefined ? "this task's" : `subscriber "${echoed(subscriber)}"'s copy's`;
  return conflict(
    `${whose} retention ended at ${endedAt}: it can no longer be replayed, and stays readable only until DynamoDB's TTL removes it`,
    {
      task_status: task.status,
      retention_ended_at: endedAt,
      ...(subscriber === undefined ? {} : { subscriber: echoed(subscriber) }),
    },
  );
}

/** Sends a task just marked replayed to its topic queue; false (logged) when the send failed. */
export async function sendReplayed(deps: ReplayDeps, task: TaskSummary): Promise<boolean> {
  // Own keys only: the record is built from the topology, and a topic named "constructor" must not find Object's.
  const queueUrl = Object.hasOwn(deps.topicQueues, task.topic) ? deps.topicQueues[task.topic] : undefined;
  try {
    if (!queueUrl) throw new Error(`topic ${task.topic} has no FIFO queue in the topology`);
    await deps.topicQueue.sendReplay(
      queueUrl,
      task.pk,
      task.taskId,
      replayDeduplicationId(task),
      task.scheduleId,
    );
    return true;
  } catch (error) {
    deps.onSendError?.(error, task.taskId);
    return false;
  }
}

/**
 * A task found `queued` by a replay's mark, replayed within SQS's deduplication window and not started: the
 * replay may be this very call's (DynamoDB applied the write, its answer was lost, and the SDK's retry was refused
 * by the condition) or a concurrent one still between its mark and its send. Its message is sent under that
 * replay's dedup id: if a send already went, SQS drops this one; if none did, the task goes now rather than when
 * the sweeper finds it stalled, minutes later (and after any follower a bulk replay sent meanwhile).
 */
export async function sendIfJustReplayed(deps: ReplayDeps, task: TaskSummary): Promise<void> {
  const justReplayed =
    task.status === "queued" &&
    task.attempts === 0 &&
    task.replayedAtMs !== undefined &&
    deps.now() - task.replayedAtMs < FIFO_DEDUPLICATION_WINDOW_MS;
  if (justReplayed) await sendReplayed(deps, task);
}

/**
 * A replay's failure. Not the 503 "retry the request" a failed AWS call answers elsewhere, unless nothing can have
 * been replayed (our own refusals; a throttled call, which changed nothing, before any replay): a write that failed
 * otherwise (a 5xx, a timeout) may have been applied, and a retry after that delivery would replay the task (and
 * call its receiver) again. A 500 saying so.
 */
export function replayFailure(error: unknown, replayedAlready: boolean): unknown {
  if (isHttpError(error)) return error;
  // A throttle after earlier SDK attempts may have been applied as well (`isThrottledUnapplied`).
  if (isThrottledUnapplied(error) && !replayedAlready) return error;
  return new HttpError(
    500,
    "internal_error",
    "the task was or may have been replayed, but a storage call failed; read the task (GET) before replaying it again",
    { cause: error, expose: true },
  );
}
