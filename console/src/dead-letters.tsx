import { useState } from "preact/hooks";
import { deadLetterDiscardLabel, discardDeadLetter } from "./actions.js";
import { loadPage, taskPageSchema } from "./answers.js";
import { PAGE_LIMIT, type TaskView } from "./api.js";
import { useConfirm } from "./confirm.js";
import { type ReplayFilter, replayFilterOf, replayMatching, replaySelected } from "./dead-letter-actions.js";
import { time, visible } from "./format.js";
import { useLoad, useShowLine } from "./hooks.js";
import { Pager } from "./tasks.js";

/**
 * A topic's dead-lettered tasks, newest first, a page at a time; replay one, the selected, or all matching; discard
 * one.
 */
export function DeadLetters(props: { readonly topic: string; readonly onOpen: (id: string) => void }) {
  const [cursors, setCursors] = useState<string[]>([]);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [message, setMessage] = useState<string>();
  const cursor = cursors[cursors.length - 1];
  const { data, error } = useLoad(
    () =>
      loadPage(
        "/v1/tasks",
        { topic: props.topic, status: "failed", limit: PAGE_LIMIT, cursor },
        "tasks",
        taskPageSchema,
      ),
    [props.topic, cursor],
  );
  const { replayIds, replayMatching, replayingAll } = useReplay(props.topic, setMessage, () =>
    setSelected(new Set()),
  );
  const discard = useDiscardDeadLetter(setMessage);
  const tasks = data?.tasks ?? [];
  return (
    <section data-testid="dead-letters">
      <h2>Dead letters of {visible(props.topic)}</h2>
      {error && <p class="error">{error}</p>}
      {message && <p data-testid="dead-letters-message">{visible(message)}</p>}
      <FilterForm
        onReplay={(f) => void replayMatching(f)}
        onProblem={(problem) => setMessage(`not replayed: ${problem}`)}
        running={replayingAll}
      />
      <DeadLetterTable
        tasks={tasks}
        selected={selected}
        onSelect={setSelected}
        onOpen={props.onOpen}
        onReplay={(id) => void replayIds([id])}
        onDiscard={(t) => void discard(t)}
      />
      {tasks.length === 0 && <p class="hint">No dead-lettered tasks on this page.</p>}
      <div class="row">
        <button
          type="button"
          data-testid="replay-selected"
          disabled={selected.size === 0}
          onClick={() => void replayIds([...selected])}
        >
          Replay selected ({selected.size})
        </button>
      </div>
      <Pager
        hasPrevious={cursors.length > 0}
        next={data?.next_cursor ?? null}
        onFirst={() => setCursors([])}
        onNext={(c) => setCursors([...cursors, c])}
      />
    </section>
  );
}

function DeadLetterTable(props: {
  readonly tasks: readonly TaskView[];
  readonly selected: ReadonlySet<string>;
  readonly onSelect: (selected: ReadonlySet<string>) => void;
  readonly onOpen: (id: string) => void;
  readonly onReplay: (id: string) => void;
  readonly onDiscard: (task: TaskView) => void;
}) {
  const toggle = (id: string, on: boolean) => {
    const next = new Set(props.selected);
    if (on) next.add(id);
    else next.delete(id);
    props.onSelect(next);
  };
  return (
    <table>
      <thead>
        <tr>
          <th />
          <th>task</th>
          <th>failed</th>
          <th>attempts</th>
          <th>last error</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {props.tasks.map((t) => (
          <DeadLetterRow
            key={t.task_id}
            task={t}
            selected={props.selected.has(t.task_id)}
            onSelect={(on) => toggle(t.task_id, on)}
            onOpen={props.onOpen}
            onReplay={props.onReplay}
            onDiscard={props.onDiscard}
          />
        ))}
      </tbody>
    </table>
  );
}

/**
 * DELETE /v1/tasks/{id} on a dead-lettered task discards it (`failed → cancelled`, out of this list), after the
 * page's confirmation, as the task view's Discard. A refusal (say the task was replayed meanwhile: 409) is the
 * panel's line.
 */
function useDiscardDeadLetter(setMessage: (message: string) => void) {
  const confirm = useConfirm();
  const show = useShowLine(setMessage);
  return async (task: TaskView) => show(await discardDeadLetter(task, confirm));
}

/**
 * Replay by ids or by filter, each after the page's confirmation; `message` says what happened, or why not. While
 * Replay all reads on, `message` shows its progress and `replayingAll` is its Stop (one Replay all at a time).
 */
function useReplay(topic: string, setMessage: (message: string) => void, onReplayed: () => void) {
  const confirm = useConfirm();
  const show = useShowLine(setMessage);
  const [replayingAll, setReplayingAll] = useState<AbortController>();
  const replayIds = async (ids: readonly string[]) => {
    show(await replaySelected(topic, ids, confirm, onReplayed));
  };
  const replayAllMatching = async (filter: ReplayFilter) => {
    const stop = new AbortController();
    const watch = { signal: stop.signal, onStart: () => setReplayingAll(stop), onProgress: setMessage };
    try {
      show(await replayMatching(topic, filter, confirm, watch));
    } finally {
      setReplayingAll(undefined);
    }
  };
  return { replayIds, replayMatching: replayAllMatching, replayingAll };
}

function DeadLetterRow(props: {
  readonly task: TaskView;
  readonly selected: boolean;
  readonly onSelect: (on: boolean) => void;
  readonly onOpen: (id: string) => void;
  readonly onReplay: (id: string) => void;
  readonly onDiscard: (task: TaskView) => void;
}) {
  const t = props.task;
  return (
    <tr data-testid={`dead-letter-${t.task_id}`}>
      <td>
        <input
          type="checkbox"
          data-testid="dead-letter-select"
          checked={props.selected}
          onChange={(e) => props.onSelect(e.currentTarget.checked)}
        />
      </td>
      <td>
        <button type="button" class="link" data-testid="open-task" onClick={() => props.onOpen(t.task_id)}>
          {visible(t.task_id)}
        </button>
      </td>
      <td>{time(t.failed_at)}</td>
      <td>{t.attempts}</td>
      <td class="detail">{visible(t.last_error ?? "")}</td>
      <td>
        <button type="button" data-testid="dead-letter-replay" onClick={() => props.onReplay(t.task_id)}>
          Replay
        </button>{" "}
        {/* data-testid kept from when the button read "Cancel" (the browser tests find it by it) */}
        <button type="button" data-testid="dead-letter-cancel" onClick={() => props.onDiscard(t)}>
          {deadLetterDiscardLabel(t)}
        </button>
      </td>
    </tr>
  );
}

function FilterForm(props: {
  readonly onReplay: (filter: ReplayFilter) => void;
  /** The fields are no filter (a date past year 9999): the panel's line says why, and nothing is sent. */
  readonly onProblem: (problem: string) => void;
  /** Replay all in progress: its Stop, shown instead of a second Replay all. */
  readonly running: AbortController | undefined;
}) {
  const [errorContains, setErrorContains] = useState("");
  const [after, setAfter] = useState("");
  const [before, setBefore] = useState("");
  return (
    <form
      class="row"
      data-testid="replay-filter"
      onSubmit={(e) => {
        e.preventDefault();
        if (props.running) return;
        const filter = replayFilterOf({ errorContains, after, before });
        if ("problem" in filter) props.onProblem(filter.problem);
        else props.onReplay(filter);
      }}
    >
      <input
        data-testid="filter-error"
        placeholder="last error contains"
        value={errorContains}
        onInput={(e) => setErrorContains(e.currentTarget.value)}
      />
      <label>
        failed after{" "}
        <input
          type="datetime-local"
          data-testid="filter-after"
          value={after}
          onInput={(e) => setAfter(e.currentTarget.value)}
        />
      </label>
      <label>
        before{" "}
        <input
          type="datetime-local"
          data-testid="filter-before"
          value={before}
          onInput={(e) => setBefore(e.currentTarget.value)}
        />
      </label>
      {props.running ? (
        <button type="button" data-testid="replay-all-stop" onClick={() => props.running?.abort()}>
          Stop replaying (after this page)
        </button>
      ) : (
        <button type="submit" data-testid="replay-matching">
          Replay all matching…
        </button>
      )}
    </form>
  );
}
