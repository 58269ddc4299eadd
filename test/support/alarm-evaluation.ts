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

/** The series of each metric an alarm retrieves, by metric name; one series for all of them. */
export type MetricSeries = Series | ((metricName: string) => Series);

/**
 * The data points an alarm sees when its metrics have `series`. Metric math of the shapes the stack uses is
 * evaluated: terms added or subtracted, each a metric's id or `FILL(id, value)`. A plain term without a data point
 * leaves the period without one (arithmetic needs a value from each time series); FILL gives `value` instead
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html) — as long as the query
 * retrieving the evaluation range (EvaluationPeriods + 2 periods here, `evaluateOnce`) holds any data point of the
 * expression's metrics; with none at all, none is assumed (not documented), and TreatMissingData decides.
 * Metrics Insights queries are read as their one metric.
 */
export function seenByAlarm(p: Json, series: MetricSeries): Series {
  const of = (name: string): Series => (typeof series === "function" ? series(name) : series);
  if (!p.Metrics) return of(p.MetricName);
  const returned = p.Metrics.find((m: Json) => m.ReturnData !== false);
  if (returned.MetricStat) return of(returned.MetricStat.Metric.MetricName);
  const insights = (returned.Expression as string).match(/^SELECT \w+\("([^"]+)"\)/);
  if (insights) return of(insights[1] as string);
  const byId = new Map<string, Series>(
    p.Metrics.filter((m: Json) => m.MetricStat).map((m: Json) => [m.Id, of(m.MetricStat.Metric.MetricName)]),
  );
  const terms = [
    ...(returned.Expression as string).matchAll(/([+-]?)\s*(?:FILL\((\w+),\s*(-?[\d.]+)\)|(\w+))/g),
  ].map(([, sign, fillId, fillValue, id]) => ({
    sign: sign === "-" ? -1 : 1,
    values: byId.get((fillId ?? id) as string) ?? [],
    fill: fillId === undefined ? undefined : Number(fillValue),
  }));
  const length = Math.max(...terms.map((t) => t.values.length));
  const range = p.EvaluationPeriods + 2;
  const anyWithin = (i: number) =>
    terms.some((t) => t.values.slice(Math.max(0, i - range + 1), i + 1).some((v) => v !== undefined));
  return Array.from({ length }, (_, i) => {
    if (!anyWithin(i)) return undefined;
    let total = 0;
    for (const t of terms) {
      const value = t.values[i] ?? t.fill;
      if (value === undefined) return undefined;
      total += t.sign * value;
    }
    return total;
  });
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
 * Seconds from the failure's start until the alarm first reaches ALARM, undefined if it never does: the alarm's
 * metrics have had healthy data points for twice its evaluation periods (settled in OK), then `failing`; `see` turns
 * the metrics' series into what the alarm sees (`seenByAlarm`).
 */
export function secondsToAlarm(
  rule: AlarmRule,
  failing: Series,
  see: (series: Series) => Series = (series) => series,
): number | undefined {
  const before = constant(2 * rule.evaluationPeriods, healthyValue(rule));
  const states = statesOver(rule, see([...before, ...failing]));
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
