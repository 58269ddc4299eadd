/**
 * The console's own endpoints, shared by its servers and the page, which parses every answer with these:
 * `/console/api/metrics?topic=T&minutes=M` (local metric store or CloudWatch) and `/console/api/local`.
 */
import * as z from "zod";
// The API's rule for numeric query parameters (plain decimal digits). A zod-only module of shared/domain, which
// the console may import; the page bundles it through this file (console/build.ts lists it among its sources).
import { queryInteger } from "../shared/domain/query-integer.js";

export const METRICS_MINUTES_DEFAULT = 15;
export const METRICS_MINUTES_MAX = 60;

export const metricsQuerySchema = z.strictObject({
  topic: z.string().min(1).max(64),
  minutes: z.prefault(queryInteger({ min: 1, max: METRICS_MINUTES_MAX }), METRICS_MINUTES_DEFAULT),
});
export type MetricsQuery = z.output<typeof metricsQuerySchema>;

const percentile = z.number().nonnegative().nullable();

export const latenessSchema = z.object({
  /** Delivered tasks whose lateness was measured in the window. */
  count: z.number().int().nonnegative(),
  p50: percentile,
  p90: percentile,
  p99: percentile,
});

export const metricsPointSchema = latenessSchema.extend({
  /** Start of the minute, epoch seconds (what uPlot plots). */
  t: z.number().int(),
  delivered: z.number().nonnegative(),
  failed: z.number().nonnegative(),
});

export const consoleMetricsSchema = z.object({
  topic: z.string(),
  /** `local`: exact nearest-rank percentiles over raw values; `cloudwatch`: CloudWatch's percentile statistics. */
  source: z.enum(["local", "cloudwatch"]),
  from: z.iso.datetime(),
  to: z.iso.datetime(),
  lateness: latenessSchema,
  series: z.array(metricsPointSchema),
  /** Tasks accepted (TasksAccepted) in the window. */
  added: z.number().nonnegative(),
  /** Tasks delivered (TasksDelivered) in the window. */
  delivered: z.number().nonnegative(),
  /** Tasks dead-lettered (TasksDeadLettered) in the window: the dashboard's "failed". */
  failed: z.number().nonnegative(),
  /** Attempts that failed and will be retried or dead-lettered (DeliveryAttemptsFailed). */
  attempts_failed: z.number().nonnegative(),
  /** Per minute over the window. */
  rates: z.object({
    added_per_minute: z.number().nonnegative(),
    delivered_per_minute: z.number().nonnegative(),
    failed_per_minute: z.number().nonnegative(),
  }),
});
export type ConsoleMetrics = z.output<typeof consoleMetricsSchema>;
export type MetricsPoint = z.output<typeof metricsPointSchema>;

/**
 * Nearest-rank percentile (the value at rank ⌈p/100 × n⌉ of the sorted values), null for no values. The rule
 * the console and its test both use; hand-written because it is two lines.
 */
export function nearestRank(sortedAscending: readonly number[], p: number): number | null {
  if (sortedAscending.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sortedAscending.length));
  return sortedAscending[rank - 1] ?? null;
}

export function latenessOf(values: readonly number[]): z.output<typeof latenessSchema> {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: nearestRank(sorted, 50),
    p90: nearestRank(sorted, 90),
    p99: nearestRank(sorted, 99),
  };
}

/** The window's minutes: `minutes` buckets ending with the current (partial) minute. */
export function metricsWindow(nowMs: number, minutes: number): { fromMs: number; toMs: number } {
  const currentMinute = Math.floor(nowMs / 60_000) * 60_000;
  return { fromMs: currentMinute - (minutes - 1) * 60_000, toMs: nowMs };
}

export function ratesOf(
  totals: { added: number; delivered: number; failed: number },
  minutes: number,
): ConsoleMetrics["rates"] {
  return {
    added_per_minute: totals.added / minutes,
    delivered_per_minute: totals.delivered / minutes,
    failed_per_minute: totals.failed / minutes,
  };
}

/** `/console/api/local`: the Scheduler emulator's pending schedules, a page at a time, and the timer queue. */
export const LOCAL_PAGE_MAX = 50;
export const LOCAL_PAGE_DEFAULT = 20;

export const localQuerySchema = z.strictObject({
  limit: z.prefault(queryInteger({ min: 1, max: LOCAL_PAGE_MAX }), LOCAL_PAGE_DEFAULT),
  cursor: z.string().min(1).max(2048).optional(),
});
export type LocalQuery = z.output<typeof localQuerySchema>;

export const localViewSchema = z.object({
  schedules: z.array(
    z.object({
      name: z.string(),
      state: z.string(),
      /** The schedule's expression, e.g. `at(2026-11-30T01:00:00)`. */
      expression: z.string().nullable(),
    }),
  ),
  next_cursor: z.string().nullable(),
  timer_queue: z.object({
    waiting: z.number().int().nonnegative(),
    delayed: z.number().int().nonnegative(),
    in_flight: z.number().int().nonnegative(),
  }),
});
export type LocalView = z.output<typeof localViewSchema>;
