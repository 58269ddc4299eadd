import type { ScheduleChange, TaskStore } from "#shared/adapters/task-store.js";
import { conflict, HttpError, isHttpError, isThrottledUnapplied, notFound } from "#shared/api/errors.js";
import type { ScheduleView } from "#shared/api/schemas/schedules.js";
import { topicConfig } from "#shared/config/index.js";
import { newUlid } from "#shared/domain/keys.js";
import { makeScheduleKey, type ScheduleRecord, scheduleShardOf } from "#shared/domain/schedule.js";
import {
  budgetedInlineLimit,
  INLINE_WRITE_UNITS,
  materializeAt,
  occurrenceWriteUnits,
  uncomputableProblem,
} from "#shared/domain/schedule-cron.js";
import { carryCalledAhead } from "./called-ahead.js";
import {
  horizonOf,
  INLINE_OCCURRENCE_CONCURRENCY,
  leftAsWritten,
  type MaterializeDeps,
  materializeSchedule,
} from "./materialize.js";
import { parseCreateSchedule } from "./request.js";
import { settleStoppedEpoch } from "./stop.js";
import { scheduleView, specOf } from "./view.js";
import { occurrenceWrite, WriteBudget } from "./write-budget.js";

export interface ScheduleRouteDeps extends MaterializeDeps {
  readonly store: MaterializeDeps["store"] & Pick<TaskStore, "putSchedule" | "getSchedule">;
  /** Told about an inline materialization that failed (the scheduled materializer makes up for it). */
  readonly onMaterializeError?: (scheduleId: string, error: unknown) => void;
}

/**
 * `POST /v1/schedules`: validate (nothing is written for a 4xx), store the schedule active, then make its first
 * occurrences tasks inside the call, so an occurrence in the next minute does not wait for the materializer.
 * That first pass failing is not the request failing: the schedule is stored, and the scheduled materializer
 * (every minute) makes the same occurrences, each once.
 */
export async function createSchedule(
  deps: ScheduleRouteDeps,
  body: unknown,
  idempotencyKeyHeader?: string,
): Promise<ScheduleView> {
  const nowMs = deps.now();
  const request = parseCreateSchedule(deps.config, body, nowMs, idempotencyKeyHeader);
  const key = makeScheduleKey(request.topic, (deps.newUlid ?? newUlid)(nowMs));
  const at = materializeAt(request.spec, nowMs, horizonOf(deps.config, request.topic)) as number;
  const schedule: ScheduleRecord = {
    ...key,
    topic: request.topic,
    cron: request.spec.cron,
    timezone: request.spec.timezone,
    content: request.content,
    ...(request.callbackUrl !== undefined ? { callbackUrl: request.callbackUrl } : {}),
    ...(request.deliverBy !== undefined ? { deliverBy: request.deliverBy } : {}),
    ...(request.catchUp !== undefined ? { catchUp: request.catchUp } : {}),
    ...(request.spec.startAtMs !== undefined ? { startAtMs: request.spec.startAtMs } : {}),
    ...(request.spec.endAtMs !== undefined ? { endAtMs: request.spec.endAtMs } : {}),
    status: "active",
    createdAtMs: nowMs,
    updatedAtMs: nowMs,
    materializedUntilMs: nowMs,
    epoch: 0,
    scheduleShard: scheduleShardOf(key.scheduleId),
    materializeAtMs: at,
  };
  await deps.store.putSchedule(schedule).catch((error: unknown) => {
    throw perhapsStored(error);
  });
  return scheduleView(await materializeInline(deps, schedule, request.inlineLimit), nowMs);
}

/**
 * A failed store of a new schedule. Throttled on the SDK's only attempt, nothing was stored: the 503 "retry" it
 * becomes is true. Any other failure (a 5xx, a timeout, a reset) may have stored it, and a create has no key a retry
 * could find it by, so a retry would store a second schedule: a 500 saying so, not a 503. So may a throttle that
 * ended the SDK's retries: an earlier attempt may have been a 5xx or a reset after DynamoDB wrote the item (a 5xx
 * leaves the request's outcome unknown:
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html), and only the last
 * attempt's error is thrown (`$metadata.attempts` counts them).
 */
function perhapsStored(error: unknown): unknown {
  if (isHttpError(error) || isThrottledUnapplied(error)) return error;
  return scheduleMayBeStored(error);
}

/** The answer to a create that may have stored its schedule: a 500 saying so (also the route's timeout answer). */
export function scheduleMayBeStored(cause?: unknown): HttpError {
  return new HttpError(
    500,
    "internal_error",
    "the schedule may have been stored; list the topic's schedules (GET /v1/schedules?topic=) before creating it again",
    { cause, expose: true },
  );
}

/**
 * The first pass at creation and resume: at most `limit` occurrences, which cover every one due before the next
 * scheduled run can have made it, cut to the write budget (budgetedInlineLimit: the create's parseCreateSchedule,
 * resumeInlineLimit),
 * bounded however fast the pattern. Answers the schedule as it is afterwards, or as
 * written when reading it back fails: the schedule is stored by then, so that failure must not become a 503
 * "retry", which for a create would store a second schedule.
 */
async function materializeInline(
  deps: ScheduleRouteDeps,
  schedule: ScheduleRecord,
  limit: number,
): Promise<ScheduleRecord> {
  try {
    // None to make inline (each occurrence over the budget, none due within the cover): the materializer's.
    if (limit > 0) await materializeSchedule(deps, schedule, limit, INLINE_OCCURRENCE_CONCURRENCY);
  } catch (error) {
    deps.onMaterializeError?.(schedule.scheduleId, error);
  }
  try {
    return (await deps.store.getSchedule(schedule.scheduleId)) ?? schedule;
  } catch (error) {
    deps.onMaterializeError?.(schedule.scheduleId, error);
    return schedule;
  }
}

/**
 * `POST /v1/schedules/{id}/resume`: active again from now; occurrences that fell in the pause are skipped, not
 * made up. A new epoch, so the occurrences pause cancelled (whose idempotency keys name cancelled tasks) can be
 * made afresh. First the paused epoch is settled again (a pause that answered 503 part-way left occurrences of it
 * ahead, which the new epoch would make a second time), and its occurrences still ahead that were already called
 * (run now, moved earlier) are carried into the new epoch, which does not call them again (called-ahead.ts).
 * Resuming an active or ended schedule answers it as it is (an ended one has nothing left that a resume could make).
 */
export async function resumeSchedule(deps: ScheduleRouteDeps, id: string | undefined): Promise<ScheduleView> {
  const schedule = id ? await deps.store.getSchedule(id) : undefined;
  if (!schedule) throw notFound("no such schedule");
  // As it is, too, once ended: a resume that ended it (end_at passed in the pause, or its inline pass made the last
  // occurrences) is repeated by the client when its answer is lost (retry "safe"), and a 409 then read as a failure.
  if (schedule.status === "active" || schedule.status === "ended") return scheduleView(schedule, deps.now());
  if (schedule.status !== "paused") {
    throw conflict(`the schedule is ${schedule.status}`, { schedule_status: schedule.status });
  }
  // Resumed, it would only be paused again by its first pass (materialize.ts, pauseForRemovedTopic).
  if (!topicConfig(deps.config, schedule.topic)) {
    throw conflict(
      `the schedule's topic "${schedule.topic}" is not in this environment's config: add the topic back before resuming, or delete the schedule`,
      { schedule_status: schedule.status },
    );
  }
  const problem = uncomputableProblem(schedule);
  if (problem) {
    throw conflict(
      `this release cannot compute the schedule's occurrences (${problem}): resume it once a release that can is deployed, or delete it and create it again`,
      {
        schedule_status: schedule.status,
      },
    );
  }
  const nowMs = deps.now();
  const limit = resumeInlineLimit(deps, schedule, nowMs);
  // The settle and the inline pass write into the same partition within the one call: the pass's share first (the
  // new epoch's occurrences must be on time), the settle the rest. What the settle leaves of the paused epoch,
  // deliver cancels (an epoch older than the schedule's: occurrence-hold.ts).
  const passUnits = limit * occurrenceWriteUnits(occurrenceWrite(deps, schedule));
  await settleStoppedEpoch(deps, schedule, nowMs, new WriteBudget(INLINE_WRITE_UNITS - passUnits));
  // Before the new epoch exists (no add of it can precede this): its instants the paused one already called.
  await carryCalledAhead(deps, schedule, nowMs);
  const change = resumeChange(deps, schedule, nowMs);
  const result = await deps.store.updateSchedule(schedule.scheduleId, change);
  if (result.outcome === "not-found") throw notFound("no such schedule");
  // Refused, but reading as this write leaves it: an SDK resend of a resume that executed (its first answer lost).
  // Read again as a conflict, it answered the schedule active without its inline pass (a fast schedule's next
  // minute late), or an `ended` one as a 409.
  if (result.outcome === "conflict" && !leftAsWritten(result.schedule, change))
    return resumeSchedule(deps, id);
  return scheduleView(await materializeInline(deps, result.schedule, limit), deps.now());
}

/**
 * How many occurrences the resume makes inline: as a create does, within INLINE_WRITE_UNITS. A create checks its
 * pass from its start_at, so a fast schedule with a large content created to start later passes, and its resume
 * wrote up to 120 × 351 units into one partition, throttled past the route's timeout. Those the budget cuts are left
 * to the materializer, ahead of due; when the occurrences due within the next run's reach do not fit either, the
 * resume is a 409 (not the create's 400: the schedule exists), nothing changed (before the settle's writes).
 */
function resumeInlineLimit(deps: ScheduleRouteDeps, schedule: ScheduleRecord, nowMs: number): number {
  const write = occurrenceWrite(deps, schedule);
  const horizonMs = horizonOf(deps.config, schedule.topic);
  const limit = budgetedInlineLimit(specOf(schedule), write, nowMs, horizonMs);
  if (limit !== undefined) return limit;
  throw conflict(
    `resuming makes the occurrences due in the next two minutes tasks inside the call, and this schedule's (${write.tasksEach} task(s) of ${write.contentBytes} bytes each) would write over ${INLINE_WRITE_UNITS} DynamoDB write units into one partition: delete it and create it again with a start_at over 4 minutes ahead (the materializer makes those occurrences ahead of time)`,
    { schedule_status: schedule.status },
  );
}

/** The resume's conditional write: active in a new epoch from now, or `ended` when no occurrence is left. */
function resumeChange(deps: ScheduleRouteDeps, schedule: ScheduleRecord, nowMs: number): ScheduleChange {
  const at = materializeAt(specOf(schedule), nowMs, horizonOf(deps.config, schedule.topic));
  const guard = { ifStatus: ["paused"] as const, ifEpoch: schedule.epoch, remove: ["pausedAtMs"] as const };
  // Ended, a new epoch too: deliver cancels an occurrence of an older one (occurrence-hold.ts). In the paused one,
  // ended would have delivered those the pause left held, or its budget left made ahead, as an active resume does not.
  if (at === undefined)
    return { ...guard, set: { status: "ended", epoch: schedule.epoch + 1, updatedAtMs: nowMs } };
  return {
    ...guard,
    set: {
      status: "active",
      epoch: schedule.epoch + 1,
      materializedUntilMs: nowMs,
      leasedUntilMs: nowMs,
      updatedAtMs: nowMs,
      scheduleShard: scheduleShardOf(schedule.scheduleId),
      materializeAtMs: at,
    },
  };
}
