import { randomUUID } from "node:crypto";
import { GetEventSourceMappingCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { isPunctualError, PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { topicListSchema, topicPauseResponseSchema, topicViewSchema } from "#shared/api/schemas/topics.js";
import { type Harness, startHarness, validatingFetch } from "./support/harness.js";

/**
 * Holding a topic through the local cloud: pause disables the demo deliver function's event source mapping
 * (through the local Lambda API), due tasks wait in the FIFO queue untouched, resume delivers them in order.
 */
let h: Harness;

beforeAll(async () => {
  // The topic view's oldest age is read from the sweep index, which holds near-term tasks waiting on their happy
  // path only with the full index (issue 13.2: by default they are not in it; docs/API.md "topics show").
  h = await startHarness({ configOverrides: { sweeper: { indexNearTermTasks: true } } });
});

afterAll(async () => {
  await h?.api("POST", "/v1/topics/demo/resume");
  await h?.stop();
});

const orderId = () => `order-${randomUUID()}`;

/** Polls GET /v1/topics/demo until `done` holds (a correctness bound, not a speed target). */
async function waitForTopic(done: (view: ReturnType<typeof topicViewSchema.parse>) => boolean) {
  for (;;) {
    const response = await h.api("GET", "/v1/topics/demo");
    expect(response.status, response.text).toBe(200);
    const view = topicViewSchema.parse(response.json);
    if (done(view)) return view;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("pause and resume a topic", () => {
  it("holds due tasks in the queue with no attempt used, then delivers them in group order with their lateness", async () => {
    // Prepare: the topic paused, three tasks of one group due in 1 s.
    const group = orderId();
    const url = `${h.receiver.url}/ok/topics-pause`;
    const paused = await h.api("POST", "/v1/topics/demo/pause");
    const pausedAtMs = Date.now();
    const dueAt = new Date(Date.now() + 1_000).toISOString();
    const ids: string[] = [];
    for (let seq = 0; seq < 3; seq++) {
      const added = await h.api("POST", "/v1/tasks", {
        topic: "demo",
        due_at: dueAt,
        content: { order_id: group, seq },
        callback: { url },
      });
      expect(added.status, added.text).toBe(201);
      ids.push(String(added.json.task_id));
    }

    // Act 1: past their due time they are relayed and wait, visible, in the topic's FIFO queue.
    const held = await waitForTopic((view) => view.backlog.waiting >= ids.length);

    // Assess 1
    expect(topicPauseResponseSchema.parse(paused.json)).toEqual({ topic: "demo", paused: true });
    expect(held).toMatchObject({ topic: "demo", paused: true, backlog: { in_flight: 0 } });
    expect(held.oldest_age_seconds).toBeGreaterThan(0);
    for (const id of ids) {
      expect(h.receiver.forTask(id)).toHaveLength(0);
      expect((await h.api("GET", `/v1/tasks/${id}`)).json).toMatchObject({
        status: "scheduled",
        attempts: 0,
      });
    }

    // Act 2
    const resumeSentAtMs = Date.now();
    const resumed = await h.api("POST", "/v1/topics/demo/resume");
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

    // Assess 2: in acceptance order, one attempt each, lateness at least the time held past the due time.
    expect(topicPauseResponseSchema.parse(resumed.json)).toEqual({ topic: "demo", paused: false });
    const arrivals = ids.map((id) => h.receiver.forTask(id)[0]?.receivedAtMs ?? Number.NaN);
    expect([...arrivals].sort((a, b) => a - b)).toEqual(arrivals);
    const seqs = ids.map((id) => h.receiver.forTask(id)[0]?.json.content?.seq);
    expect(seqs).toEqual([0, 1, 2]);
    for (const id of ids) {
      const task = await h.waitForStatus(id, ["delivered"]);
      expect(task).toMatchObject({ status: "delivered", attempts: 1 });
      expect(Number(task.lateness_ms)).toBeGreaterThanOrEqual(resumeSentAtMs - Date.parse(dueAt));
    }
    expect(resumeSentAtMs).toBeGreaterThan(pausedAtMs);
  });

  it("shows paused through the local Lambda API, lists every topic, and answers 404 for an unknown topic", async () => {
    const lambda = new LambdaClient({ ...h.clientConfig });
    const shown = topicViewSchema.parse((await h.api("GET", "/v1/topics/demo")).json);
    const list = await h.api("GET", "/v1/topics");
    const unknown = await h.api("POST", "/v1/topics/no-such-topic/pause");
    const malformed = await h.api("GET", "/v1/topics/NOT_A_TOPIC");

    expect(list.status, list.text).toBe(200);
    const names = topicListSchema.parse(list.json).topics.map((t) => t.topic);
    expect(names).toContain("demo");
    expect(shown.paused).toBe(false);
    expect(shown.settings).toMatchObject({ name: "demo" });
    expect(shown.dead_letter_count).toBeGreaterThanOrEqual(0);
    expect(unknown.status).toBe(404);
    expect(unknown.json.error?.code).toBe("not_found");
    expect(malformed.status).toBe(404);
    await expect(
      lambda.send(new GetEventSourceMappingCommand({ UUID: "00000000-0000-0000-0000-000000000000" })),
    ).rejects.toMatchObject({ name: "ResourceNotFoundException" });
    lambda.destroy();
  });

  it("while the pause still waits for a delivery under way, a second pause is a 200 and a resume a 503 that changes nothing; then it goes through", async () => {
    // Prepare: a delivery under way, its receiver holding the answer; the pause waits for that batch (Disabling)
    const hold = `pause-${randomUUID()}`;
    const added = await h.api("POST", "/v1/tasks", {
      topic: "demo",
      delay_seconds: 0,
      content: { order_id: orderId() },
      callback: { url: `${h.receiver.url}/held/${hold}/topics` },
    });
    expect(added.status, added.text).toBe(201);
    await h.receiver.waitFor((all) => all.some((r) => r.path.startsWith(`/held/${hold}/`)));
    const paused = await h.api("POST", "/v1/topics/demo/pause");

    // Act
    const pausedAgain = await h.api("POST", "/v1/topics/demo/pause");
    const tooSoon = await h.api("POST", "/v1/topics/demo/resume");
    const meanwhile = topicViewSchema.parse((await h.api("GET", "/v1/topics/demo")).json);
    h.receiver.fix(hold);
    let resumed = await h.api("POST", "/v1/topics/demo/resume");
    while (resumed.status === 503) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      resumed = await h.api("POST", "/v1/topics/demo/resume");
    }

    // Assess: Lambda refuses an update while the previous one is applied (ResourceInUseException)
    expect(paused.status, paused.text).toBe(200);
    // A second pause meets the first still being applied, which already takes the mapping where it asks
    expect(pausedAgain.status, pausedAgain.text).toBe(200);
    expect(topicPauseResponseSchema.parse(pausedAgain.json)).toEqual({ topic: "demo", paused: true });
    expect(tooSoon.status, tooSoon.text).toBe(503);
    expect(tooSoon.json.error?.code).toBe("service_unavailable");
    expect(tooSoon.headers.get("retry-after")).toBe("5");
    expect(meanwhile.paused).toBe(true);
    expect(resumed.status, resumed.text).toBe(200);
    expect(topicPauseResponseSchema.parse(resumed.json)).toEqual({ topic: "demo", paused: false });
    const task = await h.waitForStatus(String(added.json.task_id), ["delivered"]);
    expect(task).toMatchObject({ status: "delivered", attempts: 1 });
  });
});

describe("pause, show and resume a topic through the typed client", () => {
  it("pauseTopic holds a due task (shown paused by getTopic and listTopics), resumeTopic delivers it once", async () => {
    // Prepare
    const client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch: validatingFetch });
    const url = `${h.receiver.url}/ok/topics-client`;

    // Act 1
    const paused = await client.pauseTopic("demo");
    const pausedAgain = await client.pauseTopic("demo");
    const added = await client.addTask({
      topic: "demo",
      delay_seconds: 0,
      content: { order_id: orderId() },
      callback: { url },
    });
    await h.waitForBacklog("demo", 1);
    const shown = await client.getTopic("demo");
    const listed = (await client.listTopics()).topics.find((t) => t.topic === "demo");

    // Assess 1
    expect(paused).toEqual({ topic: "demo", paused: true });
    expect(pausedAgain).toEqual({ topic: "demo", paused: true });
    expect(shown).toMatchObject({ topic: "demo", paused: true, settings: { name: "demo" } });
    expect(listed).toMatchObject({ topic: "demo", paused: true });
    expect(h.receiver.forTask(added.task_id)).toHaveLength(0);
    expect(await client.getTask(added.task_id)).toMatchObject({ status: "scheduled", attempts: 0 });

    // Act 2
    const resumed = await client.resumeTopic("demo");
    await h.receiver.waitFor(() => h.receiver.forTask(added.task_id).length > 0);
    const delivered = await h.waitForStatus(added.task_id, ["delivered"]);
    const after = await client.getTopic("demo");

    // Assess 2
    expect(resumed).toEqual({ topic: "demo", paused: false });
    expect(delivered).toMatchObject({ status: "delivered", attempts: 1 });
    expect(h.receiver.forTask(added.task_id)).toHaveLength(1);
    expect(after.paused).toBe(false);
  });

  it("rejects an unknown topic with a typed 404 PunctualError", async () => {
    const client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch: validatingFetch });

    const error = await client.getTopic("no-such-topic").then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(isPunctualError(error)).toBe(true);
    expect(error).toMatchObject({ status: 404, code: "not_found" });
  });
});
