import { conflict, notFanOut, notFound, toHttpError, unknownSubscriber } from "#shared/api/errors.js";
import type { TaskView } from "#shared/api/task-view.js";
import { echoed } from "#shared/domain/echoed.js";
import { retentionEnded, type TaskRecord, type TaskSummary } from "#shared/domain/task.js";
import {
  currentTopics,
  keepParents,
  markForReplay,
  type ReplayDeps,
  readBeforeMark,
  replayFailure,
  retentionOver,
  sendIfJustReplayed,
  sendOrUndo,
  throwIfUndone,
} from "../replay-task.js";
import { COMPLETED_AND_EXPIRED, expiredParent, viewOf } from "./view.js";

/**
 * `POST /v1/tasks/{id}/replay?subscriber=<id>` (issue 14, point 3): one subscriber's copy of a fan-out task is
 * replayed exactly as a task is (shared/services/replay-task.ts); the others are not touched, so only that
 * subscriber is called again. Answers the fan-out task's view. A task that is not a fan-out task (`not_fan_out`)
 * or a subscriber it does not have (`unknown_subscriber`) is a 400 that changes nothing. A task that completed and
 * expired is the 404 GET answers (refuseIfExpired), whichever subscriber is named.
 */
export async function replaySubscriber(
  deps: ReplayDeps,
  taskId: string,
  subscriber: string,
): Promise<TaskView> {
  const parent = await deps.store.get(taskId);
  if (!parent) throw notFound();
  if (retentionEnded(parent, deps.now())) throw retentionOver(parent);
  if (!parent.fanOut) throw notFanOut(`task ${echoed(taskId)}`);
  const link = parent.fanOut.find((l) => l.subscriber === subscriber);
  if (!link) {
    await refuseIfExpired(deps, parent);
    throw unknownSubscriber(
      subscriber,
      parent.fanOut.map((l) => l.subscriber),
    );
  }
  const read = await readBeforeMark(deps, link.taskId);
  await keepParents(deps, [read]);
  const { result, before } = await markForReplay(deps, link.taskId, read).catch((error: unknown) => {
    throw replayFailure(error, false);
  });
  if (result.outcome === "not-found") {
    await refuseIfExpired(deps, parent);
    throw conflict(
      `subscriber "${echoed(subscriber)}" has no copy of this task (it was never written or has expired)`,
      { subscriber: echoed(subscriber) },
    );
  }
  if (result.outcome === "conflict" && retentionEnded(result.task, deps.now())) {
    throw retentionOver(result.task, subscriber);
  }
  if (result.outcome === "conflict") {
    await sendIfJustReplayed(deps, result.task);
    throw conflict(
      `only a failed or delivered copy can be replayed; subscriber "${echoed(subscriber)}"'s is ${result.task.status}`,
      { task_status: result.task.status, subscriber: echoed(subscriber) },
    );
  }
  throwIfUndone(await sendOrUndo(deps, before, result.task), subscriber);
  return viewOf(deps.store, parent).catch((error: unknown) => {
    throw replayFailure(error, true);
  });
}

/**
 * A 404 for a parent that completed and expired (no copy left once they may have expired), as GET and a replay
 * without `subscriber` answer it: the task is gone, so neither its subscriber's missing copy (409) nor a subscriber
 * it never had (400) is the answer. Read only on those refusals; it writes nothing. Without the topics' config
 * (a caller that passes none) the missing copy is answered as before.
 */
async function refuseIfExpired(deps: ReplayDeps, parent: TaskRecord): Promise<void> {
  const config = await currentTopics(deps);
  if (!config) return;
  const copies = await Promise.all((parent.fanOut ?? []).map((link) => readBeforeMark(deps, link.taskId)));
  if (expiredParent({ ...deps, config }, parent, copies)) throw notFound(COMPLETED_AND_EXPIRED);
}

/**
 * A replay of a fan-out task without `subscriber`: every copy that is finished (failed or delivered) is replayed,
 * each as its own task; copies still on their way are left alone. A copy whose send failed is undone as a task's
 * is (sendOrUndo) and not counted: 503 when that left none replayed. 409 when no copy could be replayed: the
 * single task's retention 409 (retentionOver) when every copy still there is past its retention.
 */
export async function replayEveryCopy(deps: ReplayDeps, parent: TaskRecord): Promise<TaskView> {
  let replayed = 0;
  // Refused copies past their retention, and whether any other copy was refused (one still on its way).
  const ended: TaskSummary[] = [];
  let onItsWay = false;
  let undone = false;
  let found = 0;
  let view: TaskView;
  let kept = false;
  try {
    for (const link of parent.fanOut ?? []) {
      // A read that fails with no copy replayed yet wrote nothing: a 503 "retry" (toHttpError), not replayFailure's 500.
      const before = await deps.store.get(link.taskId).catch((error: unknown) => {
        throw replayed > 0 ? error : toHttpError(error);
      });
      // Once, before the first copy it may replay: a task that completed and expired is answered 404, unwritten.
      if (!kept && (before?.status === "failed" || before?.status === "delivered")) {
        await keepParents(deps, [before]);
        kept = true;
      }
      const { result, before: marked } = await markForReplay(deps, link.taskId, before);
      if (result.outcome !== "not-found") found++;
      if (result.outcome === "conflict") await sendIfJustReplayed(deps, result.task);
      if (result.outcome === "conflict" && retentionEnded(result.task, deps.now())) ended.push(result.task);
      else if (result.outcome === "conflict") onItsWay = true;
      if (result.outcome !== "replayed") continue;
      const sent = await sendOrUndo(deps, marked, result.task);
      if (sent === "sent" || sent === "moved-on") replayed++;
      // A copy cancelled (or gone) meanwhile was not replayed, and a retry will not replay it either: no 503.
      else if (sent === "reverted") undone = true;
    }
    view = await viewOf(deps.store, parent);
  } catch (error) {
    throw replayFailure(error, replayed > 0);
  }
  if (replayed > 0) return view;
  if (undone) throwIfUndone("reverted");
  // No copy left of a task that completed and expired: answered as GET answers it.
  const config = found === 0 ? await currentTopics(deps) : undefined;
  if (config && expiredParent({ ...deps, config }, parent, [])) throw notFound(COMPLETED_AND_EXPIRED);
  if (ended.length > 0 && !onItsWay) throw retentionOver(lastEnded(ended, view.status));
  throw conflict(`no subscriber's copy is failed or delivered; the task is ${view.status}`, {
    task_status: view.status,
  });
}

/** The copy whose retention ended last (when the task's as a whole did), answered with the task's status. */
function lastEnded(ended: readonly TaskSummary[], status: TaskView["status"]): TaskSummary {
  const last = ended.reduce((a, b) => ((b.expiresAt ?? 0) > (a.expiresAt ?? 0) ? b : a));
  return { ...last, status };
}
