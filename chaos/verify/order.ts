import { bySortKey, parseTaskId } from "#shared/domain/keys.js";
import type { AcceptedTask, Findings, ObservedCallback, OrderViolation, Outcome } from "../verify.js";

interface Member {
  readonly task: AcceptedTask;
  readonly sk: string;
  readonly dueAtMs: number;
}

type OrderFindings = Pick<
  Findings,
  "orderViolations" | "orderedPairsChecked" | "keyedOutOfLaneOrder" | "sameDuePairsChecked"
>;

/** A callback's place in the receiver's arrival order (`rank`), and its arrival time for the report. */
interface Arrival {
  readonly rank: number;
  readonly atMs: number;
}

/**
 * Order within groups (see `verify`), and same-due neighbours whose ids disagree with the lane order. `callbacks`
 * in the order the receiver recorded them.
 */
export function checkOrder(
  accepted: readonly AcceptedTask[],
  callbacks: readonly ObservedCallback[],
  outcomeOf: ReadonlyMap<string, Outcome>,
): OrderFindings {
  const firsts = firstArrivals(callbacks);
  const orderViolations: OrderViolation[] = [];
  const keyedOutOfLaneOrder: { group: string; earlier: string; later: string }[] = [];
  let orderedPairsChecked = 0;
  let sameDuePairsChecked = 0;
  for (const [group, members] of groupMembers(accepted)) {
    if (members.length < 2) continue;
    members.sort(bySortKey);
    sameDuePairsChecked += checkSameDuePairs(group, members, keyedOutOfLaneOrder);
    orderedPairsChecked += checkOrderedPairs(group, members, firsts, outcomeOf, orderViolations);
  }
  return { orderViolations, orderedPairsChecked, keyedOutOfLaneOrder, sameDuePairsChecked };
}

/**
 * Task id → its first callback of any outcome, and its first successful one, in arrival order: by arrival time,
 * then by the order the receiver recorded them. A group's callbacks go one after another (the next one only once
 * the previous was answered), so two of them can arrive within one millisecond — on loopback often do — and a
 * comparison of times alone would take such a pair, whichever came first, for "in order".
 */
function firstArrivals(callbacks: readonly ObservedCallback[]): {
  readonly any: Map<string, Arrival>;
  readonly success: Map<string, Arrival>;
} {
  const any = new Map<string, Arrival>();
  const success = new Map<string, Arrival>();
  // Array.prototype.sort is stable (ES2019): callbacks within one millisecond keep the order they were recorded in.
  const ranked = [...callbacks].sort((a, b) => a.arrivalMs - b.arrivalMs);
  ranked.forEach((callback, rank) => {
    const arrival = { rank, atMs: callback.arrivalMs };
    if (!any.has(callback.taskId)) any.set(callback.taskId, arrival);
    if (callback.success && !success.has(callback.taskId)) success.set(callback.taskId, arrival);
  });
  return { any, success };
}

/** Accepted tasks by partition key (ungrouped tasks have one of their own). */
function groupMembers(accepted: readonly AcceptedTask[]): Map<string, Member[]> {
  const groups = new Map<string, Member[]>();
  for (const task of accepted) {
    const key = parseTaskId(task.taskId);
    if (!key) continue;
    const list = groups.get(key.pk);
    const entry = { task, sk: key.sk, dueAtMs: key.dueAtMs };
    if (list) list.push(entry);
    else groups.set(key.pk, [entry]);
  }
  return groups;
}

/** Neighbouring same-due members (in id order) against the lane order; returns how many pairs it checked. */
function checkSameDuePairs(
  group: string,
  members: readonly Member[],
  out: { group: string; earlier: string; later: string }[],
): number {
  let checked = 0;
  for (const [x, y] of members.slice(1).map((y, i) => [members[i], y] as const)) {
    const [a, b] = [x?.task.laneOrder, y.task.laneOrder];
    if (!x || x.dueAtMs !== y.dueAtMs || a === undefined || b === undefined) continue;
    checked++;
    if (a > b) out.push({ group, earlier: y.task.taskId, later: x.task.taskId });
  }
  return checked;
}

/**
 * Every pair X < Y of a sorted group that the order rule covers: X in the sequence and delivered, acknowledged
 * before Y was due, Y called back at all. Y's first callback of any outcome must come after X's first success: the
 * pipeline attempts Y only once X is done, so a Y attempted ahead of X — one that failed, was dead-lettered or
 * cancelled after that attempt included — is out of order too. Returns how many pairs it checked.
 */
function checkOrderedPairs(
  group: string,
  members: readonly Member[],
  firsts: ReturnType<typeof firstArrivals>,
  outcomeOf: ReadonlyMap<string, Outcome>,
  out: OrderViolation[],
): number {
  let checked = 0;
  for (let i = 0; i < members.length; i++) {
    const x = members[i] as Member;
    const xOutcome = outcomeOf.get(x.task.taskId);
    if (xOutcome === "dead-lettered" || xOutcome === "cancelled") continue;
    const xFirst = firsts.success.get(x.task.taskId);
    if (xFirst === undefined) continue;
    for (let j = i + 1; j < members.length; j++) {
      const y = members[j] as Member;
      if (x.task.acceptedAtMs >= y.dueAtMs) continue;
      const yFirst = firsts.any.get(y.task.taskId);
      if (yFirst === undefined) continue;
      checked++;
      if (yFirst.rank < xFirst.rank) {
        out.push({
          group,
          earlier: x.task.taskId,
          later: y.task.taskId,
          earlierFirstSuccessMs: xFirst.atMs,
          laterFirstCallbackMs: yFirst.atMs,
        });
      }
    }
  }
  return checked;
}
