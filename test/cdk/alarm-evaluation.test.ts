/**
 * Every alarm of the synthesized stack, evaluated as CloudWatch evaluates it (test/support/alarm-evaluation.ts, the
 * documented M-of-N and TreatMissingData rules) over the data points its metrics produce:
 * - a quiet stack (no tasks at all, a dev environment overnight) settles every alarm in OK — not ALARM, and not
 *   INSUFFICIENT_DATA either, which an operator reads as "this alarm watches nothing";
 * - the failure each alarm is for reaches ALARM within the time its description and docs/OPERATIONS.md give;
 * - an outage that emits nothing (a scheduled function no longer invoked) alarms rather than reading as quiet.
 *
 * What each metric publishes when nothing happens:
 * - Lambda's Errors, Throttles, Invocations exist only for periods with an invocation
 *   (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html); the sweeper and the materializer are
 *   invoked every minute by their rules, everything else only by traffic.
 * - SQS publishes a queue's metrics only while it is active, ApproximateAgeOfOldestMessage only while it holds a
 *   message (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
 * - Our EMF metrics exist only when a function writes them: the sweeper's and the materializer's every run, zeros
 *   included (functions/sweeper.ts, functions/schedule-materializer.ts); deliver's and the add routes' per event.
 * - Scheduler's metrics only for firings (https://docs.aws.amazon.com/scheduler/latest/UserGuide/monitoring-cloudwatch.html);
 *   API Gateway's only for requests.
 */
import { describe, expect, it } from "vitest";
import { METRIC } from "#shared/domain/metrics.js";
import {
  alarmMetricNames,
  alarmRule,
  breachingValue,
  constant,
  type Series,
  secondsToAlarm,
  seenByAlarm,
  statesOver,
} from "../support/alarm-evaluation.js";
import { type Json, synthesizedResources } from "../support/published-metrics.js";

/** What the scheduled functions publish every run while healthy: a rule-driven invocation, zero counts. */
const RUN_EVERY_PERIOD: Readonly<Record<string, number>> = {
  Invocations: 1,
  [METRIC.sweepFailures]: 0,
  [METRIC.materializeFailures]: 0,
  [METRIC.occurrencesSkipped]: 0,
  [METRIC.materializerLag]: 0,
};

/**
 * How long after its failure starts each kind of alarm must be in ALARM (s), as docs/OPERATIONS.md's alarm table and
 * the alarms' descriptions say.
 */
const DOCUMENTED_SECONDS: Readonly<Record<string, number>> = {
  LatenessAlarm: 120, // 2 of 3 minutes
  CallbackLatencyAlarm: 120,
  BacklogAgeAlarm: 180, // for 3 minutes
  NotEmptyAlarm: 60, // any message
  UnresolvedAlarm: 180, // 3 sweeper runs of a minute
  CircuitOpenedAlarm: 60,
  ErrorsAlarm: 300, // in 5 minutes
  ThrottlesAlarm: 300,
  NotRunningAlarm: 600, // not invoked for 10 minutes
  RelayFailuresAlarm: 900, // each of 3 five-minute periods
  RepairFailuresAlarm: 900,
  FailuresAlarm: 900, // for 15 minutes
  SkippedOccurrencesAlarm: 300,
  LagAlarm: 180, // for 3 minutes
  TargetErrorsAlarm: 300,
  DroppedInvocationsAlarm: 300,
  DeadLetterFailuresAlarm: 300,
  ServerErrorsAlarm: 300,
  RollbackAlarm: 60, // in a minute
};

/** The kind an alarm id names: the longest kind it contains (`…ServerErrorsAlarm…` is not an `ErrorsAlarm`). */
const kindOf = (id: string): string =>
  Object.keys(DOCUMENTED_SECONDS)
    .filter((kind) => id.includes(kind))
    .sort((a, b) => b.length - a.length)[0] ?? id;

const PERIODS = 48;

describe.each(["dev", "prod"] as const)("alarms of the %s stack, evaluated as CloudWatch does", (env) => {
  const alarms: [string, Json][] = Object.entries(synthesizedResources(env))
    .filter(([, r]) => r.Type === "AWS::CloudWatch::Alarm")
    .map(([id, r]) => [id, r.Properties]);

  it("every kind of alarm has a documented time to fire", () => {
    expect(alarms.length).toBeGreaterThan(10);
    expect(alarms.map(([id]) => kindOf(id)).filter((k) => !(k in DOCUMENTED_SECONDS))).toEqual([]);
  });

  it("a quiet stack (no traffic, scheduled functions running) settles every alarm in OK", () => {
    const notOk: string[] = [];
    for (const [id, p] of alarms) {
      // Prepare: only the scheduled runs publish; for a metric both a zero and no data point are possible.
      const rule = alarmRule(p);
      const names = alarmMetricNames(p);
      const scheduled = names.every((n) => n in RUN_EVERY_PERIOD);
      const candidates: Series[] = scheduled
        ? [constant(PERIODS, Math.max(...names.map((n) => RUN_EVERY_PERIOD[n] ?? 0)))]
        : [constant(PERIODS, undefined), constant(PERIODS, 0)];
      for (const series of candidates) {
        // Act
        const settled = statesOver(rule, seenByAlarm(p, series)).slice(2 * rule.evaluationPeriods);
        // Assess
        if (settled.some((s) => s !== "OK")) notOk.push(`${id}: ${[...new Set(settled)].join(",")}`);
      }
    }
    expect(notOk).toEqual([]);
  });

  it("each alarm's failure, breaching every period, fires within its documented time", () => {
    const late = alarms.flatMap(([id, p]) => {
      const rule = alarmRule(p);
      const seconds = secondsToAlarm(rule, constant(PERIODS, breachingValue(rule)));
      const documented = DOCUMENTED_SECONDS[kindOf(id)];
      return seconds !== undefined && seconds > 0 && seconds <= (documented ?? 0)
        ? []
        : [`${id}: ${seconds} s`];
    });
    expect(late).toEqual([]);
  });

  it("a scheduled function no longer invoked (its rule disabled: nothing published at all) alarms in 10 minutes", () => {
    const notRunning = alarms.filter(([id]) => kindOf(id) === "NotRunningAlarm");
    expect(notRunning).toHaveLength(2);
    for (const [, p] of notRunning) {
      const rule = alarmRule(p);
      // Lambda publishes no Invocations data point for a period without one: nothing at all.
      expect(secondsToAlarm(rule, constant(PERIODS, undefined), (all) => seenByAlarm(p, all))).toBe(600);
      // One invocation late (a 5-minute period without one) is no outage.
      const oneEmpty = [...constant(4, 5), 0, ...constant(4, 5)];
      expect(statesOver(rule, seenByAlarm(p, oneEmpty))).not.toContain("ALARM");
      expect(
        statesOver(rule, seenByAlarm(p, [...constant(4, 5), undefined, ...constant(4, 5)])),
      ).not.toContain("ALARM");
    }
  });

  it("the materializer's lag alarm keeps a lasting lag whose runs end either side of minute boundaries", () => {
    // A run a minute, lag 300 s throughout, but each run ends in whichever minute it finishes: some minutes have
    // two data points (one Maximum), some none.
    const [[, p] = []] = alarms.filter(([id]) => kindOf(id) === "LagAlarm");
    const rule = alarmRule(p);
    const gappy: Series = Array.from({ length: PERIODS }, (_, i) => (i % 2 === 0 ? 300 : undefined));
    expect(secondsToAlarm(rule, gappy)).toBeDefined();
    // And a lag that ends clears it at the next data points.
    const cleared = statesOver(rule, [...gappy, ...constant(rule.evaluationPeriods, 0)]);
    expect(cleared.at(-1)).toBe("OK");
  });
});

describe("limits the alarm table documents (docs/OPERATIONS.md, Alarms)", () => {
  const alarmsOf = (kind: string): Json[] =>
    Object.entries(synthesizedResources("prod"))
      .filter(([id, r]) => r.Type === "AWS::CloudWatch::Alarm" && id.includes(kind))
      .map(([, r]) => r.Properties);

  it("lateness and callback latency: a late delivery every 2 minutes alarms, one every 5 minutes never does", () => {
    // Each delivery's minute is its own data point; minutes without a delivery have none (treated notBreaching).
    for (const p of [...alarmsOf("LatenessAlarm"), ...alarmsOf("CallbackLatencyAlarm")]) {
      const rule = alarmRule(p);
      const everyMinutes = (k: number): Series =>
        Array.from({ length: PERIODS }, (_, i) => (i % k === 0 ? breachingValue(rule) : undefined));
      expect(secondsToAlarm(rule, everyMinutes(2))).toBeDefined();
      expect(statesOver(rule, everyMinutes(5))).not.toContain("ALARM");
    }
  });

  it("circuit opened: ALARM when it opens, OK within minutes though the circuit may still be open", () => {
    const [p] = alarmsOf("CircuitOpenedAlarm");
    const rule = alarmRule(p);
    // CircuitOpened is published once, when the circuit opens; nothing while it stays open.
    const states = statesOver(rule, [...constant(5, undefined), 1, ...constant(10, undefined)]);
    expect(states).toContain("ALARM");
    expect(states.at(-1)).toBe("OK");
  });
});

describe("dead-letter queue alarms on a queue nobody is receiving from", () => {
  // SQS reports ApproximateNumberOfMessagesNotVisible only "if in-flight messages exist", Visible "if the queue is
  // active" (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html):
  // a dead letter left alone (the sweeper stopped, or between its reads) has a visible count and no in-flight one.
  const visibleOnly = (name: string): Series =>
    name === "ApproximateNumberOfMessagesVisible" ? constant(PERIODS, 1) : constant(PERIODS, undefined);

  it.each(["dev", "prod"] as const)(
    "%s: NotEmptyAlarm and UnresolvedAlarm fire for a visible message alone",
    (env) => {
      const silent = Object.entries(synthesizedResources(env))
        .filter(([id, r]) => r.Type === "AWS::CloudWatch::Alarm" && /NotEmptyAlarm|UnresolvedAlarm/.test(id))
        .filter(
          ([, r]) =>
            secondsToAlarm(alarmRule(r.Properties), seenByAlarm(r.Properties, visibleOnly)) === undefined,
        )
        .map(([id]) => id);
      expect(silent).toEqual([]);
    },
  );
});
