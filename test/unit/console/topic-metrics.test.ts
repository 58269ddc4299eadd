import { afterEach, describe, expect, it, vi } from "vitest";
import { loadTopicsMetrics, METRICS_CONCURRENCY } from "../../../console/src/topic-metrics.js";
import { MAX_LISTED_TOPICS } from "../../../shared/domain/view-bounds.js";
import { jsonAnswer as json, stubConsoleFetch } from "../../support/fakes/console-fetch.js";

/**
 * The topics panel's counts (console/src/topic-metrics.ts) against a stubbed `fetch` that holds every request until
 * the test answers it: how many are in flight at once, and which row each answer lands on.
 */

afterEach(() => {
  vi.unstubAllGlobals();
});

/** A metrics answer for `topic` whose `added` count is `added` (so each row's answer can be told apart). */
const metricsOf = (topic: string, added: number) => ({
  topic,
  source: "local",
  from: "2026-12-05T12:00:00.000Z",
  to: "2026-12-05T12:14:30.000Z",
  lateness: { count: 0, p50: null, p90: null, p99: null },
  series: [],
  added,
  delivered: 0,
  failed: 0,
  attempts_failed: 0,
  rates: { added_per_minute: 0, delivered_per_minute: 0, failed_per_minute: 0 },
});

/** The topic a metrics request asks for. */
const topicOf = (path: string) => new URL(path, "http://127.0.0.1").searchParams.get("topic") ?? "";

/** A macrotask: every promise the load chains on settles before it runs. */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Loads the metrics of `topics` with every request held, answering the newest held one at each step (so they finish
 * in another order than sent), each with `answer` of its topic; what the load gave, how many requests were sent and
 * the most in flight at once.
 */
async function loadHeld(topics: readonly string[], answer: (topic: string) => Response) {
  const held: { topic: string; release: () => void }[] = [];
  let most = 0;
  const sent = stubConsoleFetch(
    ({ path }) =>
      new Promise<Response>((resolve) => {
        const topic = topicOf(path);
        held.push({ topic, release: () => resolve(answer(topic)) });
        most = Math.max(most, held.length);
      }),
  );
  let result: Awaited<ReturnType<typeof loadTopicsMetrics>> | undefined;
  const load = loadTopicsMetrics(topics, 15).then((r) => {
    result = r;
  });
  while (result === undefined) {
    await settle();
    held.pop()?.release();
  }
  await load;
  return { result, sent: sent.length, most };
}

describe("the topics panel's metrics requests", () => {
  const topics = Array.from({ length: MAX_LISTED_TOPICS }, (_, i) => `t${i}`);

  it(`${MAX_LISTED_TOPICS} topics: at most ${METRICS_CONCURRENCY} in flight at once, one request each`, async () => {
    // Act
    const { sent, most } = await loadHeld(topics, (topic) => json(200, metricsOf(topic, 1)));

    // Assess
    expect(most).toBe(METRICS_CONCURRENCY);
    expect(sent).toBe(MAX_LISTED_TOPICS);
  });

  it("each row gets its own topic's answer, whatever order they finish in", async () => {
    // Act
    const { result } = await loadHeld(topics, (topic) => json(200, metricsOf(topic, Number(topic.slice(1)))));

    // Assess
    expect(Object.keys(result)).toEqual(topics);
    for (const [i, topic] of topics.entries()) expect(result[topic]).toMatchObject({ topic, added: i });
  });

  it("a request that fails or answers no metrics leaves its row without counts, and the others theirs", async () => {
    // Prepare
    const answer = (topic: string) => {
      if (topic === "t3") return json(503, { error: { code: "service_unavailable", message: "throttled" } });
      if (topic === "t7") return json(200, { message: "not metrics" });
      return json(200, metricsOf(topic, 1));
    };

    // Act
    const { result, sent } = await loadHeld(topics.slice(0, 10), answer);

    // Assess
    expect(sent).toBe(10);
    expect(result.t3).toBeUndefined();
    expect(result.t7).toBeUndefined();
    const counted = Object.entries(result)
      .filter(([, m]) => m !== undefined)
      .map(([t]) => t);
    expect(counted).toEqual(topics.slice(0, 10).filter((t) => t !== "t3" && t !== "t7"));
  });

  it("a load whose panel moved on or went away sends no more requests once aborted", async () => {
    // Prepare: every request held; the panel's gate aborts the load's signal when it is disposed (load-gate.ts).
    const held: (() => void)[] = [];
    const sent = stubConsoleFetch(
      ({ path }) =>
        new Promise<Response>((resolve) => {
          held.push(() => resolve(json(200, metricsOf(topicOf(path), 1))));
        }),
    );
    const stop = new AbortController();
    const load = loadTopicsMetrics(topics, 15, stop.signal);
    load.catch(() => {});
    await settle();
    const before = sent.length;

    // Act: the panel moves on (another window) with the first requests in flight; they answer afterwards.
    stop.abort();
    for (let round = 0; round < 10; round++) {
      for (const release of held.splice(0)) release();
      await settle();
    }

    // Assess: none of the other topics' requests was sent, and the load answers nothing to show.
    expect(before).toBe(METRICS_CONCURRENCY);
    expect(sent).toHaveLength(METRICS_CONCURRENCY);
    await expect(load).rejects.toThrow();
  });
});
