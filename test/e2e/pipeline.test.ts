import { randomUUID } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { topicSigningKey } from "#shared/security/signing.js";
import { type Harness, startHarness, validatingFetch } from "./support/harness.js";

/**
 * The pipeline end to end through the local cloud: real HTTP API, real AWS SDK clients against the emulators,
 * real callbacks on loopback. Deadlines in `waitFor` are correctness bounds (did it arrive at all), not speed
 * targets — speed lives in `npm run bench`.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

const orderId = () => `order-${randomUUID()}`;

async function addTask(body: Record<string, unknown>, headers?: Record<string, string>) {
  const response = await h.api("POST", "/v1/tasks", { topic: "demo", ...body }, headers);
  expect(response.status, response.text).toBe(201);
  return response.json as { task_id: string; due_at: string; status: string; topic: string };
}

describe("delivery", () => {
  it("delivers a signed callback never before its due time", async () => {
    // Prepare
    const content = { order_id: orderId(), hello: "world" };

    // Act
    const task = await addTask({ delay_seconds: 2, content, callback: { url: `${h.receiver.url}/ok/a` } });
    await h.receiver.waitFor(() => h.receiver.forTask(task.task_id).length > 0);

    // Assess
    const [callback] = h.receiver.forTask(task.task_id);
    expect(callback?.receivedAtMs).toBeGreaterThanOrEqual(Date.parse(task.due_at));
    expect(callback?.json.content).toEqual(content);
    expect(callback?.headers["punctual-topic"]).toBe("demo");
    expect(callback?.headers["punctual-attempt"]).toBe("1");
    const webhook = new Webhook(topicSigningKey(h.cloud.signingSecret, "demo"));
    expect(() => webhook.verify(callback?.body ?? "", callback?.headers ?? {})).not.toThrow();
    const status = await h.waitForStatus(task.task_id, ["delivered"]);
    expect(status).toMatchObject({ status: "delivered", attempts: 1 });
    expect(Number(status.lateness_ms)).toBeGreaterThanOrEqual(0);
  });

  it("accepts content as a string holding JSON, and timing_moment / due_at", async () => {
    const inOneSecond = Date.now() + 1_000;
    const a = await addTask({
      timing_moment: inOneSecond / 1000,
      content: JSON.stringify({ order_id: orderId(), seed: "style" }),
      callback: { url: `${h.receiver.url}/ok/b` },
    });
    const b = await addTask({
      due_at: new Date(inOneSecond).toISOString(),
      content: { n: 1 },
      callback: { url: `${h.receiver.url}/ok/b` },
    });

    await h.receiver.waitFor(
      () => h.receiver.forTask(a.task_id).length > 0 && h.receiver.forTask(b.task_id).length > 0,
    );

    expect(h.receiver.forTask(a.task_id)[0]?.json.content).toMatchObject({ seed: "style" });
    for (const t of [a, b]) {
      expect(h.receiver.forTask(t.task_id)[0]?.receivedAtMs).toBeGreaterThanOrEqual(Date.parse(t.due_at));
    }
  });

  it("keeps 20 tasks of one order_id due the same second in acceptance order while other groups proceed", async () => {
    // Prepare: one ordered group and five other groups, all due the same second.
    const group = orderId();
    const dueAt = new Date(Math.ceil((Date.now() + 3_000) / 1000) * 1000).toISOString();
    const url = `${h.receiver.url}/ok/order`;

    // Act: the ordered group is added sequentially (acceptance order = request order); the others concurrently.
    const ordered: string[] = [];
    const others = Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        addTask({ due_at: dueAt, content: { order_id: `${group}-other-${i}`, seq: 0 }, callback: { url } }),
      ),
    );
    for (let seq = 0; seq < 20; seq++) {
      ordered.push(
        (await addTask({ due_at: dueAt, content: { order_id: group, seq }, callback: { url } })).task_id,
      );
    }
    const otherIds = (await others).map((t) => t.task_id);
    await h.receiver.waitFor(() =>
      [...ordered, ...otherIds].every((id) => h.receiver.forTask(id).length > 0),
    );

    // Assess
    const arrivals = h.receiver.received
      .filter((r) => r.json.content?.order_id === group)
      .map((r) => r.json.content.seq);
    expect(arrivals).toEqual(Array.from({ length: 20 }, (_, i) => i));
    for (const r of h.receiver.received.filter((x) => ordered.includes(x.headers["webhook-id"] ?? ""))) {
      expect(r.receivedAtMs).toBeGreaterThanOrEqual(Date.parse(dueAt));
    }
  });

  it("retries a failing callback with backoff, then succeeds", async () => {
    const task = await addTask({
      delay_seconds: 0,
      content: { order_id: orderId() },
      callback: { url: `${h.receiver.url}/flaky/2/x` },
    });

    await h.receiver.waitFor(() => h.receiver.forTask(task.task_id).some((r) => r.status === 200));

    const attempts = h.receiver.forTask(task.task_id);
    expect(attempts.map((a) => a.status)).toEqual([503, 503, 200]);
    expect(attempts.map((a) => a.headers["punctual-attempt"])).toEqual(["1", "2", "3"]);
    // Every attempt of one task carries the same webhook-id, so receivers can deduplicate.
    expect(new Set(attempts.map((a) => a.headers["webhook-id"]))).toEqual(new Set([task.task_id]));
    expect(await h.waitForStatus(task.task_id, ["delivered"])).toMatchObject({ attempts: 3 });
  });

  it("dead-letters a permanently failing head task after maxAttempts; its followers are delivered after it, in order", async () => {
    // Prepare
    const group = orderId();

    // Act
    const head = await addTask({
      delay_seconds: 0,
      content: { order_id: group, seq: 0 },
      callback: { url: `${h.receiver.url}/fail/head` },
    });
    const followers: string[] = [];
    for (let seq = 1; seq <= 3; seq++) {
      followers.push(
        (
          await addTask({
            delay_seconds: 0,
            content: { order_id: group, seq },
            callback: { url: `${h.receiver.url}/ok/f` },
          })
        ).task_id,
      );
    }
    // While the head is backing off, its followers wait in the FIFO queue, still `scheduled` (the relay records
    // nothing; the first attempt is what moves a task on).
    await h.waitForBacklog("demo", 1 + followers.length);
    expect(h.receiver.forTask(followers[0] as string)).toHaveLength(0);
    expect((await h.api("GET", `/v1/tasks/${followers[0]}`)).json).toMatchObject({
      status: "scheduled",
      attempts: 0,
    });
    const failed = await h.waitForStatus(head.task_id, ["failed"], 30_000);
    await h.receiver.waitFor(() => followers.every((id) => h.receiver.forTask(id).length > 0));

    // Assess
    expect(failed).toMatchObject({ status: "failed", attempts: 3 });
    expect(String(failed.last_error)).toMatch(/500/);
    expect(h.receiver.forTask(head.task_id)).toHaveLength(3);
    const lastHeadAttempt = Math.max(...h.receiver.forTask(head.task_id).map((r) => r.receivedAtMs));
    const followerArrivals = followers.map((id) => h.receiver.forTask(id));
    expect(followerArrivals.map((a) => a.length)).toEqual([1, 1, 1]);
    const times = followerArrivals.map((a) => a[0]?.receivedAtMs ?? 0);
    expect(times[0]).toBeGreaterThanOrEqual(lastHeadAttempt);
    expect([...times].sort((x, y) => x - y)).toEqual(times);
    for (const id of followers) expect((await h.waitForStatus(id, ["delivered"])).attempts).toBe(1);
  });

  it("shows delivering while a callback is in progress", async () => {
    const task = await addTask({
      delay_seconds: 0,
      content: { n: 1 },
      callback: { url: `${h.receiver.url}/slow/1500/x` },
    });

    const during = await h.waitForStatus(task.task_id, ["delivering"]);
    const after = await h.waitForStatus(task.task_id, ["delivered"]);

    expect(during).toMatchObject({ status: "delivering", attempts: 1 });
    expect(after.delivered_at).toBeDefined();
  });
});

describe("cancel and idempotency", () => {
  it("a task cancelled before its due time is never delivered", async () => {
    const task = await addTask({
      delay_seconds: 2,
      content: { order_id: orderId() },
      callback: { url: `${h.receiver.url}/ok/c` },
    });
    expect((await h.api("GET", `/v1/tasks/${task.task_id}`)).json.status).toBe("scheduled");

    const cancel = await h.api("DELETE", `/v1/tasks/${task.task_id}`);
    // A later task proves the pipeline moved past the cancelled one's due time.
    const marker = await addTask({
      delay_seconds: 3,
      content: { n: 2 },
      callback: { url: `${h.receiver.url}/ok/c` },
    });
    await h.receiver.waitFor(() => h.receiver.forTask(marker.task_id).length > 0);

    expect(cancel.status).toBe(200);
    expect(cancel.json.status).toBe("cancelled");
    expect(h.receiver.forTask(task.task_id)).toEqual([]);
    expect((await h.api("GET", `/v1/tasks/${task.task_id}`)).json.status).toBe("cancelled");
    // Cancelling again is idempotent: the same answer, still cancelled.
    const again = await h.api("DELETE", `/v1/tasks/${task.task_id}`);
    expect(again.status).toBe(200);
    expect(again.json.status).toBe("cancelled");
  });

  it("the same idempotency key and body give the same task; a different body is a 409", async () => {
    const key = randomUUID();
    const body = {
      topic: "demo",
      delay_seconds: 1,
      content: { order_id: orderId() },
      callback: { url: `${h.receiver.url}/ok/i` },
    };

    const first = await h.api("POST", "/v1/tasks", body, { "idempotency-key": key });
    const again = await h.api("POST", "/v1/tasks", body, { "idempotency-key": key });
    const different = await h.api(
      "POST",
      "/v1/tasks",
      { ...body, delay_seconds: 2 },
      { "idempotency-key": key },
    );
    await h.receiver.waitFor(() => h.receiver.forTask(String(first.json.task_id)).length > 0);

    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.json.task_id).toBe(first.json.task_id);
    expect(different.status).toBe(409);
    expect(different.json.error?.code).toBe("idempotency_conflict");
    expect(h.receiver.forTask(String(first.json.task_id))).toHaveLength(1);
  });
});

describe("bad input", () => {
  it.each([
    ["malformed JSON", 400, "{not json"],
    ["unknown topic", 400, { topic: "nope", delay_seconds: 1, content: {} }],
    [
      "two timing fields",
      400,
      { topic: "demo", delay_seconds: 1, due_at: new Date().toISOString(), content: {} },
    ],
    ["no timing field", 400, { topic: "demo", content: {} }],
    ["content not an object", 400, { topic: "demo", delay_seconds: 1, content: [1, 2] }],
    ["content string that is not JSON", 400, { topic: "demo", delay_seconds: 1, content: "{oops" }],
    ["beyond maxDelay", 400, { topic: "demo", delay_seconds: 400 * 86_400, content: {} }],
    [
      "private callback",
      400,
      { topic: "demo", delay_seconds: 1, content: {}, callback: { url: "http://169.254.169.254/latest" } },
    ],
    ["too large", 413, { topic: "demo", delay_seconds: 1, content: { big: "x".repeat(300 * 1024) } }],
  ])("%s → %i with a structured error and nothing stored", async (_, expected, body) => {
    const before = (await h.tableItems()).length;

    const response = await h.api("POST", "/v1/tasks", body);

    expect(response.status).toBe(expected);
    expect(response.json.error?.code).toEqual(expect.any(String));
    expect(response.json.error?.message).toEqual(expect.any(String));
    expect(response.text).not.toMatch(/\bat .*\.(ts|js):\d+/);
    expect((await h.tableItems()).length).toBe(before);
  });

  it("wrong content type → 415; unknown task → 404", async () => {
    const wrongType = await h.api("POST", "/v1/tasks", undefined, {});
    const raw = await validatingFetch(`${h.cloud.apiUrl}/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ topic: "demo", delay_seconds: 1, content: {} }),
    });

    expect([400, 415]).toContain(wrongType.status);
    expect(raw.status).toBe(415);
    expect((await h.api("GET", "/v1/tasks/demo._.1.01JD3ZZZZZZZZZZZZZZZZZZZZZ")).status).toBe(404);
    expect((await h.api("GET", "/v1/tasks/not-an-id")).status).toBe(404);
  });
});
