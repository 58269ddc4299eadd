import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoBatchAddStore } from "#shared/adapters/dynamo-task-store.js";
import { topicConfig } from "#shared/config/index.js";
import { claimExpiry } from "#shared/domain/task.js";
import { addTask } from "#shared/services/add-task.js";
import { addTasksBatch } from "#shared/services/add-tasks-batch.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { fixture, NOW, testConfig } from "../api/fakes.js";

/**
 * A keyed task still waiting when its idempotency claim's expiry passes: its topic paused for days (docs/API.md
 * allows pauses of up to 14 days), its receiver's outage, a replayed dead letter. The claim's expiry is a bound
 * from the due time (`claimExpiry`: the delivery window, a day, the retention), not the task's life; DynamoDB's TTL
 * deletes an expired claim only some time later. A repeat with the key meanwhile must still find the task (docs/API.md:
 * the key is kept as long as the task is retained): taken over, it made a second task for the key, and both were
 * delivered once the topic resumed.
 */
let dynamo: LocalDynamo;
let tableCount = 0;

beforeAll(async () => {
  dynamo = await startDynalite({ localCloud: true });
});

afterAll(async () => {
  await dynamo?.stop();
});

async function heldTaskFixture() {
  const f = fixture();
  const tableName = `held-claims-${++tableCount}`;
  await createTaskTable(dynamo.client, tableName);
  const store = new DynamoBatchAddStore({
    client: dynamo.client,
    tableName,
    nowSeconds: () => Math.floor(f.clock.now / 1000),
  });
  const deps = { ...f.deps, store, timerQueue: f.timerQueue };
  const body = {
    topic: "demo",
    delay_seconds: 10,
    content: { order_id: `o-held-${tableCount}` },
    callback: { url: "https://hooks.example.com/n" },
    idempotency_key: `k-held-${tableCount}`,
  };
  const first = await addTask(deps, { body });
  const topic = topicConfig(f.config, "demo");
  if (!topic) throw new Error("the fixture's config has no demo topic");
  // Past the claim's expiry, the task still `scheduled` (held: nothing delivered it), the claim not yet deleted.
  f.clock.now = claimExpiry(NOW + 10_000, topic) * 1000 + 60_000;
  return { f, store, deps, body, first };
}

describe("an idempotency claim past its expiry whose task is still waiting", () => {
  it("answers a repeat 200 with that task, and another body 409: no second task for the key", async () => {
    const { store, deps, body, first } = await heldTaskFixture();
    expect(first.statusCode).toBe(201);
    expect(await store.get(first.body.task_id)).toMatchObject({ status: "scheduled" });

    const repeat = await addTask(deps, { body });
    const other = await addTask(deps, { body: { ...body, content: { ...body.content, n: 2 } } }).catch(
      (error: unknown) => error,
    );

    expect(repeat).toMatchObject({ statusCode: 200, body: { task_id: first.body.task_id } });
    expect(other).toMatchObject({ status: 409, code: "idempotency_conflict" });
  });

  it("answers a batch's repeat of it 200 with that task", async () => {
    const { deps, body, first } = await heldTaskFixture();

    const batch = await addTasksBatch(deps, { tasks: [body] });

    expect(batch.results).toEqual([expect.objectContaining({ status: 200, task_id: first.body.task_id })]);
  });

  it("answers a repeat that today's settings refuse 200 with that task, as for a live claim", async () => {
    const { deps, body, first } = await heldTaskFixture();
    // The topic's content limit lowered since: the body is refused now, but its task was accepted before.
    const lowered = { ...deps, config: testConfig({ demo: { deliverBy: "order_id", maxPayloadBytes: 10 } }) };

    const repeat = await addTask(lowered, { body });

    expect(repeat).toMatchObject({ statusCode: 200, body: { task_id: first.body.task_id } });
  });

  it("is taken over once its task's retention has ended: the repeat makes a new task (201)", async () => {
    const { f, store, deps, body, first } = await heldTaskFixture();
    // Cancelled back then: its retention (the claim's expiry, its floor) has ended, though TTL has not deleted it.
    const nowSeconds = Math.floor(f.clock.now / 1000);
    await store.cancel(first.body.task_id, f.clock.now, nowSeconds - 1);

    const repeat = await addTask(deps, { body });

    expect(repeat.statusCode).toBe(201);
    expect(repeat.body.task_id).not.toBe(first.body.task_id);
  });
});

describe("an idempotency claim past its expiry whose fan-out task's copies are still waiting", () => {
  it("answers a repeat 200 with that task: the parent's own TTL (the claim's expiry) is not the end of its copies", async () => {
    // Prepare: a keyed add on a fan-out topic; its copies still `scheduled` (the topic paused for days) when the
    // claim's expiry passes, the claim not yet deleted. The parent is never finished itself: its TTL, set at the
    // add, is the claim's expiry, so it reads "retention ended" exactly when the claim expires.
    const f = fixture();
    const config = testConfig({
      fan: {
        subscribers: [
          { id: "billing", url: "https://hooks.example.com/billing" },
          { id: "audit", url: "https://hooks.example.com/audit" },
        ],
      },
    });
    const tableName = `held-claims-${++tableCount}`;
    await createTaskTable(dynamo.client, tableName);
    const store = new DynamoBatchAddStore({
      client: dynamo.client,
      tableName,
      nowSeconds: () => Math.floor(f.clock.now / 1000),
    });
    const deps = { ...f.deps, config, store };
    const body = {
      topic: "fan",
      delay_seconds: 10,
      content: { order_id: `o-held-fan-${tableCount}` },
      idempotency_key: `k-held-fan-${tableCount}`,
    };
    const first = await addTask(deps, { body });
    const topic = topicConfig(config, "fan");
    if (!topic) throw new Error("the config has no fan topic");
    f.clock.now = claimExpiry(NOW + 10_000, topic) * 1000 + 60_000;
    const copyIds = (first.body.subscribers ?? []).map((s) => s.task_id);

    // Act
    const repeat = await addTask(deps, { body });

    // Assess: the same task, not a second parent with a second copy per subscriber (each delivered twice)
    expect(first.statusCode).toBe(201);
    expect(copyIds).toHaveLength(2);
    for (const id of copyIds) expect(await store.get(id)).toMatchObject({ status: "scheduled" });
    expect(repeat).toMatchObject({ statusCode: 200, body: { task_id: first.body.task_id } });
  });
});
