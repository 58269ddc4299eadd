/**
 * The console's action buttons outside the dead-letter replays (dead-letter-actions.ts), without the DOM: each
 * asks, calls the API and answers the line its panel shows — what it did, or the API's error — through
 * runAction, which never rejects. test/unit/console/actions.test.ts.
 */
import { type Ask, runAction } from "./action.js";
import { call, type TopicView } from "./api.js";

/** Pause or resume a topic (POST /v1/topics/{topic}/pause|resume). */
export function toggleTopic(topic: TopicView, ask: Ask): Promise<string | undefined> {
  const [action, done, button] = topic.paused
    ? ["resume", "resumed", "Resume"]
    : ["pause", "paused", "Pause"];
  const question = topic.paused
    ? `Resume topic ${topic.topic}? Its waiting tasks are delivered again, in group order.`
    : `Pause topic ${topic.topic}? Due tasks wait in its queue until resumed.`;
  return runAction(ask, {
    confirm: { question, button },
    run: () => call("POST", `/v1/topics/${encodeURIComponent(topic.topic)}/${action}`),
    done: () => `${topic.topic} ${done}`,
    failed: `${topic.topic} not ${done}`,
  });
}

/** Cancel a scheduled task from its view (DELETE /v1/tasks/{id}); a 409 (it went on meanwhile) says so. */
export function cancelTask(id: string, ask: Ask): Promise<string | undefined> {
  return runAction(ask, {
    confirm: { question: `Cancel task ${id}? It will never be delivered.`, button: "Cancel task" },
    run: () => call("DELETE", `/v1/tasks/${encodeURIComponent(id)}`),
    done: () => `cancelled ${id}; it will never be delivered`,
    failed: "not cancelled",
  });
}
