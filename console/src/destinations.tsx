import { useState } from "preact/hooks";
import { type DestinationView, destinationListSchema } from "../../shared/api/schemas/destinations.js";
import { resetDestination } from "./actions.js";
import { call } from "./api.js";
import { useConfirm } from "./confirm.js";
import { destinationsHint } from "./destinations-hint.js";
import { time, visible } from "./format.js";
import { useLoad, useShowLine } from "./hooks.js";

/**
 * Each callback host per topic, as the deliver function's circuit breaker sees it: state, consecutive failures,
 * when it opened, when it next lets a probe through, the last error; Reset closes an open circuit by hand.
 * GET /v1/destinations is one answer (a row per topic and host the breaker tracks, open circuits first, cut at
 * about 4 MB with `truncated`), not a paged list.
 */
export function DestinationsPanel() {
  const [message, setMessage] = useState<string>();
  const { data, error } = useLoad(
    async () => destinationListSchema.parse(await call("GET", "/v1/destinations")),
    [],
  );
  const reset = useResetDestination(setMessage);
  const destinations = data?.destinations ?? [];
  const hint = data && destinationsHint(data);
  return (
    <section class="wide" data-testid="destinations-panel">
      <h2>Destinations</h2>
      {error && <p class="error">{error}</p>}
      {message && <p data-testid="destinations-message">{visible(message)}</p>}
      <DestinationTable destinations={destinations} onReset={(d) => void reset(d)} />
      {hint && (
        <p class="hint" data-testid="destinations-hint">
          {hint}
        </p>
      )}
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
      <td data-testid="destination-state" class={d.state === "closed" ? "" : "error"}>
        {d.state}
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
