import { describe, expect, it } from "vitest";
import { batchBodies } from "../../../chaos/engine/client.js";
import {
  type BatchShape,
  type PlannedStep,
  type PlannedTask,
  planBatches,
  planWorkload,
  type WorkloadShape,
} from "../../../chaos/workload.js";

const SHAPE: WorkloadShape = {
  tasks: 2000,
  groups: 60,
  ungroupedShare: 0.12,
  nearMaxSeconds: 17,
  schedulerShare: 0.25,
  schedulerMinSeconds: 23,
  schedulerMaxSeconds: 65,
  cancelShare: 0.05,
  idempotentShare: 0.15,
  sameDueShare: 0.25,
  poisonShare: 0.005,
  batchShare: 0.3,
};
const BATCHES: BatchShape = { multiBatchShare: 0.3, mixedShare: 0.3, ungroupedRiderShare: 0.2 };

const tasksOf = (step: PlannedStep): readonly PlannedTask[] =>
  step.kind === "task" ? [step.task] : step.batch.items;
const batchesOf = (runners: PlannedStep[][]) =>
  runners.flat().flatMap((step) => (step.kind === "batch" ? [step.batch] : []));
const groupsOf = (items: readonly PlannedTask[]) => new Set(items.map((t) => t.group));

describe("planBatches", () => {
  const lanes = planWorkload(SHAPE, 7);
  const runners = planBatches(lanes, BATCHES, 7);

  it("sends every planned task exactly once, each group's tasks in its lane's order", () => {
    const sent = runners.flat().flatMap(tasksOf);
    expect(sent.map((t) => t.clientKey).sort()).toEqual(
      lanes
        .flat()
        .map((t) => t.clientKey)
        .sort(),
    );
    for (const lane of lanes.filter((l) => l[0]?.group !== undefined)) {
      const group = lane[0]?.group;
      const inRunners = runners.filter((r) => r.flatMap(tasksOf).some((t) => t.group === group));
      expect(inRunners).toHaveLength(1);
      const order = (inRunners[0] ?? []).flatMap(tasksOf).filter((t) => t.group === group);
      expect(order.map((t) => t.clientKey)).toEqual(lane.map((t) => t.clientKey));
    }
  });

  it("batches runs of 2–8 consecutive tasks per group, every item keyed, the request copied and repeated whole", () => {
    const batches = batchesOf(runners);
    expect(batches.length).toBeGreaterThan(50);
    for (const batch of batches) {
      for (const group of groupsOf(batch.items)) {
        const run = batch.items.filter((t) => t.group === group);
        if (group !== undefined) expect(run.length).toBeGreaterThanOrEqual(2);
        expect(run.length).toBeLessThanOrEqual(8);
      }
      for (const item of batch.items) {
        expect(item.idempotencyKey).toMatch(/^idem-7-\d+$/);
        expect(item).toMatchObject({ copies: 1, repeatAfterMs: undefined, viaBatch: true });
      }
      expect(batch.copies).toBeGreaterThanOrEqual(1);
      expect(batch.copies).toBeLessThanOrEqual(3);
    }
    expect(batches.some((b) => b.copies > 1)).toBe(true);
    expect(batches.some((b) => b.repeatAfterMs !== undefined)).toBe(true);
    // Keys stay unique across the workload (a key names one task).
    const keys = runners
      .flat()
      .flatMap(tasksOf)
      .flatMap((t) => (t.idempotencyKey ? [t.idempotencyKey] : []));
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("sends about the asked share of grouped tasks in batches, some mixed with another group or ungrouped tasks", () => {
    const grouped = lanes.flat().filter((t) => t.group !== undefined).length;
    const batches = batchesOf(runners);
    const inBatches = batches.flatMap((b) => b.items).filter((t) => t.group !== undefined).length;
    expect(inBatches / grouped).toBeGreaterThan(0.2);
    expect(inBatches / grouped).toBeLessThan(0.4);
    const grouping = batches.map((b) => [...groupsOf(b.items)]);
    expect(grouping.some((g) => g.filter((x) => x !== undefined).length === 2)).toBe(true);
    expect(grouping.some((g) => g.includes(undefined))).toBe(true);
  });

  it("is the seed's: the same plan again, and the tasks of planWorkload untouched outside batches", () => {
    expect(planBatches(planWorkload(SHAPE, 7), BATCHES, 7)).toEqual(runners);
    expect(planBatches(lanes, BATCHES, 8)).not.toEqual(runners);
    const none = planBatches(lanes, { multiBatchShare: 0, mixedShare: 0, ungroupedRiderShare: 0 }, 7);
    expect(none.every((r) => r.every((s) => s.kind === "task"))).toBe(true);
    expect(none.map((r) => r.flatMap(tasksOf)).sort(byFirstKey)).toEqual([...lanes].sort(byFirstKey));
  });
});

describe("batchBodies", () => {
  const base: PlannedTask = {
    clientKey: "c1-0",
    group: "g",
    delayMs: 4000,
    sameDueAsPrevious: false,
    path: "flaky",
    idempotencyKey: "idem-1-0",
    copies: 1,
    repeatAfterMs: undefined,
    cancelAfterMs: undefined,
    viaBatch: true,
  };
  const item = (n: number, group: string | undefined, delayMs: number, sameDue: boolean): PlannedTask => ({
    ...base,
    clientKey: `c1-${n}`,
    group,
    delayMs,
    sameDueAsPrevious: sameDue,
  });

  it("gives an item due with its group's previous task that task's due: its due_at, or the same delay in the batch", () => {
    const items = [
      item(1, "g", 3000, true), // its group's previous task was accepted in an earlier step
      item(2, "h", 5000, true), // nothing before it in its group: its own delay
      item(3, "g", 9000, true), // due with item 1: the same due spec
      item(4, "g", 2000, false),
      item(5, "g", 7000, true),
    ];
    const dues = batchBodies(items, new Map([["g", "2026-12-01T05:00:00.000Z"]]), (_, due) => ({ ...due }));
    expect(dues).toEqual([
      { due_at: "2026-12-01T05:00:00.000Z" },
      { delay_seconds: 5 },
      { due_at: "2026-12-01T05:00:00.000Z" },
      { delay_seconds: 2 },
      { delay_seconds: 2 },
    ]);
  });
});

function byFirstKey(a: readonly PlannedTask[], b: readonly PlannedTask[]): number {
  return (a[0]?.clientKey ?? "").localeCompare(b[0]?.clientKey ?? "");
}
