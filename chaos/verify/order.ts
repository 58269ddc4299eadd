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

/** Order within groups (see `verify`), and same-due neighbours whose ids disagree with the lane order. */
export function checkOrder(
  accepted: readonly AcceptedTask[],
  byTask: ReadonlyMap<string, readonly ObservedCallback[]>,
  outcomeOf: ReadonlyMap<string, Outcome>,
): OrderFindings {
  const firstSuccess = firstSuccesses(byTask);
  const orderViolations: OrderViolation[] = [];
  const keyedOutOfLaneOrder: { group: string; earlier: string; later: string }[] = [];
  let orderedPairsChecked = 0;
  let sameDuePairsChecked = 0;
  for (const [group, members] of groupMembers(accepted)) {
    if (members.length < 2) continue;
    members.sort(bySortKey);
    sameDuePairsChecked += checkSameDuePairs(group, members, keyedOutOfLaneOrder);
    orderedPairsChecked += checkOrderedPairs(group, members, firstSuccess, outcomeOf, orderViolations);
  }
  return { orderViolations, orderedPairsChecked, keyedOutOfLaneOrder, sameDuePairsChecked };
}

/** Task id → when its first successful callback arrived. */
function firstSuccesses(byTask: ReadonlyMap<string, readonly ObservedCallback[]>): Map<string, number> {
  const firstSuccess = new Map<string, number>();
  for (const [taskId, list] of byTask) {
    const times = list.filter((c) => c.success).map((c) => c.arrivalMs);
    if (times.length > 0) firstSuccess.set(taskId, Math.min(...times));
  }
  return firstSuccess;
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

/** Every pair X < Y of a sorted group that the order rule covers; returns how many pairs it checked. */
function checkOrderedPairs(
  group: string,
  members: readonly Member[],
  firstSuccess: ReadonlyMap<string, number>,
  outcomeOf: ReadonlyMap<string, Outcome>,
  out: OrderViolation[],
): number {
  let checked = 0;
  for (let i = 0; i < members.length; i++) {
    const x = members[i] as Member;
    const xOutcome = outcomeOf.get(x.task.taskId);
    if (xOutcome === "dead-lettered" || xOutcome === "cancelled") continue;
    const xFirst = firstSuccess.get(x.task.taskId);
    if (xFirst === undefined) continue;
    for (let j = i + 1; j < members.length; j++) {
      const y = members[j] as Member;
      if (x.task.acceptedAtMs >= y.dueAtMs) continue;
      const yFirst = firstSuccess.get(y.task.taskId);
      if (yFirst === undefined) continue;
      checked++;
      if (yFirst < xFirst) {
        out.push({
          group,
          earlier: x.task.taskId,
          later: y.task.taskId,
          earlierFirstSuccessMs: xFirst,
          laterFirstSuccessMs: yFirst,
        });
      }
    }
  }
  return checked;
}
