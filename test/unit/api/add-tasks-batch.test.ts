import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MAX_BATCH_TASKS } from "#shared/api/schemas/batch.js";
import { LosslessNumber } from "#shared/domain/exact-json.js";
import { addTasksBatch } from "#shared/services/add-tasks-batch.js";
import { refusal } from "../../support/refusal.js";
import { fixture } from "./fakes.js";

const item = (extra: Record<string, unknown> = {}) => ({
  topic: "demo",
  delay_seconds: 10,
  content: { order_id: `o-${randomUUID()}` },
  callback: { url: "https://hooks.example.com/notify" },
  ...extra,
});

/** An item with an idempotency key: its claim is one of the batch's INSERTs. */
const keyed = (extra: Record<string, unknown> = {}) =>
  item({ idempotency_key: `k-${randomUUID()}`, ...extra });

describe("addTasksBatch: the request as a whole", () => {
  it.each([
    ["not an object", [item()], ""],
    ["no tasks", {}, "tasks"],
    ["tasks not an array", { tasks: item() }, "tasks"],
    ["an empty batch", { tasks: [] }, "tasks"],
    ["an unknown field", { tasks: [item()], extra: 1 }, "extra"],
  ])("refuses %s with 400 and writes nothing", async (_name, body, path) => {
    const f = fixture();
    const error = await refusal(addTasksBatch(f.deps, body));
    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(error.issues?.[0]?.path).toBe(path);
    expect(f.store.tasks.size).toBe(0);
  });

  it(`refuses more than ${MAX_BATCH_TASKS} items with 400 and writes nothing`, async () => {
    const f = fixture();
    const tasks = Array.from({ length: MAX_BATCH_TASKS + 1 }, () => item());
    const error = await refusal(addTasksBatch(f.deps, { tasks }));
    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(error.issues).toEqual([{ path: "tasks", message: `must hold at most ${MAX_BATCH_TASKS} tasks` }]);
    expect(f.store.tasks.size).toBe(0);
  });
});

describe("addTasksBatch: per-item results", () => {
  it(`adds ${MAX_BATCH_TASKS} items and answers them in request order`, async () => {
    const f = fixture();
    const tasks = Array.from({ length: MAX_BATCH_TASKS }, (_, i) =>
      item({ delay_seconds: MAX_BATCH_TASKS - i }),
    );
    const answer = await addTasksBatch(f.deps, { tasks });
    expect(answer).toMatchObject({ added: MAX_BATCH_TASKS, failed: 0 });
    expect(answer.results.map((r) => r.status)).toEqual(tasks.map(() => 201));
    for (const [i, result] of answer.results.entries()) {
      const stored = await f.store.get(result.task_id ?? "");
      expect(stored?.content).toBe(JSON.stringify(tasks[i]?.content));
      expect(result).toMatchObject({ topic: "demo", task_status: "scheduled" });
    }
    expect(f.timerQueue.armed).toHaveLength(MAX_BATCH_TASKS);
  });

  it("answers an invalid item 4xx with the single add's error and adds the others", async () => {
    const f = fixture();
    const tasks = [
      item(),
      item({ topic: "nope" }),
      item({ delay_seconds: undefined }),
      item({ topic: "small", content: { big: "x".repeat(200) } }),
    ];
    const answer = await addTasksBatch(f.deps, { tasks });
    expect(answer.results.map((r) => r.status)).toEqual([201, 400, 400, 413]);
    expect(answer.results[1]?.error).toMatchObject({ code: "unknown_topic", issues: [{ path: "topic" }] });
    expect(answer.results[2]?.error).toMatchObject({ code: "validation_failed" });
    expect(answer.results[3]?.error).toMatchObject({ code: "payload_too_large" });
    expect(answer).toMatchObject({ added: 1, failed: 3 });
    expect(f.store.tasks.size).toBe(1);
  });

  it("answers an item whose delay no JS number holds (1e20) as one merely past its topic's maxDelay: the limit named", async () => {
    const f = fixture();
    const tasks = [
      item({ topic: "small", delay_seconds: 3601 }),
      item({ topic: "small", delay_seconds: new LosslessNumber("1e20") }),
    ];

    const answer = await addTasksBatch(f.deps, { tasks });

    const issues = [{ path: "delay_seconds", message: "is more than 3600 s ahead, the topic's maxDelay" }];
    expect(answer.results.map((r) => r.error)).toEqual([
      expect.objectContaining({ code: "validation_failed", issues }),
      expect.objectContaining({ code: "validation_failed", issues }),
    ]);
    expect(f.store.tasks.size).toBe(0);
  });

  it("reads an item the request's own rules refuse once, not once per way it is checked, and answers it as the single add", async () => {
    // Prepare: a refused item is checked for the batched path, for its ordering lane and by the single add, each
    // reading the whole item; one of 450,000 unknown fields (4 MiB) took seconds a reading, past the function's time.
    // Here an unknown field counts the readings of the item's fields.
    let reads = 0;
    const malformed = Object.defineProperty(item({ delay_seconds: undefined }), "odd", {
      enumerable: true,
      get: () => {
        reads++;
        return 0;
      },
    });
    const single = { ...item({ delay_seconds: undefined }), odd: 0 };
    const f = fixture();

    // Act
    const answer = await addTasksBatch(f.deps, { tasks: [item(), malformed] });
    const alone = await addTasksBatch(f.deps, { tasks: [single] });

    // Assess
    expect(reads).toBe(1);
    expect(answer.results.map((r) => r.status)).toEqual([201, 400]);
    expect(answer.results[1]).toEqual(alone.results[0]);
  });

  it("answers an item whose group value or key holds a lone surrogate 400 naming the field, and adds the others", async () => {
    const f = fixture();
    const tasks = [
      keyed({ content: { order_id: "A-\ud83d" } }),
      item({ idempotency_key: "k-\ud83d" }),
      item({ deliver_by: "\udc00" }),
      keyed({ content: { order_id: "o-1", note: "A-\ud83d" } }),
    ];
    const answer = await addTasksBatch(f.deps, { tasks });
    expect(answer.results.map((r) => r.status)).toEqual([400, 400, 400, 201]);
    expect(answer.results.slice(0, 3).map((r) => r.error?.issues?.[0]?.path)).toEqual([
      "content.order_id",
      "idempotency_key",
      "deliver_by",
    ]);
    expect(answer.results[0]?.error?.issues?.[0]?.message).toContain("must be well-formed Unicode");
    expect(f.store.tasks.size).toBe(1);
    expect(f.store.idempotency.size).toBe(1);
  });

  it("answers a repeated item with the same idempotency key 200 with the same task", async () => {
    const f = fixture();
    const tasks = [
      item({ idempotency_key: `k-${randomUUID()}` }),
      item({ idempotency_key: `k-${randomUUID()}` }),
    ];
    const first = await addTasksBatch(f.deps, { tasks });
    const again = await addTasksBatch(f.deps, { tasks });
    expect(again.results.map((r) => r.status)).toEqual([200, 200]);
    expect(again.results.map((r) => r.task_id)).toEqual(first.results.map((r) => r.task_id));
    expect(f.store.tasks.size).toBe(2);
  });

  it("answers 409 for a key reused with a different item", async () => {
    const f = fixture();
    const key = `k-${randomUUID()}`;
    await addTasksBatch(f.deps, { tasks: [item({ idempotency_key: key })] });
    const answer = await addTasksBatch(f.deps, { tasks: [item({ idempotency_key: key })] });
    expect(answer.results[0]).toMatchObject({ status: 409, error: { code: "idempotency_conflict" } });
  });

  it("answers 503 for the item whose timer could not be armed, removes it, and adds the others", async () => {
    const f = fixture();
    f.timerQueue.failNext = 1;
    const tasks = [item(), item(), item()];
    const answer = await addTasksBatch({ ...f.deps, onError: () => {} }, { tasks });
    const statuses = answer.results.map((r) => r.status);
    expect(statuses.filter((s) => s === 503)).toHaveLength(1);
    expect(statuses.filter((s) => s === 201)).toHaveLength(2);
    const failed = answer.results.find((r) => r.status === 503);
    expect(failed?.error).toMatchObject({ code: "service_unavailable" });
    expect(JSON.stringify(failed)).not.toContain("arn:aws");
    expect(f.store.tasks.size).toBe(2);
    expect(f.timerQueue.armed).toHaveLength(2);
  });

  it("answers 503 (not 500) for the keyed item whose store write threw, without its internals", async () => {
    const f = fixture();
    const putNew = f.store.putNew.bind(f.store);
    let calls = 0;
    f.store.putNew = async (task) => {
      calls++;
      if (calls === 2) throw new Error("ProvisionedThroughputExceeded arn:aws:dynamodb:eu-west-1:1:table/t");
      return putNew(task);
    };
    // The batch claims' call failed (their outcome unknown): the keyed items fall back to the single add, item by
    // item, where this failure is met.
    f.store.claimIdempotencyKeys = async (claims) => claims.map(() => "not-claimed");
    const errors: string[] = [];
    const tasks = [keyed(), keyed(), keyed()];
    const deps = { ...f.deps, onError: (message: string) => errors.push(message) };
    const answer = await addTasksBatch(deps, { tasks });
    expect(answer.results.map((r) => r.status).sort()).toEqual([201, 201, 503]);
    expect(JSON.stringify(answer)).not.toContain("arn:aws");
    expect(errors).toContain("adding a batch item failed; answered 503 for it");
    expect(f.store.tasks.size).toBe(2);
  });

  it("adds one group's keyed items in request order, other groups alongside", async () => {
    // Prepare: the group's first write is slow. The batch claims' call failed, so the one-item lane falls back to
    // the single add; the keyed group claims its keys one at a time and is written in one batch insert.
    const f = fixture();
    f.store.claimIdempotencyKeys = async (claims) => claims.map(() => "not-claimed");
    const group = `o-${randomUUID()}`;
    const putNew = f.store.putNew.bind(f.store);
    const insertNewMany = f.store.insertNewMany.bind(f.store);
    const written: unknown[] = [];
    const record = async (task: { content: string }) => {
      const seq = JSON.parse(task.content).seq;
      if (seq === 0) for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
      written.push(JSON.parse(task.content).order_id === group ? seq : "other");
    };
    f.store.putNew = async (task) => {
      await record(task);
      return putNew(task);
    };
    f.store.insertNewMany = async (entries) => {
      for (const { task } of entries) await record(task);
      return insertNewMany(entries);
    };
    const tasks = [
      ...Array.from({ length: 4 }, (_, seq) => keyed({ content: { order_id: group, seq } })),
      keyed({ content: { order_id: `other-${randomUUID()}`, seq: 9 } }),
    ];

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(written.filter((w) => w !== "other")).toEqual([0, 1, 2, 3]);
    expect(written.indexOf("other")).toBeLessThan(written.indexOf(0));
    const sks = await Promise.all(
      answer.results.slice(0, 4).map(async (r) => (await f.store.get(r.task_id ?? ""))?.sk ?? ""),
    );
    expect([...sks].sort()).toEqual(sks);
  });
});
