import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type MetricDataQuery,
  type MetricDataResult,
} from "@aws-sdk/client-cloudwatch";
import { METRIC, METRICS_NAMESPACE, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import { type ConsoleMetrics, type MetricsQuery, metricsWindow, ratesOf } from "./schemas.js";

const PERCENTILES = [50, 90, 99] as const;

/**
 * How long one GetMetricData answer serves a topic and window. The page polls every 3 s, each topic's row and the
 * lateness panel apart, in every open tab; GetMetricData is billed per metric requested (12 a call) and shares a
 * 50-calls-a-second quota with the account's dashboards. Its data is per minute and lags by a minute or more.
 */
export const CLOUDWATCH_REUSE_MS = 30_000;

/**
 * How long one answer (its pages and the SDK's retries) may take. The SDK sets no request timeout of its own, and a
 * call on a dead connection (a laptop back from sleep, a dropped VPN) can wait forever, while each panel loads one
 * call at a time: the topics panel (its metrics calls in one load with GET /v1/topics) stayed frozen on its last
 * answer. Past this the call is a 502 and the next poll asks again.
 */
export const CLOUDWATCH_TIMEOUT_MS = 15_000;

/**
 * The console's metrics from CloudWatch (GetMetricData with the caller's credentials): the metric names and
 * dimensions (service + Topic) the dashboard and the lateness alarm use. CloudWatch's percentiles are its own
 * approximations over the EMF values, not exact nearest ranks (docs/OPERATIONS.md, "The console and the dashboard").
 */
export function cloudWatchMetricsSource(
  cloudwatch: CloudWatchClient,
  service: string,
  now: () => number = Date.now,
  timeoutMs: number = CLOUDWATCH_TIMEOUT_MS,
) {
  return reusedFor(CLOUDWATCH_REUSE_MS, now, async (query: MetricsQuery): Promise<ConsoleMetrics> => {
    const { fromMs, toMs } = metricsWindow(now(), query.minutes);
    const windowSeconds = query.minutes * 60;
    const dimensions = [
      { Name: "service", Value: service },
      { Name: TOPIC_DIMENSION, Value: query.topic },
    ];
    const stat = (id: string, name: string, statistic: string, period: number): MetricDataQuery => ({
      Id: id,
      MetricStat: {
        Metric: { Namespace: METRICS_NAMESPACE, MetricName: name, Dimensions: dimensions },
        Period: period,
        Stat: statistic,
      },
      ReturnData: true,
    });
    const queries: MetricDataQuery[] = [
      ...PERCENTILES.map((p) => stat(`all_p${p}`, METRIC.lateness, `p${p}`, windowSeconds)),
      stat("all_n", METRIC.lateness, "SampleCount", windowSeconds),
      ...PERCENTILES.map((p) => stat(`min_p${p}`, METRIC.lateness, `p${p}`, 60)),
      stat("min_n", METRIC.lateness, "SampleCount", 60),
      stat("delivered", METRIC.delivered, "Sum", 60),
      stat("failed", METRIC.deadLettered, "Sum", 60),
      stat("added", METRIC.accepted, "Sum", 60),
      stat("attempts", METRIC.attemptFailed, "Sum", 60),
    ];
    const results = await allResults(cloudwatch, queries, fromMs, toMs, timeoutMs);
    return shape(query, results, fromMs, toMs);
  });
}

/**
 * `source`, its answer (or the call under way) shared by every query for the same topic and window for `reuseMs`;
 * a failure is dropped at once, so the next poll asks again. Expired entries go on each call: the map holds only
 * the keys asked for in the last `reuseMs`.
 */
function reusedFor(
  reuseMs: number,
  now: () => number,
  source: (query: MetricsQuery) => Promise<ConsoleMetrics>,
): (query: MetricsQuery) => Promise<ConsoleMetrics> {
  const answers = new Map<string, { readonly at: number; readonly answer: Promise<ConsoleMetrics> }>();
  return (query) => {
    const at = now();
    for (const [key, entry] of answers) if (at - entry.at > reuseMs) answers.delete(key);
    const key = JSON.stringify([query.topic, query.minutes]);
    const kept = answers.get(key);
    if (kept) return kept.answer;
    const answer = source(query);
    const entry = { at, answer };
    answers.set(key, entry);
    answer.catch(() => {
      if (answers.get(key) === entry) answers.delete(key);
    });
    return answer;
  };
}

async function allResults(
  cloudwatch: CloudWatchClient,
  queries: MetricDataQuery[],
  fromMs: number,
  toMs: number,
  timeoutMs: number,
): Promise<Map<string, Map<number, number>>> {
  const byId = new Map<string, Map<number, number>>();
  const abortSignal = AbortSignal.timeout(timeoutMs);
  let nextToken: string | undefined;
  do {
    const request = new GetMetricDataCommand({
      MetricDataQueries: queries,
      StartTime: new Date(fromMs),
      EndTime: new Date(Math.ceil(toMs / 60_000) * 60_000),
      ScanBy: "TimestampAscending",
      NextToken: nextToken,
    });
    const page = await cloudwatch.send(request, { abortSignal }).catch((error: unknown) => {
      if (!abortSignal.aborted) throw error;
      throw new Error(`CloudWatch did not answer GetMetricData within ${timeoutMs / 1000} s`);
    });
    for (const result of page.MetricDataResults ?? []) addResult(byId, result);
    nextToken = page.NextToken;
  } while (nextToken);
  return byId;
}

function addResult(byId: Map<string, Map<number, number>>, result: MetricDataResult): void {
  const points = byId.get(result.Id ?? "") ?? new Map<number, number>();
  byId.set(result.Id ?? "", points);
  (result.Timestamps ?? []).forEach((t, i) => {
    const value = result.Values?.[i];
    if (value !== undefined) points.set(t.getTime(), value);
  });
}

function shape(
  query: MetricsQuery,
  results: Map<string, Map<number, number>>,
  fromMs: number,
  toMs: number,
): ConsoleMetrics {
  const at = (id: string, t: number) => results.get(id)?.get(t);
  const total = (id: string) => [...(results.get(id)?.values() ?? [])].reduce((a, b) => a + b, 0);
  const series = Array.from({ length: query.minutes }, (_, i) => {
    const t = fromMs + i * 60_000;
    return {
      t: t / 1000,
      count: at("min_n", t) ?? 0,
      p50: at("min_p50", t) ?? null,
      p90: at("min_p90", t) ?? null,
      p99: at("min_p99", t) ?? null,
      delivered: at("delivered", t) ?? 0,
      failed: at("failed", t) ?? 0,
    };
  });
  const totals = { added: total("added"), delivered: total("delivered"), failed: total("failed") };
  const first = (id: string) => [...(results.get(id)?.values() ?? [])][0] ?? null;
  return {
    topic: query.topic,
    source: "cloudwatch",
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    lateness: {
      count: first("all_n") ?? 0,
      p50: first("all_p50"),
      p90: first("all_p90"),
      p99: first("all_p99"),
    },
    series,
    ...totals,
    attempts_failed: total("attempts"),
    rates: ratesOf(totals, query.minutes),
  };
}
