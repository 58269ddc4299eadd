import type { TaskStatus } from "#shared/domain/task.js";
import { checkEachCallback, deliveredAfterCancel, unacknowledged } from "./verify/callbacks.js";
import { duplicates } from "./verify/duplicates.js";
import { checkOrder } from "./verify/order.js";
import { tallyOutcomes } from "./verify/outcomes.js";

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
    /** `cancel-requested`: a 202 — the callback was in flight; the task ends after that attempt. */
    readonly outcome: "cancelled" | "cancel-requested" | "conflict" | "not-found" | "gave-up";
    readonly atMs: number;
    /**
     * Set when the 200 came for a task called back before it — a dead-lettered task discarded (its answer carries
     * `failed_at`), or a `delivering` one cancelled while it waited for its retry (its answer counts `attempts`,
     * or logs them in `attempt_log`: a failed circuit probe's attempt is given back): when the client sent its
     * first DELETE for it. Only callbacks arriving from then on break "cancel means cancelled".
     */
    readonly cancelSentAtMs?: number;
    /**
     * A 202 (`cancel-requested`): the attempt in flight when the cancel landed, as its answer counts it (`attempts`,
     * which include it). That attempt's callback may arrive after the DELETE was sent — once; no callback of a later
     * attempt may.
     */
    readonly inFlightAttempt?: number;
    /**
     * A 200 for a task called back before it: the attempts its answer counts. An attempt in flight when the DELETE
     * was sent may have ended before the cancel landed (its failure recorded: the cancel then finds the task waiting
     * for its retry, and cancels it): its callback may arrive after the DELETE was sent — once, numbered within
     * these attempts; no other.
     */
    readonly attemptsAtCancel?: number;
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
  /** Earlier in (due, acceptance) order, accepted before `later` was due, and delivered… */
  readonly earlier: string;
  /** …yet `later` was called back (any attempt, successful or not) before its first success. */
  readonly later: string;
  readonly earlierFirstSuccessMs: number;
  /** May equal `earlierFirstSuccessMs`: the receiver's arrival order decides within a millisecond. */
  readonly laterFirstCallbackMs: number;
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
  /** Pairs X < Y the order rule covers: X delivered and in the sequence, Y called back at all. */
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
 *   pipeline could not have known X when Y fell due), Y's first callback (any attempt) must not arrive before X's
 *   first successful callback, in the receiver's arrival order (time, then the order it recorded them, so two
 *   callbacks within one millisecond are still ordered). A dead-lettered or cancelled X is out of the sequence;
 *   further callbacks of an already-delivered task are duplicates, not violations.
 */
export function verify(
  accepted: readonly AcceptedTask[],
  callbacks: readonly ObservedCallback[],
  final: FinalState,
  options: VerifyOptions,
): Findings {
  const limit = options.detailLimit ?? 20;
  const byTask = callbacksByTask(callbacks);
  const tally = tallyOutcomes(accepted, byTask, final, options.nowMs, limit);
  const each = checkEachCallback(callbacks);
  const order = checkOrder(accepted, callbacks, tally.outcomeOf);
  return {
    accepted: accepted.length,
    outcomes: tally.outcomes,
    lost: tally.lost,
    pending: tally.pending,
    deliveredAfterCancel: deliveredAfterCancel(accepted, byTask),
    deliveredBeforeDue: each.deliveredBeforeDue,
    orderViolations: order.orderViolations,
    orderedPairsChecked: order.orderedPairsChecked,
    keyedOutOfLaneOrder: order.keyedOutOfLaneOrder,
    sameDuePairsChecked: order.sameDuePairsChecked,
    duplicates: duplicates(byTask, limit),
    webhookIdMismatches: each.webhookIdMismatches,
    invalidSignatures: each.invalidSignatures,
    deadLetteredAfterA2xx: tally.deadLetteredAfterA2xx,
    unacknowledged: unacknowledged(accepted, byTask),
    cancels: tally.cancels,
  };
}

function callbacksByTask(callbacks: readonly ObservedCallback[]): Map<string, ObservedCallback[]> {
  const byTask = new Map<string, ObservedCallback[]>();
  for (const callback of callbacks) {
    const list = byTask.get(callback.taskId);
    if (list) list.push(callback);
    else byTask.set(callback.taskId, [callback]);
  }
  return byTask;
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
