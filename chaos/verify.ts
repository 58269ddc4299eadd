import { bySortKey, parseTaskId } from "#shared/domain/keys.js";
import type { TaskStatus } from "#shared/domain/task.js";

/**
 * The invariants of BRIEF §3, checked from the outside: what the client was told, what the receiver saw, what
 * the table and the dead-letter queue hold at the end. Pure, so the definitions themselves are unit-tested.
 */

/** A task the API acknowledged with a 2xx (the first 2xx of any of its requests, retries and copies included). */
export interface AcceptedTask {
  /** The client's own name for the task (its `chaos_id`). */
  readonly clientKey: string;
  readonly taskId: string;
  /** When the client received the first 2xx for it (epoch ms). */
  readonly acceptedAtMs: number;
  /**
   * Its place in the client's acceptance order (increasing along each lane: one task after another, a batch's
   * items in request order). Absent: not checked against the keys.
   */
  readonly laneOrder?: number;
  /** The outcome of the client's cancel, if it sent one (retried until the API gave a definite answer). */
  readonly cancel?: {
    readonly outcome: "cancelled" | "conflict" | "not-found" | "gave-up";
    readonly atMs: number;
    /**
     * Set when the 200 discarded a dead-lettered task (its answer carries `failed_at`): when the client sent its
     * first DELETE for it. Such a task was called back before it was dead-lettered, so only callbacks arriving
     * from then on break "cancel means cancelled".
     */
    readonly discardSentAtMs?: number;
  };
}

/** One callback request as the receiver saw it. */
export interface ObservedCallback {
  readonly taskId: string;
  readonly webhookId: string;
  readonly arrivalMs: number;
  /** The receiver answered 2xx and the answer left intact. */
  readonly success: boolean;
  readonly signatureValid?: boolean | undefined;
  /** `punctual-attempt` header and how the receiver answered (for the examples in the report). */
  readonly attemptHeader?: string;
  readonly behaviour?: string;
}

export interface FinalState {
  /** Task id → status in the table at the end (absent: no item). */
  readonly statuses: ReadonlyMap<string, TaskStatus>;
  /** Task ids found on the topics' dead-letter queues. */
  readonly deadLetterQueue: ReadonlySet<string>;
}

export type Outcome = "delivered" | "dead-lettered" | "cancelled" | "pending" | "lost";

export interface OrderViolation {
  readonly group: string;
  /** Earlier in (due, acceptance) order, accepted before `later` was due… */
  readonly earlier: string;
  /** …yet delivered (first success) after it. */
  readonly later: string;
  readonly earlierFirstSuccessMs: number;
  readonly laterFirstSuccessMs: number;
}

export interface Findings {
  readonly accepted: number;
  readonly outcomes: Readonly<Record<Outcome, number>>;
  /** Accepted tasks, by outcome, with why a `lost` one is lost (at most `detailLimit` each). */
  readonly lost: readonly { taskId: string; clientKey: string; why: string }[];
  readonly pending: readonly { taskId: string; clientKey: string; status: TaskStatus; overdueMs: number }[];
  /** Callbacks (any attempt) for a task whose cancel had returned 200. */
  readonly deliveredAfterCancel: readonly string[];
  /** Callbacks (any attempt) that arrived before the task's due time. */
  readonly deliveredBeforeDue: readonly { taskId: string; earlyByMs: number }[];
  readonly orderViolations: readonly OrderViolation[];
  readonly orderedPairsChecked: number;
  /**
   * Tasks of one group due at the same time whose task ids (which order them) disagree with the client's lane
   * order: the later one would be delivered first, and the order check above, which follows the ids, cannot see it.
   */
  readonly keyedOutOfLaneOrder: readonly { group: string; earlier: string; later: string }[];
  /** Neighbouring same-due pairs of a group (in id order) checked against the lane order. */
  readonly sameDuePairsChecked: number;
  readonly duplicates: {
    /** Tasks with more than one successful callback. */
    readonly tasks: number;
    /** Successful callbacks beyond the first. */
    readonly extraDeliveries: number;
    /** Of those tasks: every callback carried `webhook-id` = task id. */
    readonly sameWebhookId: number;
    readonly differentWebhookId: number;
    /** A few of them: each callback as `attempt:behaviour` (success marked with `+`). */
    readonly examples: readonly { taskId: string; callbacks: string[] }[];
  };
  /** Callbacks whose `webhook-id` differs from the body's task id (must be 0). */
  readonly webhookIdMismatches: number;
  /** Callbacks whose Standard Webhooks signature did not verify (must be 0). */
  readonly invalidSignatures: number;
  /** Tasks dead-lettered although the receiver had once answered 2xx (the pipeline saw a timeout or reset). */
  readonly deadLetteredAfterA2xx: number;
  /** Callbacks for task ids the client was never acknowledged (a refused add whose clean-up failed, etc.). */
  readonly unacknowledged: { readonly tasks: number; readonly callbacks: number };
  readonly cancels: Readonly<Record<NonNullable<AcceptedTask["cancel"]>["outcome"], number>>;
}

export interface VerifyOptions {
  /** Reference time for `pending[].overdueMs`. */
  readonly nowMs: number;
  /** How many examples of each problem to keep. Default 20. */
  readonly detailLimit?: number;
}

const TERMINAL = new Set<TaskStatus>(["delivered", "failed", "cancelled"]);

/**
 * Classifies every accepted task and checks the invariants.
 *
 * - delivered: status `delivered` and at least one successful callback; dead-lettered: status `failed` and on a
 *   dead-letter queue; cancelled: status `cancelled` after the client asked for it; pending: still `scheduled`,
 *   `queued` or `delivering`; LOST: anything else — no item, `delivered` without any 2xx at the receiver,
 *   `failed` but not on a dead-letter queue, `cancelled` though nobody asked.
 * - Order: within a group (tasks sharing a partition key; ungrouped tasks are their own group), for tasks X < Y
 *   in (due, acceptance) order — the sort key — where X was acknowledged before Y was due (otherwise the
 *   pipeline could not have known X when Y fell due), Y's first successful callback must not arrive before X's
 *   first successful callback. A dead-lettered or cancelled X is out of the sequence; further callbacks of an
 *   already-delivered task are duplicates, not violations.
 */
export function verify(
  accepted: readonly AcceptedTask[],
  callbacks: readonly ObservedCallback[],
  final: FinalState,
  options: VerifyOptions,
): Findings {
  const limit = options.detailLimit ?? 20;
  const byTask = new Map<string, ObservedCallback[]>();
  for (const callback of callbacks) {
    const list = byTask.get(callback.taskId);
    if (list) list.push(callback);
    else byTask.set(callback.taskId, [callback]);
  }
  const acceptedIds = new Set(accepted.map((t) => t.taskId));

  const outcomes: Record<Outcome, number> = {
    delivered: 0,
    "dead-lettered": 0,
    cancelled: 0,
    pending: 0,
    lost: 0,
  };
  const lost: { taskId: string; clientKey: string; why: string }[] = [];
  const pending: Findings["pending"][number][] = [];
  const outcomeOf = new Map<string, Outcome>();
  let deadLetteredAfterA2xx = 0;
  const cancels = { cancelled: 0, conflict: 0, "not-found": 0, "gave-up": 0 };

  for (const task of accepted) {
    if (task.cancel) cancels[task.cancel.outcome]++;
    const status = final.statuses.get(task.taskId);
    const succeeded = (byTask.get(task.taskId) ?? []).some((c) => c.success);
    let outcome: Outcome;
    let why = "";
    if (status === undefined) {
      outcome = "lost";
      why = "no task item at the end";
    } else if (status === "delivered") {
      outcome = succeeded ? "delivered" : "lost";
      why = "status delivered, but the receiver never answered 2xx";
    } else if (status === "failed") {
      outcome = final.deadLetterQueue.has(task.taskId) ? "dead-lettered" : "lost";
      why = "status failed, but not on the dead-letter queue";
      if (outcome === "dead-lettered" && succeeded) deadLetteredAfterA2xx++;
    } else if (status === "cancelled") {
      outcome = task.cancel ? "cancelled" : "lost";
      why = "status cancelled, but the client never cancelled it";
    } else {
      outcome = "pending";
      if (pending.length < limit) {
        const due = parseTaskId(task.taskId)?.dueAtMs ?? 0;
        pending.push({
          taskId: task.taskId,
          clientKey: task.clientKey,
          status,
          overdueMs: options.nowMs - due,
        });
      }
    }
    outcomes[outcome]++;
    outcomeOf.set(task.taskId, outcome);
    if (outcome === "lost" && lost.length < limit)
      lost.push({ taskId: task.taskId, clientKey: task.clientKey, why });
  }

  // Cancelled with a 200, yet called back (a discarded dead letter: called back after the discard was sent).
  const deliveredAfterCancel = accepted
    .filter((t) => t.cancel?.outcome === "cancelled" && calledBackAfterCancel(t, byTask.get(t.taskId) ?? []))
    .map((t) => t.taskId);

  // Early: any callback request before the due time encoded in the task id.
  const deliveredBeforeDue: { taskId: string; earlyByMs: number }[] = [];
  let webhookIdMismatches = 0;
  let invalidSignatures = 0;
  for (const callback of callbacks) {
    const due = parseTaskId(callback.taskId)?.dueAtMs;
    if (due !== undefined && callback.arrivalMs < due)
      deliveredBeforeDue.push({ taskId: callback.taskId, earlyByMs: due - callback.arrivalMs });
    if (callback.webhookId !== callback.taskId) webhookIdMismatches++;
    if (callback.signatureValid === false) invalidSignatures++;
  }

  // Duplicates: more than one successful callback for one task.
  let dupTasks = 0;
  let extra = 0;
  let sameId = 0;
  let differentId = 0;
  const examples: { taskId: string; callbacks: string[] }[] = [];
  for (const [taskId, list] of byTask) {
    const successes = list.filter((c) => c.success);
    if (successes.length <= 1) continue;
    dupTasks++;
    if (examples.length < limit) {
      examples.push({
        taskId,
        callbacks: list.map((c) => `${c.attemptHeader ?? "?"}:${c.behaviour ?? "?"}${c.success ? "+" : ""}`),
      });
    }
    extra += successes.length - 1;
    if (list.every((c) => c.webhookId === taskId)) sameId++;
    else differentId++;
  }

  // Order within groups.
  const firstSuccess = new Map<string, number>();
  for (const [taskId, list] of byTask) {
    const times = list.filter((c) => c.success).map((c) => c.arrivalMs);
    if (times.length > 0) firstSuccess.set(taskId, Math.min(...times));
  }
  const groups = new Map<string, { task: AcceptedTask; sk: string; dueAtMs: number }[]>();
  for (const task of accepted) {
    const key = parseTaskId(task.taskId);
    if (!key) continue;
    const list = groups.get(key.pk);
    const entry = { task, sk: key.sk, dueAtMs: key.dueAtMs };
    if (list) list.push(entry);
    else groups.set(key.pk, [entry]);
  }
  const orderViolations: OrderViolation[] = [];
  const keyedOutOfLaneOrder: Findings["keyedOutOfLaneOrder"][number][] = [];
  let pairs = 0;
  let sameDuePairs = 0;
  for (const [group, members] of groups) {
    if (members.length < 2) continue;
    members.sort(bySortKey);
    for (const [x, y] of members.slice(1).map((y, i) => [members[i], y] as const)) {
      const [a, b] = [x?.task.laneOrder, y.task.laneOrder];
      if (!x || x.dueAtMs !== y.dueAtMs || a === undefined || b === undefined) continue;
      sameDuePairs++;
      if (a > b) keyedOutOfLaneOrder.push({ group, earlier: y.task.taskId, later: x.task.taskId });
    }
    for (let i = 0; i < members.length; i++) {
      const x = members[i] as (typeof members)[number];
      const xOutcome = outcomeOf.get(x.task.taskId);
      if (xOutcome === "dead-lettered" || xOutcome === "cancelled") continue;
      const xFirst = firstSuccess.get(x.task.taskId);
      if (xFirst === undefined) continue;
      for (let j = i + 1; j < members.length; j++) {
        const y = members[j] as (typeof members)[number];
        if (x.task.acceptedAtMs >= y.dueAtMs) continue;
        const yFirst = firstSuccess.get(y.task.taskId);
        if (yFirst === undefined) continue;
        pairs++;
        if (yFirst < xFirst) {
          orderViolations.push({
            group,
            earlier: x.task.taskId,
            later: y.task.taskId,
            earlierFirstSuccessMs: xFirst,
            laterFirstSuccessMs: yFirst,
          });
        }
      }
    }
  }

  const unknown = [...byTask.keys()].filter((id) => !acceptedIds.has(id));
  return {
    accepted: accepted.length,
    outcomes,
    lost,
    pending,
    deliveredAfterCancel,
    deliveredBeforeDue,
    orderViolations,
    orderedPairsChecked: pairs,
    keyedOutOfLaneOrder,
    sameDuePairsChecked: sameDuePairs,
    duplicates: {
      tasks: dupTasks,
      extraDeliveries: extra,
      sameWebhookId: sameId,
      differentWebhookId: differentId,
      examples,
    },
    webhookIdMismatches,
    invalidSignatures,
    deadLetteredAfterA2xx,
    unacknowledged: {
      tasks: unknown.length,
      callbacks: unknown.reduce((n, id) => n + (byTask.get(id)?.length ?? 0), 0),
    },
    cancels,
  };
}

/** True when every zero-invariant holds (LOST, after-cancel, early, order, webhook ids, signatures). */
export function invariantsHold(findings: Findings): boolean {
  return (
    findings.outcomes.lost === 0 &&
    findings.deliveredAfterCancel.length === 0 &&
    findings.deliveredBeforeDue.length === 0 &&
    findings.orderViolations.length === 0 &&
    findings.keyedOutOfLaneOrder.length === 0 &&
    findings.duplicates.differentWebhookId === 0 &&
    findings.webhookIdMismatches === 0 &&
    findings.invalidSignatures === 0
  );
}

export function isTerminal(status: TaskStatus | undefined): boolean {
  return status !== undefined && TERMINAL.has(status);
}

/**
 * A task cancelled with a 200 while `scheduled` or `queued` (the sweeper's re-send; chaos replays nothing) must
 * never have been called back at all. A dead-lettered one discarded
 * with a 200 (DELETE of a `failed` task) was called back before; a callback arriving after the first DELETE was
 * sent is the violation.
 */
function calledBackAfterCancel(task: AcceptedTask, callbacks: readonly ObservedCallback[]): boolean {
  const since = task.cancel?.discardSentAtMs;
  return callbacks.some((c) => since === undefined || c.arrivalMs >= since);
}
