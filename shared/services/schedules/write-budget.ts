import { topicConfig } from "#shared/config/index.js";
import type { ScheduleRecord } from "#shared/domain/schedule.js";
import { INLINE_WRITE_UNITS, occurrenceWriteUnits } from "#shared/domain/schedule-cron.js";
import type { CancelOccurrencesDeps } from "./materialize.js";

/**
 * The DynamoDB write units a schedule's stop may spend inside its API call (INLINE_WRITE_UNITS, as a create's and a
 * resume's inline pass): a schedule's occurrences share one partition (1,000 write units a second) and the route
 * has ~10 s. Spent soonest occurrence first; once a write does not fit, none later is made (the budget is not
 * spent on a smaller one further ahead). What it leaves is deliver's to cancel (occurrence-hold.ts).
 */
export class WriteBudget {
  private left: number;
  private exhausted = false;

  constructor(units: number = INLINE_WRITE_UNITS) {
    this.left = units;
  }

  /** Takes `units` if they fit; false (and from then on always false) when they do not. */
  take(units: number): boolean {
    if (this.exhausted || units > this.left) {
      this.exhausted = true;
      return false;
    }
    this.left -= units;
    return true;
  }

  /** Whether a write was refused: the stop left occurrences for deliver to cancel. */
  get spent(): boolean {
    return this.exhausted;
  }
}

/**
 * What cancelling one occurrence costs: an UpdateItem billed on the larger of the item before and after (the
 * content plus ≈ 1 KB, in 1 KB units), for its task and, on a fan-out topic, for the parent and each copy.
 */
export function cancelUnits(deps: Pick<CancelOccurrencesDeps, "config">, schedule: ScheduleRecord): number {
  return occurrenceWriteUnits(occurrenceWrite(deps, schedule));
}

/** What each occurrence of `schedule` writes: its content's bytes, in its task and (fan-out) each subscriber's copy. */
export function occurrenceWrite(deps: Pick<CancelOccurrencesDeps, "config">, schedule: ScheduleRecord) {
  return {
    contentBytes: Buffer.byteLength(schedule.content),
    tasksEach: 1 + (topicConfig(deps.config, schedule.topic)?.subscribers?.length ?? 0),
  };
}

/**
 * What fencing one leased occurrence costs at most: its key's claim (a small item, 1 unit), its task written
 * cancelled (the fan-out parent alone, no copy), and, should a run have made it already, its cancel.
 */
export function fenceUnits(deps: Pick<CancelOccurrencesDeps, "config">, schedule: ScheduleRecord): number {
  return 1 + scheduleItemUnits(schedule) + cancelUnits(deps, schedule);
}

/** What one write of the schedule's own item costs (it carries the content too): the stop's status write, a lease's. */
export function scheduleItemUnits(schedule: ScheduleRecord): number {
  return occurrenceWriteUnits({ contentBytes: Buffer.byteLength(schedule.content), tasksEach: 1 });
}
