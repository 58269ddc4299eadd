import { useEffect, useState } from "preact/hooks";
import type { ConsoleMetrics } from "../schemas.js";
import { toggleTopic } from "./actions.js";
import { load, topicListSchema } from "./answers.js";
import type { TopicView } from "./api.js";
import { useConfirm } from "./confirm.js";
import { age, visible } from "./format.js";
import { useLoad, useShowLine } from "./hooks.js";
import { loadTopicsMetrics } from "./topic-metrics.js";

/** Every topic: paused, backlog, dead letters, oldest waiting age, and the window's adds / deliveries / failures. */
export function TopicsPanel(props: {
  readonly minutes: number;
  readonly selected: string | undefined;
  readonly onSelect: (topic: string) => void;
}) {
  const { data, error } = useLoad(() => load("/v1/topics", topicListSchema), []);
  const names = (data?.topics ?? []).map((t) => t.topic);
  // A string, not the array: a dependency compared by identity would start a new load at every render.
  const namesKey = JSON.stringify(names);
  // The window's counts per topic, loaded apart from the topics themselves: CloudWatch may take up to the console's
  // 15 s limit (throttled, a far region), and the pause state and backlog must not wait for it.
  const { data: metrics } = useLoad(
    (signal) => loadTopicsMetrics(names, props.minutes, signal),
    [namesKey, props.minutes],
  );
  const [message, setMessage] = useState<string>();
  const toggle = useTopicToggle(setMessage);
  const first = data?.topics[0]?.topic;
  useEffect(() => {
    if (!props.selected && first) props.onSelect(first);
  }, [first, props.selected]);
  return (
    <section data-testid="topics-panel">
      <h2>Topics</h2>
      {error && <p class="error">{error}</p>}
      {message && <p data-testid="topics-message">{visible(message)}</p>}
      <table>
        <TopicsHeader />
        <tbody>
          {(data?.topics ?? []).map((t) => (
            <TopicRow
              key={t.topic}
              topic={t}
              metrics={metrics?.[t.topic]}
              selected={t.topic === props.selected}
              onSelect={props.onSelect}
              onToggle={toggle}
            />
          ))}
        </tbody>
      </table>
      <p class="hint">
        Counts: the last {props.minutes} minutes of the functions' metrics (added, delivered, dead-lettered).
      </p>
    </section>
  );
}

/** Pause or resume a topic after the operator confirms; the panel's line says it did, or why not. */
function useTopicToggle(setMessage: (message: string) => void): (topic: TopicView) => Promise<void> {
  const confirm = useConfirm();
  const show = useShowLine(setMessage);
  return async (topic) => show(await toggleTopic(topic, confirm));
}

function TopicsHeader() {
  return (
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
  );
}

function TopicRow(props: {
  readonly topic: TopicView;
  readonly metrics: ConsoleMetrics | undefined;
  readonly selected: boolean;
  readonly onSelect: (topic: string) => void;
  readonly onToggle: (topic: TopicView) => Promise<void>;
}) {
  const { topic: t, metrics: m } = props;
  return (
    <tr
      data-testid={`topic-row-${t.topic}`}
      class={props.selected ? "selected" : ""}
      onClick={() => props.onSelect(t.topic)}
    >
      <td>{visible(t.topic)}</td>
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
            void props.onToggle(t);
          }}
        >
          {t.paused ? "Resume" : "Pause"}
        </button>
      </td>
    </tr>
  );
}
