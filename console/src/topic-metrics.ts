/**
 * The topics panel's counts: one `/console/api/metrics` request per listed topic, each a CloudWatch GetMetricData
 * through `punctual console` (the local cloud reads its own store).
 */
import pMap from "p-map";
import { type ConsoleMetrics, consoleMetricsSchema } from "../schemas.js";
import { call } from "./api.js";

export type TopicsMetrics = Readonly<Record<string, ConsoleMetrics | undefined>>;

/**
 * Metrics requests in flight at once. Sent all together (up to MAX_LISTED_TOPICS, 100), each panel load asked
 * CloudWatch for a burst of GetMetricData calls, which share a 50-calls-a-second quota with the account's dashboards
 * (a throttled call is a row without counts), and held every one of the browser's 6 connections to the host
 * (HTTP/1.1), so the panels' own loads and the buttons' calls waited behind them. Four leaves two of those free.
 */
export const METRICS_CONCURRENCY = 4;

/**
 * The window's counts of each topic, by name: undefined for a topic whose request failed or whose answer is not
 * metrics (its row shows no counts). At most METRICS_CONCURRENCY requests at once, in the topics' order, each result
 * kept with its own topic whatever order they finish in. p-map (already a dependency of the functions; about 2 KB
 * of the page's bundle) rather than a queue of our own. Once `signal` aborts (the panel moved to another window or
 * topic list, or went away: useLoad), no more are sent, those in flight are aborted, and the load rejects: left to
 * run, each move went on sending the old list's requests beside the new one's, past the bound.
 */
export async function loadTopicsMetrics(
  topics: readonly string[],
  minutes: number,
  signal?: AbortSignal,
): Promise<TopicsMetrics> {
  const metrics = await pMap(
    topics,
    (topic) =>
      call(
        "GET",
        `/console/api/metrics?topic=${encodeURIComponent(topic)}&minutes=${minutes}`,
        undefined,
        signal,
      )
        .then((m) => consoleMetricsSchema.parse(m))
        .catch(() => undefined),
    { concurrency: METRICS_CONCURRENCY, ...(signal ? { signal } : {}) },
  );
  return Object.fromEntries(topics.map((topic, i) => [topic, metrics[i]]));
}
