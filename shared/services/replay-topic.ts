import { setTimeout as sleep } from "node:timers/promises";
import type { PageKey, TaskStore } from "#shared/adapters/task-store.js";
import { decodeCursor, encodeCursor, filterBinding, replayCursorSchema } from "#shared/api/cursor.js";
import {
  HttpError,
  notFound,
  serviceUnavailable,
  toHttpError,
  validationFailed,
} from "#shared/api/errors.js";
import {
  BULK_REPLAY_MAX,
  type BulkReplayBody,
  type BulkReplayResult,
  bulkReplayBodySchema,
} from "#shared/api/schemas/operations.js";
import { type PunctualConfig, topicConfig } from "#shared/config/index.js";
import { echoed } from "#shared/domain/echoed.js";
import { FAILED_SORT_ATTRIBUTE, FAILED_TOPIC_ATTRIBUTE } from "#shared/domain/failed-index.js";
import { bySortKey, parseTaskId } from "#shared/domain/keys.js";
import { toIssues } from "#shared/domain/request-issues.js";
import { FIFO_DEDUPLICATION_WINDOW_MS } from "#shared/domain/sweep.js";
import { retentionEnded, type TaskSummary } from "#shared/domain/task.js";
import { msAtOrAfterInstant } from "#shared/domain/whole-ms.js";
import { forEachBounded } from "#shared/runtime/async.js";
import { chunksOf } from "#shared/runtime/chunks.js";
import { expiredParent } from "./fan-out/view.js";
import {
  currentTopics,
  keepParents,
  markForReplay,
  RETENTION_ENDED,
  type ReplayDeps,
  sameLife,
  sendIfJustReplayed,
  sendReplayed,
  UNDONE_ELSEWHERE,
  undoReplay,
} from "./replay-task.js";

export interface ReplayTopicDeps extends ReplayDeps {
  readonly store: ReplayDeps["store"] &
    Pick<TaskStore, "readMany" | "listFailed" | "listUnfinishedInGroup" | "markRequeued">;
  readonly config: PunctualConfig;
  /** The invocation's time left; without it the run is not bounded by time (tests, scripts). */
  readonly remainingMs?: () => number;
}

type Failure = BulkReplayResult["failed"][number];

/** Groups are replayed side by side, at most this many at once; a group's own tasks strictly one after another. */
const GROUP_CONCURRENCY = 8;

/**
 * No task is started with less than this left of the invocation: its mark and send then finish before the route's
 * early answer (http-route.ts, 500 ms before the deadline), which froze the run wherever it was — a task marked
 * `queued` but not sent, whose followers a repeat sent first — and answered a bare "retry" with no count. One hot
 * group's 1,000 dead letters, marked and sent one after another, take longer than the API function's 10 s.
 */
export const REPLAY_TIME_MARGIN_MS = 2_500;

/**
 * `POST /v1/topics/{topic}/replay`: replays the topic's dead-lettered tasks named by id or matched by a filter,
 * at most BULK_REPLAY_MAX per call (a filter reads at most that many; `next_cursor` continues it), in group order: matched tasks are sorted by
 * group, then sort key (due time, then acceptance), and each group's tasks are marked and sent one after another,
 * so its FIFO queue holds them in delivery order. The receiver sees no more than the topic's concurrency: replayed
 * tasks travel the topic's FIFO queue and deliver function like any other, bounded by its event source's
 * MaximumConcurrency. A send that fails stops its group (the rest stay `failed`, reported, so a retry keeps order);
 * the task whose send failed is made `failed` again (undoReplay). A storage error, or the invocation's deadline
 * drawing near, stops every group and answers how many were replayed, a repeat being safe (replayInterrupted).
 * A named fan-out task is never failed itself: it stands for its copies still failed (matchIds), as its single
 * replay replays its copies (shared/services/fan-out/replay.ts).
 */
export async function replayTopic(
  deps: ReplayTopicDeps,
  topic: string | undefined,
  rawBody: unknown,
): Promise<BulkReplayResult> {
  // The topic is the resource's path, as for pause, resume and group cancel: an unknown one is no such resource.
  if (!topic || !topicConfig(deps.config, topic)) throw notFound(`no such topic "${echoed(topic ?? "")}"`);
  // The body as sent: JSON `null` is not "no filter" (that would replay every dead letter); `{}` says that.
  const parsed = bulkReplayBodySchema.safeParse(rawBody);
  if (!parsed.success) throw validationFailed(toIssues(parsed.error.issues, rawBody));
  const body = parsed.data;
  const { matched, failed, next, held, rewind } = body.task_ids
    ? await matchIds(deps, topic, body.task_ids)
    : await matchFilter(deps, topic, body);
  if (body.dry_run) return { matched: matched.length, replayed: 0, failed, next_cursor: encodeCursor(next) };
  await keepParents(deps, matched, { matched: matched.length, replayed: 0 });
  const run = await replayInGroupOrder(deps, matched, failed, held);
  const resumeAt = run.leftBehind.size > 0 && rewind ? rewind(run.leftBehind) : next;
  return { matched: matched.length, replayed: run.replayed, failed, next_cursor: encodeCursor(resumeAt) };
}

async function matchIds(deps: ReplayTopicDeps, topic: string, ids: readonly string[]) {
  const matched: TaskSummary[] = [];
  const failed: Failure[] = [];
  // Named but `queued` (another replay's, maybe not sent yet): not replayed, and holds back the rest of its group.
  const held: TaskSummary[] = [];
  const unique = [...new Set(ids)];
  const tasks = await readSideBySide(deps, topic, unique);
  const copies = await copiesOf(deps, topic, tasks);
  // A copy named and standing in for its parent too is matched once.
  const seen = new Set<string>();
  const take = (summary: TaskSummary) => {
    seen.add(summary.taskId);
    // Up to 1,000 held until the replay: without their content (TaskSummary), which it does not send.
    if (summary.status === "failed") matched.push(summary);
    if (summary.status === "queued") held.push(summary);
  };
  const nowMs = deps.now();
  // Whether a named fan-out task completed and expired hangs on its topic's current retention (currentTopics).
  const fanOut = tasks.some((task) => task?.fanOut !== undefined);
  const clock = { config: (fanOut && (await currentTopics(deps))) || deps.config, now: () => nowMs };
  for (const [i, id] of unique.entries()) {
    const task = tasks[i];
    if (!task) failed.push({ task_id: id, reason: "not_found" });
    // Gone but for DynamoDB's lazy TTL: skipped, as the single replay refuses it (retentionOver).
    else if (retentionEnded(task, nowMs)) failed.push({ task_id: id, reason: RETENTION_ENDED });
    // A fan-out task none of whose copies is left, completed and expired: no such task, as GET answers it.
    else if (task.fanOut && expiredParent(clock, task, copies.get(id) ?? []))
      failed.push({ task_id: id, reason: "not_found" });
    else if (task.fanOut) {
      // A fan-out task is never failed itself: as its single replay, it stands for its copies (here, dead letters).
      const own = (copies.get(id) ?? []).filter((copy) => !retentionEnded(copy, nowMs));
      if (!own.some((copy) => copy.status === "failed")) failed.push({ task_id: id, reason: NO_FAILED_COPY });
      for (const copy of own.filter((c) => !seen.has(c.taskId) && ["failed", "queued"].includes(c.status)))
        take(copy);
    } else if (!seen.has(id)) {
      take(task);
      if (task.status !== "failed") failed.push({ task_id: id, reason: `status ${task.status}` });
    }
  }
  return { matched, failed, next: undefined, held, rewind: undefined };
}

const NO_FAILED_COPY = "fan-out task: no subscriber's copy is failed";

/** The subscribers' copies of the named fan-out tasks, by parent id (a copy not found is left out). */
async function copiesOf(deps: ReplayTopicDeps, topic: string, tasks: readonly (TaskSummary | undefined)[]) {
  const parents = tasks.filter((task) => task?.fanOut !== undefined) as TaskSummary[];
  const links = parents.flatMap((parent) => (parent.fanOut ?? []).map((link) => link.taskId));
  const read = await readSideBySide(deps, topic, links);
  const found = new Map(read.flatMap((copy) => (copy ? [[copy.taskId, copy] as const] : [])));
  return new Map(
    parents.map((p) => [p.taskId, (p.fanOut ?? []).flatMap((link) => found.get(link.taskId) ?? [])]),
  );
}

/** BatchGetItem's most keys per call. */
const READ_BATCH = 100;
/** Batch reads in flight at once: 10,000 copies are 100 calls, a few rounds of these. */
const READ_CONCURRENCY = 4;
/** Batch reads per chunk before its still-unread keys are read one by one; waits of 50, 100 ms between. */
const READ_ROUNDS = 3;
const READ_BACKOFF_MS = 50;

/**
 * The named tasks (undefined: not this topic's, or not found), in the order named: read in BatchGetItem calls of
 * 100, side by side (1,000 GetItems, 16 at a time, took seconds of the API function's 10). Without their content:
 * the run holds every one until all are read (1,000 named tasks, up to 10,000 copies) and sends none of it.
 */
async function readSideBySide(deps: ReplayTopicDeps, topic: string, ids: readonly string[]) {
  const own = [...new Set(ids.filter((id) => parseTaskId(id)?.topic === topic))];
  const found = new Map<string, TaskSummary>();
  // 1,000 named fan-out tasks stand for up to 10,000 copies: their reads stop where the replay would (nothing is
  // marked before every read is done, so nothing is half-replayed), rather than run into the route's early answer.
  let outOfTime = false;
  await forEachBounded(chunksOf(own, READ_BATCH), READ_CONCURRENCY, async (chunk) => {
    outOfTime ||= timeIsUp(deps);
    if (outOfTime) return;
    for (const task of await readBatch(deps, chunk)) found.set(task.taskId, task);
  });
  if (outOfTime) throw readInterrupted();
  return ids.map((id) => found.get(id));
}

/**
 * One chunk's tasks. Keys a call left unprocessed (or a call that failed) are read again with backoff, as AWS asks
 * of batch callers; those still unread are read one by one, so a table's error is answered as such.
 */
async function readBatch(deps: ReplayTopicDeps, ids: readonly string[]): Promise<TaskSummary[]> {
  const tasks: TaskSummary[] = [];
  let unread: readonly string[] = ids;
  for (let round = 0; round < READ_ROUNDS && unread.length > 0; round++) {
    if (round > 0) await sleep(READ_BACKOFF_MS * 2 ** (round - 1));
    const read = await deps.store.readMany(unread, { summaries: true });
    tasks.push(...read.tasks.values());
    unread = [...read.unread];
  }
  for (const id of unread) {
    const task = await deps.store.get(id);
    if (!task) continue;
    // Read whole (GetItem answers errors as such), kept without its content as the batch reads are.
    const { content: _content, ...summary } = task;
    tasks.push(summary);
  }
  return tasks;
}

/**
 * How the filter's cursors read the failed index: bound into each cursor, so a cursor of the newest-first scan this
 * replaced (which would resume the other way and skip tasks) is a 400 rather than misread.
 */
const SCAN_ORDER = "oldest-first";

/**
 * Pages through the failed index oldest failure first, from `failed_after` on, reading at most BULK_REPLAY_MAX
 * tasks (so matching at most as many): a selective filter over a long dead-letter list answers within the API's
 * time with a cursor, even when nothing it read matched, rather than scanning the whole list in one call. Oldest
 * first because a group's dead letters fail in its order (its head blocks the rest until dead-lettered): newest
 * first, a group whose dead letters straddle two calls had its later tasks replayed, and delivered, a call before
 * its earlier ones. Reaching `failed_before` ends the scan.
 */
async function matchFilter(deps: ReplayTopicDeps, topic: string, body: BulkReplayBody) {
  // Whole ms rounded up, as a due time: failure times are whole ms, so `≥ failed_after` and `< failed_before` hold
  // exactly (truncated, a task that failed just before either was read as after it).
  const after = body.failed_after ? msAtOrAfterInstant(body.failed_after) : -Infinity;
  const before = body.failed_before ? msAtOrAfterInstant(body.failed_before) : Infinity;
  const matched: TaskSummary[] = [];
  const failed: Failure[] = [];
  const nowMs = deps.now();
  let read = 0;
  // Times as instants, so the same filter written with another offset keeps its cursor.
  const filter = filterBinding([
    Number.isFinite(after) ? after : null,
    Number.isFinite(before) ? before : null,
    body.error_contains ?? null,
    SCAN_ORDER,
  ]);
  const scan = { oldestFirst: true, ...(Number.isFinite(after) ? { failedFromMs: after } : {}) };
  const start = decodeCursor(body.cursor, replayCursorSchema(topic, filter, scan.failedFromMs));
  // A run (its first call and every call continuing its cursor) replays what had failed when it started: read
  // oldest first, a task it replayed that is dead-lettered again would otherwise come round again in a later call.
  const until = typeof start?.until === "number" ? start.until : deps.now();
  const end = Math.min(before, until + 1);
  const inOrder: TaskSummary[] = [];
  const found = () => {
    // The run's start names its topic: it holds no list key (the keyed cursors' `failedTopic`) to bind it, and another
    // topic's run, resumed with it, read as started then and passed over what failed since (replayCursorSchema).
    const rewind = rewindTo(topic, inOrder, start ?? { filter, until, topic }, { filter, until });
    return { matched, failed, held: [], rewind };
  };
  let cursor = listKeyOf(start);
  do {
    const page = await deps.store.listFailed(topic, Math.min(100, BULK_REPLAY_MAX - read), cursor, scan);
    cursor = page.next;
    read += page.tasks.length;
    for (const task of page.tasks) {
      if ((task.failedAtMs ?? 0) >= end) return { ...found(), next: undefined };
      inOrder.push(task);
      if (body.error_contains && !task.lastError?.includes(body.error_contains)) continue;
      // Still in the failed index until DynamoDB's TTL deletes it (lazily): listed, not replayed.
      if (retentionEnded(task, nowMs)) failed.push({ task_id: task.taskId, reason: RETENTION_ENDED });
      else matched.push(task);
    }
  } while (cursor && read < BULK_REPLAY_MAX);
  return { ...found(), next: cursor && { ...cursor, filter, until } };
}

/**
 * Where a filter's run goes on when this call left some of its matches dead-lettered behind a stop (a failed send,
 * or a task another replay holds): just before the first of them in the failed index, so the next call of the run
 * reads them again and replays each group from where it stopped. Resumed after this call's last read instead, the
 * next call found those groups' later dead letters, replayed them, and left the earlier ones behind its cursor:
 * the group delivered out of order. What this call replayed has left the index, so the next one does not read it
 * again. `start`: where this call began (its cursor, or the run's start, `{filter, until, topic}` alone).
 */
function rewindTo(
  topic: string,
  inOrder: readonly TaskSummary[],
  start: PageKey,
  binding: { readonly filter: string; readonly until: number },
) {
  return (leftBehind: ReadonlySet<string>): PageKey => {
    const first = inOrder.findIndex((task) => leftBehind.has(task.taskId));
    const before = first > 0 ? inOrder[first - 1] : undefined;
    if (!before) return start;
    return {
      pk: before.pk,
      sk: before.sk,
      [FAILED_TOPIC_ATTRIBUTE]: topic,
      [FAILED_SORT_ATTRIBUTE]: before.failedAtMs ?? 0,
      ...binding,
    };
  };
}

/**
 * The failed list's own key, without the run's binding (filter, start) DynamoDB knows nothing of; none for the
 * run's start (a cursor of its binding alone, rewindTo).
 */
function listKeyOf(cursor: PageKey | undefined): PageKey | undefined {
  if (!cursor) return undefined;
  const { filter: _filter, until: _until, topic: _topic, ...key } = cursor;
  return Object.keys(key).length > 0 ? key : undefined;
}

/** How a replay run stands: the count so far, and what stopped it, if anything did: a storage error, or time. */
interface ReplayRun {
  replayed: number;
  /** Named tasks another replay has queued: each stops its group there (replayGroup). */
  readonly held: ReadonlySet<string>;
  stoppedBy?: { readonly error: unknown } | { readonly timeUp: true };
  /** Matched tasks left dead-lettered where their group stopped (the task whose send failed, those after it). */
  readonly leftBehind: Set<string>;
}

async function replayInGroupOrder(
  deps: ReplayTopicDeps,
  matched: TaskSummary[],
  failed: Failure[],
  held: readonly TaskSummary[],
): Promise<ReplayRun> {
  const groups = new Map<string, TaskSummary[]>();
  for (const task of [...matched, ...held].sort(bySortKey))
    groups.set(task.pk, [...(groups.get(task.pk) ?? []), task]);
  const run: ReplayRun = { replayed: 0, held: new Set(held.map((t) => t.taskId)), leftBehind: new Set() };
  // Every group settles before the answer: one that went on after it would make the count a lie (and Lambda
  // freezes it mid-way once the answer is sent).
  await forEachBounded([...groups.values()], GROUP_CONCURRENCY, (tasks) =>
    replayGroup(deps, tasks, failed, run),
  );
  if (run.stoppedBy) throw replayInterrupted(run.stoppedBy, matched.length, run.replayed);
  return run;
}

/**
 * One group's tasks, strictly one after another. A failed send stops the group (the rest stay `failed`); so does a
 * task before it in its group that another replay has marked and this run cannot make sure goes first (sendMarked);
 * a storage error stops every group at its next task, so the answer can say what was replayed.
 */
async function replayGroup(deps: ReplayTopicDeps, tasks: TaskSummary[], failed: Failure[], run: ReplayRun) {
  // The last task this run sent in its group: the order of what lies before that is settled already. Not a task
  // passed over (its mark refused: discarded, delivered since the list was read): nothing before it was read, and
  // reading the next one's group only from it missed another replay's pending mark before it, sent after.
  let after: TaskSummary | undefined;
  for (const [i, task] of tasks.entries()) {
    if (timeIsUp(deps)) run.stoppedBy ??= { timeUp: true };
    if (run.stoppedBy) return;
    if (run.held.has(task.taskId)) {
      await helpOn(deps, task, after);
      return notReached(failed, tasks.slice(i + 1), ANOTHER_CALL, run);
    }
    // Only a task still dead-lettered: the list (an eventually consistent index, or a read before a concurrent
    // replay) may show one already replayed and delivered, which another replay would deliver twice.
    let result: Awaited<ReturnType<ReplayTopicDeps["store"]["markReplayed"]>>;
    // Set by each mark before it is written (onMark), for the read back of one that failed.
    let markedAtMs = Number.NaN;
    try {
      // Marked again, once, when refused by another replay's mark undone since (markForReplay). The undo of a
      // failed send below restores the task as listed, not `before`: the same dead letter either way.
      const onMark = (atMs: number) => {
        markedAtMs = atMs;
      };
      ({ result } = await markForReplay(deps, task.taskId, task, { onlyFailed: true, onMark }));
    } catch (error) {
      run.stoppedBy ??= { error };
      return sendIfMarkLanded(deps, task, markedAtMs, after, { failed, run });
    }
    if (result.outcome !== "replayed") {
      failed.push({ task_id: task.taskId, reason: notReplayedReason(result, deps.now()) });
      // `queued`: another replay (a second call, an operator) has just marked it and may not have sent it yet;
      // sending its followers now could put them ahead of it. That replay carries the group on.
      if (result.outcome === "conflict" && result.task.status === "queued") {
        await helpOn(deps, result.task, after);
        return notReached(failed, tasks.slice(i + 1), ANOTHER_CALL, run);
      }
      // Refused again and still that dead letter: its group stops here, as at a failed send (a retry goes on from it).
      if (result.outcome === "conflict" && sameLife(task, result.task, deps.now())) {
        run.leftBehind.add(task.taskId);
        return notReached(failed, tasks.slice(i + 1), "could not be replayed; retry", run);
      }
      continue;
    }
    const stop = await sendMarked(deps, { listed: task, marked: result.task, after }, { failed, run });
    if (stop) return notReached(failed, tasks.slice(i + 1), stop, run);
    after = task;
  }
}

/** What a group's run writes its outcome to: the answer's `failed` list and the run. */
interface Outcome {
  readonly failed: Failure[];
  readonly run: ReplayRun;
}

/**
 * Sends a task this run has marked, after making sure of every task before it in its group (after `after`) that
 * another replay has marked and may not have sent (pendingBefore): found by a filter run, which does not list it
 * (it left the failed list), it went after this task — or stayed dead-lettered, its replay's send failing and being
 * undone (found in review, 2026-12-04). Read after this run's mark, so an earlier mark is always seen; one after it
 * is a later replay, which goes after this task. Each such task is sent under its replay's dedup id (none twice) and
 * kept from that replay's undo (pinPending); one that cannot be stops the group here, this task's mark undone. Why
 * the group stops here, or undefined when the task was sent.
 */
async function sendMarked(
  deps: ReplayTopicDeps,
  task: { readonly listed: TaskSummary; readonly marked: TaskSummary; readonly after?: TaskSummary },
  outcome: Outcome,
): Promise<string | undefined> {
  let pinned: Pinned;
  try {
    pinned = await pinPending(deps, await pendingBefore(deps, task.marked, task.after));
  } catch (error) {
    outcome.run.stoppedBy ??= { error };
    await undoMark(deps, task, outcome, "could not be replayed; retry");
    return "could not be replayed; retry";
  }
  if (pinned === "time-up") {
    outcome.run.stoppedBy ??= { timeUp: true };
    await undoMark(deps, task, outcome, "could not be replayed; retry");
    return "could not be replayed; retry";
  }
  if (pinned === "refused") {
    await undoMark(deps, task, outcome, `an earlier task of its group ${ANOTHER_CALL}`);
    return ANOTHER_CALL;
  }
  if (await sendReplayed(deps, task.marked)) {
    outcome.run.replayed++;
    return undefined;
  }
  await undoMark(deps, task, outcome, "could not be sent to its queue; still failed, retry");
  return "could not be sent; retry";
}

/**
 * Whether every pending task (pendingBefore) is sure to reach its queue ahead of what this run sends next. Marked
 * within SQS's deduplication window, its replay may still be between its mark and its send, and undo it when that
 * send fails: it is sent here under that replay's dedup id (SQS drops it when that send went already) and then
 * marked re-sent (`requeuedAtMs`), which the undo's condition refuses — that replay then answers that it replayed
 * the task (its message, this one, is on its way). False when either fails (the undo won): the group waits. Marked
 * earlier, its replay's request is long over: it was sent, or the sweeper sends it.
 */
async function pinPending(deps: ReplayTopicDeps, pending: readonly TaskSummary[]): Promise<Pinned> {
  for (const task of pending) {
    const recent = deps.now() - (task.replayedAtMs ?? 0) < FIFO_DEDUPLICATION_WINDOW_MS;
    if (!recent || task.requeuedAtMs !== undefined) continue;
    if (timeIsUp(deps)) return "time-up";
    if (!(await sendReplayed(deps, task))) return "refused";
    const life = { replays: task.replays ?? 0 };
    if (!(await deps.store.markRequeued(task.taskId, deps.now(), life)) && !(await wentAhead(deps, task)))
      return "refused";
  }
  return timeIsUp(deps) ? "time-up" : "pinned";
}

/**
 * How pinPending ended. "time-up": less than REPLAY_TIME_MARGIN_MS left before a send (or before the run's own):
 * a continuing call of a hot group found its earlier call's 1,000 sends still queued and re-sent each, one by one,
 * past the route's early answer, Lambda freezing the run with its own task marked and unsent. Each re-send is marked
 * (`requeuedAtMs`) and not repeated, so a repeat goes on from where this one stopped.
 */
type Pinned = "pinned" | "refused" | "time-up";

/**
 * Whether a pending task that could no longer be marked re-sent has nothing left to overtake: cancelled, or its
 * message received since (an attempt started, or finished after its replay's mark) — not undone by its replay
 * (back to the failed or delivered it was, its finish older than the mark), nor replayed again since.
 */
async function wentAhead(deps: ReplayTopicDeps, pending: TaskSummary): Promise<boolean> {
  const now = await deps.store.get(pending.taskId);
  if (!now || now.status === "cancelled") return true;
  if ((now.replays ?? 0) !== (pending.replays ?? 0)) return false;
  const markedAtMs = pending.replayedAtMs ?? Number.POSITIVE_INFINITY;
  if (now.status === "delivered") return (now.deliveredAtMs ?? 0) >= markedAtMs;
  if (now.status === "failed") return (now.failedAtMs ?? 0) >= markedAtMs;
  return now.status === "delivering";
}

/**
 * A mark this run will not send undone: `failed` again (listed with `why`, left behind for the run's next call), or
 * replayed after all when it has moved on (a lost send, or another replay's help, landed), or listed as undone
 * elsewhere (cancelled meanwhile).
 */
async function undoMark(
  deps: ReplayTopicDeps,
  task: { readonly listed: TaskSummary; readonly marked: TaskSummary },
  { failed, run }: Outcome,
  why: string,
): Promise<void> {
  const undone = await undoReplay(deps, task.listed, task.marked);
  if (undone === "reverted") {
    failed.push({ task_id: task.listed.taskId, reason: why });
    run.leftBehind.add(task.listed.taskId);
  } else if (undone === "moved-on") run.replayed++;
  else failed.push({ task_id: task.listed.taskId, reason: UNDONE_ELSEWHERE[undone] });
}

/**
 * The most of a group's items one read for pending marks passes over (finished ones included): a few 1 MB Query
 * pages. Unbounded, the first task of a long-lived group in a call read its whole history (100,000 finished tasks:
 * hundreds of strongly consistent pages, well past the API function's 10 s, so Lambda froze the run with that task
 * marked and unsent, and every repeat did the same). Past it, only the pending marks among the first items read are
 * made sure of; one further on is ordered against nothing, as before 2026-12-06 (docs/API.md).
 */
export const PENDING_SCAN_MAX = 2_000;

/**
 * The tasks of `task`'s group after `after` (none: from the group's start) and before it that are `queued` with no
 * attempt started: another replay's mark (a single replay, another bulk call, a mark whose answer was lost), maybe
 * not sent yet — or sent, which the table cannot tell apart — or a copy the sweeper forwards. Strongly consistent;
 * one Query of the group's items in that range (DynamoDB bills the finished ones it passes over too), at most
 * PENDING_SCAN_MAX of them, so each group's history before its last task in the call is read once per call.
 */
async function pendingBefore(
  deps: ReplayTopicDeps,
  task: TaskSummary,
  after: TaskSummary | undefined,
): Promise<TaskSummary[]> {
  const { tasks } = await deps.store.listUnfinishedInGroup(
    task.pk,
    after?.dueAtMs ?? 0,
    task.dueAtMs,
    Number.POSITIVE_INFINITY,
    PENDING_SCAN_MAX,
  );
  return tasks.filter(
    (t) =>
      t.status === "queued" && t.attempts === 0 && t.sk < task.sk && (after === undefined || t.sk > after.sk),
  );
}

/**
 * Helps on a task another replay holds (marked, maybe not sent): the first such task of its group before it, when
 * there is one, else it (sendIfJustReplayed) — helped on, it alone would go ahead of that earlier one. A read that
 * fails helps none: their replays send them, or the sweeper does.
 */
async function helpOn(deps: ReplayTopicDeps, task: TaskSummary, after: TaskSummary | undefined) {
  let pending: TaskSummary | undefined;
  try {
    [pending] = await pendingBefore(deps, task, after);
  } catch {
    return;
  }
  await sendIfJustReplayed(deps, pending ?? task);
}

/**
 * A mark that failed may have been applied (a 5xx or a timeout after the write). Left `queued` without its message,
 * the task is out of the failed index, so a repeat by filter cannot see it and would send its group's later tasks
 * first (a repeat by ids is held back by it; the sweeper sends it only after the stall window). Read back now,
 * strongly consistent: a mark this call made (one replay more, no attempt yet, stamped with this mark's
 * `markedAtMs`) is sent as any mark of this run is (sendMarked), or undone. Another replay's mark (a second call, an
 * operator: stamped with its own clock) is that replay's to send and to keep: undone here after its send and its
 * 200, the task went back to `failed` and deliver dropped its message; it is only helped on, as a refused mark helps
 * it (helpOn). A read that fails too leaves it to the sweeper, as before.
 */
async function sendIfMarkLanded(
  deps: ReplayTopicDeps,
  before: TaskSummary,
  markedAtMs: number,
  after: TaskSummary | undefined,
  outcome: Outcome,
): Promise<void> {
  const now = await deps.store.get(before.taskId).catch(() => undefined);
  if (!now) return;
  const landed =
    now.status === "queued" &&
    now.attempts === 0 &&
    now.replayedAtMs === markedAtMs &&
    (now.replays ?? 0) === (before.replays ?? 0) + 1;
  if (!landed) return helpOn(deps, now, after);
  await sendMarked(deps, { listed: before, marked: now, after }, outcome);
}

/** Why a task's mark was refused: gone, past its retention (the mark's condition), or its status. */
function notReplayedReason(
  result: Exclude<Awaited<ReturnType<ReplayTopicDeps["store"]["markReplayed"]>>, { outcome: "replayed" }>,
  nowMs: number,
): string {
  if (result.outcome === "not-found") return "not_found";
  return retentionEnded(result.task, nowMs) ? RETENTION_ENDED : `status ${result.task.status}`;
}

const ANOTHER_CALL = "was being replayed by another call; retry once it is delivered";

/**
 * The tasks of a group after the one it stopped at: left `failed`, each listed with why (and left behind). A named
 * task another replay holds (`queued`) is listed already, with its status: once per task.
 */
function notReached(failed: Failure[], rest: readonly TaskSummary[], why: string, run: ReplayRun): void {
  for (const task of rest) {
    if (run.held.has(task.taskId)) continue;
    failed.push({ task_id: task.taskId, reason: `an earlier task of its group ${why}` });
    run.leftBehind.add(task.taskId);
  }
}

/** Less than REPLAY_TIME_MARGIN_MS of the invocation left: nothing more is started. */
function timeIsUp(deps: ReplayTopicDeps): boolean {
  return deps.remainingMs !== undefined && deps.remainingMs() < REPLAY_TIME_MARGIN_MS;
}

/** The named tasks' reads ran out of time: answered as a run that did (replayInterrupted), none replayed. */
function readInterrupted(): HttpError {
  const message =
    "the call ran out of time reading the named tasks, before any was replayed; repeating the same request is safe (nothing was replayed), or name fewer tasks per call";
  return serviceUnavailable(message, undefined, { matched: 0, replayed: 0 });
}

/**
 * The run stopped at a storage error after replaying some groups (each in order, possibly part of one): the
 * answer says how many, and that repeating the request is safe — only tasks still `failed` are replayed, so
 * nothing is replayed twice, and each group goes on from its first task not replayed. The task whose mark failed
 * may have been replayed too (a timeout after the write): then it is delivered, and not replayed again. A 503 when
 * the error is one a retry gets past (throttled, a 5xx, a timeout), else a 500 saying the same.
 */
function replayInterrupted(
  stop: NonNullable<ReplayRun["stoppedBy"]>,
  matched: number,
  replayed: number,
): HttpError {
  const what = "error" in stop ? "a storage call failed" : "the call ran out of time";
  const message = `${what} after ${replayed} of the ${matched} matched tasks were replayed (each group in order); repeating the same request replays those still failed and none twice: a task already replayed is not replayed again`;
  const details = { matched, replayed };
  if (!("error" in stop)) return serviceUnavailable(message, undefined, details);
  if (toHttpError(stop.error).status === 503) return serviceUnavailable(message, stop.error, details);
  return new HttpError(500, "internal_error", message, { cause: stop.error, expose: true, details });
}
