import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addTasksBatchResponseSchema } from "#shared/api/schemas/batch.js";
import { type Harness, startHarness, validatingFetch } from "./support/harness.js";
import { runPunctual } from "./support/punctual-cli.js";

/**
 * POST /v1/tasks/batch through the local cloud: the typed client (every answer checked against the OpenAPI
 * document), real callbacks on loopback, and the CLI as a child process. Deadlines in `waitFor` are correctness
 * bounds, not speed targets.
 */
let h: Harness;
let client: PunctualClient;
let dir: string;

beforeAll(async () => {
  h = await startHarness();
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch: validatingFetch });
  dir = await mkdtemp(path.join(tmpdir(), "punctual-batch-"));
});

afterAll(async () => {
  await h?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const nextWholeSecond = (aheadMs: number) =>
  new Date(Math.ceil((Date.now() + aheadMs) / 1000) * 1000).toISOString();

/** The task items (not idempotency claims) in the table whose content names this run. */
async function taskItemsOf(run: string): Promise<Record<string, unknown>[]> {
  const items = await h.tableItems();
  return items.filter((item) => (item.content as { S?: string } | undefined)?.S?.includes(run));
}

describe("POST /v1/tasks/batch", () => {
  it("adds 50 tasks of 5 groups due the same second and delivers each group in request order, once each", async () => {
    // Prepare: items interleave the groups; item i is group i % 5, its seq within the group i / 5.
    const run = randomUUID();
    const dueAt = nextWholeSecond(3_000);
    const url = `${h.receiver.url}/ok/batch-order`;
    const tasks = Array.from({ length: 50 }, (_, i) => ({
      topic: "demo",
      due_at: dueAt,
      content: { order_id: `${run}-g${i % 5}`, seq: Math.floor(i / 5), amount: 1.5e300 },
      callback: { url },
    }));

    // Act
    const answer = await client.addTasks({ tasks });
    const ids = answer.results.map((r) => r.task_id ?? "");
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

    // Assess
    expect(answer).toMatchObject({ added: 50, failed: 0 });
    expect(answer.results.map((r) => r.status)).toEqual(tasks.map(() => 201));
    for (let g = 0; g < 5; g++) {
      const arrivals = h.receiver.received
        .filter((r) => r.json.content?.order_id === `${run}-g${g}`)
        .map((r) => r.json.content.seq);
      expect(arrivals).toEqual(Array.from({ length: 10 }, (_, seq) => seq));
    }
    for (const [i, id] of ids.entries()) {
      const [callback, ...more] = h.receiver.forTask(id);
      expect(more).toEqual([]);
      expect(callback?.receivedAtMs).toBeGreaterThanOrEqual(Date.parse(dueAt));
      expect(callback?.json.content).toEqual(tasks[i]?.content);
    }
  });

  it("adds 100 tasks of 10 groups through the batched path, each group delivered in request order, exactly as sent", async () => {
    // Prepare: no keys, a plain topic: every item takes the batch write and batch arm (issue 13, point 3). Item i
    // is group i % 10 and seq i / 10 within it; all are due the same second, so only the group order separates them.
    const run = randomUUID();
    const dueAt = nextWholeSecond(3_000);
    const url = `${h.receiver.url}/ok/batch-100`;
    const tasks = Array.from({ length: 100 }, (_, i) => ({
      topic: "demo",
      due_at: dueAt,
      content: {
        order_id: `${run}-g${i % 10}`,
        seq: Math.floor(i / 10),
        note: `é ${i}`,
        amount: 1.5e300,
      },
      callback: { url },
    }));

    // Act: plain HTTP, since the typed client gives every item a key
    const response = await h.api("POST", "/v1/tasks/batch", { tasks });
    const answer = addTasksBatchResponseSchema.parse(response.json);
    const ids = answer.results.map((r) => r.task_id ?? "");
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

    // Assess
    expect(answer).toMatchObject({ added: 100, failed: 0 });
    expect(answer.results.map((r) => r.status)).toEqual(tasks.map(() => 201));
    for (let g = 0; g < 10; g++) {
      const arrivals = h.receiver.received
        .filter((r) => r.json.content?.order_id === `${run}-g${g}`)
        .map((r) => r.json.content.seq);
      expect(arrivals).toEqual(Array.from({ length: 10 }, (_, seq) => seq));
    }
    for (const [i, id] of ids.entries()) {
      const [callback, ...more] = h.receiver.forTask(id);
      expect(more).toEqual([]);
      expect(callback?.receivedAtMs).toBeGreaterThanOrEqual(Date.parse(dueAt));
      expect(callback?.json.content).toEqual(tasks[i]?.content);
    }
  });

  it("adds 36 keyed tasks — 4 groups of 8 (keys claimed one after another, tasks and timers in batches), 4 one-item groups (claims in batch INSERTs) — once each in request order; the same batch again answers 200 and delivers nothing more", async () => {
    // Prepare: every item keyed, as the typed client sends them; items 0–31 are group i % 4, seq i / 4, items 32–35
    // each a group of its own (batched: claims and tasks in PartiQL INSERTs); all due the same second, so only the
    // group order separates them.
    const run = randomUUID();
    const dueAt = nextWholeSecond(3_000);
    const url = `${h.receiver.url}/ok/batch-keyed`;
    const tasks = Array.from({ length: 36 }, (_, i) => ({
      topic: "demo",
      due_at: dueAt,
      content:
        i < 32
          ? { order_id: `${run}-g${i % 4}`, seq: Math.floor(i / 4) }
          : { order_id: `${run}-s${i}`, seq: 0 },
      callback: { url },
      idempotency_key: `${run}-${i}`,
    }));
    const arrivalsOf = (g: number) =>
      h.receiver.received
        .filter((r) => r.json.content?.order_id === `${run}-g${g}`)
        .map((r) => r.json.content.seq);

    // Act
    const first = await client.addTasks({ tasks });
    const ids = first.results.map((r) => r.task_id ?? "");
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));
    const again = await client.addTasks({ tasks });
    // A last task in each group, due now: delivered after anything the repeat could have put before it.
    const last = await client.addTasks({
      tasks: [0, 1, 2, 3].map((g) => ({
        topic: "demo",
        delay_seconds: 0,
        content: { order_id: `${run}-g${g}`, seq: 99 },
        callback: { url },
      })),
    });
    const lastIds = last.results.map((r) => r.task_id ?? "");
    await h.receiver.waitFor(() => lastIds.every((id) => h.receiver.forTask(id).length > 0));

    // Assess
    expect(first.results.map((r) => r.status)).toEqual(tasks.map(() => 201));
    for (let g = 0; g < 4; g++)
      expect(arrivalsOf(g)).toEqual([...Array.from({ length: 8 }, (_, seq) => seq), 99]);
    for (const [i, id] of ids.entries()) {
      const [callback, ...more] = h.receiver.forTask(id);
      expect(more).toEqual([]);
      expect(callback?.json.content).toEqual(tasks[i]?.content);
    }
    expect(again.results.map((r) => r.status)).toEqual(tasks.map(() => 200));
    expect(again.results.map((r) => r.task_id)).toEqual(ids);
    expect(again.results.map((r) => r.task_status)).toEqual(tasks.map(() => "delivered"));
    expect(await taskItemsOf(run)).toHaveLength(40);
  });

  it("answers an invalid item 400 with its issues and adds the others 201", async () => {
    // Prepare
    const run = randomUUID();
    const item = (n: number) => ({
      topic: "demo",
      delay_seconds: 600,
      content: { order_id: `${run}-${n}` },
      callback: { url: `${h.receiver.url}/ok/batch-invalid` },
    });
    const tasks = [item(0), { ...item(1), delay_seconds: -1 }, item(2)];

    // Act
    const answer = await client.addTasks({ tasks });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([201, 400, 201]);
    expect(answer.results[1]).toMatchObject({
      error: { code: "validation_failed", issues: [{ path: "delay_seconds" }] },
    });
    expect(answer.results[1]?.task_id).toBeUndefined();
    for (const i of [0, 2]) {
      const read = await h.api("GET", `/v1/tasks/${encodeURIComponent(answer.results[i]?.task_id ?? "")}`);
      expect(read.json).toMatchObject({ status: "scheduled" });
    }
  });

  it("lists a missing content and a missing due time in one 400, for an add and for a batch item (only the content was named)", async () => {
    const expected = [
      { path: "content", message: "is required" },
      { path: "", message: "exactly one of timing_moment, due_at or delay_seconds is required" },
    ];
    const before = (await h.tableItems()).length;

    const single = await h.api("POST", "/v1/tasks", { topic: "demo" });
    const batch = await h.api("POST", "/v1/tasks/batch", {
      tasks: [{ topic: "demo" }, { topic: "demo", delay_seconds: -1, content: {} }],
    });

    expect(single.status).toBe(400);
    expect(single.json.error).toMatchObject({ code: "validation_failed", issues: expected });
    expect(batch.status).toBe(200);
    expect(batch.json.results).toMatchObject([
      { status: 400, error: { code: "validation_failed", issues: expected } },
      { status: 400, error: { issues: [{ path: "delay_seconds", message: "must not be negative" }] } },
    ]);
    expect((await h.tableItems()).length).toBe(before);
  });

  it("answers a repeated batch with the same keys 200 with the same tasks, and creates nothing twice", async () => {
    // Prepare
    const run = randomUUID();
    const tasks = Array.from({ length: 5 }, (_, n) => ({
      topic: "demo",
      delay_seconds: 600,
      content: { order_id: `${run}-${n}` },
      callback: { url: `${h.receiver.url}/ok/batch-repeat` },
      idempotency_key: `${run}-${n}`,
    }));

    // Act
    const first = await client.addTasks({ tasks });
    const again = await client.addTasks({ tasks });

    // Assess
    expect(first.results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(again.results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(again.results.map((r) => r.task_id)).toEqual(first.results.map((r) => r.task_id));
    expect(await taskItemsOf(run)).toHaveLength(5);
  });

  it("refuses a request of more than 100 items with 400 and adds none of them", async () => {
    const run = randomUUID();
    const tasks = Array.from({ length: 101 }, (_, n) => ({
      topic: "demo",
      delay_seconds: 600,
      content: { order_id: `${run}-${n}` },
    }));

    const answer = await h.api("POST", "/v1/tasks/batch", { tasks });

    expect(answer.status).toBe(400);
    expect(answer.json.error).toMatchObject({ code: "validation_failed", issues: [{ path: "tasks" }] });
    expect(await taskItemsOf(run)).toEqual([]);
  });

  it("npx punctual tasks add-batch --file --json adds the file's tasks; exit 2 when one is refused", async () => {
    // Prepare
    const run = randomUUID();
    const item = (n: number) => ({
      topic: "demo",
      delay_seconds: 600,
      content: { order_id: `${run}-${n}` },
      callback: { url: `${h.receiver.url}/ok/batch-cli` },
    });
    const good = path.join(dir, `${run}-good.json`);
    const bad = path.join(dir, `${run}-bad.json`);
    await writeFile(good, JSON.stringify({ tasks: [item(0), item(1)] }));
    await writeFile(bad, JSON.stringify([item(2), { ...item(3), topic: "no-such-topic" }]));

    // Act
    const ok = await runPunctual(["--api", h.cloud.apiUrl, "--json", "tasks", "add-batch", "--file", good]);
    const refused = await runPunctual(["--api", h.cloud.apiUrl, "tasks", "add-batch", "--file", bad]);

    // Assess
    expect(ok.code, ok.stderr).toBe(0);
    const added = addTasksBatchResponseSchema.parse(JSON.parse(ok.stdout));
    expect(added.results.map((r) => r.status)).toEqual([201, 201]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toMatch(/│\s*1\s*│\s*400\s*│\s*unknown topic/);
    expect(refused.stderr).toContain("1 of 2 tasks were not added");
  });
});
