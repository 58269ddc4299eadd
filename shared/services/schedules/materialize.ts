import { isDeepStrictEqual } from "node:util";
import type { TaskScheduler } from "#shared/adapters/task-scheduler.js";
import type {
  ScheduleChange,
  ScheduleSettable,
  ScheduleUpdateOutcome,
  TaskStore,
} from "#shared/adapters/task-store.js";
import { conflict, type HttpError, isHttpError, unknownTopic } from "#shared/api/errors.js";
import { rfc3339 } from "#shared/api/task-view.js";
import { topicConfig } from "#shared/config/index.js";
import { type AddTaskRequest, exactContentOf } from "#shared/domain/add-task-request.js";
import {
  MATERIALIZE_HORIZON_MS,
  MAX_MISSED_COUNTED,
  MAX_OCCURRENCES_PER_RUN,
  MISSED_AFTER_MS,
  materializeHorizonMs,
  occurrenceIdempotencyKey,
  type ScheduleRecord,
  type SkippedOccurrence,
} from "#shared/domain/schedule.js";
import {
  type CronSpec,
  latestOccurrenceBetween,
  materializeAt,
  occurrencesBetween,
  uncomputableProblem,
} from "#shared/domain/schedule-cron.js";
import { type TaskRecord, TERMINAL_STATUSES } from "#shared/domain/task.js";
import { forEachBounded } from "#shared/runtime/async.js";
import { type AddTaskDeps, addTask } from "../add-task.js";
import { cancelOccurrenceTask } from "./cancel-occurrence.js";
import { writeOccurrenceCancelled } from "./stop.js";
import { specOf } from "./view.js";
import type { WriteBudget } from "./write-budget.js";

/** What materializing (and undoing it) needs: the add-task service's deps, plus the schedule reads and writes. */
export interface MaterializeDeps extends Omit<AddTaskDeps, "store" | "scheduler"> {
  readonly store: AddTaskDeps["store"] &
    Pick<
      TaskStore,
      "cancel" | "restoreFanOutParent" | "updateSchedule" | "findIdempotencyClaim" | "settleRescheduled"
    >;
  readonly scheduler: Pick<TaskScheduler, "createTaskSchedule" | "deleteTaskSchedule">;
  /** Told about an occurrence the add-task service refused (4xx: e.g. the topic's allow-list changed). */
  readonly onSkipped?: (scheduleId: string, occurrenceMs: number, error: unknown) => void;
  /**
   * Told once the schedule's record holds a skip of missed occurrences (its `catch_up` policy; `count` a floor past
   * MAX_MISSED_COUNTED).
   */
  readonly onMissedSkipped?: (schedule: ScheduleRecord, count: number, latestMs: number) => void;
}

/** What cancelling occurrences needs: the claims, the cancel write, and deleting a schedule-armed timer. */
export interface CancelOccurrencesDeps {
  /**
   * `putNew`: an occurrence caught mid-move has its successor written cancelled (cancel-occurrence.ts);
   * `settleRescheduled`: a cancelled successor's move is settled (cancel-task.ts).
   */
  readonly store: Pick<
    TaskStore,
    "findIdempotencyClaim" | "cancel" | "restoreFanOutParent" | "putNew" | "settleRescheduled"
  >;
  readonly scheduler: Pick<TaskScheduler, "deleteTaskSchedule">;
  readonly config: MaterializeDeps["config"];
  readonly now: () => number;
}

export interface MaterializeResult {
  /** Occurrences made tasks by this call (or found made by an earlier, interrupted one). */
  readonly occurrences: number;
  /**
   * Occurrences this call skipped (counted when the cursor moved): the ones the add-task checks refused, and the
   * missed ones the schedule's `catch_up` policy does not make.
   */
  readonly skipped: number;
  readonly advanced: boolean;
  /** When the schedule is next due to the materializer, once this call advanced it (undefined: ended, or not moved). */
  readonly materializeAtMs?: number;
}

/** How many occurrence tasks one schedule creates (or cancels) side by side in a run (4 schedules at a time). */
const OCCURRENCE_CONCURRENCY = 4;
/**
 * Side by side in the pass at creation and resume: one schedule with its caller waiting, and up to
 * MAX_OCCURRENCES_INLINE (120) occurrences for a one-second cron. Not more: a schedule's occurrences share one
 * ordering group, i.e. one DynamoDB partition (1,000 writes/s), which 8 adds in flight stay well within.
 */
export const INLINE_OCCURRENCE_CONCURRENCY = 8;

/**
 * Makes a schedule's occurrences within the horizon tasks, then advances its cursor. Exactly once per
 * occurrence without locks: each occurrence is added with an idempotency key of (schedule, epoch, instant), so a
 * retried run finds the task the first one made (200, nothing created); the cursor moves by one conditional
 * write on the cursor and epoch it read. A failed add leaves the cursor where it was: the next run repeats the
 * window.
 *
 * Before its first add the run leases its window (one conditional write: still active at the cursor, epoch and
 * lease it read). A pause or delete is thus ordered before the lease (the run adds nothing) or after it (the stop
 * makes the leased occurrences cancelled tasks, so whatever this run adds later finds them and creates nothing):
 * no occurrence is added once a stop has answered. Of two concurrent runs, the one whose lease fails stops.
 */
export async function materializeSchedule(
  deps: MaterializeDeps,
  schedule: ScheduleRecord,
  limit: number,
  concurrency = OCCURRENCE_CONCURRENCY,
): Promise<MaterializeResult> {
  if (schedule.status !== "active") return { occurrences: 0, skipped: 0, advanced: false };
  const nowMs = deps.now();
  const spec = specOf(schedule);
  const problem = uncomputableProblem(spec);
  if (problem) return pauseUncomputable(deps, schedule, problem, nowMs);
  const horizonMs = horizonOf(deps.config, schedule.topic);
  const horizonEnd = nowMs + horizonMs;
  const { occurrences, missed } = await windowOf(deps, schedule, spec, nowMs, horizonEnd, limit);
  const untilMs =
    occurrences.length === limit
      ? (occurrences.at(-1) as number)
      : Math.max(horizonEnd, schedule.materializedUntilMs);
  if (occurrences.length > 0 && !topicConfig(deps.config, schedule.topic)) {
    return pauseForRemovedTopic(deps, schedule, occurrences, nowMs);
  }
  const leased = occurrences.length > 0 ? await leaseWindow(deps, schedule, untilMs, missed) : schedule;
  if (!leased) return { occurrences: 0, skipped: 0, advanced: false };
  // A lease moved the cursor past the missed occurrences and counted them; without one, the cursor write does.
  const unleased = leased === schedule ? missed : undefined;
  const missedCount = missed?.count ?? 0;
  try {
    const refused = await fenceRefusedLeased(
      deps,
      schedule,
      await createOccurrences(deps, leased, occurrences, concurrency),
    );
    const skipped = unleased?.latest ? [...refused, unleased.latest] : refused;
    const advance = advanceChange(leased, spec, untilMs, nowMs, horizonMs);
    const change = {
      ...advance,
      set: { ...advance.set, ...skipFields(leased, skipped, refused.length + (unleased?.count ?? 0)) },
    };
    const result = await deps.store.updateSchedule(schedule.scheduleId, change);
    const total = refused.length + missedCount;
    if (result.outcome === "updated") {
      if (unleased) reportMissed(deps, schedule, unleased);
      const { materializeAtMs } = advance.set;
      return { occurrences: occurrences.length, skipped: total, advanced: true, materializeAtMs };
    }
    // Refused, but reading as this write leaves it: its SDK resend after a lost answer. The skips it recorded are
    // counted (the alarm's metric; a daily schedule's next skip is a day away). A run beside this one writing the
    // very same fields in the same millisecond reads so too: it then counts them twice (the metric over, never a
    // skip unreported), and it is not called advanced, as that run moved the cursor.
    if (result.outcome === "conflict" && leftAsWritten(result.schedule, change)) {
      if (unleased) reportMissed(deps, schedule, unleased);
      return { occurrences: occurrences.length, skipped: total, advanced: false };
    }
    if (stoppedSince(result, schedule)) await cancelOccurrences(deps, schedule, occurrences);
    return { occurrences: occurrences.length, skipped: unleased ? 0 : missedCount, advanced: false };
  } catch (error) {
    throw unleased || !missed ? error : new FailedAfterSkipping(error, missedCount);
  }
}

/**
 * Whether a cursor write that did not apply found the schedule stopped (paused, deleted, resumed into a new epoch)
 * since the run read it: its occurrences are then no longer owed. Not `ended`: only another run's cursor write
 * ends a schedule in this epoch (it made the same last occurrences, which are owed); a resume that finds nothing
 * left ends a paused one in a new epoch, so a run of the paused epoch cancels its adds. Cancelling on `ended`, the slower
 * of two overlapping runs cancelled a schedule's last occurrences ahead of due, which were then never delivered.
 */
function stoppedSince(result: ScheduleUpdateOutcome, schedule: ScheduleRecord): boolean {
  if (result.outcome === "not-found") return true;
  const { status, epoch } = result.schedule;
  return epoch !== schedule.epoch || (status !== "active" && status !== "ended");
}

/**
 * A run that failed after its lease skipped missed occurrences: the schedule counts them (the next run starts past
 * them), so its caller counts them too (the run summary's `skipped`, the metric), and reports `failure`.
 */
export class FailedAfterSkipping extends Error {
  constructor(
    readonly failure: unknown,
    readonly skipped: number,
  ) {
    super("materializing failed after skipping missed occurrences", { cause: failure });
  }
}

/** The occurrences a run makes, and the missed ones its schedule's `catch_up` policy skips (none for `all`). */
interface Window {
  readonly occurrences: number[];
  readonly missed?: Missed;
}

/**
 * How many were skipped (a floor past MAX_MISSED_COUNTED), the latest of them as the view names it (absent when
 * every one the cursor moves past was made by an earlier run), and the point the cursor may move to past them (no
 * occurrence the run makes lies at or before it).
 */
interface Missed {
  readonly count: number;
  readonly latest?: SkippedOccurrence;
  readonly untilMs: number;
}

/**
 * From the cursor to the horizon's end, at most `limit`. Under `latest` or `none`, the occurrences missed (due
 * more than MISSED_AFTER_MS before now: the materializer was down or behind) are skipped as one step, however many
 * (the latest is found without walking them, latestOccurrenceBetween), and only `latest` makes the most recent.
 */
async function windowOf(
  deps: MaterializeDeps,
  schedule: ScheduleRecord,
  spec: CronSpec,
  nowMs: number,
  horizonEnd: number,
  limit: number,
): Promise<Window> {
  const policy = schedule.catchUp ?? "all";
  const fromMs = schedule.materializedUntilMs;
  const missedUntilMs = nowMs - MISSED_AFTER_MS;
  const latestMissed =
    policy === "all" || fromMs >= missedUntilMs
      ? undefined
      : latestOccurrenceBetween(spec, fromMs, missedUntilMs);
  if (latestMissed === undefined) return { occurrences: occurrencesBetween(spec, fromMs, horizonEnd, limit) };
  const kept = policy === "latest" ? [latestMissed] : [];
  const occurrences = [...kept, ...occurrencesBetween(spec, missedUntilMs, horizonEnd, limit - kept.length)];
  const skippedUntilMs = policy === "latest" ? latestMissed - 1 : missedUntilMs;
  if (skippedUntilMs <= fromMs) return { occurrences };
  // Under `none` the latest skipped is the latest missed, found above: no second search (~45 croner asks).
  const latest = policy === "none" ? latestMissed : latestOccurrenceBetween(spec, fromMs, skippedUntilMs);
  if (latest === undefined) return { occurrences };
  const made = await fenceLeasedMissed(deps, schedule, spec, skippedUntilMs);
  const walked = occurrencesBetween(spec, fromMs, skippedUntilMs, MAX_MISSED_COUNTED);
  const count = walked.filter((ms) => !made.has(ms)).length;
  const latestSkipped = made.has(latest) ? walked.findLast((ms) => !made.has(ms)) : latest;
  const message = missedMessage(policy, count, walked.length === MAX_MISSED_COUNTED);
  return {
    occurrences,
    missed: {
      count,
      ...(latestSkipped !== undefined && {
        latest: { occurrenceMs: latestSkipped, atMs: nowMs, code: "missed", message },
      }),
      untilMs: skippedUntilMs,
    },
  };
}

/**
 * The most occurrences of an earlier run's lease a run fences before skipping them: a lease covers one run's window
 * (at most MAX_OCCURRENCES_PER_RUN from its cursor); twice that leaves room for two runs that overlapped.
 */
const MAX_LEASED_FENCED = 2 * MAX_OCCURRENCES_PER_RUN;

/**
 * Of the missed occurrences up to `untilMs`, those an earlier run made; the others are made cancelled tasks. A run
 * leases (cursor, lease] and may fail after making part of it, or still be making it, leaving the cursor; the next
 * run, later, finds them missed and skips them. Counted skipped, the made ones were counted although delivered (one
 * per failed run of a minute cron, sixty of a one-second one). And a run still under way added the skipped ones
 * after this run's lease had moved the cursor past them, where a pause's fence no longer reaches: added after the
 * pause answered. So each is written as a stop writes it (stop.ts, writeOccurrenceCancelled) before this run's lease:
 * a task found is made (not counted), one written cancelled is skipped, and the earlier run's add finds it and
 * creates nothing. Only what lies in an earlier lease (none after a run that moved its cursor), two writes each (and
 * a read of each task found).
 */
async function fenceLeasedMissed(
  deps: MaterializeDeps,
  schedule: ScheduleRecord,
  spec: CronSpec,
  untilMs: number,
): Promise<ReadonlySet<number>> {
  const made = new Set<number>();
  const leaseEnd = Math.min(schedule.leasedUntilMs ?? schedule.materializedUntilMs, untilMs);
  if (leaseEnd <= schedule.materializedUntilMs) return made;
  const leased = occurrencesBetween(spec, schedule.materializedUntilMs, leaseEnd, MAX_LEASED_FENCED);
  await forEachBounded(leased, OCCURRENCE_CONCURRENCY, async (occurrenceMs) => {
    const fenced = await writeOccurrenceCancelled(deps, schedule, occurrenceMs);
    if (fenced?.outcome !== "exists") return;
    // A cancelled one was written so by a run that skipped it but whose lease then failed (no stop cancels in an
    // active epoch): still owed its count.
    if ((await deps.store.get(fenced.taskId))?.status !== "cancelled") made.add(occurrenceMs);
  });
  return made;
}

/**
 * Of the occurrences this run's add-task checks refused, those an earlier run had leased (it read a lease beyond the
 * cursor: a run still under way, or one that failed) are written as a stop writes them (stop.ts,
 * writeOccurrenceCancelled) before the cursor moves past them. That run read the topic's settings at its start
 * (runtime settings change without a deploy) and may take what this run's refuse; unfenced, it added them after
 * this run's cursor write, where a pause's fence (cursor to lease) no longer reaches: live after the pause answered.
 * One found made (by that run) is no skip; one written (or found) cancelled stays one, and that run finds it.
 */
async function fenceRefusedLeased(
  deps: MaterializeDeps,
  schedule: ScheduleRecord,
  refused: readonly SkippedOccurrence[],
): Promise<SkippedOccurrence[]> {
  const leaseEnd = schedule.leasedUntilMs ?? schedule.materializedUntilMs;
  const skipped: SkippedOccurrence[] = [];
  await forEachBounded(refused, OCCURRENCE_CONCURRENCY, async (skip) => {
    const inLease = skip.occurrenceMs > schedule.materializedUntilMs && skip.occurrenceMs <= leaseEnd;
    const fenced = inLease ? await writeOccurrenceCancelled(deps, schedule, skip.occurrenceMs) : undefined;
    const made =
      fenced?.outcome === "exists" && (await deps.store.get(fenced.taskId))?.status !== "cancelled";
    if (!made) skipped.push(skip);
  });
  return skipped;
}

function missedMessage(policy: string, count: number, floor: boolean): string {
  const counted = floor ? `at least ${count}` : count;
  return `${counted} missed occurrence(s) skipped (due over 5 min before the run: the materializer was down or behind), as catch_up "${policy}" says`;
}

/**
 * A schedule whose topic a deploy removed from the config: each occurrence would be refused (`unknown_topic`) and
 * skipped, every run, for ever, and the skip alarm with it. The run pauses it instead (pauseSaying), its window's
 * occurrences counted skipped and the reason in `last_skipped`: off the work list, notified once, resumable once
 * the topic is back. Its tasks already made are left as they are.
 */
function pauseForRemovedTopic(
  deps: MaterializeDeps,
  schedule: ScheduleRecord,
  occurrences: readonly number[],
  nowMs: number,
): Promise<MaterializeResult> {
  const error = unknownTopic(schedule.topic, Object.keys(deps.config.resolvedTopics));
  const message = `topic "${schedule.topic}" is not in this environment's config: the schedule was paused (resume it once the topic is back, or delete it)`;
  return pauseSaying(deps, schedule, occurrences, nowMs, error, message);
}

/**
 * A schedule whose occurrences this release cannot compute (schedule-cron.ts, uncomputableProblem): every run
 * would fail on it, every minute, for ever (the failures alarm with it). The run pauses it, saying why; as its
 * next occurrence is unknown, the skip recorded is at its cursor, the point from which none was made. Resume
 * refuses it while the release cannot compute it (manage.ts); one that can (a rollback) resumes it as any other.
 * The occurrences an older release made ahead are cancelled as a user's pause cancels them, and before the pause
 * is written: a cancel that fails leaves the schedule active, so the next run repeats both (cancelling again only
 * conflicts), where after the pause nothing would come back to them.
 */
async function pauseUncomputable(
  deps: MaterializeDeps,
  schedule: ScheduleRecord,
  problem: string,
  nowMs: number,
): Promise<MaterializeResult> {
  await cancelOccurrences(deps, schedule, occurrencesAhead(schedule, nowMs));
  const message = `this release cannot compute the schedule's occurrences (${problem}): the schedule was paused (resume it once a release that can is deployed, or delete it and create it again)`;
  const error = conflict(message);
  return pauseSaying(
    deps,
    schedule,
    [schedule.materializedUntilMs],
    nowMs,
    error,
    message,
    "invalid_schedule",
  );
}

/**
 * Pauses a schedule the run cannot materialize (one conditional write, as the cursor's), `occurrences` counted
 * skipped with `message` in `last_skipped`, each reported once.
 */
async function pauseSaying(
  deps: MaterializeDeps,
  schedule: ScheduleRecord,
  occurrences: readonly number[],
  nowMs: number,
  error: HttpError,
  message: string,
  code: string = error.code,
): Promise<MaterializeResult> {
  const skipped = occurrences.map((occurrenceMs) => ({ occurrenceMs, atMs: nowMs, code, message }));
  const change: ScheduleChange = {
    ifStatus: ["active"],
    ifMaterializedUntilMs: schedule.materializedUntilMs,
    ifEpoch: schedule.epoch,
    set: { status: "paused", pausedAtMs: nowMs, updatedAtMs: nowMs, ...skipFields(schedule, skipped) },
    remove: ["scheduleShard", "materializeAtMs"],
  };
  const result = await deps.store.updateSchedule(schedule.scheduleId, change);
  // A refusal reading as this pause leaves it is its SDK resend (the answer lost): the pause is this run's, and so
  // is its one report (nothing comes back to a paused schedule to report it later).
  const paused =
    result.outcome === "updated" || (result.outcome === "conflict" && leftAsWritten(result.schedule, change));
  if (!paused) return { occurrences: 0, skipped: 0, advanced: false };
  for (const occurrenceMs of occurrences) deps.onSkipped?.(schedule.scheduleId, occurrenceMs, error);
  return { occurrences: 0, skipped: skipped.length, advanced: false };
}

/** How far ahead a schedule of this topic is materialized: the horizon, within the topic's current maxDelay. */
export function horizonOf(config: MaterializeDeps["config"], topic: string): number {
  const maxDelaySeconds = topicConfig(config, topic)?.maxDelaySeconds;
  return maxDelaySeconds === undefined ? MATERIALIZE_HORIZON_MS : materializeHorizonMs(maxDelaySeconds);
}

/**
 * Leases the window up to `untilMs`: the schedule as leased when this run may add its occurrences; undefined when
 * the schedule was stopped, resumed or advanced since it was read, or another run leased it first (that run makes
 * the same tasks). Occurrences `missed` are skipped in the same write (the cursor moved past them, counted): a stop
 * fences every occurrence from the cursor to the lease, and would otherwise write a cancelled task for each of a
 * backlog the run does not make (86,400 for a one-second cron down a day), more than a stop can write.
 */
async function leaseWindow(
  deps: MaterializeDeps,
  schedule: ScheduleRecord,
  untilMs: number,
  missed: Missed | undefined,
): Promise<ScheduleRecord | undefined> {
  const change: ScheduleChange = {
    ifStatus: ["active"],
    ifMaterializedUntilMs: schedule.materializedUntilMs,
    ifEpoch: schedule.epoch,
    ifLeasedUntilMs: schedule.leasedUntilMs ?? null,
    set: {
      leasedUntilMs: Math.max(schedule.leasedUntilMs ?? untilMs, untilMs),
      ...(missed && {
        materializedUntilMs: missed.untilMs,
        ...skipFields(schedule, missed.latest ? [missed.latest] : [], missed.count),
      }),
    },
  };
  const result = await deps.store.updateSchedule(schedule.scheduleId, change);
  // Refused, but the schedule reads as this lease leaves it: an SDK resend of a lease that executed, whose first
  // answer was lost. Stopping there, the pass at creation or resume made nothing, and a fast schedule's next minute
  // waited for the next run, late. Not with a skip: that lease's count and report are the first attempt's.
  if (result.outcome === "conflict" && !missed && leftAsWritten(result.schedule, change))
    return result.schedule;
  if (result.outcome !== "updated") return undefined;
  if (missed) reportMissed(deps, schedule, missed);
  return result.schedule;
}

/**
 * Whether a schedule reads exactly as `change` leaves it: each field set holds its value, each removed is absent,
 * and what the condition read and the write does not change still holds (status, epoch, cursor). A conditional
 * write refused on an SDK resend after its first attempt executed (the answer lost) finds it so. Another writer
 * leaving the very same fields (a second resume in the same millisecond, a concurrent run leasing the same window
 * from the same cursor) did what this caller was about to: going on makes the same occurrences, each once by its key.
 */
export function leftAsWritten(schedule: ScheduleRecord, change: ScheduleChange): boolean {
  const stored = schedule as unknown as Record<string, unknown>;
  const set = Object.entries(change.set).filter(([, value]) => value !== undefined);
  const { status, epoch, materializedUntilMs } = change.set;
  return (
    set.every(([field, value]) => isDeepStrictEqual(stored[field], value)) &&
    (change.remove ?? []).every((field) => stored[field] === undefined) &&
    (status !== undefined || change.ifStatus.includes(schedule.status)) &&
    (epoch !== undefined || change.ifEpoch === undefined || schedule.epoch === change.ifEpoch) &&
    (materializedUntilMs !== undefined ||
      change.ifMaterializedUntilMs === undefined ||
      schedule.materializedUntilMs === change.ifMaterializedUntilMs)
  );
}

function reportMissed(deps: MaterializeDeps, schedule: ScheduleRecord, missed: Missed): void {
  if (missed.latest) deps.onMissedSkipped?.(schedule, missed.count, missed.latest.occurrenceMs);
}

/** The cursor write: only if nobody moved the schedule since it was read; `ended` when no occurrence is left. */
function advanceChange(
  schedule: ScheduleRecord,
  spec: CronSpec,
  untilMs: number,
  nowMs: number,
  horizonMs: number,
): ScheduleChange {
  const guard = {
    ifStatus: ["active"] as const,
    ifMaterializedUntilMs: schedule.materializedUntilMs,
    ifEpoch: schedule.epoch,
  };
  const at = materializeAt(spec, untilMs, horizonMs);
  if (at === undefined) {
    return {
      ...guard,
      set: { status: "ended", materializedUntilMs: untilMs, updatedAtMs: nowMs },
      remove: ["scheduleShard", "materializeAtMs"],
    };
  }
  return { ...guard, set: { materializedUntilMs: untilMs, materializeAtMs: at, updatedAtMs: nowMs } };
}

/**
 * Adds each occurrence's task; refused ones (4xx) are reported and skipped (answered, for the schedule's record),
 * any other failure is thrown.
 */
async function createOccurrences(
  deps: MaterializeDeps,
  schedule: ScheduleRecord,
  occurrences: readonly number[],
  concurrency: number,
): Promise<SkippedOccurrence[]> {
  const failures: unknown[] = [];
  const skipped: SkippedOccurrence[] = [];
  await forEachBounded(occurrences, concurrency, async (occurrenceMs) => {
    try {
      await addTask(deps, {
        body: occurrenceBody(schedule, occurrenceMs),
        scheduleId: schedule.scheduleId,
        scheduleEpoch: schedule.epoch,
      });
    } catch (error) {
      if (!isHttpError(error) || error.status >= 500) return void failures.push(error);
      deps.onSkipped?.(schedule.scheduleId, occurrenceMs, error);
      skipped.push({ occurrenceMs, atMs: deps.now(), code: error.code, message: skipMessage(error) });
    }
  });
  if (failures.length > 0) throw failures[0];
  return skipped;
}

/** The refusal as one line: its message and, when it names them, the fields at fault (e.g. `callback.url`). */
function skipMessage(error: HttpError): string {
  const issues = (error.issues ?? []).map((issue) => `${issue.path}: ${issue.message}`);
  return [error.message, ...issues].join("; ").slice(0, 1_000);
}

/**
 * Skips are counted on the schedule with the cursor's own conditional write, so a window repeated after a failed
 * run counts its skips once: a skip is only ever recorded by the run that moves the cursor past it.
 */
function skipFields(
  schedule: ScheduleRecord,
  skipped: readonly SkippedOccurrence[],
  count = skipped.length,
): ScheduleSettable {
  const last = skipped.reduce<SkippedOccurrence | undefined>(
    (latest, skip) => (latest === undefined || skip.occurrenceMs > latest.occurrenceMs ? skip : latest),
    undefined,
  );
  if (!last) return {};
  return { skippedOccurrences: (schedule.skippedOccurrences ?? 0) + count, lastSkipped: last };
}

/**
 * One occurrence as an add request: the schedule's content (its exact JSON text, which the add request reads
 * losslessly), callback and ordering field, due at the occurrence, with its idempotency key.
 */
export function occurrenceBody(schedule: ScheduleRecord, occurrenceMs: number): Record<string, unknown> {
  return {
    topic: schedule.topic,
    due_at: rfc3339(occurrenceMs),
    content: schedule.content,
    idempotency_key: occurrenceIdempotencyKey(schedule.scheduleId, schedule.epoch, occurrenceMs),
    ...(schedule.callbackUrl !== undefined ? { callback: { url: schedule.callbackUrl } } : {}),
    ...(schedule.deliverBy !== undefined ? { deliver_by: schedule.deliverBy } : {}),
  };
}

/**
 * The add request the add-task service parses from `occurrenceBody`, built without its body schema (a stop's
 * bundle leaves that out; a test holds the two equal): the schedule's fields were checked against that schema when
 * it was created, and its content is read as the add reads it. Undefined when the content cannot be read (a
 * schedule stored by hand), which the add would refuse as well.
 */
export function occurrenceRequest(
  schedule: ScheduleRecord,
  occurrenceMs: number,
): AddTaskRequest | undefined {
  const content = exactContentOf(schedule.content);
  if (!content.ok) return undefined;
  return {
    topic: schedule.topic,
    due: { dueAt: rfc3339(occurrenceMs) },
    dueField: "due_at",
    content: content.content,
    ...(schedule.deliverBy !== undefined ? { deliverBy: schedule.deliverBy } : {}),
    ...(schedule.callbackUrl !== undefined ? { callbackUrl: schedule.callbackUrl } : {}),
    idempotencyKey: occurrenceIdempotencyKey(schedule.scheduleId, schedule.epoch, occurrenceMs),
  };
}

/**
 * Cancels the given occurrences' tasks (made in the schedule's epoch), found through their idempotency claims;
 * one already handed to delivery (due now) cannot be cancelled and runs. Returns how many were cancelled.
 * `budget` (a stop route's): each found task's cancel takes `units` of it, in the order given (soonest first);
 * those that do not fit are left, uncancelled, to deliver's schedule check (occurrence-hold.ts). A task `read` as
 * final already (a plain one: a parent cancelled may still have copies to finish) is passed over without a write:
 * a refused conditional cancel is billed as a write all the same, so a repeated stop spent its whole budget on the
 * ones the first had cancelled and cancelled none more.
 */
export async function cancelOccurrences(
  deps: CancelOccurrencesDeps,
  schedule: ScheduleRecord,
  occurrences: readonly number[],
  budget?: {
    readonly budget: WriteBudget;
    readonly units: number;
    readonly read: (taskId: string) => Promise<TaskRecord | undefined>;
  },
): Promise<number> {
  let cancelled = 0;
  await forEachBounded(occurrences, OCCURRENCE_CONCURRENCY, async (occurrenceMs) => {
    if (budget?.budget.spent) return;
    const key = occurrenceIdempotencyKey(schedule.scheduleId, schedule.epoch, occurrenceMs);
    const taskId = await deps.store.findIdempotencyClaim(schedule.topic, key);
    if (!taskId) return;
    if (budget && (await finishedPlainTask(budget.read, taskId))) return;
    if (budget && !budget.budget.take(budget.units)) return;
    const result = await cancelOccurrenceTask(deps, taskId, schedule.topic);
    if (result.outcome === "cancelled") cancelled++;
  });
  return cancelled;
}

async function finishedPlainTask(
  read: (taskId: string) => Promise<TaskRecord | undefined>,
  taskId: string,
): Promise<boolean> {
  const task = await read(taskId);
  // Not a moved one (`rescheduled`, final too): its successor is cancelled by following the move.
  return (
    task !== undefined &&
    task.fanOut === undefined &&
    task.status !== "rescheduled" &&
    TERMINAL_STATUSES.has(task.status)
  );
}

/**
 * The occurrences a schedule has made tasks of that are not due yet: what pause and delete (and the run's own
 * pause of a schedule it cannot compute) cancel. Of a schedule this release cannot compute, no run of this release
 * made one (each pauses it before its first add), but an older release that could may have made them ahead: every
 * whole second up to its cursor or lease is read (wholeSecondsAhead).
 */
export function occurrencesAhead(schedule: ScheduleRecord, nowMs: number): number[] {
  if (uncomputableProblem(schedule) !== undefined) return wholeSecondsAhead(schedule, nowMs);
  return occurrencesBetween(specOf(schedule), nowMs, schedule.materializedUntilMs, Number.MAX_SAFE_INTEGER);
}

/**
 * Every instant at which a schedule whose pattern cannot be computed may have an occurrence made ahead: each whole
 * second after now up to its cursor or lease, whichever is further. Occurrences fall on whole seconds (a cron's
 * finest step), and no run makes one further ahead than the horizon from its own now, so at most 240 keys are read,
 * and none once the window has passed.
 */
function wholeSecondsAhead(schedule: ScheduleRecord, nowMs: number): number[] {
  const madeUntilMs = Math.max(schedule.materializedUntilMs, schedule.leasedUntilMs ?? 0);
  const untilMs = Math.min(madeUntilMs, nowMs + MATERIALIZE_HORIZON_MS);
  const seconds: number[] = [];
  for (let ms = Math.floor(nowMs / 1000) * 1000 + 1000; ms <= untilMs; ms += 1000) seconds.push(ms);
  return seconds;
}
