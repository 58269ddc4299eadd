/**
 * How the relay reads a FIFO group's due tasks: latest first from the window's end, in pages that start small and
 * double, ending STARTED_OVERTAKE_MARGIN_MS of due time below the group's latest started task or
 * MAX_READ_PAST_STARTED items past it, whichever comes first. One rule for the DynamoDB store, which reads the
 * group this way (`listScheduledInGroup` with `stopAtStarted`), and the capacity planner, which bills the same
 * pages (plan/model/table.ts `relayRead`): two copies of it drifted apart silently.
 */

/**
 * How far below a group's latest started task the relay's read goes on. A task is written after its due time is
 * floored at its writer's clock (`dueTime`: never before acceptance), so a task written after a later one of its
 * group was relayed sorts at most this much below it: the API routes' 10 s timeout (a write unanswered by then
 * is never acknowledged: `inTime`), a write still in flight and clock skew between instances. Checked against the
 * routes' timeouts in test/cdk/punctual-stack.test.ts. Beyond it (an idempotent retry re-creating a task whose
 * first write failed, more than this after its due time) is a limit in the README.
 */
export const STARTED_OVERTAKE_MARGIN_MS = 15_000;

/**
 * At most this many items are read below a group's latest started task, whatever the margin: a group delivering
 * more than ~4 tasks a second has more than that within it, and reading them all for every due message (up to 15 s
 * × r items, each billed) would take a hot group's relay reads past a partition's 3,000 read units a second (the
 * throttling the stop at the started task was made against). There the margin covers the last 64 ÷ r seconds (1.3 s
 * at 50 tasks/s): README, honest limits.
 */
export const MAX_READ_PAST_STARTED = 64;

/**
 * A group read's first page, doubling up to the last: a group delivering a task a second holds its own task, the
 * latest started one and the overtake margin's 15 below it in one page (one request), and a backlog (a group
 * waiting on its head) is still read in a handful of pages.
 */
export const FIRST_GROUP_PAGE = 20;
export const MAX_GROUP_PAGE = 1024;

/** Where a group read stands before its next page. */
export interface GroupReadState {
  /** The window's start: the floor never goes below it. */
  readonly fromMs: number;
  /** The lowest due time the read takes (the next page's key condition starts here). */
  readonly floorMs: number;
  /** The next page's size (a Query's `Limit`). */
  readonly limit: number;
  /** Items read below the latest started task; undefined while none has been read. */
  readonly pastStarted: number | undefined;
}

/** Why a read ended: an item below the margin, the cap below the started task, or no more items in the window. */
export type GroupReadEnd = "margin" | "cap" | "exhausted";

/** One page's verdict: how many of its leading items the read takes, and the next page or why there is none. */
export interface GroupPageStep {
  readonly taken: number;
  readonly next?: GroupReadState;
  readonly end?: GroupReadEnd;
}

/** How a reader sees its items (the store's records, the planner's simulated tasks) without copying them. */
export interface GroupItemView<T> {
  readonly dueAtMs: (item: T) => number;
  /** Whether the item's attempt has started: the read ends a margin below the latest such item. */
  readonly started: (item: T) => boolean;
}

/** A read of the window starting at `fromMs`, before its first page. */
export function startGroupRead(fromMs: number): GroupReadState {
  return { fromMs, floorMs: fromMs, limit: FIRST_GROUP_PAGE, pastStarted: undefined };
}

/**
 * Takes one page, latest first. The items past the read's end are cut even within the page: the floor rises when a
 * started task is read, and what the page holds below it was read (and billed) but is not the read's. `more`: the
 * page was not the window's last (DynamoDB's `LastEvaluatedKey`, which a page that reached its Limit carries).
 */
export function readGroupPage<T>(
  state: GroupReadState,
  page: readonly T[],
  view: GroupItemView<T>,
  more: boolean,
): GroupPageStep {
  let { floorMs, pastStarted } = state;
  let taken = 0;
  let end: GroupReadEnd | undefined;
  for (const item of page) {
    const dueAtMs = view.dueAtMs(item);
    if (dueAtMs < floorMs) end = "margin";
    else if (pastStarted !== undefined && ++pastStarted > MAX_READ_PAST_STARTED) end = "cap";
    if (end) break;
    if (pastStarted === undefined && view.started(item)) {
      pastStarted = 0;
      floorMs = Math.max(state.fromMs, dueAtMs - STARTED_OVERTAKE_MARGIN_MS);
    }
    taken++;
  }
  // Past a started task the next page asks only for what the cap leaves, so nothing beyond it is read or billed.
  const left = pastStarted === undefined ? MAX_GROUP_PAGE : MAX_READ_PAST_STARTED - pastStarted;
  end ??= left <= 0 ? "cap" : more ? undefined : "exhausted";
  if (end) return { taken, end };
  const limit = Math.min(state.limit * 2, MAX_GROUP_PAGE, left);
  return { taken, next: { fromMs: state.fromMs, floorMs, limit, pastStarted } };
}
