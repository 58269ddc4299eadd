import { monotonicFactory } from "ulid";
import { describe, expect, it } from "vitest";
import type { HttpError } from "#shared/api/errors.js";
import { parseConfig } from "#shared/config/index.js";
import { retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { addTask } from "#shared/services/add-task.js";
import { cancelGroup } from "#shared/services/cancel-group.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { FakeScheduler, FakeTimerQueue, NOW } from "../api/fakes.js";

// Two DELETEs of a fan-out task racing a replay of one of its copies, in fixed interleavings (no timing): the first
// DELETE finds every copy delivered (a 409 that puts the task back), the replay makes one copy `queued`, and the
// second DELETE, finding the task marked cancelled by the first, cancels that copy and answers 200.

const SUBSCRIBERS = [
  { id: "billing", url: "https://billing.example.com/hook" },
  { id: "audit", url: "https://audit.example.com/hook" },
];

function setup() {
  const config = parseConfig({
    name: "test",
    system: { allowedCallbackHosts: ["*"] },
    topics: { orders: { deliverBy: "order_id", subscribers: SUBSCRIBERS } },
  });
  const store = new MemoryTaskStore();
  const deps = {
    store,
    timerQueue: new FakeTimerQueue(),
    scheduler: new FakeScheduler(),
    config,
    now: () => NOW,
    newUlid: monotonicFactory(),
  };
  return { store, deps };
}
type Fixture = ReturnType<typeof setup>;

const ORDER = { topic: "orders", delay_seconds: 10, content: { order_id: "o-1" } };

/** A fan-out task whose copies were all delivered (added with `extra`, an idempotency key say). */
async function deliveredOrder(f: Fixture, extra: Record<string, unknown> = {}) {
  const added = await addTask(f.deps, { body: { ...ORDER, ...extra } });
  const parent = (await f.store.get(added.body.task_id)) as TaskRecord;
  const copies = (parent.fanOut ?? []).map((l) => l.taskId);
  for (const id of copies) {
    await f.store.startAttempt(id, NOW);
    await f.store.markDelivered(id, {
      atMs: NOW + 1,
      latenessMs: 0,
      deliveryLatencyMs: 1,
      expiresAt: retentionExpiry(NOW, 1),
    });
  }
  return { parent, billing: copies[0] as string };
}

/**
 * Runs `meanwhile` once, right after the first cancel write to `copy` (a DELETE's, refused: the copy was delivered)
 * and before that DELETE goes on; gives what `meanwhile` answered, once it ran.
 */
function afterFirstCancelOf<T>(
  f: Fixture,
  copy: string,
  meanwhile: () => Promise<T>,
): () => Promise<T> | undefined {
  const cancel = f.store.cancel.bind(f.store);
  let ran: Promise<T> | undefined;
  f.store.cancel = async (...args) => {
    const result = await cancel(...args);
    if (args[0] === copy && ran === undefined) {
      ran = meanwhile();
      await ran;
    }
    return result;
  };
  return () => ran;
}

/** A promise and what settles it. */
function deferred() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe("two DELETEs of a fan-out task racing a copy's replay", () => {
  it("the second DELETE's cancel of the replayed copy stands: the first one's undoing does not put the task back `scheduled` under its 200", async () => {
    // Prepare: the first DELETE's write to billing's copy (refused: delivered) is followed, before that DELETE goes
    // on, by billing's replay and the whole second DELETE
    const f = setup();
    const { parent, billing } = await deliveredOrder(f);
    const second = afterFirstCancelOf(f, billing, async () => {
      await f.store.markReplayed(billing, NOW + 2);
      return cancelTask(f.deps, parent.taskId);
    });

    // Act
    const first = await cancelTask(f.deps, parent.taskId).catch((e: HttpError) => e);

    // Assess: the second DELETE answered 200 (it cancelled billing's replayed copy); the task is marked cancelled, as
    // that answer said, so a keyed retry of its add recreates and arms nothing
    expect(await second()).toMatchObject({
      task_id: parent.taskId,
      subscribers: [{ status: "cancelled" }, {}],
    });
    expect((await f.store.get(billing))?.status).toBe("cancelled");
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
    // The first DELETE's answer: its cancel stands too (a copy is cancelled), not a 409 "nothing could be cancelled"
    expect(first).toMatchObject({ task_id: parent.taskId, subscribers: [{ status: "cancelled" }, {}] });
  });

  it("the second DELETE's cancel stands when it cancels the replayed copy only after the first one has put the task back and checked its copies", async () => {
    // Prepare: the second DELETE reads the task marked by the first (before the first puts it back), but cancels
    // billing's replayed copy only once the first DELETE, having put the task back, has read billing's copy again
    const f = setup();
    const { parent, billing } = await deliveredOrder(f);
    const { cancel, get, restoreFanOutParent } = {
      cancel: f.store.cancel.bind(f.store),
      get: f.store.get.bind(f.store),
      restoreFanOutParent: f.store.restoreFanOutParent.bind(f.store),
    };
    const secondAtCopy = deferred();
    const firstCheckedCopy = deferred();
    let restored = false;
    let second: Promise<unknown> | undefined;
    f.store.cancel = async (...args) => {
      if (args[0] === billing && second !== undefined) {
        // The second DELETE's write to billing's copy: held until the first DELETE has read it after its undoing
        secondAtCopy.open();
        await firstCheckedCopy.opened;
        return cancel(...args);
      }
      const result = await cancel(...args);
      if (args[0] === billing && second === undefined) {
        await f.store.markReplayed(billing, NOW + 2);
        second = cancelTask(f.deps, parent.taskId);
        await secondAtCopy.opened;
      }
      return result;
    };
    f.store.restoreFanOutParent = async (...args) => {
      restored = true;
      return restoreFanOutParent(...args);
    };
    f.store.get = async (...args) => {
      const task = await get(...args);
      if (restored && args[0] === billing) firstCheckedCopy.open();
      return task;
    };

    // Act
    const first = await cancelTask(f.deps, parent.taskId).catch((e: HttpError) => e);
    firstCheckedCopy.open();
    const answer = await second;

    // Assess: the first DELETE's 409 was true when answered (billing's copy was `queued`, not cancelled); the second
    // one's 200 holds — billing's copy cancelled, the task marked cancelled again after the first one put it back
    expect(first).toMatchObject({ status: 409 });
    expect(answer).toMatchObject({ task_id: parent.taskId, subscribers: [{ status: "cancelled" }, {}] });
    expect((await get(billing))?.status).toBe("cancelled");
    expect((await get(parent.taskId))?.status).toBe("cancelled");
  });

  it("a lane cancel of the replayed copy during a DELETE's 409 makes that DELETE's cancel stand: the task is marked cancelled, answered 200", async () => {
    // Prepare: the DELETE's write to billing's copy (refused: delivered) is followed by billing's replay and
    // billing's lane cancel (`?subscriber=billing`), before that DELETE puts the task back
    const f = setup();
    const { parent, billing } = await deliveredOrder(f);
    const lane = afterFirstCancelOf(f, billing, async () => {
      await f.store.markReplayed(billing, NOW + 2);
      return cancelGroup(f.deps, { topic: "orders", value: "o-1" }, { subscriber: "billing" });
    });

    // Act
    const deleted = await cancelTask(f.deps, parent.taskId).catch((e: HttpError) => e);

    // Assess
    expect(await lane()).toMatchObject({ cancelled: 1 });
    expect(deleted).toMatchObject({ task_id: parent.taskId, subscribers: [{ status: "cancelled" }, {}] });
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
  });
});

// Session 47 review: what the race code must not do — mark a task whose copies went on, or turn a true 409 into a 200.
describe("a DELETE's 409 window on a fan-out task: the task's item follows only cancels that stand", () => {
  it("two DELETEs that both find every copy delivered both answer 409 and leave the task `scheduled`: a repeat that cancels no copy marks nothing", async () => {
    // Prepare: the second DELETE runs whole after the first one's write to billing's copy (refused: delivered)
    const f = setup();
    const { parent, billing } = await deliveredOrder(f);
    const second = afterFirstCancelOf(f, billing, () =>
      cancelTask(f.deps, parent.taskId).catch((e: HttpError) => e),
    );

    // Act
    const first = await cancelTask(f.deps, parent.taskId).catch((e: HttpError) => e);

    // Assess
    expect(await second()).toMatchObject({ status: 409 });
    expect(first).toMatchObject({ status: 409 });
    expect(await f.store.get(parent.taskId)).toMatchObject({ status: "scheduled" });
    expect((await f.store.get(parent.taskId))?.cancelledAtMs).toBeUndefined();
  });

  it("a copy replayed during the window and started (in flight, no cancel asked of it) keeps the DELETE's 409 true: the task is put back, not marked again", async () => {
    // Prepare: after the DELETE's write to billing's copy, billing is replayed and its attempt starts
    const f = setup();
    const { parent, billing } = await deliveredOrder(f);
    afterFirstCancelOf(f, billing, async () => {
      await f.store.markReplayed(billing, NOW + 2);
      await f.store.startAttempt(billing, NOW + 3);
    });

    // Act
    const answer = await cancelTask(f.deps, parent.taskId).catch((e: HttpError) => e);

    // Assess: the 409 as every copy was read (delivered); the replayed copy goes on untouched
    expect(answer).toMatchObject({ status: 409 });
    expect(await f.store.get(parent.taskId)).toMatchObject({ status: "scheduled" });
    const copy = await f.store.get(billing);
    expect(copy).toMatchObject({ status: "delivering" });
    expect(copy?.cancelRequestedAtMs).toBeUndefined();
  });

  it("a keyed retry of the add that cancels a copy replayed during the window (it read the task marked) makes the DELETE stand, so the 409 does not say nothing changed", async () => {
    // Prepare: after the DELETE's write to billing's copy, billing is replayed and the add is retried with its key,
    // which finds the task marked cancelled and cancels billing's replayed copy (its attempt not started)
    const f = setup();
    const keyed = { idempotency_key: "k-race" };
    const { parent, billing } = await deliveredOrder(f, keyed);
    afterFirstCancelOf(f, billing, async () => {
      await f.store.markReplayed(billing, NOW + 2);
      await addTask(f.deps, { body: { ...ORDER, ...keyed } });
    });

    // Act
    const answer = await cancelTask(f.deps, parent.taskId).catch((e: HttpError) => e);

    // Assess: billing's copy was cancelled under the DELETE's mark, so that cancel stands and the task says so
    expect((await f.store.get(billing))?.status).toBe("cancelled");
    expect(answer).toMatchObject({ task_id: parent.taskId, subscribers: [{ status: "cancelled" }, {}] });
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
  });
});
