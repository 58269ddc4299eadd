import pMap from "p-map";
import type {
  IdempotencyClaim,
  InsertManyOutcome,
  PutManyFailure,
  TaskStore,
} from "#shared/adapters/task-store.js";
import type { TimerQueue } from "#shared/adapters/timer-queue.js";
import { EARLY_ANSWER_MS } from "#shared/api/early-answer.js";
import { type HttpError, isHttpError, serviceUnavailable } from "#shared/api/errors.js";
import type { BatchItemResult } from "#shared/api/schemas/batch.js";
import { timerSettings } from "#shared/config/index.js";
import { makeTaskKey, newUlid } from "#shared/domain/keys.js";
import { indexedOnAdd } from "#shared/domain/sweep.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { planTimer, type TimerPlan } from "#shared/domain/timing.js";
import {
  type AddTaskDeps,
  type AddTaskResponse,
  type AddTaskResult,
  addResponse,
  addTask,
  arm,
  type CheckedAddRequest,
  CLEAN_UP_CALL_RESERVE_MS,
  CLEAN_UP_RESERVE_MS,
  checkItemSize,
  claimExpiry,
  FOLLOW_UP_CALL_MS,
  hashRequest,
  inTime,
  keptWhileClaimed,
  leaveForTheSweeper,
  newRecord,
  removeUnarmed,
  storedStatus,
  timerNow,
  wasNeverSent,
  writeAndArm,
} from "./add-task.js";

/** What the batched path needs beyond the single add: batch claims, batch writes and a batch arm. */
export interface BatchedAddDeps extends AddTaskDeps {
  readonly store: AddTaskDeps["store"] &
    Pick<TaskStore, "putNewMany" | "insertNewMany" | "claimIdempotencyKeys">;
  readonly timerQueue: Pick<TimerQueue, "arm" | "armMany">;
}

/**
 * An item that passed every check and may take the batched path (no subscribers; an idempotency key only when no
 * other item of the request has it), with the item as sent, for the single add should its lane fall back.
 */
export interface BatchedItem {
  readonly index: number;
  readonly body: unknown;
  readonly checked: CheckedAddRequest;
}

/** What the log says when an item the client is told was not accepted could not be removed (left to the sweeper). */
const UNACCEPTED_REMOVAL_FAILED = "removing an unaccepted batch item failed";

/** CreateSchedule has no batch form: Scheduler-path items are armed one call each, this many at once. */
const SCHEDULE_CONCURRENCY = 10;
/** Fallen-back lanes added at once, each one item after another (as the batch's per-item path). */
const FALLBACK_CONCURRENCY = 10;
/**
 * What the batch's writes leave of the invocation, beyond the clean-up's reserve, when given up: the tasks written
 * by then are armed next, and the arms' own deadline (`inTime`) is `CLEAN_UP_RESERVE_MS` before the end. Given up
 * at that same deadline, the writes left the arms no time at all: aborted as they went out, every task written was
 * removed again and answered 503. This covers the hung writes' removal (a few rounds of conditional deletes at
 * `SCHEDULE_CONCURRENCY`), then one round of SendMessageBatch calls side by side and their two retry rounds
 * (150 ms), or ten rounds of CreateSchedule calls.
 */
export const ARMING_RESERVE_MS = 1_000;
/**
 * What the clean-up of the items not written leaves of the invocation when it hangs (`cleanUpCall`): half the
 * arming reserve for the arms after it. Given up only at the route's early answer, as the arms' own clean-up is, it
 * left the tasks written no time to be armed (their arms given up as they went out, a timer perhaps landing for a
 * task then answered 503 "not accepted"), and every item answered 503.
 */
const WRITES_CLEAN_UP_RESERVE_MS = CLEAN_UP_RESERVE_MS + ARMING_RESERVE_MS / 2;
/** What the batch's writes leave of the invocation when they hang (`inTime`): the arms' reserve and their own. */
const WRITES_RESERVE_MS = CLEAN_UP_RESERVE_MS + ARMING_RESERVE_MS;
/**
 * What the claims leave of the invocation when they hang (`inTime`): the writes after them, and time of their own
 * for those writes (`FOLLOW_UP_CALL_MS`). Given up at the writes' own deadline, a hung claim left them none: refused
 * unsent, every item of the batch answered 503 (a keyless one too, which needs no claim), where only the keyed items
 * had lost their batched way. A given-up claim is one whose outcome is unknown, as a failed one (the single claim
 * settles it, or the item answers 503).
 */
const CLAIMS_RESERVE_MS = WRITES_RESERVE_MS + FOLLOW_UP_CALL_MS;
/**
 * What an item added through the single add (`added`) leaves of the invocation: it answers 503 then, as if its add
 * had failed. The batch answers only once every item has, and the per-item path runs beside the batched one: a keyed
 * item whose claim, replay read or fan-out repeat hung (those calls have no deadline of their own) held the whole
 * answer past the route's early answer, a 503 "retry" over the items already written and armed (201, delivered),
 * which a client without keys added again. A keyed item is safe to retry; a keyless add's calls are all bounded
 * (`inTime`, `cleanUpCall`) and done by then. Halfway from the add's own clean-up calls' deadline to the route's
 * early answer: those answer first.
 */
const SINGLE_ADD_RESERVE_MS = (EARLY_ANSWER_MS + CLEAN_UP_CALL_RESERVE_MS) / 2;

/** One item's outcome: its answer, by its index in the request. */
export type IndexedResult = readonly [index: number, result: BatchItemResult];

/** A minted item: its task (under the ULID minted for it in request order) and the timer planned for it. */
interface MintedItem {
  readonly index: number;
  readonly body: unknown;
  readonly ulid: string;
  readonly task: TaskRecord;
  readonly plan: TimerPlan;
  /** The claim of its idempotency key, when it has one. */
  readonly claim?: IdempotencyClaim;
  /** Its keyed write found the task there: a concurrent repeat of the request wrote it first (`acceptedItem`). */
  readonly existed?: true;
}

/** An item of a lane that falls back to one item at a time: its ULID, and its task when we claimed its key. */
interface FallbackItem {
  readonly index: number;
  readonly body: unknown;
  readonly ulid: string;
  readonly claimed?: MintedItem;
}

/**
 * The batched path of POST /v1/tasks/batch (issue 13, point 3), lane by lane (a lane: one ordering group, or one
 * item without a group). Every item gets its task, under a ULID minted here in request order (the factory is
 * monotonic within a millisecond). The idempotency keys of all one-item lanes are claimed in batch INSERTs
 * (`claimIdempotencyKeys`); a keyed group of several items claims its keys one at a time in request order
 * (`claimInOrder`: why, there). A lane whose keys were all claimed — or that has none — is written in batch calls
 * (`putNewMany` for keyless tasks, the conditional `insertNewMany` for keyed ones), then armed in SendMessageBatch
 * calls of 10 (Scheduler-path ones keep one CreateSchedule each). A one-item lane with a key not claimed (held
 * already, expired, or unknown) falls back to the single add (`addFallbackLane`); a keyed group's items from its
 * first key not claimed here go through the single add one after another once the claimed ones are written and
 * armed (`addRemainder`).
 *
 * Each item keeps the single add's contract: 201 only once written AND armed; an item whose write or arming
 * failed answers 503 and is removed when it has no key (nobody else knows its id), left for a retry with its key
 * when it has one (`armOrRemove`, `writeOrRemove`). Never half-added silently. No timer is armed before every
 * write of the batch has returned, so a group's later item cannot be relayed before an earlier one exists.
 */
export async function addBatched(
  deps: BatchedAddDeps,
  lanes: readonly (readonly BatchedItem[])[],
  nowMs: number,
): Promise<IndexedResult[]> {
  const results: IndexedResult[] = [];
  const minted: MintedItem[][] = [];
  const fallback: FallbackItem[][] = [];
  for (const lane of lanes.filter((lane) => !isKeyedGroup(lane))) {
    const ulids = lane.map(() => (deps.newUlid ?? newUlid)(nowMs));
    const tasks = mintLane(deps, lane, ulids, nowMs);
    // An item the single add would refuse after its claim (413) takes the single add's way, with its lane.
    if (tasks) minted.push(tasks);
    else fallback.push(lane.map((item, i) => ({ index: item.index, body: item.body, ulid: ulids[i] ?? "" })));
  }
  const [claimed, groups] = await Promise.all([
    claimKeys(deps, minted),
    pMap(lanes.filter(isKeyedGroup), (lane) => claimInOrder(deps, lane, nowMs), {
      concurrency: FALLBACK_CONCURRENCY,
    }),
  ]);
  const batched: MintedItem[] = groups.flatMap((group) => group.claimed);
  for (const lane of minted) {
    if (lane.every((item) => !item.claim || claimed.has(item.index))) batched.push(...lane);
    else fallback.push(lane.map((item) => fallbackItem(item, claimed.has(item.index))));
  }
  await Promise.all([
    writeAll(deps, batched, results)
      .then((written) => armAll(deps, holdBackAfterUnwritten(groups, written, results), results))
      .then((armed) => answerAccepted(deps, armed, results))
      .then(() =>
        pMap(groups, (group) => addRemainder(deps, group, nowMs, results), {
          concurrency: FALLBACK_CONCURRENCY,
        }),
      ),
    pMap(fallback, (lane) => addFallbackLane(deps, lane, nowMs, results), {
      concurrency: FALLBACK_CONCURRENCY,
    }),
  ]);
  return results;
}

/** A group of several items with a key among them (split-batch sends only such groups whose every item is keyed). */
function isKeyedGroup(lane: readonly BatchedItem[]): boolean {
  return lane.length > 1 && lane.some((item) => item.checked.request.idempotencyKey !== undefined);
}

/**
 * A keyed group after its claims: the items whose keys this request claimed (a prefix), and the rest. `restUlid`:
 * the first of the rest's claim failed with its outcome unknown (perhaps written, its answer lost), under this ULID.
 */
interface ClaimedGroup {
  readonly claimed: readonly MintedItem[];
  readonly rest: readonly BatchedItem[];
  readonly restUlid?: string;
}

/**
 * A keyed group's keys claimed one at a time, in request order, each under a ULID minted after the claim before it
 * returned, until the first that is not claimed here (held — a repeat, a racing copy of the request —, its claim
 * failed, or its task too large: the single add settles it). Claimed side by side (the batch INSERTs), two racing
 * copies of the request could each win some of the group's keys under ULIDs minted at their own start, and key the
 * group out of request order.
 *
 * Why no interleaving of racing copies lets a later item of the group be armed while an earlier accepted one is
 * claimed but not yet written, or key it before the earlier one (items i < j of the group; claims are conditional,
 * so each key has one winner and one task id):
 * - j claimed here (in this prefix): this copy claimed every key before j too (a prefix), under ULIDs of its own
 *   monotonic factory, so i's id sorts before j's; j is armed only after every write of the batch returned, and
 *   not at all when a write before it in its group failed (`holdBackAfterUnwritten`), so i's task exists first.
 * - j added by the single add (`addRemainder`, in this copy or another): it starts only once i settled there —
 *   written (this prefix's writes all succeeded, or i's own single add wrote, or its replay found or wrote i's task)
 *   or refused with a 4xx that every copy gets —, since an item after a 5xx is not attempted (`inLaneOrder`). So
 *   i's task exists before j's is written or armed (a replay of j arms it only after that too), and a key j first
 *   claimed there is minted after i's claim was made (it was read), so sorts after i's id. A j that another copy
 *   claimed is either in that copy's prefix, and so is i (one winner per key: the case above), or was claimed by its
 *   single add after i settled there: the same argument.
 * - The relay sends a group's earlier still-scheduled tasks before a later one: since no task of the group is armed
 *   before its earlier accepted tasks are written, none is relayed ahead of one either.
 * As everywhere, "minted after" orders two requests' ULIDs by their clocks (the monotonic factory orders one
 * container's); two containers' clocks that disagree, or two mints in one millisecond, could still swap them.
 */
async function claimInOrder(
  deps: BatchedAddDeps,
  lane: readonly BatchedItem[],
  nowMs: number,
): Promise<ClaimedGroup> {
  const claimed: MintedItem[] = [];
  for (const item of lane) {
    const ulid = (deps.newUlid ?? newUlid)(nowMs);
    const minted = mintedOrUndefined(deps, item, ulid, nowMs);
    const outcome = minted?.claim ? await claimedHere(deps, minted.claim) : "not-claimed";
    if (outcome === "unknown") return { claimed, rest: lane.slice(claimed.length), restUlid: ulid };
    if (outcome === "not-claimed" || !minted) break;
    claimed.push(minted);
  }
  return { claimed, rest: lane.slice(claimed.length) };
}

function mintedOrUndefined(
  deps: AddTaskDeps,
  item: BatchedItem,
  ulid: string,
  nowMs: number,
): MintedItem | undefined {
  try {
    return { index: item.index, body: item.body, ulid, ...mintTask(deps, item.checked, ulid, nowMs) };
  } catch {
    return undefined;
  }
}

/** One key claimed with the single claim (it takes over an expired claim, as the single add does). */
async function claimedHere(
  deps: BatchedAddDeps,
  claim: IdempotencyClaim,
): Promise<"claimed" | "not-claimed" | "unknown"> {
  try {
    // Given up near the deadline (no signal: the single claim takes none), as a failed claim: unknown.
    const outcome = await inTime(deps, () => deps.store.claimIdempotencyKey(claim), {
      reserveMs: CLAIMS_RESERVE_MS,
    });
    return outcome.status === "claimed" ? "claimed" : "not-claimed";
  } catch (error) {
    // Unknown: the single add claims it again under the same task id (`restUlid`), so finding our own claim it
    // writes the task under the claim's id as a new one (201), not as a repeat's 200.
    deps.onError?.("claiming a key of a keyed group failed; its group goes on one item at a time", error, "");
    return "unknown";
  }
}

/**
 * A keyed group's claimed items written after the first of them that was not: they are not armed (a racing copy
 * or the retry may still write that one under its claimed id, and the relay must not send a later one first) and
 * answer 503; the retry with their keys arms them, after the earlier item, as `replay` does. Left as a crash between
 * the writes and the arms leaves them (near-term ones outside the sweep index).
 */
function holdBackAfterUnwritten(
  groups: readonly ClaimedGroup[],
  written: readonly MintedItem[],
  results: IndexedResult[],
): MintedItem[] {
  const ok = new Set(written.map((item) => item.index));
  const held = new Set<number>();
  for (const { claimed } of groups) {
    const first = claimed.findIndex((item) => !ok.has(item.index));
    if (first === -1) continue;
    for (const item of claimed.slice(first + 1).filter((item) => ok.has(item.index))) {
      held.add(item.index);
      results.push([
        item.index,
        unavailableItem(
          "not armed: an earlier item of its ordering group could not be stored; retry it after that item, with its idempotency key",
        ),
      ]);
    }
  }
  return written.filter((item) => !held.has(item.index));
}

/**
 * A keyed group's items from its first key not claimed here: single adds one after another (fresh ULIDs and clock:
 * each minted after the item before it settled), once the claimed ones are written and armed; none when one of
 * those answered 5xx (`inLaneOrder`'s rule).
 */
async function addRemainder(
  deps: BatchedAddDeps,
  group: ClaimedGroup,
  nowMs: number,
  results: IndexedResult[],
): Promise<void> {
  const claimed = new Set(group.claimed.map((item) => item.index));
  const failed = results.some(([index, result]) => claimed.has(index) && result.status >= 500);
  const first = group.rest[0];
  await inLaneOrder(
    group.rest,
    (item) => {
      if (failed) return Promise.resolve(behindAFailure());
      if (item !== first || group.restUlid === undefined) return addOne(deps, item.body);
      // Its claim's outcome is unknown: the very task id again (the batch's clock and ULID), as a fallen-back lane's.
      const ulid = group.restUlid;
      return addOne(
        { ...deps, now: () => nowMs, timerClock: deps.timerClock ?? deps.now, newUlid: () => ulid },
        item.body,
      );
    },
    (item, result) => results.push([item.index, result]),
  );
}

/** A lane's tasks under its minted ULIDs, with their claims; undefined when one of them cannot be made (413). */
function mintLane(
  deps: AddTaskDeps,
  lane: readonly BatchedItem[],
  ulids: readonly string[],
  nowMs: number,
): MintedItem[] | undefined {
  try {
    return lane.map((item, i) => ({
      index: item.index,
      body: item.body,
      ulid: ulids[i] ?? "",
      ...mintTask(deps, item.checked, ulids[i] ?? "", nowMs),
    }));
  } catch {
    return undefined;
  }
}

/** The indexes whose key this request claimed, out of every keyed item of `lanes`. */
async function claimKeys(deps: BatchedAddDeps, lanes: readonly MintedItem[][]): Promise<Set<number>> {
  const keyed = lanes.flat().filter((item) => item.claim !== undefined);
  if (keyed.length === 0) return new Set();
  const claims = keyed.map((item) => item.claim as IdempotencyClaim);
  // Given up near the deadline (aborted), as a call that failed: none claimed here, each settled by the single claim.
  const outcomes = await inTime(deps, (signal) => deps.store.claimIdempotencyKeys(claims, { signal }), {
    reserveMs: CLAIMS_RESERVE_MS,
  }).catch(() => claims.map(() => "not-claimed" as const));
  return new Set(keyed.filter((_, i) => outcomes[i] === "claimed").map((item) => item.index));
}

function fallbackItem(item: MintedItem, claimed: boolean): FallbackItem {
  return { index: item.index, body: item.body, ulid: item.ulid, ...(claimed ? { claimed: item } : {}) };
}

/**
 * A lane one item after another, in request order, as the single add. An item whose key this request claimed is
 * not claimed again (that would find our own claim and answer a replay): it is written and armed as the single add
 * does after its claim (201), under the task id its claim holds. Every other item is a single add under the ULID
 * minted for it and the batch's clock, so the lane's tasks are keyed — and delivered — in request order.
 */
async function addFallbackLane(
  deps: BatchedAddDeps,
  lane: readonly FallbackItem[],
  nowMs: number,
  results: IndexedResult[],
): Promise<void> {
  await inLaneOrder(
    lane,
    (item) => {
      if (item.claimed) {
        const { task } = item.claimed;
        return added(deps, () => writeAndArm(deps, task));
      }
      // Keyed and due as accepted at the batch's start; its timer planned from the time it is armed.
      const pinned = {
        ...deps,
        now: () => nowMs,
        timerClock: deps.timerClock ?? deps.now,
        newUlid: () => item.ulid,
      };
      return addOne(pinned, item.body);
    },
    (item, result) => results.push([item.index, result]),
  );
}

/**
 * A lane's items one after another, in request order; after an item that answered 5xx, the rest are not attempted
 * and answer 503 (`behindAFailure`). A 5xx item may still become a task later under the id it was accepted as
 * (its key's claim holds it: the client's retry, or a racing copy of the request, writes it then); a later item of
 * its group accepted now would sort after it yet be written, armed and relayed before it exists, so delivered
 * first. Two copies of one request racing: copy B meets copy A's claim of item 1 without its task, and its own
 * write of it fails: B must not claim item 2, write it and arm it while A's task 1 is not yet written. A 4xx
 * changed nothing and is what every copy of the request gets, so the lane goes on after one.
 */
export async function inLaneOrder<T>(
  lane: readonly T[],
  add: (item: T) => Promise<BatchItemResult>,
  answer: (item: T, result: BatchItemResult) => void,
  /** Lanes joined into one run (add-tasks-batch.ts, `keyedRuns`): an item waits only on its own lane and key. */
  labelsOf: (item: T) => unknown[] = () => [lane],
): Promise<void> {
  const failed = new Set<unknown>();
  for (const item of lane) {
    const labels = labelsOf(item);
    const result = labels.some((label) => failed.has(label)) ? behindAFailure() : await add(item);
    if (result.status >= 500) for (const label of labels) failed.add(label);
    answer(item, result);
  }
}

/** An item not attempted: an earlier item of its ordering group (or with its key) failed. Nothing done: retry it. */
export function behindAFailure(): BatchItemResult {
  return unavailableItem(
    "not attempted: an earlier item of its ordering group or idempotency key failed; retry it after that item, with its idempotency key",
  );
}

/** The task record the single add would make for this request, under `ulid`, its timer plan and key claim. */
function mintTask(
  deps: AddTaskDeps,
  checked: CheckedAddRequest,
  ulid: string,
  nowMs: number,
): { task: TaskRecord; plan: TimerPlan; claim?: IdempotencyClaim } {
  const key = makeTaskKey(checked.topic.name, checked.groupValue, checked.dueAtMs, ulid);
  const plan = planTimer(checked.dueAtMs, nowMs, timerSettings(deps.config));
  const idempotencyKey = checked.request.idempotencyKey;
  const task = keptWhileClaimed(
    newRecord(key, nowMs, plan, {
      content: checked.request.content.text,
      callbackUrl: checked.callbackUrl,
      groupValue: checked.groupValue,
      idempotencyKey,
    }),
    checked.topic,
  );
  checkItemSize(task);
  if (idempotencyKey === undefined) return { task, plan };
  const claim: IdempotencyClaim = {
    topic: checked.topic.name,
    key: idempotencyKey,
    taskId: key.taskId,
    requestHash: hashRequest(checked.request),
    expiresAt: claimExpiry(checked.dueAtMs, checked.topic),
  };
  return { task, plan, claim };
}

/**
 * All writes, in batch calls: keyless tasks unconditionally (`putNewMany`: fresh keys nobody else can hold), keyed
 * ones conditionally (`insertNewMany`: a concurrent repeat of the request may create the same task). Items not
 * written answer 503 with the single add's clean-up (`writeOrRemove`): a keyless task perhaps written (its call
 * failed, its answer may have been lost) is removed; a keyed one is left for the retry with its key.
 */
async function writeAll(
  deps: BatchedAddDeps,
  tasks: readonly MintedItem[],
  results: IndexedResult[],
): Promise<MintedItem[]> {
  if (tasks.length === 0) return [];
  const entries = (items: readonly MintedItem[]) =>
    items.map(({ task }) => ({ task, sweepIndex: indexedOnAdd(task, deps.config.sweeper) }));
  const plain = tasks.filter((item) => item.claim === undefined);
  const keyed = tasks.filter((item) => item.claim !== undefined);
  // Writes still unanswered near the deadline (`inTime`) are perhaps written, and cleaned up below as a failed
  // call's; those answered by then are kept, and armed in the time left for it. A call refused as due past its
  // deadline was never made: its items wrote nothing and leave nothing to clean up.
  const perhapsWritten = (items: readonly MintedItem[]) => (error: unknown) =>
    items.map(({ task }) => ({ taskId: task.taskId, maybeWritten: !wasNeverSent(error) }));
  const givingUp = { keepsWhatIsDone: true, reserveMs: WRITES_RESERVE_MS };
  const [plainFailures, keyedOutcomes] = await Promise.all([
    plain.length > 0
      ? inTime(deps, (signal) => deps.store.putNewMany(entries(plain), { signal }), givingUp).catch(
          perhapsWritten(plain),
        )
      : ([] as PutManyFailure[]),
    keyed.length > 0
      ? inTime(deps, (signal) => deps.store.insertNewMany(entries(keyed), { signal }), givingUp).catch(
          perhapsWritten(keyed),
        )
      : ([] as InsertManyOutcome[]),
  ]);
  const keyedAll: readonly InsertManyOutcome[] = keyedOutcomes;
  const existed = new Set(keyedAll.filter((o) => "exists" in o).map((o) => o.taskId));
  const keyedFailures = keyedAll.filter((o): o is PutManyFailure => !("exists" in o));
  const failed = new Map([...plainFailures, ...keyedFailures].map((f) => [f.taskId, f.maybeWritten]));
  await pMap(
    tasks.filter(({ task }) => failed.has(task.taskId)),
    async ({ index, task }) => {
      deps.onError?.("writing a batch item failed; answered 503 for it", undefined, task.taskId);
      if (task.idempotencyKey !== undefined) {
        if (failed.get(task.taskId)) await leaveForTheSweeper(deps, task.taskId, WRITES_CLEAN_UP_RESERVE_MS);
        results.push([index, unavailableItem("could not store the task; retry it with its idempotency key")]);
        return;
      }
      // Never armed, so it cannot have fired: removed, or left to the sweeper when the removal fails.
      if (failed.get(task.taskId)) {
        await removeUnarmed(deps, task.taskId, UNACCEPTED_REMOVAL_FAILED, WRITES_CLEAN_UP_RESERVE_MS);
      }
      results.push([index, unavailableItem("could not store the task; it was not accepted, retry it")]);
    },
    { concurrency: SCHEDULE_CONCURRENCY },
  );
  return tasks
    .filter(({ task }) => !failed.has(task.taskId))
    .map((item) => (existed.has(item.task.taskId) ? { ...item, existed: true } : item));
}

/**
 * Every written and armed item's 201 (`acceptedItem`). An item minted here answers at once; only one whose write
 * found its task there reads its status, ten at a time: the others need no call, and a pMap turn per item (a promise
 * chain each, a hundred per request) was garbage on the API's one thread.
 */
async function answerAccepted(
  deps: BatchedAddDeps,
  armed: readonly MintedItem[],
  results: IndexedResult[],
): Promise<void> {
  const existed: MintedItem[] = [];
  for (const item of armed) {
    if (item.existed) existed.push(item);
    else results.push([item.index, answeredItem(201, addResponse(item.task))]);
  }
  await pMap(existed, async (item) => results.push([item.index, await acceptedItem(deps, item)]), {
    concurrency: SCHEDULE_CONCURRENCY,
  });
}

/**
 * A written and armed item's 201, with the status of its task as minted (`scheduled`) — or, for one its write found
 * already there (a concurrent repeat's replay wrote and armed it first), the status it may have moved on to since
 * (queued, delivered, cancelled), one bounded read as the single add's `writeAndArm` makes (`storedStatus`).
 */
async function acceptedItem(deps: BatchedAddDeps, item: MintedItem): Promise<BatchItemResult> {
  const body = addResponse(item.task);
  if (!item.existed) return answeredItem(201, body);
  return answeredItem(201, { ...body, status: await storedStatus(deps, item.task, body.status) });
}

/**
 * Arms every written task: near-term ones in SendMessageBatch calls (per-entry results), Scheduler-path ones one
 * CreateSchedule each. An item whose arming failed answers 503 with `armOrRemove`'s clean-up: removed when it has
 * no key (nobody else knows its id); with one, left in place for the retry with its key to re-arm (a concurrent
 * repeat of the request may already have answered 2xx for this very task).
 */
async function armAll(
  deps: BatchedAddDeps,
  written: readonly MintedItem[],
  results: IndexedResult[],
): Promise<MintedItem[]> {
  const queued: { taskId: string; delaySeconds: number }[] = [];
  const scheduled: MintedItem[] = [];
  // Planned again from now, after the claims and writes, not from the batch's start (as the single add does): no
  // queue delay fires late, and no schedule is created for a second that has begun meanwhile.
  const nowMs = timerNow(deps);
  for (const item of written) {
    const plan = armingPlan(deps, item, nowMs);
    if (plan.kind === "queue") queued.push({ taskId: item.task.taskId, delaySeconds: plan.delaySeconds });
    else scheduled.push(item);
  }
  const [unsent, unscheduled] = await Promise.all([
    // Timers still unanswered near the deadline (`inTime`) count as not armed and are cleaned up below; those sent
    // by then are kept.
    queued.length > 0
      ? inTime(deps, (signal) => deps.timerQueue.armMany(queued, signal), { keepsWhatIsDone: true }).catch(
          () => queued.map((q) => q.taskId),
        )
      : Promise.resolve([]),
    createSchedules(deps, scheduled),
  ]);
  const failed = new Set([...unsent, ...unscheduled]);
  await pMap(
    written.filter(({ task }) => failed.has(task.taskId)),
    async ({ index, task }) => results.push([index, await unarmed(deps, task)]),
    { concurrency: SCHEDULE_CONCURRENCY },
  );
  return written.filter(({ task }) => !failed.has(task.taskId));
}

/**
 * An item's timer as planned at `nowMs`: less time is left than at minting, so a near-term task stays near-term
 * (kept as minted should the clock have stepped back) and a Scheduler-path one may now ride the queue.
 */
function armingPlan(deps: BatchedAddDeps, item: MintedItem, nowMs: number): TimerPlan {
  const plan = planTimer(item.task.dueAtMs, nowMs, timerSettings(deps.config));
  return plan.kind === "schedule" && item.plan.kind === "queue" ? item.plan : plan;
}

/** `armOrRemove`'s clean-up of a task whose arming failed, and its 503. */
async function unarmed(deps: BatchedAddDeps, task: TaskRecord): Promise<BatchItemResult> {
  if (task.idempotencyKey !== undefined) {
    deps.onError?.(
      "arming the task's timer failed; kept for a retry with its idempotency key",
      undefined,
      task.taskId,
    );
    await leaveForTheSweeper(deps, task.taskId);
    return unavailableItem("could not arm the task's timer; retry the request with the same idempotency key");
  }
  deps.onError?.("arming the task's timer failed; removing the task", undefined, task.taskId);
  // Its timer message went out after all and the task is on its way: accepted (`removeUnarmed`), answered with
  // the status it has moved on to.
  const fired = await removeUnarmed(deps, task.taskId, UNACCEPTED_REMOVAL_FAILED);
  if (fired !== "removed") return answeredItem(201, { ...addResponse(task), status: fired.status });
  return unavailableItem("could not arm the task's timer; the task was not accepted, retry the request");
}

/**
 * One CreateSchedule per Scheduler-path task (the single add's `arm`); resolves with the ids that failed. Each is
 * planned again as its own call goes out, not once for the batch: the calls go out ten at a time, and a schedule
 * planned a second or so ahead (lead close to the horizon) would otherwise name a second that began while the calls
 * before it ran — an at() in the past, which Scheduler documents no answer for. Such a task rides the queue.
 */
async function createSchedules(deps: BatchedAddDeps, scheduled: readonly MintedItem[]): Promise<string[]> {
  const failed: string[] = [];
  await pMap(
    scheduled,
    async ({ task }) => {
      try {
        await inTime(deps, () =>
          arm(deps, task.taskId, planTimer(task.dueAtMs, timerNow(deps), timerSettings(deps.config))),
        );
      } catch (error) {
        deps.onError?.("creating a batch item's schedule failed", error, task.taskId);
        failed.push(task.taskId);
      }
    },
    { concurrency: SCHEDULE_CONCURRENCY },
  );
  return failed;
}

/**
 * One item through the single add. Its refusal is its result; a failure that is not one of our answers (a
 * dependency threw, after the add's own clean-up) is a 503 for that item: retrying it (with its idempotency key)
 * is what the single add's client would do with a 5xx.
 */
export async function addOne(deps: AddTaskDeps, item: unknown): Promise<BatchItemResult> {
  return added(deps, () => addTask(deps, { body: item }));
}

/** An add's answer as the item's result, its failure as the item's 4xx or 503. */
async function added(deps: AddTaskDeps, add: () => Promise<AddTaskResult>): Promise<BatchItemResult> {
  try {
    const { statusCode, body } = await inTime(deps, add, { reserveMs: SINGLE_ADD_RESERVE_MS });
    return answeredItem(statusCode, body);
  } catch (error) {
    return errorItem(isHttpError(error) && error.status < 500 ? error : retryable(deps, error));
  }
}

function retryable(deps: AddTaskDeps, error: unknown): HttpError {
  if (isHttpError(error) && error.status === 503) return error;
  // The single route's error responder would log this; here the item answers, so say it ourselves.
  deps.onError?.("adding a batch item failed; answered 503 for it", error, "");
  return serviceUnavailable("could not add this task; retry it (with its idempotency key)", error);
}

/** An item's result from the single add's answer (status and body), as a batch reports it. */
export function answeredItem(status: number, body: AddTaskResponse): BatchItemResult {
  return {
    status,
    task_id: body.task_id,
    topic: body.topic,
    task_status: body.status,
    due_at: body.due_at,
    ...(body.subscribers ? { subscribers: body.subscribers.map((s) => ({ ...s })) } : {}),
  };
}

function unavailableItem(message: string): BatchItemResult {
  return errorItem(serviceUnavailable(message));
}

/** An item's result from its refusal, as the single add would have answered it (no internals: `toBody`). */
export function errorItem(refusal: HttpError): BatchItemResult {
  const { issues, ...rest } = refusal.toBody().error;
  return { status: refusal.status, error: { ...rest, ...(issues ? { issues: [...issues] } : {}) } };
}
