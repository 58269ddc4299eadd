/**
 * The environment's CloudWatch dashboard (issue 12, point 3): every widget's metric is one that really gets
 * published — by AWS (documented names and dimension sets, test/support/aws-metrics.ts) or by our runtime (its
 * emitters run, with exactly the dimensions they write) — so no widget stays empty because of a name mismatch; and the dashboard shows
 * what the issue asks for, on the right resources.
 */
import type { CfnElement } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import type { PunctualStack } from "#cdk/lib/punctual-stack.js";
import { METRIC, METRICS_NAMESPACE } from "#shared/domain/metrics.js";
import { emittedWhenRun } from "../support/emitted-metrics.js";
import {
  type Json,
  type NamedMetric,
  synthesized,
  undocumentedAwsMetrics,
  unemittedPunctualMetrics,
} from "../support/published-metrics.js";

/** A metric line of a widget: namespace, name, dimensions (name → value, tokens as placeholders). */
interface WidgetMetric extends NamedMetric {
  readonly dimensionValues: Readonly<Record<string, string>>;
  readonly stat: string | undefined;
}

/**
 * A CloudFormation token inside the body as a placeholder, JSON-safe inside a string literal: `Ref:Id`,
 * `GetAtt:Id.Attr`, or any other expression URI-encoded.
 */
function placeholder(token: Json): string {
  if (token.Ref) return `Ref:${token.Ref}`;
  if (token["Fn::GetAtt"]) return `GetAtt:${token["Fn::GetAtt"].join(".")}`;
  return `Token:${encodeURIComponent(JSON.stringify(token))}`;
}

/** DashboardBody is `Fn::Join("", [strings and tokens])`: join it with placeholders and parse the JSON. */
function dashboardBody(resources: Record<string, Json>): Json {
  const dashboards = Object.values(resources).filter((r) => r.Type === "AWS::CloudWatch::Dashboard");
  expect(dashboards).toHaveLength(1);
  const body = dashboards[0].Properties.DashboardBody;
  const [separator, parts] = body["Fn::Join"] as [string, Json[]];
  return JSON.parse(parts.map((p) => (typeof p === "string" ? p : placeholder(p))).join(separator));
}

/** `[namespace, name, dim1, value1, …, {options}?]`; CDK writes no "." / "..." shorthand (it would throw). */
function widgetMetric(title: string, line: Json[]): WidgetMetric {
  const last = line[line.length - 1];
  const options = typeof last === "object" ? last : undefined;
  const [namespace, name, ...pairs] = options ? line.slice(0, -1) : line;
  if ([namespace, name, ...pairs].some((v) => typeof v !== "string" || v === "." || v === "..."))
    throw new Error(`unparsed metric line in "${title}": ${JSON.stringify(line)}`);
  const dimensionValues: Record<string, string> = {};
  for (let i = 0; i < pairs.length; i += 2) dimensionValues[pairs[i]] = pairs[i + 1];
  return {
    source: title,
    namespace,
    name,
    dimensions: Object.keys(dimensionValues).sort(),
    dimensionValues,
    stat: options?.stat,
  };
}

function widgetMetrics(body: Json): WidgetMetric[] {
  return body.widgets
    .filter((w: Json) => w.type === "metric")
    .flatMap((w: Json) =>
      (w.properties.metrics as Json[][])
        .filter((line) => typeof line[0] === "string")
        .map((line) => widgetMetric(w.properties.title, line)),
    );
}

function logicalId(stack: PunctualStack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

describe.each(["dev", "prod"] as const)("the %s stack's dashboard", (env) => {
  const { stack, resources, outputs } = synthesized(env);
  const body = dashboardBody(resources);
  const metrics = widgetMetrics(body);
  const has = (namespace: string, name: string, dims: Record<string, string>, stat?: string) =>
    metrics.some(
      (m) =>
        m.namespace === namespace &&
        m.name === name &&
        (stat === undefined || m.stat === stat) &&
        Object.entries(dims).every(([k, v]) => m.dimensionValues[k] === v),
    );

  it("every metric widget has metrics, each AWS one documented under a dimension set AWS publishes", () => {
    const metricWidgets = body.widgets.filter((w: Json) => w.type === "metric");
    expect(metricWidgets.length).toBeGreaterThan(0);
    expect(metricWidgets.filter((w: Json) => !w.properties.metrics?.length)).toEqual([]);
    expect(undocumentedAwsMetrics(metrics)).toEqual([]);
  });

  /**
   * A widget's metric math (`visible + inFlight`, a DLQ's depth) refers to the ids of metric lines in the same
   * widget; an id it names that no line has makes the whole widget show an error instead of data. Math functions
   * are upper case (FILL, SUM…), ids start with a lower-case letter.
   */
  it("every metric math expression names only ids of metric lines in its widget", () => {
    const unknown: string[] = [];
    let expressions = 0;
    for (const widget of body.widgets.filter((w: Json) => w.type === "metric")) {
      const lines = widget.properties.metrics as Json[][];
      const options = lines.map((line) => line[line.length - 1]).filter((o) => typeof o === "object");
      const ids = new Set(options.map((o: Json) => o.id).filter(Boolean));
      for (const { expression } of options.filter((o: Json) => typeof o.expression === "string")) {
        expressions += 1;
        for (const [name] of (expression as string).matchAll(/\b[a-z]\w*\b/g))
          if (!ids.has(name)) unknown.push(`${widget.properties.title}: ${name} in "${expression}"`);
      }
    }
    expect(expressions).toBeGreaterThan(0);
    expect(unknown).toEqual([]);
  });

  it("every Punctual metric is emitted by the runtime, with exactly the dimensions the widget names", async () => {
    expect(metrics.some((m) => m.namespace === METRICS_NAMESPACE)).toBe(true);
    expect(unemittedPunctualMetrics(metrics, await emittedWhenRun())).toEqual([]);
  });

  it("shows per topic adds, delivered, failed, lateness p50/p99, callback latency p99, backlog age, DLQ depth", () => {
    for (const topic of stack.topics) {
      const t = { Topic: topic.name, service: `punctual-${env}` };
      expect(has(METRICS_NAMESPACE, METRIC.accepted, t, "Sum"), topic.name).toBe(true);
      expect(has(METRICS_NAMESPACE, METRIC.delivered, t, "Sum"), topic.name).toBe(true);
      expect(has(METRICS_NAMESPACE, METRIC.deadLettered, t, "Sum"), topic.name).toBe(true);
      expect(has(METRICS_NAMESPACE, METRIC.lateness, t, "p50"), topic.name).toBe(true);
      expect(has(METRICS_NAMESPACE, METRIC.lateness, t, "p99"), topic.name).toBe(true);
      expect(has(METRICS_NAMESPACE, METRIC.callbackLatency, t, "p99"), topic.name).toBe(true);
      const queue = `GetAtt:${logicalId(stack, topic.queue)}.QueueName`;
      const dlq = `GetAtt:${logicalId(stack, topic.deadLetterQueue)}.QueueName`;
      expect(has("AWS/SQS", "ApproximateAgeOfOldestMessage", { QueueName: queue })).toBe(true);
      expect(has("AWS/SQS", "ApproximateNumberOfMessagesVisible", { QueueName: dlq })).toBe(true);
      // In flight too, as its alarm counts them: the sweeper holds what it reads through the DLQ until its run
      // ends, and a depth of visible messages alone dropped to 0 while failed tasks were there.
      expect(has("AWS/SQS", "ApproximateNumberOfMessagesNotVisible", { QueueName: dlq })).toBe(true);
    }
  });

  /**
   * The dashboard's period is `auto` (it adapts to the time range chosen), and 1-minute data is kept 15 days only
   * (then 5-minute, then 1-hour: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html):
   * a Sum over a 5-minute or 1-hour point under a title that says "per minute" read 5 or 60 times the rate. So each
   * line of such a widget is its Sum divided by its period in minutes, whatever period CloudWatch picks.
   */
  it("shows per-minute values in every widget titled per minute, whatever period the time range gives", () => {
    const perMinute = body.widgets.filter(
      (w: Json) => w.type === "metric" && /per minute/.test(w.properties.title),
    );
    expect(perMinute.length).toBeGreaterThan(stack.topics.length);
    const notPerMinute: string[] = [];
    for (const widget of perMinute) {
      const lines = widget.properties.metrics as Json[][];
      const options = lines.map((line) => line[line.length - 1]).filter((o) => typeof o === "object");
      const hidden = new Map(
        lines
          .filter((line) => typeof line[0] === "string")
          .map((line) => [line[line.length - 1].id, line[line.length - 1]]),
      );
      for (const line of lines) {
        const option = line[line.length - 1];
        if (typeof line[0] === "string") {
          // A metric line is only an input of a rate, never shown as its own raw Sum.
          if (option?.visible !== false)
            notPerMinute.push(`${widget.properties.title}: ${line[1]} shown raw`);
          continue;
        }
        const match = /^(\w+) \/ \(PERIOD\((\w+)\) \/ 60\)$/.exec(option.expression ?? "");
        const input = match && match[1] === match[2] ? hidden.get(match[1]) : undefined;
        if (input?.stat !== "Sum")
          notPerMinute.push(`${widget.properties.title}: ${option.label} is ${option.expression}`);
      }
      if (!options.some((o: Json) => typeof o.expression === "string"))
        notPerMinute.push(`${widget.properties.title}: no rate`);
    }
    expect(notPerMinute).toEqual([]);
  });

  it("shows the timer queue's backlog and age, and the schedule group's failures and throttling", () => {
    const timer = `GetAtt:${logicalId(stack, stack.timerQueues.queue)}.QueueName`;
    expect(has("AWS/SQS", "ApproximateNumberOfMessagesVisible", { QueueName: timer })).toBe(true);
    expect(has("AWS/SQS", "ApproximateAgeOfOldestMessage", { QueueName: timer })).toBe(true);
    // The DLQs the sweeper drains: visible and in flight (the sweeper keeps receiving what it cannot resolve).
    for (const queue of [stack.timerQueues.deadLetterQueue, stack.timerQueues.scheduleDeadLetterQueue]) {
      const name = `GetAtt:${logicalId(stack, queue)}.QueueName`;
      expect(has("AWS/SQS", "ApproximateNumberOfMessagesVisible", { QueueName: name })).toBe(true);
      expect(has("AWS/SQS", "ApproximateNumberOfMessagesNotVisible", { QueueName: name })).toBe(true);
    }
    const group = placeholder(stack.resolve(stack.timerScheduler.group.scheduleGroupName));
    expect(has("AWS/Scheduler", "TargetErrorCount", { ScheduleGroup: group })).toBe(true);
    expect(has("AWS/Scheduler", "InvocationDroppedCount", { ScheduleGroup: group })).toBe(true);
    // Throttled firings come late: the first place a burst's lateness shows. Scheduler's own throttling is
    // published for the account only (no ScheduleGroup dimension: test/support/aws-metrics.ts); SQS's per group.
    const throttles = metrics.filter(
      (m) => m.namespace === "AWS/Scheduler" && m.name === "InvocationThrottleCount",
    );
    expect(throttles.map((m) => m.dimensions)).toEqual([[]]);
    expect(has("AWS/Scheduler", "TargetErrorThrottledCount", { ScheduleGroup: group })).toBe(true);
  });

  it("shows how far behind the schedule materializer is (its lag's Maximum) and its occurrences made, skipped and failed", () => {
    const service = { service: `punctual-${env}` };
    expect(has(METRICS_NAMESPACE, METRIC.materializerLag, service, "Maximum")).toBe(true);
    expect(has(METRICS_NAMESPACE, METRIC.occurrencesMaterialized, service, "Sum")).toBe(true);
    expect(has(METRICS_NAMESPACE, METRIC.occurrencesSkipped, service, "Sum")).toBe(true);
    expect(has(METRICS_NAMESPACE, METRIC.materializeFailures, service, "Sum")).toBe(true);
  });

  it("shows every function's errors, throttles and concurrency", () => {
    const functions = Object.entries(resources).filter(([, r]) => r.Type === "AWS::Lambda::Function");
    expect(functions.length).toBeGreaterThan(stack.topics.length);
    for (const [id] of functions) {
      for (const name of ["Errors", "Throttles", "ConcurrentExecutions"])
        expect(has("AWS/Lambda", name, { FunctionName: `Ref:${id}` }), `${id} ${name}`).toBe(true);
    }
  });

  it("shows the state of every alarm of the stack", () => {
    const alarms = Object.entries(resources)
      .filter(([, r]) => r.Type === "AWS::CloudWatch::Alarm")
      .map(([id]) => `GetAtt:${id}.Arn`)
      .sort();
    const shown = body.widgets
      .filter((w: Json) => w.type === "alarm")
      .flatMap((w: Json) => w.properties.alarms)
      .sort();
    expect(alarms.length).toBeGreaterThan(0);
    expect(shown).toEqual(alarms);
  });

  it("has no hard-coded name; the stack outputs the one CloudFormation gives it", () => {
    const [id, dashboard] =
      Object.entries(resources).find(([, r]) => r.Type === "AWS::CloudWatch::Dashboard") ?? [];
    expect(dashboard.Properties.DashboardName).toBeUndefined();
    expect(outputs.DashboardName.Value).toEqual({ Ref: id });
  });
});
