import { useState } from "preact/hooks";
import { resetDestination } from "./actions.js";
import { type DestinationView, destinationPageSchema, loadPage } from "./answers.js";
import { useConfirm } from "./confirm.js";
import { destinationsHint } from "./destinations-hint.js";
import { time, visible } from "./format.js";
import { useLoad, useShowLine } from "./hooks.js";
import { Pager } from "./tasks.js";

/** Rows a page of the panel holds: GET /v1/destinations' largest page (each page is one bounded read). */
const DESTINATIONS_PAGE_LIMIT = 100;

/**
 * Each callback host per topic, as the deliver function's circuit breaker sees it: state, consecutive failures,
 * when it opened, when it next lets a probe through, the last error; Reset closes an open circuit by hand.
 * GET /v1/destinations is a paged list in topic and host order; "open circuits only" (`state=open`) lists every
 * circuit that holds deliveries back, however many closed ones the breaker tracks.
 */
export function DestinationsPanel() {
  const [message, setMessage] = useState<string>();
  const [openOnly, setOpenOnly] = useState(false);
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const state = openOnly ? "open" : undefined;
  const { data, error } = useLoad(
    () =>
      loadPage(
        "/v1/destinations",
        { limit: DESTINATIONS_PAGE_LIMIT, state, cursor },
        "destinations",
        destinationPageSchema,
      ),
    [state, cursor],
  );
  const reset = useResetDestination(setMessage);
  const destinations = data?.destinations ?? [];
  const hint = data && destinationsHint(data, { openOnly, firstPage: cursors.length === 0 });
  return (
    <section class="wide" data-testid="destinations-panel">
      <h2>Destinations</h2>
      {error && <p class="error">{error}</p>}
      {message && <p data-testid="destinations-message">{visible(message)}</p>}
      <label>
        <input
          type="checkbox"
          data-testid="destinations-open-only"
          checked={openOnly}
          onChange={(e) => {
            // A cursor belongs to its filter's list (the API refuses it with the other): back to the first page.
            setCursors([]);
            setOpenOnly((e.target as HTMLInputElement).checked);
          }}
        />{" "}
        open circuits only
      </label>
      <DestinationTable destinations={destinations} onReset={(d) => void reset(d)} />
      {hint && (
        <p class="hint" data-testid="destinations-hint">
          {hint}
        </p>
      )}
      <Pager
        hasPrevious={cursors.length > 0}
        next={data?.next_cursor ?? null}
        onFirst={() => setCursors([])}
        onNext={(c) => setCursors([...cursors, c])}
      />
    </section>
  );
}

/** POST /v1/destinations/{host}/reset?topic= after the page's confirmation; a refusal is the panel's line. */
function useResetDestination(setMessage: (message: string) => void) {
  const confirm = useConfirm();
  const show = useShowLine(setMessage);
  return async (d: DestinationView) => show(await resetDestination(d, confirm));
}

function DestinationTable(props: {
  readonly destinations: readonly DestinationView[];
  readonly onReset: (d: DestinationView) => void;
}) {
  return (
    <table>
      <thead>
        <tr>
          <th>topic</th>
          <th>host</th>
          <th>state</th>
          <th>failures</th>
          <th>opened at</th>
          <th>next probe</th>
          <th>in flight</th>
          <th>last error</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {props.destinations.map((d) => (
          <DestinationRow key={`${d.topic} ${d.host}`} destination={d} onReset={props.onReset} />
        ))}
      </tbody>
    </table>
  );
}

function DestinationRow(props: {
  readonly destination: DestinationView;
  readonly onReset: (d: DestinationView) => void;
}) {
  const d = props.destination;
  return (
    <tr data-testid={`destination-${d.topic}-${d.host}`}>
      <td>{visible(d.topic)}</td>
      <td>{visible(d.host)}</td>
      {/* A state a newer API added is shown as sent, not styled as an open circuit's: the page does not guess. */}
      <td
        data-testid="destination-state"
        class={d.state === "open" || d.state === "half-open" ? "error" : ""}
      >
        {visible(d.state)}
      </td>
      <td data-testid="destination-failures">{d.failures}</td>
      <td>{time(d.opened_at ?? undefined)}</td>
      <td>{time(d.next_probe_at ?? undefined)}</td>
      <td>{d.in_flight}</td>
      <td class="detail">{visible(d.last_error ?? "")}</td>
      <td>
        <button
          type="button"
          class="danger"
          data-testid="destination-reset"
          disabled={d.state === "closed" && d.failures === 0}
          onClick={() => props.onReset(d)}
        >
          Reset
        </button>
      </td>
    </tr>
  );
}
