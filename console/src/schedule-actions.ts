/**
 * Which of a schedule's buttons its row offers, by its status. A status the page does not know (one a newer API
 * added: answers.ts reads it as sent) is not guessed at: no Pause nor Resume, which only fit a schedule known to be
 * active or paused; Delete stays, as for every schedule not deleted, and the API answers whether it may.
 */
export interface ScheduleActions {
  /** Resume in Pause's place: the schedule is paused. */
  readonly resume: boolean;
  /** Pause enabled: the schedule is active. */
  readonly pause: boolean;
  readonly delete: boolean;
}

export function scheduleActions(status: string): ScheduleActions {
  return { resume: status === "paused", pause: status === "active", delete: status !== "deleted" };
}
