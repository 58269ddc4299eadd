import { randomUUID } from "node:crypto";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReceivedCallback } from "./support/callback-receiver.js";
import { groupTasks as groupTasksOf, settledGroup } from "./support/group-tasks.js";
import { type Harness, startHarness, validatingFetch } from "./support/harness.js";
import { runPunctual } from "./support/punctual-cli.js";

/**
 * Issue 14, point 4, through the local cloud: a schedule firing every 2 s (six-field cron) whose occurrences
 * become ordinary tasks, delivered to a real receiver exactly once each, content exactly as sent; pause cancels
 * the occurrences made ahead and stops new ones; resume starts again from now; delete stops it for good. The
 * materializer's rule fires every second here (its rate is a minute), racing the inline materialization at
 * creation and resume: the occurrences stay exactly once.
 */
let h: Harness;
let client: PunctualClient;

beforeAll(async () => {
  h = await startHarness({ sweeperIntervalMs: 1_000 });
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch: validatingFetch });
});

afterAll(async () => {
  await h?.stop();
});

/** Every page of one ordering group. */
const groupTasks = (group: string) => groupTasksOf(client, group);
/** Every task of the group delivered or cancelled. */
const settled = (group: string) => settledGroup(client, group, ["delivered", "cancelled"], 200);

describe("a recurring schedule", () => {
  it("delivers each occurrence once as an ordinary task, pauses, resumes from now and deletes", async () => {
    // Prepare
    const group = `sched-${randomUUID()}`;
    const path = `/ok/schedules/${group}`;
    const exact = `{"order_id":"${group}","amount":12345678901234567890,"ratio":1.50}`;
    const ours = (all: ReceivedCallback[]) => all.filter((c) => c.path === path);

    // Act: create, and let three occurrences be delivered.
    const created = await client.createSchedule({
      topic: "demo",
      cron: "*/2 * * * * *",
      timezone: "UTC",
      content: exact,
      callback: { url: `${h.receiver.url}${path}` },
    });
    await h.receiver.waitFor((all) => ours(all).length >= 3);
    const paused = await client.pauseSchedule(created.schedule_id);
    const afterPause = await settled(group);
    const deliveredBeforeResume = ours(h.receiver.received).length;

    // Assess: created active, its next occurrences every 2 s.
    expect(created).toMatchObject({
      topic: "demo",
      status: "active",
      cron: "*/2 * * * * *",
      timezone: "UTC",
    });
    const next = created.next_occurrences.map(Date.parse);
    expect(next.slice(1).map((t, i) => t - (next[i] as number))).toEqual([2000, 2000, 2000, 2000]);
    // Paused: the occurrences made ahead are cancelled, none was delivered after the pause.
    expect(paused).toMatchObject({ status: "paused", next_occurrences: [] });
    expect(paused.cancelled_occurrences).toBeGreaterThan(0);
    const pausedAtMs = Date.parse(paused.paused_at as string);
    const cancelled = afterPause.filter((t) => t.status === "cancelled");
    // The pause cancels what it sees ahead; a materializer run it overtook cancels what that run made.
    expect(cancelled.length).toBeGreaterThanOrEqual(paused.cancelled_occurrences);
    expect(cancelled.every((t) => Date.parse(t.due_at) > pausedAtMs)).toBe(true);
    const delivered = afterPause.filter((t) => t.status === "delivered");
    expect(delivered.every((t) => t.schedule_id === created.schedule_id)).toBe(true);
    // Exactly once: one task per occurrence instant, one delivery (webhook-id) per task, never early.
    expect(new Set(afterPause.map((t) => t.due_at)).size).toBe(afterPause.length);
    const deliveredIds = ours(h.receiver.received).map((c) => c.headers["webhook-id"]);
    expect(new Set(deliveredIds)).toEqual(new Set(delivered.map((t) => t.task_id)));
    // One callback per attempt (a retry after a slow answer repeats the webhook-id, never makes a new one).
    for (const t of delivered) expect(deliveredIds.filter((id) => id === t.task_id)).toHaveLength(t.attempts);
    for (const callback of ours(h.receiver.received)) {
      expect(callback.body).toContain(`"content":${exact}`);
      expect(callback.receivedAtMs).toBeGreaterThanOrEqual(Date.parse(String(callback.json.due_at)));
    }

    // Act: resume, one more delivery, then delete.
    const beforeResumeMs = Date.now();
    const resumed = await client.resumeSchedule(created.schedule_id);
    await h.receiver.waitFor((all) => ours(all).length > deliveredBeforeResume);
    const deleted = await client.deleteSchedule(created.schedule_id);
    const afterDelete = await settled(group);
    const shown = await client.getSchedule(created.schedule_id);

    // Assess: resumed from now (no occurrence in the pause was made up), deleted for good, still once each.
    expect(resumed.status).toBe("active");
    const madeAfterResume = afterDelete.filter((t) => !afterPause.some((p) => p.task_id === t.task_id));
    expect(madeAfterResume.length).toBeGreaterThan(0);
    expect(madeAfterResume.every((t) => Date.parse(t.due_at) > beforeResumeMs)).toBe(true);
    expect(deleted.status).toBe("deleted");
    expect(shown).toMatchObject({ status: "deleted", next_occurrences: [] });
    // Pause cancelled occurrences ahead and resume made those instants afresh: one delivered task per instant.
    const deliveredDues = afterDelete.filter((t) => t.status === "delivered").map((t) => t.due_at);
    expect(new Set(deliveredDues).size).toBe(deliveredDues.length);
    const finalDelivered = afterDelete.filter((t) => t.status === "delivered");
    const finalIds = ours(h.receiver.received).map((c) => c.headers["webhook-id"]);
    expect(new Set(finalIds)).toEqual(new Set(finalDelivered.map((t) => t.task_id)));
    for (const t of finalDelivered)
      expect(finalIds.filter((id) => id === t.task_id)).toHaveLength(t.attempts);
    // What the delete cancelled was still ahead of it.
    const deletedAtMs = Date.parse(deleted.deleted_at as string);
    const cancelledByDelete = afterDelete.filter(
      (t) => t.status === "cancelled" && Date.parse(t.cancelled_at as string) >= deletedAtMs,
    );
    expect(cancelledByDelete.length).toBeGreaterThanOrEqual(deleted.cancelled_occurrences);
    expect(cancelledByDelete.every((t) => Date.parse(t.due_at) > deletedAtMs)).toBe(true);
  });

  it("refuses a bad schedule with a structured 400 and stores nothing", async () => {
    const before = (await client.listSchedules({ topic: "demo" })).schedules.length;

    const response = await h.api("POST", "/v1/schedules", {
      topic: "demo",
      cron: "*/2 * * * * *",
      timezone: "Mars/Olympus",
      content: { order_id: "x" },
      end_at: "2020-01-01T00:00:00Z",
    });

    expect(response.status).toBe(400);
    expect(response.json.error?.code).toBe("validation_failed");
    expect(response.json.error?.issues).toEqual([
      { path: "timezone", message: expect.stringContaining("IANA") },
    ]);
    expect((await client.listSchedules({ topic: "demo" })).schedules).toHaveLength(before);
  });

  it("a schedule's catch-up policy: `all` unless given, typed through the client; an unknown one is a 400 naming `catch_up`, nothing stored", async () => {
    const base = {
      topic: "demo",
      cron: "0 3 * * *",
      timezone: "UTC",
      content: { order_id: `cu-${randomUUID()}` },
      callback: { url: `${h.receiver.url}/ok/catch-up` },
    };
    const before = (await client.listSchedules({ topic: "demo" })).schedules.length;

    const refused = await h.api("POST", "/v1/schedules", { ...base, catch_up: "sometimes" });
    const stored = (await client.listSchedules({ topic: "demo" })).schedules.length;
    const plain = await client.createSchedule(base);
    const none = await client.createSchedule({ ...base, catch_up: "none" });

    expect(refused.status).toBe(400);
    expect(refused.json.error?.issues).toEqual([{ path: "catch_up", message: expect.any(String) }]);
    expect(stored).toBe(before);
    expect(plain.catch_up).toBe("all");
    expect((await client.getSchedule(none.schedule_id)).catch_up).toBe("none");
    await client.deleteSchedule(plain.schedule_id);
    await client.deleteSchedule(none.schedule_id);
  });

  it("a list of a topic that is neither configured nor has schedules is a 400 unknown_topic, also with a made-up cursor", async () => {
    // Prepare: a well-formed cursor for the unknown topic, as the list would give one out
    const id = "ghost.schedule.01JD3ZZZZZZZZZZZZZZZZZZZZZ";
    const cursor = Buffer.from(JSON.stringify({ pk: "schedules#ghost", sk: id })).toString("base64url");

    // Act
    const first = await h.api("GET", "/v1/schedules?topic=ghost");
    const paged = await h.api("GET", `/v1/schedules?topic=ghost&cursor=${cursor}`);

    // Assess
    for (const response of [first, paged]) {
      expect(response.status).toBe(400);
      expect(response.json.error?.code).toBe("unknown_topic");
    }
  });

  it("a caller's idempotency key may not start with `schedule:` (the occurrences' keys): a 400 naming the field through the API (body, header, batch item), the client and the CLI, nothing stored", async () => {
    const group = `reserved-${randomUUID()}`;
    const add = {
      topic: "demo",
      delay_seconds: 600,
      content: { order_id: group },
      callback: { url: `${h.receiver.url}/ok/reserved` },
    };
    const key = `schedule:demo.schedule.${randomUUID()}:0:1798761600000`;

    const inBody = await h.api("POST", "/v1/tasks", { ...add, idempotency_key: key });
    const inHeader = await h.api("POST", "/v1/tasks", add, { "idempotency-key": key });
    const batch = await h.api("POST", "/v1/tasks/batch", { tasks: [{ ...add, idempotency_key: key }] });
    const viaClient = await client.addTask(add, { idempotencyKey: key }).catch((e: unknown) => e);
    const viaCli = await runPunctual([
      ...["--api", h.cloud.apiUrl, "--json", "tasks", "add", "--topic", "demo", "--delay", "600"],
      ...["--content", JSON.stringify(add.content), "--callback", add.callback.url, "--idempotency-key", key],
    ]);

    const issue = (path: string) => [{ path, message: expect.stringContaining("`schedule:`") }];
    expect(inBody.status).toBe(400);
    expect(inBody.json.error).toMatchObject({ code: "validation_failed", issues: issue("idempotency_key") });
    expect(inHeader.status).toBe(400);
    expect(inHeader.json.error).toMatchObject({
      code: "validation_failed",
      issues: issue("Idempotency-Key"),
    });
    expect((batch.json.results as unknown[])[0]).toMatchObject({
      status: 400,
      error: { issues: issue("idempotency_key") },
    });
    expect(viaClient).toMatchObject({ status: 400, code: "validation_failed" });
    expect(viaCli.code).not.toBe(0);
    expect(viaCli.stderr + viaCli.stdout).toContain("schedule:");
    expect(await groupTasks(group)).toEqual([]);
  });

  it("the CLI creates, shows, lists and deletes a schedule", async () => {
    const api = ["--api", h.cloud.apiUrl, "--json"];
    const content = JSON.stringify({ order_id: `cli-${randomUUID()}` });

    const created = await runPunctual([
      ...api,
      "schedules",
      "create",
      "--topic",
      "demo",
      "--cron",
      "30 2 * * *",
      "--timezone",
      "Europe/Berlin",
      "--content",
      content,
      "--callback",
      `${h.receiver.url}/ok/cli`,
      "--catch-up",
      "latest",
    ]);
    const id = JSON.parse(created.stdout).schedule_id as string;
    const shown = await runPunctual([...api, "schedules", "show", id]);
    const listed = await runPunctual([...api, "schedules", "list", "--topic", "demo"]);
    const deleted = await runPunctual([...api, "schedules", "delete", id]);

    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      schedule_id: id,
      status: "active",
      timezone: "Europe/Berlin",
      catch_up: "latest",
    });
    expect(JSON.parse(listed.stdout).schedules.map((s: { schedule_id: string }) => s.schedule_id)).toContain(
      id,
    );
    expect(JSON.parse(deleted.stdout)).toMatchObject({ schedule_id: id, status: "deleted" });
  });
});
