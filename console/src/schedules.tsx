import { useRef, useState } from "preact/hooks";
import { createScheduleFromForm, type ScheduleAction, type ScheduleForm, scheduleAction } from "./actions.js";
import { loadPage, schedulePageSchema } from "./answers.js";
import { PAGE_LIMIT, type ScheduleView } from "./api.js";
import { useConfirm } from "./confirm.js";
import { time, visible } from "./format.js";
import { useLoad, useShowLine } from "./hooks.js";
import { scheduleActions } from "./schedule-actions.js";
import { Pager } from "./tasks.js";

/** How many of a schedule's next occurrences a row shows (the API gives up to 5). */
const OCCURRENCES_SHOWN = 3;

/** A topic's recurring schedules, a page at a time: pause, resume, delete (confirmed), and a small create form. */
export function SchedulesPanel(props: { readonly topic: string }) {
  const [cursors, setCursors] = useState<string[]>([]);
  const [message, setMessage] = useState<string>();
  const cursor = cursors[cursors.length - 1];
  const { data, error } = useLoad(
    () =>
      loadPage(
        "/v1/schedules",
        { topic: props.topic, limit: PAGE_LIMIT, cursor },
        "schedules",
        schedulePageSchema,
      ),
    [props.topic, cursor],
  );
  const act = useScheduleAction(setMessage);
  const schedules = data?.schedules ?? [];
  return (
    <section class="wide" data-testid="schedules-panel">
      <h2>Schedules of {visible(props.topic)}</h2>
      {error && <p class="error">{error}</p>}
      {message && <p data-testid="schedules-message">{visible(message)}</p>}
      <ScheduleTable schedules={schedules} onAction={(s, a) => void act(s, a)} />
      {schedules.length === 0 && <p class="hint">No schedules on this page.</p>}
      <Pager
        hasPrevious={cursors.length > 0}
        next={data?.next_cursor ?? null}
        onFirst={() => setCursors([])}
        onNext={(c) => setCursors([...cursors, c])}
      />
      <CreateScheduleForm topic={props.topic} setMessage={setMessage} />
    </section>
  );
}

/** Every action asks first (resume too: it starts deliveries again); a refusal (409) is the panel's line. */
function useScheduleAction(setMessage: (message: string) => void) {
  const confirm = useConfirm();
  const show = useShowLine(setMessage);
  return async (s: ScheduleView, action: ScheduleAction) => show(await scheduleAction(s, action, confirm));
}

function ScheduleTable(props: {
  readonly schedules: readonly ScheduleView[];
  readonly onAction: (s: ScheduleView, action: ScheduleAction) => void;
}) {
  return (
    <table>
      <thead>
        <tr>
          <th>schedule</th>
          <th>cron</th>
          <th>time zone</th>
          <th>status</th>
          <th>next occurrences</th>
          <th>catch-up</th>
          <th>skipped</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {props.schedules.map((s) => (
          <ScheduleRow key={s.schedule_id} schedule={s} onAction={props.onAction} />
        ))}
      </tbody>
    </table>
  );
}

function ScheduleRow(props: {
  readonly schedule: ScheduleView;
  readonly onAction: (s: ScheduleView, action: ScheduleAction) => void;
}) {
  const s = props.schedule;
  const actions = scheduleActions(s.status);
  return (
    <tr data-testid={`schedule-${s.schedule_id}`}>
      <td>
        <code>{visible(s.schedule_id)}</code>
      </td>
      <td>
        <code>{visible(s.cron)}</code>
      </td>
      <td>{visible(s.timezone)}</td>
      <td data-testid="schedule-status">{visible(s.status)}</td>
      <td class="detail" data-testid="schedule-next">
        {s.next_occurrences.slice(0, OCCURRENCES_SHOWN).map(time).join(", ") || "—"}
      </td>
      <td data-testid="schedule-catch-up">{visible(s.catch_up ?? "all")}</td>
      <SkippedCell schedule={s} />
      <td>
        {actions.resume ? (
          <button type="button" data-testid="schedule-resume" onClick={() => props.onAction(s, "resume")}>
            Resume
          </button>
        ) : (
          <button
            type="button"
            data-testid="schedule-pause"
            disabled={!actions.pause}
            onClick={() => props.onAction(s, "pause")}
          >
            Pause
          </button>
        )}{" "}
        <button
          type="button"
          class="danger"
          data-testid="schedule-delete"
          disabled={!actions.delete}
          onClick={() => props.onAction(s, "delete")}
        >
          Delete
        </button>
      </td>
    </tr>
  );
}

/**
 * How many occurrences were skipped (refused by the add-task checks, or missed under `catch_up`), the last one's
 * reason on hover: an operator sees a schedule losing runs without opening its JSON.
 */
function SkippedCell(props: { readonly schedule: ScheduleView }) {
  const { skipped_occurrences: count, last_skipped: last } = props.schedule;
  return (
    <td data-testid="schedule-skipped" title={last ? visible(`${last.code}: ${last.message}`) : undefined}>
      {count ?? "—"}
    </td>
  );
}

/** POST /v1/schedules on this topic; the API checks cron, time zone, content and callback (a 400 is shown). */
function CreateScheduleForm(props: { readonly topic: string; readonly setMessage: (m: string) => void }) {
  const show = useShowLine(props.setMessage);
  const [cron, setCron] = useState("*/5 * * * *");
  const [timezone, setTimezone] = useState("UTC");
  const [content, setContent] = useState("{}");
  const [callback, setCallback] = useState("");
  const [catchUp, setCatchUp] = useState<ScheduleForm["catchUp"]>("all");
  // Every POST makes a schedule (a create has no idempotency key): a double click or a second Enter before the
  // answer must send nothing. A ref, not the state alone: the second click comes before the disabled re-render.
  const sending = useRef(false);
  const [busy, setBusy] = useState(false);
  const create = async () => {
    if (sending.current) return;
    sending.current = true;
    setBusy(true);
    try {
      show(await createScheduleFromForm(props.topic, { cron, timezone, content, callback, catchUp }));
    } finally {
      sending.current = false;
      setBusy(false);
    }
  };
  const field = (testid: string, value: string, set: (v: string) => void, placeholder: string) => (
    <input
      data-testid={testid}
      placeholder={placeholder}
      value={value}
      onInput={(e) => set(e.currentTarget.value)}
    />
  );
  return (
    <form
      class="row"
      data-testid="schedule-create"
      onSubmit={(e) => {
        e.preventDefault();
        void create();
      }}
    >
      {field("schedule-cron", cron, setCron, "cron, e.g. 0 9 * * 1-5")}
      {field("schedule-timezone", timezone, setTimezone, "time zone, e.g. Europe/Berlin")}
      {field("schedule-content", content, setContent, "content JSON")}
      {field("schedule-callback", callback, setCallback, "callback URL (default: the topic's)")}
      <select
        data-testid="schedule-catch-up-select"
        title="missed occurrences (the materializer was down): all made late, only the latest, or none"
        value={catchUp}
        onChange={(e) => setCatchUp(e.currentTarget.value as ScheduleForm["catchUp"])}
      >
        <option value="all">catch up: all</option>
        <option value="latest">catch up: latest</option>
        <option value="none">catch up: none</option>
      </select>
      <button type="submit" data-testid="schedule-create-submit" disabled={busy}>
        {busy ? "Creating…" : "Create schedule"}
      </button>
    </form>
  );
}
