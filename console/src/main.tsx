/**
 * The Punctual console: one page, one more client of the API. Topics with their backlog and counts, a topic's
 * lateness, task search and timelines, the dead-letter list with replay, each
 * callback host's circuit breaker, a topic's recurring schedules, and (locally) the timers. It refreshes
 * itself every few seconds while visible, and every list is a page.
 */
import "./strict-csp.js";
import { render } from "preact";
import { useState } from "preact/hooks";
import { ConfirmContext, ConfirmDialog } from "./confirm.js";
import { DeadLetters } from "./dead-letters.js";
import { DestinationsPanel } from "./destinations.js";
import { RefreshContext, useRefreshTick } from "./hooks.js";
import { LatenessPanel } from "./lateness.js";
import { LocalPanel } from "./local.js";
import { SchedulesPanel } from "./schedules.js";
import { adoptSession } from "./session.js";
import { TaskDetail, TaskSearch } from "./tasks.js";
import { TopicsPanel } from "./topics.js";

const WINDOWS = [5, 15, 30, 60];

function App() {
  const [tick, now] = useRefreshTick();
  const [ask, setAsk] = useState<(message: string, action: string) => Promise<boolean>>(
    () => async () => false,
  );
  const [topic, setTopic] = useState<string | undefined>(
    new URLSearchParams(location.search).get("topic") ?? undefined,
  );
  const [minutes, setMinutes] = useState(15);
  const [openTask, setOpenTask] = useState<string>();
  return (
    <RefreshContext.Provider value={{ tick, now }}>
      <ConfirmContext.Provider value={ask}>
        <header>
          <h1>Punctual console</h1>
          <span class="meta">{location.host}</span>
          <label class="meta">
            window{" "}
            <select
              data-testid="window"
              value={minutes}
              onChange={(e) => setMinutes(Number(e.currentTarget.value))}
            >
              {WINDOWS.map((w) => (
                <option key={w} value={w}>
                  {w} min
                </option>
              ))}
            </select>
          </label>
          <span class="meta" data-testid="refresh-tick" data-tick={tick}>
            refreshes every 3 s
          </span>
        </header>
        <main>
          <TopicsPanel minutes={minutes} selected={topic} onSelect={setTopic} />
          {topic && <LatenessPanel topic={topic} minutes={minutes} />}
          <TaskSearch topic={topic} />
          {/* Keyed by topic: a page's cursor, a selection or a filter of one topic never carries to another. */}
          {topic && <DeadLetters key={topic} topic={topic} onOpen={setOpenTask} />}
          {topic && <SchedulesPanel key={topic} topic={topic} />}
          <DestinationsPanel />
          {openTask && (
            <section class="wide">
              <TaskDetail taskId={openTask} />
            </section>
          )}
          <LocalPanel />
        </main>
        <ConfirmDialog setAsk={(f) => setAsk(() => f)} />
      </ConfirmContext.Provider>
    </RefreshContext.Provider>
  );
}

// Before the first call: the session's call secret leaves the address at once, and is kept once the server has
// taken it (session.ts).
await adoptSession(window);
const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App />, root);
}
