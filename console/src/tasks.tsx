import { useEffect, useState } from "preact/hooks";
import { cancelTask, discardTask, replaySubscriber, type TaskViewAction, taskViewAction } from "./actions.js";
import { loadPage, loadTask, taskPageSchema } from "./answers.js";
import { PAGE_LIMIT, type SubscriberView, type TaskView } from "./api.js";
import { useConfirm } from "./confirm.js";
import { ms, time, visible, visibleJson } from "./format.js";
import { groupLabel, groupToList } from "./group-search.js";
import { useLoad, useRefresh, useShowLine } from "./hooks.js";

/**
 * Task search by id (one task, its timeline) and by ordering group (a page at a time, in delivery order). The group
 * is searched exactly as typed; the group whose value is the empty string has its own checkbox.
 */
export function TaskSearch(props: { readonly topic: string | undefined }) {
  const [idInput, setIdInput] = useState("");
  const [groupInput, setGroupInput] = useState("");
  const [emptyGroup, setEmptyGroup] = useState(false);
  const [taskId, setTaskId] = useState<string>();
  const [group, setGroup] = useState<string>();
  return (
    <section data-testid="task-search">
      <h2>Find tasks</h2>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setTaskId(idInput.trim() || undefined);
        }}
      >
        <input
          data-testid="task-id-input"
          placeholder="task id"
          value={idInput}
          onInput={(e) => setIdInput(e.currentTarget.value)}
        />
        <button type="submit" data-testid="task-id-search">
          Show task
        </button>
      </form>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setGroup(groupToList(groupInput, emptyGroup));
        }}
      >
        <input
          data-testid="group-input"
          placeholder={`group value in ${props.topic ?? "the topic"}, exactly`}
          value={groupInput}
          disabled={emptyGroup}
          onInput={(e) => setGroupInput(e.currentTarget.value)}
        />
        <label>
          <input
            type="checkbox"
            data-testid="group-empty"
            checked={emptyGroup}
            onChange={(e) => setEmptyGroup(e.currentTarget.checked)}
          />{" "}
          the empty group ("")
        </label>
        <button type="submit" data-testid="group-search" disabled={!props.topic}>
          List group
        </button>
      </form>
      {taskId && <TaskDetail taskId={taskId} />}
      {group !== undefined && props.topic && (
        // Keyed: the cursor of one group's pages is refused (400) for another group or topic.
        <GroupList
          key={JSON.stringify([props.topic, group])}
          topic={props.topic}
          group={group}
          onOpen={setTaskId}
        />
      )}
    </section>
  );
}

function GroupList(props: {
  readonly topic: string;
  readonly group: string;
  readonly onOpen: (id: string) => void;
}) {
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const { data, error } = useLoad(
    () =>
      loadPage(
        "/v1/tasks",
        { topic: props.topic, group: props.group, limit: PAGE_LIMIT, cursor },
        "tasks",
        taskPageSchema,
      ),
    [props.topic, props.group, cursor],
  );
  return (
    <div data-testid="group-list">
      <h3>
        Group <span class="group-value">{groupLabel(props.group)}</span> in {visible(props.topic)}
      </h3>
      {error && <p class="error">{error}</p>}
      <TaskTable tasks={data?.tasks ?? []} onOpen={props.onOpen} />
      <Pager
        hasPrevious={cursors.length > 0}
        next={data?.next_cursor ?? null}
        onFirst={() => setCursors([])}
        onNext={(c) => setCursors([...cursors, c])}
      />
    </div>
  );
}

export function Pager(props: {
  readonly hasPrevious: boolean;
  readonly next: string | null;
  readonly onFirst: () => void;
  readonly onNext: (cursor: string) => void;
}) {
  return (
    <div class="row">
      <button type="button" disabled={!props.hasPrevious} onClick={props.onFirst}>
        First page
      </button>
      <button
        type="button"
        data-testid="next-page"
        disabled={!props.next}
        onClick={() => props.next && props.onNext(props.next)}
      >
        Next page
      </button>
    </div>
  );
}

function TaskTable(props: { readonly tasks: readonly TaskView[]; readonly onOpen: (id: string) => void }) {
  return (
    <table>
      <thead>
        <tr>
          <th>task</th>
          <th>status</th>
          <th>due</th>
          <th>attempts</th>
        </tr>
      </thead>
      <tbody>
        {props.tasks.map((t) => (
          <tr key={t.task_id}>
            <td>
              <button
                type="button"
                class="link"
                data-testid="open-task"
                onClick={() => props.onOpen(t.task_id)}
              >
                {visible(t.task_id)}
              </button>
            </td>
            <td>{visible(t.status)}</td>
            <td>{time(t.due_at)}</td>
            <td>{t.attempts}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One task: status, its timeline (accepted, queued, every logged attempt, the end) and its Cancel or Discard. */
export function TaskDetail(props: { readonly taskId: string }) {
  const { data: task, error } = useLoad(() => loadTask(props.taskId), [props.taskId]);
  const confirm = useConfirm();
  const refresh = useRefresh();
  const [message, setMessage] = useState<string>();
  const show = useShowLine(setMessage);
  // The view is reused for the next task opened: the last task's line is not about it.
  useEffect(() => setMessage(undefined), [props.taskId]);
  const cancel = async () =>
    show(await cancelTask(props.taskId, confirm, task?.status === "delivering", task?.subscribers));
  const discard = async () => show(await discardTask(props.taskId, task?.subscribers !== undefined, confirm));
  if (error && !task)
    return (
      <p class="error" data-testid="task-error">
        {error}
      </p>
    );
  if (!task) return null;
  return (
    <div data-testid="task-detail" id="task">
      <h3>
        Task <code>{visible(task.task_id)}</code>:{" "}
        <span data-testid="task-status">{visible(task.status)}</span>
      </h3>
      <TaskSummary task={task} />
      {task.subscribers && (
        <Subscribers taskId={task.task_id} rows={task.subscribers} onReplayed={refresh.now} />
      )}
      <TaskTimeline task={task} />
      {task.content !== undefined && (
        <>
          <h4>Content (as delivered)</h4>
          <pre data-testid="task-content">{visibleJson(task.content)}</pre>
        </>
      )}
      <TaskActionButton action={taskViewAction(task)} onCancel={cancel} onDiscard={discard} />
      {message && <p data-testid="task-message">{visible(message)}</p>}
    </div>
  );
}

/**
 * The view's Cancel task (with its callback being made the API records the cancel, 202, and the line says so) or,
 * for a dead-lettered task, Discard: the same DELETE the dead-letter list's Discard sends one row at a time.
 */
function TaskActionButton(props: {
  readonly action: TaskViewAction | undefined;
  readonly onCancel: () => Promise<void>;
  readonly onDiscard: () => Promise<void>;
}) {
  if (props.action === undefined) return null;
  const cancel = props.action === "Cancel task";
  return (
    <button
      type="button"
      class="danger"
      data-testid={cancel ? "task-cancel" : "task-discard"}
      onClick={() => void (cancel ? props.onCancel() : props.onDiscard())}
    >
      {props.action}
    </button>
  );
}

/** The task's one-line summary: topic, due time, where it goes, its group and lateness. */
function TaskSummary(props: { readonly task: TaskView }) {
  const { task } = props;
  return (
    <p>
      topic {visible(task.topic)} · due {time(task.due_at)} ·{" "}
      {task.subscribers ? (
        `fan-out to ${task.subscribers.length} subscribers`
      ) : (
        <>
          callback <code>{visible(task.callback_url)}</code>
        </>
      )}
      {task.subscriber
        ? ` · subscriber ${visible(task.subscriber)} of ${visible(task.parent_task_id ?? "")}`
        : ""}
      {task.group ? ` · group ${visible(task.group)}` : ""}
      {task.lateness_ms !== undefined ? ` · lateness ${ms(task.lateness_ms)}` : ""}
    </p>
  );
}

function TaskTimeline(props: { readonly task: TaskView }) {
  return (
    <ol class="timeline" data-testid="task-timeline">
      {timeline(props.task).map((step) => (
        <li key={step.key} data-testid={`timeline-${step.kind}`}>
          <strong>{step.label}</strong> {time(step.at)}{" "}
          {step.detail && <span class="detail">{visible(step.detail)}</span>}
        </li>
      ))}
    </ol>
  );
}

/** A fan-out task's subscribers, one row each, with a replay for a finished copy (that subscriber only). */
function Subscribers(props: {
  readonly taskId: string;
  readonly rows: readonly SubscriberView[];
  readonly onReplayed: () => void;
}) {
  const [message, setMessage] = useState<string>();
  const confirm = useConfirm();
  const replay = async (subscriber: string) => {
    const line = await replaySubscriber(props.taskId, subscriber, confirm);
    if (line === undefined) return;
    setMessage(line);
    props.onReplayed();
  };
  return (
    <div data-testid="task-subscribers">
      <table>
        <thead>
          <tr>
            <th>subscriber</th>
            <th>status</th>
            <th>attempts</th>
            <th>last error</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => (
            <tr key={row.id} data-testid={`subscriber-${row.id}`}>
              <td title={visible(row.task_id)}>{visible(row.id)}</td>
              <td>{visible(row.status)}</td>
              <td>{row.attempts}</td>
              <td>{visible(row.last_error ?? "")}</td>
              <td>
                {(row.status === "failed" || row.status === "delivered") && (
                  <button
                    type="button"
                    data-testid={`subscriber-replay-${row.id}`}
                    onClick={() => void replay(row.id)}
                  >
                    Replay
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {message && <p data-testid="subscriber-message">{visible(message)}</p>}
    </div>
  );
}

interface Step {
  readonly key: string;
  readonly kind: string;
  readonly label: string;
  readonly at: string | undefined;
  readonly detail?: string;
}

function timeline(task: TaskView): Step[] {
  const steps: Step[] = [{ key: "accepted", kind: "accepted", label: "accepted", at: task.accepted_at }];
  if (task.queued_at) steps.push({ key: "queued", kind: "queued", label: "queued", at: task.queued_at });
  task.attempt_log.forEach((a, i) => {
    const outcome = a.status !== undefined ? `HTTP ${a.status}` : "no answer";
    steps.push({
      key: `attempt-${i}`,
      kind: "attempt",
      // Its number over the task's life: the log keeps the last 10, and an attempt never recorded is missing.
      label: `attempt ${a.attempt ?? i + 1}`,
      at: a.started_at,
      detail: `${outcome}, ${ms(a.duration_ms)}${a.error ? ` — ${a.error}` : ""}`,
    });
  });
  const end = (kind: string, at: string | undefined, detail?: string) =>
    at && steps.push({ key: kind, kind, label: kind, at, ...(detail ? { detail } : {}) });
  end("replayed", task.replayed_at);
  end("failed", task.failed_at, task.last_error);
  end("delivered", task.delivered_at);
  end("cancelled", task.cancelled_at);
  return steps.sort((a, b) => (a.at ?? "").localeCompare(b.at ?? ""));
}
