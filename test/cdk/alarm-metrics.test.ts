/**
 * Every metric an alarm watches is one that really gets published — by AWS (documented names and dimension sets,
 * test/support/aws-metrics.ts) or by our own code (what its emitters write when run, test/support/emitted-metrics.ts,
 * with the dimensions they write). An alarm on a metric nobody emits never fires.
 */
import { describe, expect, it } from "vitest";
import { METRIC, METRICS_NAMESPACE, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import { emittedWhenRun } from "../support/emitted-metrics.js";
import {
  type Json,
  type NamedMetric,
  synthesizedResources,
  undocumentedAwsMetrics,
  unemittedPunctualMetrics,
} from "../support/published-metrics.js";
import { stackConfig } from "../support/stack-config.js";

function watchedMetrics(env: string): NamedMetric[] {
  return Object.entries(synthesizedResources(env))
    .filter(([, r]) => r.Type === "AWS::CloudWatch::Alarm")
    .flatMap(([alarm, r]) => {
      const p = r.Properties;
      const metrics: Json[] = p.Metrics
        ? p.Metrics.filter((m: Json) => m.MetricStat).map((m: Json) => m.MetricStat.Metric)
        : [{ Namespace: p.Namespace, MetricName: p.MetricName, Dimensions: p.Dimensions }];
      return metrics.map((m) => ({
        source: alarm,
        namespace: m.Namespace,
        name: m.MetricName,
        dimensions: (m.Dimensions ?? []).map((d: Json) => d.Name).sort(),
      }));
    });
}

describe("circuit breaker alarm (issue 14)", () => {
  it("a topic with circuitFailureThreshold (prod's notifications) alarms on CircuitOpened per topic; others do not", () => {
    const opened = (env: string) =>
      watchedMetrics(env).filter((m) => m.namespace === METRICS_NAMESPACE && m.name === METRIC.circuitOpened);
    expect(opened("prod")).toEqual([
      expect.objectContaining({ name: "CircuitOpened", dimensions: ["Topic", "service"] }),
    ]);
    expect(opened("dev")).toEqual([]);
  });
});

describe("our metrics as the runtime emits them (every emitter run, its EMF lines parsed)", () => {
  it("are every METRIC, per topic (Topic + service) from deliver and the add routes, else per service", async () => {
    const emitted = await emittedWhenRun();
    const perTopic = [
      METRIC.lateness,
      METRIC.callbackLatency,
      METRIC.delivered,
      METRIC.deadLettered,
      METRIC.attemptFailed,
      METRIC.accepted,
      METRIC.circuitOpened,
      METRIC.circuitClosed,
    ];
    expect([...emitted.keys()].sort()).toEqual(Object.values(METRIC).sort());
    for (const [name, sets] of emitted)
      expect([...sets], name).toEqual([perTopic.includes(name as never) ? "Topic,service" : "service"]);
  });
});

describe("the AWS metrics checker itself", () => {
  const named = (namespace: string, name: string, dimensions: string[]): NamedMetric => ({
    source: "checker",
    namespace,
    name,
    dimensions,
  });

  it("takes an HTTP API's metrics per API and per stage", () => {
    expect(
      undocumentedAwsMetrics([
        named("AWS/ApiGateway", "5xx", ["ApiId"]),
        named("AWS/ApiGateway", "Count", ["ApiId", "Stage"]),
      ]),
    ).toEqual([]);
  });

  // HTTP APIs publish per-route metrics ({ApiId, Method, Resource, Stage}) only with detailed metrics on
  // (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html), which the stack's stage
  // leaves off; {ApiId, Route, Stage} is a WebSocket API's set, never an HTTP API's.
  it("refuses per-route HTTP API metrics: the detailed set the stage does not publish, and a WebSocket API's", () => {
    const refused = [
      named("AWS/ApiGateway", "5xx", ["ApiId", "Method", "Resource", "Stage"]),
      named("AWS/ApiGateway", "Latency", ["ApiId", "Route", "Stage"]),
    ];
    expect(undocumentedAwsMetrics(refused)).toEqual(refused);
  });

  // Dimension sets are per metric, not per namespace.
  // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html
  it("takes each metric under a dimension set AWS publishes for that metric", () => {
    expect(
      undocumentedAwsMetrics([
        named("AWS/DynamoDB", "ThrottledRequests", ["Operation", "TableName"]),
        named("AWS/DynamoDB", "SystemErrors", ["Operation", "TableName"]),
        named("AWS/DynamoDB", "ConsumedWriteCapacityUnits", ["TableName"]),
        named("AWS/DynamoDB", "ConsumedWriteCapacityUnits", ["GlobalSecondaryIndexName", "TableName"]),
        named("AWS/DynamoDB", "UserErrors", []),
        named("AWS/Lambda", "Errors", ["FunctionName"]),
        named("AWS/SQS", "ApproximateAgeOfOldestMessage", ["QueueName"]),
        named("AWS/Scheduler", "TargetErrorCount", ["ScheduleGroup"]),
      ]),
    ).toEqual([]);
  });

  it("refuses a metric under a set the namespace publishes only for other metrics: no data point would reach it", () => {
    const refused = [
      // Throttled requests are counted per table and operation; per table alone there is no such metric.
      named("AWS/DynamoDB", "ThrottledRequests", ["TableName"]),
      named("AWS/DynamoDB", "SystemErrors", ["GlobalSecondaryIndexName", "TableName"]),
      // Capacity is per table or index, never per operation.
      named("AWS/DynamoDB", "ConsumedWriteCapacityUnits", ["Operation", "TableName"]),
      // UserErrors is the account's and Region's only.
      named("AWS/DynamoDB", "UserErrors", ["TableName"]),
      named("AWS/DynamoDB", "ThrottledRequests", []),
      // Dead-letter errors are not published per executed version; SQS publishes per queue only.
      named("AWS/Lambda", "DeadLetterErrors", ["ExecutedVersion", "FunctionName", "Resource"]),
      named("AWS/SQS", "NumberOfMessagesSent", []),
    ];
    expect(undocumentedAwsMetrics(refused)).toEqual(refused);
  });
});

describe.each(["dev", "prod"] as const)("alarms of the %s stack watch published metrics", (env) => {
  const watched = watchedMetrics(env);

  it("finds alarms on AWS metrics and on our own", () => {
    expect(watched.some((m) => m.namespace === METRICS_NAMESPACE)).toBe(true);
    expect(watched.some((m) => m.namespace.startsWith("AWS/"))).toBe(true);
  });

  it("every AWS metric is one the service documents, under a dimension set it publishes", () => {
    expect(undocumentedAwsMetrics(watched)).toEqual([]);
  });

  it("every Punctual metric is emitted by the runtime, with exactly the dimensions the alarm names", async () => {
    expect(unemittedPunctualMetrics(watched, await emittedWhenRun())).toEqual([]);
  });

  /**
   * The dimension names above are the emitters'; their values are the deployed functions': `service` is each
   * function's POWERTOOLS_SERVICE_NAME (observability.ts), `Topic` a topic the stack deploys. An alarm naming
   * another value (a renamed environment, a topic's old name) watches a metric no function emits.
   */
  it("every Punctual metric names the service the stack's functions emit under, and a topic it deploys", () => {
    const resources = synthesizedResources(env);
    const services = new Set(
      Object.values(resources)
        .filter((r: Json) => r.Type === "AWS::Lambda::Function")
        .map((r: Json) => r.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME),
    );
    expect(services.size, [...services].join()).toBe(1);
    const topics = new Set(Object.keys(stackConfig(env).resolvedTopics));
    const named = Object.entries(resources)
      .filter(([, r]) => r.Type === "AWS::CloudWatch::Alarm")
      .flatMap(([alarm, r]) => {
        const p = r.Properties;
        const metrics: Json[] = p.Metrics
          ? p.Metrics.filter((m: Json) => m.MetricStat).map((m: Json) => m.MetricStat.Metric)
          : [p];
        return metrics
          .filter((m) => m.Namespace === METRICS_NAMESPACE)
          .map((m) => ({ alarm, dimensions: m.Dimensions as { Name: string; Value: string }[] }));
      });
    expect(named.length).toBeGreaterThan(0);
    const stray = named.filter(({ dimensions }) =>
      dimensions.some(
        ({ Name, Value }) =>
          (Name === "service" && !services.has(Value)) || (Name === TOPIC_DIMENSION && !topics.has(Value)),
      ),
    );
    expect(stray).toEqual([]);
  });
});
