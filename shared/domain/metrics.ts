/** Metric names shared by the functions that publish them (EMF) and the CDK alarms that watch them. */
export const METRICS_NAMESPACE = "Punctual";
export const METRIC = {
  /** Callback start minus due time, milliseconds. */
  lateness: "DeliveryLateness",
  /** How long a callback took to answer, milliseconds. */
  callbackLatency: "CallbackLatency",
  delivered: "TasksDelivered",
  deadLettered: "TasksDeadLettered",
  attemptFailed: "DeliveryAttemptsFailed",
  accepted: "TasksAccepted",
  /** Sweeper: `scheduled` tasks whose timer was lost, forwarded to their FIFO queue by the sweeper. */
  orphansForwarded: "OrphansForwarded",
  /** Sweeper: `queued` / `delivering` tasks whose FIFO message was lost, put back on their FIFO queue. */
  orphansRequeued: "OrphansRequeued",
  /** Sweeper: tasks whose attempts were used up but whose dead-lettering was never finished. */
  orphansDeadLettered: "OrphansDeadLettered",
  /** Sweeper: timer / schedule dead-letter messages resolved (task re-armed, forwarded, or already done). */
  timerDeadLettersResolved: "TimerDeadLettersResolved",
  /** Sweeper: repairs that failed this run (retried next run); alarmed when it persists. */
  sweepFailures: "SweepFailures",
  // Issue 14, point 4: the schedule materializer.
  /** Materializer: occurrences made tasks (or found made) this run. */
  occurrencesMaterialized: "ScheduleOccurrencesMaterialized",
  /**
   * Materializer: occurrences skipped this run (never made tasks): refused by the add-task checks, missed under the
   * schedule's `catch_up` policy, or one for a pause as `invalid_schedule`.
   */
  occurrencesSkipped: "ScheduleOccurrencesSkipped",
  /** Materializer: schedules whose materialization failed this run (retried next run); alarmed when it persists. */
  materializeFailures: "ScheduleMaterializeFailures",
  /**
   * Materializer: how far behind it is, seconds, at each run's end: since when the longest-due schedule it left
   * (out of time, unread, or past its per-run cap) has been due; 0 when it left none. Alarmed when it persists.
   */
  materializerLag: "ScheduleMaterializerLag",
  /** Deliver (issue 14): a destination host's circuit opened / closed, per topic (the host is in the log line). */
  circuitOpened: "CircuitOpened",
  circuitClosed: "CircuitClosed",
  /**
   * Validator: a runtime settings document refused. It refuses by throwing (AppConfig reads a function error as
   * "invalid"), so its errors alarm subtracts these to count only its crashes and timeouts.
   */
  settingsRefused: "TopicSettingsRefused",
} as const;

/** Powertools adds a `service` dimension; we add the topic. Alarms must use exactly these dimensions. */
export function serviceName(environment: string): string {
  return `punctual-${environment}`;
}
export const TOPIC_DIMENSION = "Topic";
