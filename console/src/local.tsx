import { useState } from "preact/hooks";
import { type LocalView, localViewSchema } from "../schemas.js";
import { ApiError, callPage, PAGE_LIMIT } from "./api.js";
import { visible } from "./format.js";
import { useLoad } from "./hooks.js";
import { Pager } from "./tasks.js";

/** Local cloud only: the Scheduler emulator's pending schedules (a page at a time) and the timer queue's depth. */
export function LocalPanel() {
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const { data, error } = useLoad<LocalView | null>(
    () =>
      callPage("/console/api/local", { limit: PAGE_LIMIT, cursor }, "schedules").then(
        (v) => localViewSchema.parse(v),
        // A deployed stack has no local view: the panel stays hidden.
        (e: unknown) => (e instanceof ApiError && e.status === 404 ? null : Promise.reject(e)),
      ),
    [cursor],
  );
  if (data === null) return null;
  return (
    <section data-testid="local-panel">
      <h2>Local cloud</h2>
      {error && <p class="error">{error}</p>}
      {data && (
        <>
          <p data-testid="timer-queue">
            Timer queue: {data.timer_queue.waiting} waiting, {data.timer_queue.delayed} delayed,{" "}
            {data.timer_queue.in_flight} in flight
          </p>
          <h3>Pending schedules (beyond the timer queue's horizon)</h3>
          <table>
            <thead>
              <tr>
                <th>schedule</th>
                <th>state</th>
                <th>expression</th>
              </tr>
            </thead>
            <tbody>
              {data.schedules.map((s) => (
                <tr key={s.name}>
                  <td>{visible(s.name)}</td>
                  <td>{s.state}</td>
                  <td>
                    <code>{visible(s.expression ?? "—")}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {data.schedules.length === 0 && <p class="hint">No pending schedules.</p>}
          <Pager
            hasPrevious={cursors.length > 0}
            next={data.next_cursor}
            onFirst={() => setCursors([])}
            onNext={(c) => setCursors([...cursors, c])}
          />
        </>
      )}
    </section>
  );
}
