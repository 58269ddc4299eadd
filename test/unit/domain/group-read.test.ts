import { describe, expect, it } from "vitest";
import {
  FIRST_GROUP_PAGE,
  type GroupItemView,
  type GroupPageStep,
  type GroupReadState,
  MAX_GROUP_PAGE,
  MAX_READ_PAST_STARTED,
  readGroupPage,
  STARTED_OVERTAKE_MARGIN_MS,
  startGroupRead,
} from "#shared/domain/group-read.js";

const NOW = 1_900_000_000_000;

interface Item {
  readonly dueAtMs: number;
  readonly started: boolean;
}
const VIEW: GroupItemView<Item> = { dueAtMs: (i) => i.dueAtMs, started: (i) => i.started };

/** `count` items latest first, `gapMs` apart from `topMs` down; those at the given indexes started. */
function page(count: number, topMs: number, gapMs: number, startedAt: readonly number[] = []): Item[] {
  return Array.from({ length: count }, (_, i) => ({
    dueAtMs: topMs - i * gapMs,
    started: startedAt.includes(i),
  }));
}

/** Drives a whole read over a group (latest first) as a Query would page it: the pages' sizes and what was taken. */
function readAll(group: readonly Item[], fromMs: number) {
  const pages: number[] = [];
  const taken: Item[] = [];
  let next = 0;
  let read: GroupReadState | undefined = startGroupRead(fromMs);
  while (read) {
    const floor: number = read.floorMs;
    const rest = group.slice(next).filter((i) => i.dueAtMs >= floor);
    const items = rest.slice(0, read.limit);
    next = group.indexOf(items.at(-1) as Item) + 1;
    pages.push(items.length);
    const step: GroupPageStep = readGroupPage(read, items, VIEW, items.length === read.limit);
    taken.push(...items.slice(0, step.taken));
    read = step.next;
  }
  return { pages, taken };
}

describe("a relay group read's pages", () => {
  it("starts at the window's start with a page of FIRST_GROUP_PAGE", () => {
    expect(startGroupRead(NOW)).toEqual({
      fromMs: NOW,
      floorMs: NOW,
      limit: FIRST_GROUP_PAGE,
      pastStarted: undefined,
    });
  });

  it("with nothing started, takes the whole page and doubles the next, up to MAX_GROUP_PAGE", () => {
    // Act
    const first = readGroupPage(startGroupRead(NOW - 900_000), page(20, NOW, 1_000), VIEW, true);
    const late = readGroupPage(
      { fromMs: NOW - 900_000, floorMs: NOW - 900_000, limit: 800, pastStarted: undefined },
      page(800, NOW, 1),
      VIEW,
      true,
    );

    // Assess
    expect(first).toEqual({
      taken: 20,
      next: { fromMs: NOW - 900_000, floorMs: NOW - 900_000, limit: 40, pastStarted: undefined },
    });
    expect(late.next?.limit).toBe(MAX_GROUP_PAGE);
  });

  it("ends when the window holds no more, whatever the page took", () => {
    expect(readGroupPage(startGroupRead(NOW), page(7, NOW + 10_000, 1_000), VIEW, false)).toEqual({
      taken: 7,
      end: "exhausted",
    });
    expect(readGroupPage(startGroupRead(NOW), [], VIEW, false)).toEqual({ taken: 0, end: "exhausted" });
  });

  it("a started task raises the floor to the margin below it, and the page's items below that are cut", () => {
    // Prepare: one a second from NOW down; the 4th (NOW - 3 s) started.
    const items = page(20, NOW, 1_000, [3]);

    // Act
    const step = readGroupPage(startGroupRead(NOW - 900_000), items, VIEW, true);

    // Assess: taken down to 15 s below the started one (NOW - 18 s), the item at NOW - 19 s is the margin's end.
    expect(step).toEqual({ taken: 3 + 1 + STARTED_OVERTAKE_MARGIN_MS / 1_000, end: "margin" });
  });

  it("a started task's margin never reaches below the window's start", () => {
    // Act: the started task lies 5 s above the window's start.
    const step = readGroupPage(startGroupRead(NOW - 5_000), page(3, NOW, 1_000, [0]), VIEW, true);

    // Assess: it goes on, with its floor at the window's start, counting what it reads past the started task.
    expect(step).toEqual({
      taken: 3,
      next: { fromMs: NOW - 5_000, floorMs: NOW - 5_000, limit: 40, pastStarted: 2 },
    });
  });

  it("past a started task the next page asks only for what the cap leaves", () => {
    // Prepare: a second page of 40, the 20th of it started, 20 more read past it.
    const state: GroupReadState = {
      fromMs: NOW - 900_000,
      floorMs: NOW - 900_000,
      limit: 40,
      pastStarted: undefined,
    };

    // Act
    const step = readGroupPage(state, page(40, NOW, 1, [19]), VIEW, true);

    // Assess: 44 asked for, not 80.
    expect(step).toEqual({
      taken: 40,
      next: {
        fromMs: NOW - 900_000,
        floorMs: NOW - 19 - STARTED_OVERTAKE_MARGIN_MS,
        limit: MAX_READ_PAST_STARTED - 20,
        pastStarted: 20,
      },
    });
  });

  it("ends at MAX_READ_PAST_STARTED items past the started task, within a page or at its end", () => {
    // Prepare: a read that has taken 60 items past its started task.
    const state: GroupReadState = {
      fromMs: NOW - 900_000,
      floorMs: NOW - 900_000,
      limit: 8,
      pastStarted: 60,
    };

    // Act
    const within = readGroupPage(state, page(8, NOW, 1), VIEW, true);
    const atEnd = readGroupPage(state, page(4, NOW, 1), VIEW, true);

    // Assess
    expect(within).toEqual({ taken: MAX_READ_PAST_STARTED - 60, end: "cap" });
    expect(atEnd).toEqual({ taken: 4, end: "cap" });
  });

  it("reads a group as the store and the planner are pinned to: [20]; [20, 40, 54]; [20, 40, 10]", () => {
    // Prepare: latest first. One a second, 0..56 started but for 30 and 50; 50 a second, 0..150 started but
    // for 80 and 100; 70 scheduled one a second.
    const perSecond = page(60, NOW + 59_000, 1_000).map((t, i) => ({
      ...t,
      started: i >= 3 && i !== 9 && i !== 29,
    }));
    const hot = page(200, NOW + 199 * 20, 20).map((t, i) => ({
      ...t,
      started: i >= 49 && i !== 99 && i !== 119,
    }));
    const idle = page(70, NOW + 69_000, 1_000);

    // Act
    const reads = [perSecond, hot, idle].map((group) => readAll(group, NOW - 900_000));

    // Assess
    expect(reads.map((r) => r.pages)).toEqual([
      [20],
      [20, 40, 49 + 1 + MAX_READ_PAST_STARTED - 60],
      [20, 40, 10],
    ]);
    expect(reads[0]?.taken).toEqual(perSecond.slice(0, 3 + 1 + STARTED_OVERTAKE_MARGIN_MS / 1_000));
    expect(reads[1]?.taken).toEqual(hot.slice(0, 49 + 1 + MAX_READ_PAST_STARTED));
    expect(reads[2]?.taken).toEqual(idle);
  });
});
