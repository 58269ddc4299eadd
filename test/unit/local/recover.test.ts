import { describe, expect, it } from "vitest";
import { planRecovery } from "#local/cloud/recover.js";
import { expandFanOut } from "#shared/domain/fan-out.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { makeTask } from "../../support/factories.js";

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const HORIZON_MS = 300_000;
const MINUTE = 60_000;

/** A task of group `group`, accepted a minute before NOW. */
function task(group: string, dueAtMs: number, extra: Partial<TaskRecord> = {}): TaskRecord {
  return { ...makeTask({ group, dueAtMs, acceptedAtMs: NOW - MINUTE }), ...extra };
}

describe("--data recovery: what a restart sends again", () => {
  it("skips a fan-out parent: only its copies, tasks of their own, are re-armed", () => {
    // Prepare
    const { parent, deliveries } = expandFanOut(task("o-1", NOW + 10_000, { topic: "demo" }), [
      { id: "billing", url: "https://billing.example.com/hook" },
      { id: "audit", url: "https://audit.example.com/hook" },
    ]);

    // Act
    const plan = planRecovery([parent, ...deliveries], NOW, HORIZON_MS, new Set());

    // Assess
    expect(plan.rearm.map((r) => r.taskId)).toEqual(deliveries.map((d) => d.taskId));
    expect([...plan.requeue.keys()]).toEqual([]);
  });

  it("re-arms a task that was on the timer queue whatever its due time; a schedule's only within the horizon", () => {
    // Prepare: a queue-timer task due past the horizon (a rescheduled successor, or a horizon since shrunk), a
    // schedule-timer task past the horizon (its schedule persisted), and one of each within it.
    const farQueue = task("a", NOW + 60 * MINUTE, { timer: "queue" });
    const farSchedule = task("b", NOW + 60 * MINUTE, { timer: "schedule", scheduleName: "s-b" });
    const nearQueue = task("c", NOW + 10_000, { timer: "queue" });
    const nearSchedule = task("d", NOW + 2 * MINUTE, { timer: "schedule", scheduleName: "s-d" });

    // Act
    const plan = planRecovery(
      [farQueue, farSchedule, nearQueue, nearSchedule],
      NOW,
      HORIZON_MS,
      new Set(["s-b", "s-d"]),
    );

    // Assess: SQS's delay is capped at 15 minutes; the relay re-arms a message that arrives early until due.
    expect(plan.rearm).toEqual([
      { taskId: farQueue.taskId, delaySeconds: 900 },
      { taskId: nearQueue.taskId, delaySeconds: 10 },
      { taskId: nearSchedule.taskId, delaySeconds: 120 },
    ]);
  });

  it("re-arms a task past the horizon whose schedule is not in the restarted Scheduler (lost in a crash)", () => {
    // Prepare: schedules.json is written a moment after each change, so a local cloud killed (SIGKILL, a crash)
    // just after accepting a far task comes back without its schedule; another far task kept its schedule.
    const lost = task("a", NOW + 60 * MINUTE, { timer: "schedule", scheduleName: "s-a" });
    const kept = task("b", NOW + 60 * MINUTE, { timer: "schedule", scheduleName: "s-b" });

    // Act
    const plan = planRecovery([lost, kept], NOW, HORIZON_MS, new Set(["s-b"]));

    // Assess: the relay re-arms the timer message until the task is due.
    expect(plan.rearm).toEqual([{ taskId: lost.taskId, delaySeconds: 900 }]);
  });

  it("requeues what had reached its FIFO queue, group by group in sort-key order", () => {
    // Prepare
    const first = task("g", NOW - 2 * MINUTE, { status: "delivering", attempts: 1 });
    const second = task("g", NOW - MINUTE, { status: "queued" });
    const other = task("h", NOW - MINUTE, { status: "queued" });

    // Act
    const plan = planRecovery([second, other, first], NOW, HORIZON_MS, new Set());

    // Assess
    expect(plan.rearm).toEqual([]);
    expect([...plan.requeue.entries()].map(([pk, tasks]) => [pk, tasks.map((t) => t.taskId)])).toEqual([
      [second.pk, [first.taskId, second.taskId]],
      [other.pk, [other.taskId]],
    ]);
  });
});
