/**
 * Every alarm of the stack is one PutMetricAlarm accepts, read from the synthesized template (CDK checks little of
 * this, so a bad value would first fail at deploy): the period is 10, 20, 30 or a multiple of 60 seconds; the
 * periods evaluated span at most one day (a period under an hour) or seven days; 1 ≤ DatapointsToAlarm ≤
 * EvaluationPeriods; a metric-math alarm has at most 10 metrics and exactly one returned; the threshold is finite.
 */
import { describe, expect, it } from "vitest";
import { type Json, synthesizedResources } from "../support/published-metrics.js";

const DAY = 86_400;

/** The alarm's period: its own, or (metric math) the returned expression's, else its metrics'. */
function periodOf(p: Json): number[] {
  if (!p.Metrics) return [p.Period];
  return p.Metrics.flatMap((m: Json) => (m.MetricStat ? [m.MetricStat.Period] : m.Period ? [m.Period] : []));
}

function problems(id: string, p: Json): string[] {
  const found: string[] = [];
  const periods = periodOf(p);
  for (const period of periods) {
    if (!(period === 10 || period === 20 || period === 30 || (period > 0 && period % 60 === 0)))
      found.push(`${id}: period ${period}`);
    const span = period * p.EvaluationPeriods;
    if (span > (period < 3_600 ? DAY : 7 * DAY)) found.push(`${id}: evaluates ${span} s`);
  }
  if (periods.length === 0) found.push(`${id}: no period`);
  if (!Number.isInteger(p.EvaluationPeriods) || p.EvaluationPeriods < 1)
    found.push(`${id}: EvaluationPeriods ${p.EvaluationPeriods}`);
  const datapoints = p.DatapointsToAlarm ?? p.EvaluationPeriods;
  if (!Number.isInteger(datapoints) || datapoints < 1 || datapoints > p.EvaluationPeriods)
    found.push(`${id}: DatapointsToAlarm ${datapoints} of ${p.EvaluationPeriods}`);
  if (p.Metrics) {
    if (p.Metrics.length > 10) found.push(`${id}: ${p.Metrics.length} metrics`);
    if (p.Metrics.filter((m: Json) => m.ReturnData !== false).length !== 1) found.push(`${id}: returns ≠ 1`);
  }
  if (typeof p.Threshold !== "number" || !Number.isFinite(p.Threshold)) found.push(`${id}: threshold`);
  return found;
}

describe.each(["dev", "prod"] as const)("alarms of the %s stack", (env) => {
  const alarms = Object.entries(synthesizedResources(env)).filter(
    ([, r]) => r.Type === "AWS::CloudWatch::Alarm",
  );

  it("are all within PutMetricAlarm's documented ranges", () => {
    expect(alarms.length).toBeGreaterThan(10);
    expect(alarms.some(([, r]) => r.Properties.Metrics)).toBe(true);
    expect(alarms.flatMap(([id, r]) => problems(id, r.Properties))).toEqual([]);
  });
});
