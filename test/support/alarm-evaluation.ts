/**
 * CloudWatch's alarm evaluation, as documented, over a synthesized alarm's configuration: which state an alarm reaches
 * for a series of data points, one per period (`undefined`: no data point that period). Used to check that each alarm
 * fires for the failure it is for, within the time it says, and stays quiet on a stack with no traffic.
 *
 * - An alarm evaluates its last EvaluationPeriods (N) periods and goes to ALARM when DatapointsToAlarm (M) of them
 *   breach (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarm-evaluation).
 * - Missing data points (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html):
 *   `breaching` counts each as breaching, `notBreaching` as within the threshold; `ignore` and `missing` evaluate the
 *   most recent real data points CloudWatch retrieves from a range somewhat longer than N periods, and when there are
 *   none `ignore` keeps the current state while `missing` goes to INSUFFICIENT_DATA. Without TreatMissingData the
 *   behaviour is `missing`. A new alarm starts in INSUFFICIENT_DATA.
 */
import type { Json } from "./published-metrics.js";

export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";
export type Series = readonly (number | undefined)[];

export interface AlarmRule {
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  readonly threshold: number;
  readonly comparison: string;
  readonly treatMissingData: string;
  /** Seconds: the returned query's period (metric math) or the metric's. */
  readonly period: number;
}

/** The rule of a synthesized AWS::CloudWatch::Alarm's Properties. */
export function alarmRule(p: Json): AlarmRule {
  const returned = (p.Metrics ?? []).find((m: Json) => m.ReturnData !== false);
  const stat = (p.Metrics ?? []).find((m: Json) => m.MetricStat);
  const period = p.Period ?? returned?.Period ?? returned?.MetricStat?.Period ?? stat?.MetricStat.Period;
  return {
    evaluationPeriods: p.EvaluationPeriods,
    datapointsToAlarm: p.DatapointsToAlarm ?? p.EvaluationPeriods,
    threshold: p.Threshold,
    comparison: p.ComparisonOperator,
    treatMissingData: p.TreatMissingData ?? "missing",
    period,
  };
}

/**
 * The data points an alarm sees for `series`, its metric's: an alarm returning `FILL(m, v)` of its one metric sees
 * `v` where the metric has none (metric math FILL: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
 */
export function seenByAlarm(p: Json, series: Series): Series {
  const returned = (p.Metrics ?? []).find((m: Json) => m.ReturnData !== false);
  const fill =
    typeof returned?.Expression === "string" && returned.Expression.match(/^FILL\(\w+, *(-?[\d.]+)\)$/);
  return fill ? series.map((v) => v ?? Number(fill[1])) : series;
}

/** The names of the metrics an alarm retrieves (its MetricStats', or its own). */
export function alarmMetricNames(p: Json): string[] {
  if (!p.Metrics) return [p.MetricName];
  const stats = p.Metrics.filter((m: Json) => m.MetricStat).map((m: Json) => m.MetricStat.Metric.MetricName);
  const insights = p.Metrics.flatMap((m: Json) =>
    typeof m.Expression === "string"
      ? [...m.Expression.matchAll(/SELECT \w+\("([^"]+)"\)/g)].map((x) => x[1])
      : [],
  );
  return [...stats, ...insights];
}

function breaches(rule: AlarmRule, value: number): boolean {
  switch (rule.comparison) {
    case "GreaterThanOrEqualToThreshold":
      return value >= rule.threshold;
    case "GreaterThanThreshold":
      return value > rule.threshold;
    case "LessThanThreshold":
      return value < rule.threshold;
    case "LessThanOrEqualToThreshold":
      return value <= rule.threshold;
    default:
      throw new Error(`comparison ${rule.comparison} not modelled`);
  }
}

/**
 * The evaluation range: "CloudWatch attempts to retrieve a higher number of data points than the number specified as
 * Evaluation Periods"; how many more "depends on the length of the alarm period" and is not documented beyond its
 * example (3 evaluation periods, a range of 5). N + 2 here.
 */
const rangeOf = (rule: AlarmRule) => rule.evaluationPeriods + 2;

/**
 * The state after evaluating `upTo` (the series so far, oldest first), from `current`, as "How alarm state is
 * evaluated when data is missing" says (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html):
 * with at least N real data points in the evaluation range, the most recent N real ones decide whatever
 * TreatMissingData says; with fewer, the missing ones are filled as TreatMissingData says, as few as possible; with
 * none, `breaching` alarms, `notBreaching` is OK, `ignore` keeps the state and `missing` has INSUFFICIENT_DATA.
 */
export function evaluateOnce(rule: AlarmRule, upTo: Series, current: AlarmState): AlarmState {
  const n = rule.evaluationPeriods;
  const real = upTo
    .slice(-rangeOf(rule))
    .filter((v): v is number => v !== undefined)
    .slice(-n);
  const realBreaching = real.filter((v) => breaches(rule, v)).length;
  if (real.length === 0) {
    if (rule.treatMissingData === "breaching") return n >= rule.datapointsToAlarm ? "ALARM" : "OK";
    if (rule.treatMissingData === "notBreaching") return "OK";
    return rule.treatMissingData === "ignore" ? current : "INSUFFICIENT_DATA";
  }
  const filledBreaching = rule.treatMissingData === "breaching" ? n - real.length : 0;
  return realBreaching + filledBreaching >= rule.datapointsToAlarm ? "ALARM" : "OK";
}

/** Every state the alarm takes, one per period, evaluated as each period's data point arrives. */
export function statesOver(rule: AlarmRule, series: Series): AlarmState[] {
  const states: AlarmState[] = [];
  let state: AlarmState = "INSUFFICIENT_DATA";
  for (let i = 1; i <= series.length; i++) {
    state = evaluateOnce(rule, series.slice(0, i), state);
    states.push(state);
  }
  return states;
}

/**
 * Seconds from the failure's start until the alarm first reaches ALARM, undefined if it never does: the alarm has run
 * on `healthy` data points for twice its evaluation periods (settled in OK), then sees `failing`.
 */
export function secondsToAlarm(
  rule: AlarmRule,
  failing: Series,
  healthy = healthyValue(rule),
): number | undefined {
  const before = constant(2 * rule.evaluationPeriods, healthy);
  const states = statesOver(rule, [...before, ...failing]);
  if (states[before.length - 1] !== "OK") return 0;
  const index = states.slice(before.length).indexOf("ALARM");
  return index < 0 ? undefined : (index + 1) * rule.period;
}

/** A value on the healthy side of the threshold (an invocation count ≥ 1, an error count of 0). */
export const healthyValue = (rule: AlarmRule): number =>
  rule.comparison.startsWith("Less") ? rule.threshold + 1 : Math.min(0, rule.threshold - 1);

/** A value on the failing side of the threshold. */
export const breachingValue = (rule: AlarmRule): number =>
  rule.comparison.startsWith("Less") ? 0 : rule.threshold + 1;

/** `periods` periods of `value` (undefined: no data point). */
export const constant = (periods: number, value: number | undefined): Series =>
  Array.from({ length: periods }, () => value);
