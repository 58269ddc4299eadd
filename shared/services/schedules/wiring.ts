import type { Logger } from "@aws-lambda-powertools/logger";
import type { MaterializeDeps } from "./materialize.js";

/** The failure callbacks of the schedule services, as log lines (materializer and routes alike). */
export function scheduleLogging(logger: Logger): Pick<MaterializeDeps, "onError" | "onSkipped"> & {
  onMaterializeError: (scheduleId: string, error: unknown) => void;
  onScheduleError: (scheduleId: string, error: unknown) => void;
} {
  return {
    onError: (message, error, taskId) => logger.error(message, { taskId, error }),
    onSkipped: (scheduleId, occurrenceMs, error) =>
      logger.error("an occurrence was refused by the add-task checks; skipped", {
        scheduleId,
        occurrence: new Date(occurrenceMs).toISOString(),
        error,
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
