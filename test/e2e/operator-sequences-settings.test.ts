import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PunctualClient } from "punctual/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { clientRefusal } from "../support/refusal.js";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * Operator sequences with runtime settings (the local AppConfig's document) changed in the middle: a lowered
 * `maxAttempts` while a group's head retries, a `paused: true` laid over an API pause and a group cancel, an
 * allow-list narrowed while the topic is paused. What a user expects: order per group, nothing delivered after a
 * cancel, nothing lost, GET telling what happened.
 */
let h: Harness;
let client: PunctualClient;
let dir: string;
let settingsFile: string;
let defaults: string;

/** How long the functions cache the settings here: every wait below is a causal bound derived from it. */
const MAX_AGE_SECONDS = 1;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "punctual-ops-settings-e2e-"));
  settingsFile = path.join(dir, "settings.json");
  h = await startHarness({ settingsFile, settingsMaxAgeSeconds: MAX_AGE_SECONDS, sweeperIntervalMs: 500 });
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl });
  defaults = readFileSync(settingsFile, "utf8");
});

afterEach(async () => {
  writeFileSync(settingsFile, defaults);
  await untilEveryFunctionSees((s) => s.maxAttempts === 3 && s.paused === false);
  await resumeWhenAllowed();
});

afterAll(async () => {
  await h?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const orderId = () => `order-${randomUUID()}`;

function writeSettings(demo: Record<string, unknown>): void {
  writeFileSync(settingsFile, JSON.stringify({ topics: { demo } }, null, 2));
}

/** Until every function reads settings satisfying `done` (the topic route first, then one cache max-age). */
async function untilEveryFunctionSees(done: (settings: Record<string, unknown>) => boolean): Promise<void> {
  for (;;) {
    const topic = await client.getTopic("demo");
    if (done(topic.settings as Record<string, unknown>)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, MAX_AGE_SECONDS * 1000));
}

/** A resume right after `paused: false` may meet the documented 409 (paused_by_settings) for the propagation time. */
async function resumeWhenAllowed(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const refusal = await client.resumeTopic("demo").then(
      () => undefined,
      (error: unknown) => error,
    );
    if (refusal === undefined) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("the topic could not be resumed");
}

function add(group: string, url: string, n = 0) {
  return client.addTask({
    topic: "demo",
    delay_seconds: 0,
    content: { order_id: group, n },
    callback: { url },
  });
}

async function backlog(): Promise<number> {
  const topic = await client.getTopic("demo");
  return topic.backlog.waiting + topic.backlog.in_flight;
}

async function waitForDrained(): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await backlog()) > 0) {
    if (Date.now() > deadline) throw new Error("the demo topic's queue never drained");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("operator sequences with runtime settings changed mid-way", () => {
  it("maxAttempts lowered while the group's head retries: dead-lettered, GET counts every call, the follower waits for it; replayed later, delivered", async () => {
    // Prepare: a head that fails until fixed, a follower of its group.
    const receiverName = `r-${randomUUID()}`;
    const group = orderId();
    const head = await add(group, `${h.receiver.url}/until-fixed/${receiverName}/ops-attempts`, 1);
    const follower = await add(group, `${h.receiver.url}/ok/ops-attempts-follower`, 2);
    await h.receiver.waitFor((all) => all.some((r) => r.json.task_id === head.task_id));

    // Act
    writeSettings({ maxAttempts: 2 });
    await h.waitForStatus(head.task_id, ["failed"]);
    const failed = await client.getTask(head.task_id);
    await h.waitForStatus(follower.task_id, ["delivered"]);
    writeFileSync(settingsFile, defaults);
    await untilEveryFunctionSees((s) => s.maxAttempts === 3);
    h.receiver.fix(receiverName);
    const replayed = await client.replayTask(head.task_id);
    await h.waitForStatus(head.task_id, ["delivered"]);

    // Assess
    const failedCalls = h.receiver.forTask(head.task_id).filter((c) => c.status === 500);
    expect(failedCalls.length).toBeGreaterThanOrEqual(2);
    expect(failedCalls.length).toBeLessThanOrEqual(3);
    expect(failed).toMatchObject({ status: "failed", attempts: failedCalls.length, last_error: "HTTP 500" });
    expect(failed.attempt_log).toHaveLength(failedCalls.length);
    const followerCalls = h.receiver.forTask(follower.task_id);
    expect(followerCalls).toHaveLength(1);
    expect(followerCalls[0]?.receivedAtMs).toBeGreaterThanOrEqual(
      failedCalls.at(-1)?.receivedAtMs ?? Infinity,
    );
    expect(replayed).toMatchObject({ status: "queued", replays: 1, attempts: 0 });
    expect(await client.getTask(head.task_id)).toMatchObject({
      status: "delivered",
      replays: 1,
      attempts: 1,
    });
    expect(h.receiver.forTask(head.task_id).filter((c) => c.status === 200)).toHaveLength(1);
  });

  it("API pause, then paused: true in the settings, a group cancelled, the settings lifted, resumed: nothing of the group delivered", async () => {
    // Prepare: paused through the API, a group held in the queue, then the document says paused too.
    await client.pauseTopic("demo");
    const held = await backlog();
    const group = orderId();
    const tasks = [
      await add(group, `${h.receiver.url}/ok/ops-double-pause`, 1),
      await add(group, `${h.receiver.url}/ok/ops-double-pause`, 2),
    ];
    const other = await add(orderId(), `${h.receiver.url}/ok/ops-double-pause-other`);
    await h.waitForBacklog("demo", held + 3);
    writeSettings({ paused: true });
    await untilEveryFunctionSees((s) => s.paused === true);

    // Act
    const cancelled = await client.cancelGroup("demo", group);
    const refused = await clientRefusal(client.resumeTopic("demo"));
    writeFileSync(settingsFile, defaults);
    await untilEveryFunctionSees((s) => s.paused === false);
    await resumeWhenAllowed();
    await h.waitForStatus(other.task_id, ["delivered"]);
    await waitForDrained();

    // Assess
    expect(cancelled).toMatchObject({ cancelled: 2, not_cancelled: [] });
    expect(refused).toMatchObject({ status: 409 });
    for (const task of tasks) {
      expect(await client.getTask(task.task_id)).toMatchObject({ status: "cancelled", attempts: 0 });
      expect(h.receiver.forTask(task.task_id)).toHaveLength(0);
    }
    expect((await client.getTopic("demo")).paused).toBe(false);
    expect(h.receiver.forTask(other.task_id)).toHaveLength(1);
  });

  it("allow-list narrowed while the topic is paused, resumed: refused unsent; widened, replayed: delivered once in group order", async () => {
    // Prepare: a group of two held in the paused topic's queue.
    await client.pauseTopic("demo");
    const held = await backlog();
    const group = orderId();
    const first = await add(group, `${h.receiver.url}/ok/ops-allow-list`, 1);
    const second = await add(group, `${h.receiver.url}/ok/ops-allow-list`, 2);
    await h.waitForBacklog("demo", held + 2);

    // Act
    writeSettings({ allowedCallbackHosts: ["example.com"] });
    await untilEveryFunctionSees((s) => JSON.stringify(s.allowedCallbackHosts) === '["example.com"]');
    await client.resumeTopic("demo");
    const refusedFirst = await h.waitForStatus(first.task_id, ["failed", "delivered"]);
    const refusedSecond = await h.waitForStatus(second.task_id, ["failed", "delivered"]);
    writeFileSync(settingsFile, defaults);
    await untilEveryFunctionSees((s) => JSON.stringify(s.allowedCallbackHosts).includes("127.0.0.1"));
    const replayed = await client.replayTopic("demo", { task_ids: [first.task_id, second.task_id] });
    await h.waitForStatus(first.task_id, ["delivered"]);
    await h.waitForStatus(second.task_id, ["delivered"]);

    // Assess
    for (const refused of [refusedFirst, refusedSecond]) {
      expect(refused).toMatchObject({ status: "failed", attempts: 1 });
      expect(String(refused.last_error)).toContain("refused by policy");
    }
    expect(replayed).toMatchObject({ matched: 2, replayed: 2, failed: [] });
    const firstCalls = h.receiver.forTask(first.task_id);
    const secondCalls = h.receiver.forTask(second.task_id);
    expect(firstCalls).toHaveLength(1);
    expect(secondCalls).toHaveLength(1);
    expect(firstCalls[0]?.receivedAtMs).toBeLessThanOrEqual(secondCalls[0]?.receivedAtMs ?? 0);
    expect(await client.getTask(first.task_id)).toMatchObject({ status: "delivered", replays: 1 });
  });
});
