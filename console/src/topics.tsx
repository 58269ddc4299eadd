import { useEffect } from "preact/hooks";
import { type ConsoleMetrics, consoleMetricsSchema } from "../schemas.js";
import { call, type TopicView } from "./api.js";
import { useConfirm } from "./confirm.js";
import { age } from "./format.js";
import { useLoad, useRefresh } from "./hooks.js";

interface TopicsData {
  readonly topics: readonly TopicView[];
  readonly metrics: Readonly<Record<string, ConsoleMetrics | undefined>>;
}

async function loadTopics(minutes: number): Promise<TopicsData> {
  const { topics } = await call<{ topics: TopicView[] }>("GET", "/v1/topics");
  const metrics = await Promise.all(
    topics.map((t) =>
      call("GET", `/console/api/metrics?topic=${encodeURIComponent(t.topic)}&minutes=${minutes}`)
        .then((m) => consoleMetricsSchema.parse(m))
        .catch(() => undefined),
    ),
  );
  return { topics, metrics: Object.fromEntries(topics.map((t, i) => [t.topic, metrics[i]])) };
}

/** Every topic: paused, backlog, dead letters, oldest waiting age, and the window's adds / deliveries / failures. */
export function TopicsPanel(props: {
  readonly minutes: number;
  readonly selected: string | undefined;
  readonly onSelect: (topic: string) => void;
}) {
  const { data, error } = useLoad(() => loadTopics(props.minutes), [props.minutes]);
  const refresh = useRefresh();
  const confirm = useConfirm();
  const first = data?.topics[0]?.topic;
  useEffect(() => {
    if (!props.selected && first) props.onSelect(first);
  }, [first, props.selected]);
  const toggle = async (topic: TopicView) => {
    const action = topic.paused ? "resume" : "pause";
    const message = topic.paused
      ? `Resume topic ${topic.topic}? Its waiting tasks are delivered again, in group order.`
      : `Pause topic ${topic.topic}? Due tasks wait in its queue until resumed.`;
    if (!(await confirm(message, action === "pause" ? "Pause" : "Resume"))) return;
    await call("POST", `/v1/topics/${encodeURIComponent(topic.topic)}/${action}`);
    refresh.now();
  };
  return (
    <section data-testid="topics-panel">
      <h2>Topics</h2>
      {error && <p class="error">{error}</p>}
      <table>
        <thead>
          <tr>
            <th>topic</th>
            <th>state</th>
            <th title="messages waiting in the topic's FIFO queue">waiting</th>
            <th title="received by deliver, not yet deleted">in flight</th>
            <th>oldest due</th>
            <th>dead letters</th>
            <th>added</th>
            <th>delivered</th>
            <th>failed</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(data?.topics ?? []).map((t) => {
            const m = data?.metrics[t.topic];
            return (
              <tr
                key={t.topic}
                data-testid={`topic-row-${t.topic}`}
                class={t.topic === props.selected ? "selected" : ""}
                onClick={() => props.onSelect(t.topic)}
              >
                <td>{t.topic}</td>
                <td data-testid="topic-state">{t.paused ? "paused" : "active"}</td>
                <td>{t.backlog.waiting}</td>
                <td>{t.backlog.in_flight}</td>
                <td>{t.oldest_age_seconds === null ? "—" : age(t.oldest_age_seconds)}</td>
                <td data-testid="topic-dead-letters">{t.dead_letter_count}</td>
                <td data-testid="topic-added">{m?.added ?? "—"}</td>
                <td data-testid="topic-delivered">{m?.delivered ?? "—"}</td>
                <td data-testid="topic-failed">{m?.failed ?? "—"}</td>
                <td>
                  <button
                    type="button"
                    data-testid="topic-toggle"
                    onClick={(e) => {
                      e.stopPropagation();
                      void toggle(t);
                    }}
                  >
                    {t.paused ? "Resume" : "Pause"}
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p class="hint">
        Counts: the last {props.minutes} minutes of the functions' metrics (added, delivered, dead-lettered).
      </p>
    </section>
  );
}
