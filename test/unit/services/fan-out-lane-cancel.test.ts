import { monotonicFactory } from "ulid";
import { describe, expect, it } from "vitest";
import { encodeCursor } from "#shared/api/cursor.js";
import { parseConfig } from "#shared/config/index.js";
import { groupPartitionKey } from "#shared/domain/keys.js";
import { retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { addTask } from "#shared/services/add-task.js";
import { cancelGroup } from "#shared/services/cancel-group.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { getTask } from "#shared/services/get-task.js";
import { listTasks } from "#shared/services/list-tasks.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { refusal } from "../../support/refusal.js";
import { FakeScheduler, FakeTimerQueue, NOW } from "../api/fakes.js";

// `POST /v1/topics/{topic}/groups/{value}/cancel?subscriber=`: one subscriber's lane of a group cancelled in bulk.

const SUBSCRIBERS = [
  { id: "billing", url: "https://billing.example.com/hook" },
  { id: "audit", url: "https://audit.example.com/hook" },
  { id: "search", url: "https://search.example.com/hook" },
];

function setup() {
  const config = parseConfig({
    name: "test",
    system: { allowedCallbackHosts: ["*"] },
    topics: { orders: { deliverBy: "order_id", subscribers: SUBSCRIBERS }, demo: { deliverBy: "order_id" } },
  });
  const store = new MemoryTaskStore();
  const scheduler = new FakeScheduler();
  const deps = {
    store,
    timerQueue: new FakeTimerQueue(),
    scheduler,
    config,
    now: () => NOW,
    newUlid: monotonicFactory(),
  };
  return { store, scheduler, deps };
}
type Fixture = ReturnType<typeof setup>;

/** Adds one task on the fan-out topic and answers its parent and copies (billing, audit, search) as stored. */
async function addOrder(f: Fixture, group: string, extra: Record<string, unknown> = {}) {
  const added = await addTask(f.deps, {
    body: { topic: "orders", delay_seconds: 10, content: { order_id: group }, ...extra },
  });
  const parent = (await f.store.get(added.body.task_id)) as TaskRecord;
  const copies = await Promise.all(
    (parent.fanOut ?? []).map(async (l) => (await f.store.get(l.taskId)) as TaskRecord),
  );
  return { parent, copies, audit: copies[1] as TaskRecord };
}

function laneCancel(f: Fixture, group: string, query: Record<string, string> = {}, topic = "orders") {
  return cancelGroup(
    { ...f.deps, store: f.store },
    { topic, value: group },
    { subscriber: "audit", ...query },
  );
}

async function statusOf(f: Fixture, task: TaskRecord): Promise<string | undefined> {
  return (await f.store.get(task.taskId))?.status;
}

/** Every item of the store as it is, to show a refused call changed nothing. */
function snapshot(f: Fixture): string {
  return JSON.stringify([...f.store.tasks.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

describe("a subscriber's lane cancelled in bulk (group cancel with `subscriber`)", () => {
  it("cancels only that subscriber's copies of the topic's group: not another subscriber's, another group's, nor the parents", async () => {
    // Prepare: two tasks of g-1, one of g-2
    const f = setup();
    const first = await addOrder(f, "g-1");
    const second = await addOrder(f, "g-1");
    const other = await addOrder(f, "g-2");

    // Act
    const result = await laneCancel(f, "g-1");

    // Assess
    expect(result).toEqual({
      cancelled: 2,
      not_cancelled: [],
      cancel_requested: [],
      more: false,
      next_cursor: null,
    });
    expect(await statusOf(f, first.audit)).toBe("cancelled");
    expect(await statusOf(f, second.audit)).toBe("cancelled");
    const untouched = [first, second].flatMap((t) => [t.parent, t.copies[0], t.copies[2]]);
    untouched.push(other.parent, ...other.copies);
    for (const task of untouched) expect(await statusOf(f, task as TaskRecord)).toBe("scheduled");
  });

  it("deletes each cancelled copy's schedule, as DELETE of the copy does", async () => {
    // Prepare: due in a day, so each copy is armed with a Scheduler schedule
    const f = setup();
    const { audit, copies } = await addOrder(f, "g-1", { delay_seconds: 86_400 });
    expect(audit.timer).toBe("schedule");

    // Act
    await laneCancel(f, "g-1");

    // Assess
    expect(f.scheduler.deleted).toEqual([audit.scheduleName]);
    expect(copies.filter((c) => c !== audit).map((c) => c.scheduleName)).not.toContain(
      f.scheduler.deleted[0],
    );
  });

  it("a copy whose callback is in flight gets its cancel requested (DELETE's 202) and is listed; one waiting for its retry is cancelled; finished ones are neither", async () => {
    // Prepare: audit's copies of g-1 — in flight, waiting for its retry, dead-lettered, delivered, scheduled
    const f = setup();
    const tasks = [];
    for (let i = 0; i < 5; i++) tasks.push(await addOrder(f, "g-1"));
    const [inFlight, waiting, deadLettered, delivered, pending] = tasks.map((t) => t.audit) as TaskRecord[];
    await f.store.startAttempt(inFlight?.taskId ?? "", NOW);
    const started = await f.store.startAttempt(waiting?.taskId ?? "", NOW);
    const seq = started?.attemptSeq ?? 0;
    await f.store.recordAttemptFailure(waiting?.taskId ?? "", {
      error: "HTTP 500",
      atMs: NOW + 1,
      attemptSeq: seq,
      attempt: { seq, startedAtMs: NOW, durationMs: 1, status: 500, error: "HTTP 500" },
    });
    const dead = await f.store.startAttempt(deadLettered?.taskId ?? "", NOW);
    await f.store.markFailed(deadLettered?.taskId ?? "", {
      error: "HTTP 500",
      atMs: NOW + 1,
      expiresAt: retentionExpiry(NOW, 1),
      attemptSeq: dead?.attemptSeq ?? 0,
    });
    await f.store.startAttempt(delivered?.taskId ?? "", NOW);
    await f.store.markDelivered(delivered?.taskId ?? "", {
      atMs: NOW + 1,
      latenessMs: 0,
      deliveryLatencyMs: 1,
      expiresAt: retentionExpiry(NOW, 1),
    });

    // Act
    const result = await laneCancel(f, "g-1");

    // Assess
    expect(result).toMatchObject({
      cancelled: 2,
      not_cancelled: [],
      cancel_requested: [{ task_id: inFlight?.taskId }],
    });
    expect(await f.store.get(inFlight?.taskId ?? "")).toMatchObject({
      status: "delivering",
      cancelRequestedAtMs: NOW,
    });
    expect(await statusOf(f, waiting as TaskRecord)).toBe("cancelled");
    expect(await statusOf(f, pending as TaskRecord)).toBe("cancelled");
    expect(await statusOf(f, deadLettered as TaskRecord)).toBe("failed");
    expect(await statusOf(f, delivered as TaskRecord)).toBe("delivered");
    // The parent's view says so: audit's row stopping after its attempt, the task still moving
    const view = await getTask(f.deps, inFlight?.parentTaskId);
    expect(view).toMatchObject({ status: "delivering", cancel_requested: true });
    expect(view.subscribers?.[1]).toMatchObject({
      id: "audit",
      status: "delivering",
      cancel_requested: true,
    });
  });

  it("leaves each parent's rolled-up status truthful: its other subscribers' copies still decide it, and with every lane cancelled it reads cancelled", async () => {
    // Prepare
    const f = setup();
    const { parent, copies } = await addOrder(f, "g-1");

    // Act: audit's lane, then the others' one by one
    await laneCancel(f, "g-1");
    const afterAudit = await getTask(f.deps, parent.taskId);
    await laneCancel(f, "g-1", { subscriber: "billing" });
    await laneCancel(f, "g-1", { subscriber: "search" });
    const afterAll = await getTask(f.deps, parent.taskId);
    const deleted = await cancelTask({ ...f.deps, store: f.store }, parent.taskId);

    // Assess
    expect(afterAudit.status).toBe("scheduled");
    expect(afterAudit.subscribers?.map((s) => s.status)).toEqual(["scheduled", "cancelled", "scheduled"]);
    expect(afterAll.status).toBe("cancelled");
    expect(afterAll.subscribers?.map((s) => s.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
    // A DELETE of the parent afterwards is the 200 of a task cancelled already (nothing left to stop)
    expect(deleted.status).toBe("cancelled");
    for (const copy of copies) expect(await statusOf(f, copy)).toBe("cancelled");
  });

  it("pages with its cursor, and a repeat goes on: what was cancelled stays so, nothing is counted twice", async () => {
    // Prepare
    const f = setup();
    const tasks = [await addOrder(f, "g-1"), await addOrder(f, "g-1"), await addOrder(f, "g-1")];

    // Act
    const first = await laneCancel(f, "g-1", { limit: "2" });
    const second = await laneCancel(f, "g-1", { limit: "2", cursor: first.next_cursor ?? "" });
    const repeat = await laneCancel(f, "g-1");

    // Assess
    expect([first.cancelled, first.more, second.cancelled, second.more]).toEqual([2, true, 1, false]);
    expect(repeat).toMatchObject({ cancelled: 0, not_cancelled: [], cancel_requested: [], more: false });
    for (const t of tasks) {
      expect(await statusOf(f, t.audit)).toBe("cancelled");
      expect(await statusOf(f, t.copies[0] as TaskRecord)).toBe("scheduled");
    }
  });

  it("refuses, changing nothing: an unknown subscriber, a plain topic, a malformed cursor, the group's cursor, one too long", async () => {
    // Prepare: a group's cursor (its partition, not audit's lane) and a lane's cursor given to the group's cancel
    const f = setup();
    await addOrder(f, "g-1");
    await addOrder(f, "g-1");
    await addTask(f.deps, {
      body: {
        topic: "demo",
        delay_seconds: 10,
        callback: { url: "https://a.example.com/h" },
        content: { order_id: "g-1" },
      },
    });
    const groupCursor =
      encodeCursor({ pk: groupPartitionKey("orders", "g-1", ""), sk: "0", since: NOW }) ?? "";
    const before = snapshot(f);

    // Act
    const refused = await Promise.all([
      refusal(laneCancel(f, "g-1", { subscriber: "nobody" })),
      refusal(laneCancel(f, "g-1", {}, "demo")),
      refusal(laneCancel(f, "g-1", { cursor: "not!a!cursor" })),
      refusal(laneCancel(f, "g-1", { cursor: groupCursor })),
      refusal(laneCancel(f, "g-1", { subscriber: "a".repeat(65) })),
      refusal(laneCancel(f, "g-1", { subscriber: "" })),
      refusal(laneCancel(f, "g-1", {}, "nope")),
    ]);

    // Assess
    expect(refused.map((e) => [e.status, e.code])).toEqual([
      [400, "unknown_subscriber"],
      [400, "not_fan_out"],
      [400, "validation_failed"],
      [400, "validation_failed"],
      [400, "validation_failed"],
      [400, "validation_failed"],
      [404, "not_found"],
    ]);
    expect(snapshot(f)).toBe(before);
  });

  it("a lane's cursor is refused by the group's cancel, which would otherwise skip the group's tasks before it", async () => {
    // Prepare
    const f = setup();
    await addOrder(f, "g-1");
    await addOrder(f, "g-1");
    const lanePage = await laneCancel(f, "g-1", { limit: "1" });
    const before = snapshot(f);

    // Act
    const refused = await refusal(
      cancelGroup(
        { ...f.deps, store: f.store },
        { topic: "orders", value: "g-1" },
        { cursor: lanePage.next_cursor ?? "" },
      ),
    );

    // Assess
    expect([refused.status, refused.code]).toEqual([400, "validation_failed"]);
    expect(snapshot(f)).toBe(before);
  });
});

describe("a lane cancel's isolation (session 47 review): no input reaches another lane, a parent, or another group", () => {
  it("cursors cross no list: the lane list's and another subscriber's, topic's or group's lane cursor are refused by the lane cancel, and its cursor by the lane list", async () => {
    // Prepare: two tasks of g-1 (so each lane pages), a lane list page and lane cancel pages to take cursors from
    const f = setup();
    const config = parseConfig({
      name: "test",
      system: { allowedCallbackHosts: ["*"] },
      topics: {
        orders: { deliverBy: "order_id", subscribers: SUBSCRIBERS },
        returns: { deliverBy: "order_id", subscribers: SUBSCRIBERS },
      },
    });
    const g = { ...f, deps: { ...f.deps, config } };
    await addOrder(g, "g-1");
    await addOrder(g, "g-1");
    await addOrder(g, "g-2");
    await addOrder(g, "g-2");
    await addTask(g.deps, { body: { topic: "returns", delay_seconds: 10, content: { order_id: "g-1" } } });
    await addTask(g.deps, { body: { topic: "returns", delay_seconds: 10, content: { order_id: "g-1" } } });
    const cancelOf = (topic: string, group: string, query: Record<string, string>) =>
      cancelGroup({ ...g.deps, store: g.store }, { topic, value: group }, query);
    const listOf = (query: Record<string, string>) =>
      listTasks({ ...g.deps, store: g.store }, { topic: "orders", group: "g-1", limit: "1", ...query });
    const listCursor = (await listOf({ subscriber: "audit" })).next_cursor ?? "";
    // Taken from a copy of the store, so the lane cancel pages below each read the whole lane
    const probe = new MemoryTaskStore();
    for (const [k, v] of g.store.tasks) probe.tasks.set(k, structuredClone(v));
    const probeCancel = async (topic: string, group: string, subscriber: string) =>
      (await cancelGroup({ ...g.deps, store: probe }, { topic, value: group }, { subscriber, limit: "1" }))
        .next_cursor ?? "";
    const billingCursor = await probeCancel("orders", "g-1", "billing");
    const otherGroupCursor = await probeCancel("orders", "g-2", "audit");
    const otherTopicCursor = await probeCancel("returns", "g-1", "audit");
    const auditCursor = await probeCancel("orders", "g-1", "audit");
    const cursors = [listCursor, billingCursor, otherGroupCursor, otherTopicCursor, auditCursor];
    expect(cursors.every((c) => c.length > 0)).toBe(true);
    const before = snapshot(g);

    // Act
    const refused = await Promise.all([
      refusal(cancelOf("orders", "g-1", { subscriber: "audit", cursor: listCursor })),
      refusal(cancelOf("orders", "g-1", { subscriber: "audit", cursor: billingCursor })),
      refusal(cancelOf("orders", "g-1", { subscriber: "audit", cursor: otherGroupCursor })),
      refusal(cancelOf("orders", "g-1", { subscriber: "audit", cursor: otherTopicCursor })),
      refusal(listOf({ subscriber: "audit", cursor: auditCursor })),
      refusal(listOf({ cursor: auditCursor })),
    ]);

    // Assess
    expect(refused.map((e) => [e.status, e.code])).toEqual(Array(6).fill([400, "validation_failed"]));
    expect(snapshot(g)).toBe(before);
  });

  it("a group named with separators, unicode or `-` (through `?group=`) names only its own lane: the look-alike groups' copies and the parents are untouched", async () => {
    // Prepare: groups whose names hold what a lane's key is made of, and look-alikes of them
    const f = setup();
    const names = ["a#b", "a", "audit", '["fan-out"', "caf\u00e9", "cafe\u0301", "-", ".."];
    const added = new Map<string, Awaited<ReturnType<typeof addOrder>>>();
    for (const name of names) added.set(name, await addOrder(f, name));

    // Act: each name's audit lane, `-` and `..` through `?group=` as the client sends them
    const results = [];
    for (const name of ["a#b", "caf\u00e9", "-"]) {
      results.push(await laneCancel(f, "-", { group: name }));
    }

    // Assess: exactly those three audit copies cancelled, nothing else
    expect(results.map((r) => r.cancelled)).toEqual([1, 1, 1]);
    for (const [name, t] of added) {
      const hit = ["a#b", "caf\u00e9", "-"].includes(name);
      expect([name, await statusOf(f, t.audit)]).toEqual([name, hit ? "cancelled" : "scheduled"]);
      for (const other of [t.parent, t.copies[0], t.copies[2]]) {
        expect(await statusOf(f, other as TaskRecord)).toBe("scheduled");
      }
    }
  });
});

describe("every lane of a task cancelled: its own item is not marked (docs/API.md, 'One subscriber's lane')", () => {
  it("its view reads cancelled, its item stays scheduled; a keyed retry of its add answers cancelled and recreates or arms nothing; the first group cancel after counts it once, marking it", async () => {
    // Prepare
    const f = setup();
    const keyed = { idempotency_key: "k-lanes" };
    const { parent, copies } = await addOrder(f, "g-1", keyed);
    for (const subscriber of ["billing", "audit", "search"]) await laneCancel(f, "g-1", { subscriber });
    const armedBefore = f.deps.timerQueue.armed.length;

    // Act
    const view = await getTask(f.deps, parent.taskId);
    const item = await f.store.get(parent.taskId);
    const retried = await addTask(f.deps, {
      body: { topic: "orders", delay_seconds: 10, content: { order_id: "g-1" }, ...keyed },
    });
    const groupCancel = () =>
      cancelGroup({ ...f.deps, store: f.store }, { topic: "orders", value: "g-1" }, {});
    const first = await groupCancel();
    const second = await groupCancel();

    // Assess
    expect(view.status).toBe("cancelled");
    expect(item?.status).toBe("scheduled");
    expect(retried).toMatchObject({ statusCode: 200, body: { task_id: parent.taskId, status: "cancelled" } });
    expect(f.deps.timerQueue.armed.length).toBe(armedBefore);
    for (const copy of copies) expect(await statusOf(f, copy)).toBe("cancelled");
    expect([first.cancelled, second.cancelled]).toEqual([1, 0]);
    expect(await statusOf(f, parent)).toBe("cancelled");
  });

  it("once its copies have expired, GET answers 404 'completed and expired', as for a task whose copies were delivered", async () => {
    // Prepare: every lane cancelled, then the copies removed by their TTL and the retention past
    const f = setup();
    const { parent, copies } = await addOrder(f, "g-1");
    for (const subscriber of ["billing", "audit", "search"]) await laneCancel(f, "g-1", { subscriber });
    for (const copy of copies) f.store.tasks.delete(copy.taskId);
    const retentionMs = (f.deps.config.resolvedTopics.orders?.retentionDays ?? 0) * 86_400_000;

    // Act
    const answer = await refusal(
      getTask({ ...f.deps, now: () => NOW + 10_000 + retentionMs }, parent.taskId),
    );

    // Assess
    expect([answer.status, answer.message]).toEqual([
      404,
      expect.stringContaining("completed and its subscribers' copies have expired"),
    ]);
  });
});
