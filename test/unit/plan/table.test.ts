import { describe, expect, it } from "vitest";
import { MAX_READ_PAST_STARTED } from "#shared/adapters/task-store.js";
import { makeTaskKey, newUlid } from "#shared/domain/keys.js";
import { type SimTask, TaskTable } from "../../../plan/model/table.js";

const NOW = 1_900_000_000_000;

/** A group's tasks `gapMs` apart, all scheduled, in a fresh table. */
function groupOf(count: number, gapMs: number) {
  const table = new TaskTable();
  const tasks = Array.from({ length: count }, (_, i): SimTask => {
    const task: SimTask = {
      key: makeTaskKey("demo", "hot", NOW + i * gapMs, newUlid(NOW + i)),
      issuedAtMs: NOW,
      status: "scheduled",
      deliveries: 0,
    };
    table.put(task);
    return task;
  });
  return { table, tasks, pk: (tasks[0] as SimTask).key.pk };
}

// The relay's group read as the planner bills it, on the dynalite store's cases
// (test/unit/adapters/dynamo-task-store.test.ts, "stopping at a started task…").
describe("the planner's relay group read", () => {
  it("a group delivering a task a second is read in one page of 20: its own, the started one, the margin's 15", () => {
    // Prepare: 0..56 delivered but for 30 and 50 (50 written late, 30 beyond the margin); 57..59 scheduled.
    const { table, tasks, pk } = groupOf(60, 1_000);
    const late = [30, 50];
    for (const t of tasks.slice(0, 57).filter((_, i) => !late.includes(i))) table.finish(t);

    // Act
    const read = table.relayRead(pk, NOW - 900_000, NOW + 59_000);

    // Assess
    expect(read.due).toEqual([tasks[50], tasks[57], tasks[58], tasks[59]]);
    expect(read.pages).toEqual([20]);
  });

  it("a hot group is read at most MAX_READ_PAST_STARTED items below its latest started task, in pages bounded by it", () => {
    // Prepare: 50 tasks a second; 0..150 started but for 80 and 100.
    const { table, tasks, pk } = groupOf(200, 20);
    const late = [100, 80];
    for (const t of tasks.slice(0, 151).filter((_, i) => !late.includes(i))) table.start(t);

    // Act
    const read = table.relayRead(pk, NOW - 900_000, NOW + 199 * 20);

    // Assess: 100 (50 below 150) listed, 80 (70 below) past the cap; pages of 20 and 40, then what the cap leaves.
    expect(read.due).toEqual([tasks[100], ...tasks.slice(151)]);
    expect(read.pages).toEqual([20, 40, 49 + 1 + MAX_READ_PAST_STARTED - 60]);
  });

  it("a group with nothing started is read whole, in pages doubling from 20, and a read that ends on a short page asks for no more", () => {
    // Prepare
    const { table, tasks, pk } = groupOf(70, 1_000);

    // Act
    const read = table.relayRead(pk, NOW - 900_000, NOW + 69_000);

    // Assess
    expect(read.due).toEqual(tasks);
    expect(read.pages).toEqual([20, 40, 10]);
  });
});
