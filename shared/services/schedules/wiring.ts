import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRIC } from "#shared/domain/metrics.js";
import type { ServiceLogger } from "#shared/runtime/observability.js";
import type { MaterializeDeps } from "./materialize.js";

/**
 * The failure callbacks of the schedule services, as log lines (materializer and routes alike). `skipCounter`:
 * where each skipped occurrence is also counted as a `ScheduleOccurrencesSkipped` of 1 (under the service dimension
 * alone, the one the skipped-occurrences alarm watches). The routes pass theirs: a resume's inline pass can skip
 * occurrences (a host that left the allow-list while the schedule was paused), and of an hourly or daily schedule
 * the next skip — the first the alarm would see — may be an hour or a day away. The materializer passes none: its
 * run summary counts its skips.
 */
export function scheduleLogging(
  logger: ServiceLogger,
  skipCounter: Metrics | undefined,
): Pick<MaterializeDeps, "onError" | "onSkipped" | "onMissedSkipped"> & {
  onMaterializeError: (scheduleId: string, error: unknown) => void;
  onScheduleError: (scheduleId: string, error: unknown) => void;
} {
  return {
    onError: (message, error, taskId) => logger.error(message, { taskId, error }),
    onSkipped: (scheduleId, occurrenceMs, error) => {
      logger.error("an occurrence was refused by the add-task checks; skipped", {
        scheduleId,
        occurrence: new Date(occurrenceMs).toISOString(),
        error,
      });
      // Added and published in one synchronous step (as publishAccepted): requests side by side never mix.
      skipCounter?.addMetric(METRIC.occurrencesSkipped, MetricUnit.Count, 1);
      skipCounter?.publishStoredMetrics();
    },
    // One line per skipping run (the metric and the view count the occurrences): who, how many, as which policy.
    onMissedSkipped: (schedule, count, latestMs) =>
      logger.warn("missed occurrences skipped, as the schedule's catch_up policy says", {
        scheduleId: schedule.scheduleId,
        catchUp: schedule.catchUp,
        skipped: count,
        latestSkipped: new Date(latestMs).toISOString(),
      }),
    onMaterializeError: (scheduleId, error) =>
      logger.warn("materializing a schedule inline failed; the materializer retries within a minute", {
        scheduleId,
        error,
      }),
    onScheduleError: (scheduleId, error) =>
      logger.error("materializing a schedule failed; the next run retries it", { scheduleId, error }),
  };
}
