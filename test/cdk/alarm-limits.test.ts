/**
 * Every alarm of the stack is one PutMetricAlarm accepts, read from the synthesized template (CDK checks little of
 * this, so a bad value would first fail at deploy): the period is a multiple of 60 seconds (10, 20 and 30 are for
 * high-resolution metrics, and the stack watches none); the periods evaluated span at most one day (a period under
 * an hour) or seven days, and at most the 3 hours a Metrics Insights alarm evaluates; 1 ≤ DatapointsToAlarm ≤
 * EvaluationPeriods; a metric-math alarm has at most 20 queries, of which at most 10 retrieve a metric (MetricStat)
 * and at most 10 are expressions, exactly one returned (PutMetricAlarm, `Metrics`); the threshold is finite.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { dev } from "#shared/config/environments/dev.js";
import { parseConfig } from "#shared/config/index.js";
import { METRIC, METRICS_NAMESPACE, serviceName, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import { emfDirectivesWhenRun } from "../support/emitted-metrics.js";
import { type Json, synthesizedResources } from "../support/published-metrics.js";

const DAY = 86_400;
/** What a Metrics Insights alarm evaluates at most: "only the latest 3 hours of data" (CloudWatch alarm limits). */
const INSIGHTS_WINDOW = 3 * 3_600;
/** A Metrics Insights query, as opposed to metric math over MetricStats. */
const isInsightsQuery = (m: Json) => typeof m.Expression === "string" && /^\s*SELECT\b/i.test(m.Expression);

/** The alarm's period: its own, or (metric math) the returned expression's, else its metrics'. */
function periodOf(p: Json): number[] {
  if (!p.Metrics) return [p.Period];
  return p.Metrics.flatMap((m: Json) => (m.MetricStat ? [m.MetricStat.Period] : m.Period ? [m.Period] : []));
}

function problems(id: string, p: Json): string[] {
  const found: string[] = [];
  const periods = periodOf(p);
  for (const period of periods) {
    // 10, 20 and 30 are valid only on a high-resolution metric, and the stack watches none (the tests below).
    if (!(period > 0 && period % 60 === 0)) found.push(`${id}: period ${period}`);
    const span = period * p.EvaluationPeriods;
    if (span > (period < 3_600 ? DAY : 7 * DAY)) found.push(`${id}: evaluates ${span} s`);
  }
  for (const query of (p.Metrics ?? []).filter(isInsightsQuery)) {
    const span = query.Period * p.EvaluationPeriods;
    if (span > INSIGHTS_WINDOW) found.push(`${id}: a Metrics Insights query evaluating ${span} s`);
  }
  if (periods.length === 0) found.push(`${id}: no period`);
  if (!Number.isInteger(p.EvaluationPeriods) || p.EvaluationPeriods < 1)
    found.push(`${id}: EvaluationPeriods ${p.EvaluationPeriods}`);
  const datapoints = p.DatapointsToAlarm ?? p.EvaluationPeriods;
  if (!Number.isInteger(datapoints) || datapoints < 1 || datapoints > p.EvaluationPeriods)
    found.push(`${id}: DatapointsToAlarm ${datapoints} of ${p.EvaluationPeriods}`);
  if (p.Metrics) {
    const stats = p.Metrics.filter((m: Json) => m.MetricStat).length;
    const expressions = p.Metrics.filter((m: Json) => m.Expression !== undefined).length;
    if (p.Metrics.length > 20 || stats > 10 || expressions > 10)
      found.push(`${id}: ${p.Metrics.length} queries, ${stats} metrics, ${expressions} expressions`);
    if (p.Metrics.filter((m: Json) => m.ReturnData !== false).length !== 1) found.push(`${id}: returns ≠ 1`);
  }
  // A math expression names the Ids of the alarm's other queries (a Metrics Insights query names none).
  const ids = new Set((p.Metrics ?? []).map((m: Json) => m.Id));
  for (const m of (p.Metrics ?? []).filter(
    (q: Json) => typeof q.Expression === "string" && !isInsightsQuery(q),
  ))
    for (const [name] of (m.Expression as string).matchAll(/\b[a-z]\w*\b/g))
      if (!ids.has(name) || name === m.Id) found.push(`${id}: ${name} in "${m.Expression}"`);
  if (typeof p.Threshold !== "number" || !Number.isFinite(p.Threshold)) found.push(`${id}: threshold`);
  return found;
}

describe("the checker itself refuses what CloudWatch would not evaluate", () => {
  const alarm = (overrides: Json) => ({
    EvaluationPeriods: 3,
    Threshold: 1,
    Namespace: "AWS/SQS",
    MetricName: "ApproximateAgeOfOldestMessage",
    Period: 60,
    ...overrides,
  });
  const insights = (period: number, evaluationPeriods: number) =>
    alarm({
      Period: undefined,
      EvaluationPeriods: evaluationPeriods,
      Metrics: [{ Id: "q", Expression: 'SELECT SUM("X") FROM SCHEMA("Punctual", service)', Period: period }],
    });

  it("accepts a period of a minute, and a Metrics Insights alarm within its last 3 hours", () => {
    expect(problems("ok", alarm({}))).toEqual([]);
    expect(problems("ok", insights(60, 180))).toEqual([]);
  });

  // PutMetricAlarm, Period: 10, 20 or 30 only for a metric stored at a resolution of 1 s, else the alarm "does not
  // receive data for the attempts that do not correspond to a one-minute data resolution" and lapses into
  // INSUFFICIENT_DATA. No metric the stack watches is high-resolution: AWS's are per minute, and our EMF lines
  // carry no StorageResolution.
  it("refuses a sub-minute period: no metric of the stack is high-resolution", async () => {
    expect(problems("a", alarm({ Period: 30 }))).not.toEqual([]);
    expect(problems("b", insights(10, 1))).not.toEqual([]);
    // Ours included: every emitter run, no metric stored at 1 s (Powertools' MetricResolution.High).
    const directives = await emfDirectivesWhenRun();
    expect(directives.length).toBeGreaterThan(0);
    expect(directives.flatMap((d) => d.Metrics).filter((m) => m.StorageResolution === 1)).toEqual([]);
  });

  // "Only the latest 3 hours of data can be used for evaluating the alarm's conditions" of a Metrics Insights alarm
  // (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html): evaluation periods beyond
  // them see no data.
  it("refuses metric math naming an id the alarm has no query for", () => {
    const math = (expression: string) =>
      alarm({
        Period: undefined,
        Metrics: [
          { Id: "visible", MetricStat: { Metric: {}, Period: 60, Stat: "Maximum" }, ReturnData: false },
          { Id: "expr_1", Expression: expression },
        ],
      });
    expect(problems("d", math("FILL(visible, 0) + 1"))).toEqual([]);
    expect(problems("e", math("visible + inFlight"))).not.toEqual([]);
  });

  it("refuses a Metrics Insights alarm that evaluates more than the last 3 hours", () => {
    expect(problems("c", insights(300, 37))).not.toEqual([]);
  });
});

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

describe("a stack with more topics than one alarm's metric math can retrieve (10)", () => {
  // The settings rollback alarm sums a metric over every topic, and must still be one PutMetricAlarm accepts (CDK
  // refused to synthesize it: TooManyMetricsInMathExpression). Such a stack does not deploy today: synthesis stops
  // it at the functions' 4 KB of environment variables (environment-size.test.ts), the check skipped here so the
  // alarm stays valid for the day the topology leaves the environment.
  const topics = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`topic-${i}`, {}]));
  const synth = (): Record<string, Json> => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const stack = addPunctualStack(app, parseConfig({ ...dev, topics }));
    const assembly = app.synth({ skipValidation: true });
    return Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template).toJSON().Resources;
  };

  it("synthesizes, every alarm within PutMetricAlarm's documented ranges", () => {
    const alarms = Object.entries(synth()).filter(([, r]) => r.Type === "AWS::CloudWatch::Alarm");
    expect(alarms.length).toBeGreaterThan(12 * 6);
    expect(alarms.flatMap(([id, r]) => problems(id, r.Properties))).toEqual([]);
  });

  it("the rollback alarm sums failed attempts of every topic of this service, as the deliver functions emit them", () => {
    const [rollback, ...others] = Object.entries(synth()).filter(
      ([id, r]) => r.Type === "AWS::CloudWatch::Alarm" && id.startsWith("RuntimeSettingsRollbackAlarm"),
    );
    expect(others).toEqual([]);
    const metrics: Json[] = rollback?.[1].Properties.Metrics ?? [];
    const [query] = metrics.filter((m) => m.ReturnData !== false);
    expect(query.Period).toBe(60);
    // Per topic under {Topic, service} (alarm-metrics.test.ts: what deliver emits), summed over all topics.
    expect(query.Expression).toBe(
      `SELECT SUM("${METRIC.attemptFailed}") FROM SCHEMA("${METRICS_NAMESPACE}", "${TOPIC_DIMENSION}", service) WHERE service = '${serviceName("dev")}'`,
    );
  });
});
