import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cancelGroupResponseSchema, rescheduleResponseSchema } from "#shared/api/schemas/tasks.js";
import { topicListSchema, topicPauseResponseSchema, topicViewSchema } from "#shared/api/schemas/topics.js";
import * as z from "#shared/zod.js";
import { type Harness, startHarness } from "./support/harness.js";
import { runPunctual } from "./support/punctual-cli.js";

/**
 * The operations commands of `npx punctual` (topics list|show|pause|resume, tasks reschedule|run, groups cancel)
 * as a child process against the local cloud: each run's exit code, its output parsed, its effect read back
 * through the API.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.api("POST", "/v1/topics/demo/resume");
  await h?.stop();
});

const api = () => ["--api", h.cloud.apiUrl];
const orderId = () => `order-${randomUUID()}`;

async function addLater(group: string, path: string, delaySeconds = 600): Promise<string> {
  const added = await h.api("POST", "/v1/tasks", {
    topic: "demo",
    delay_seconds: delaySeconds,
    content: { order_id: group, n: randomUUID() },
    callback: { url: `${h.receiver.url}/ok/${path}` },
  });
  expect(added.status, added.text).toBe(201);
  return String(added.json.task_id);
}

describe("npx punctual topics …", () => {
  it("topics list prints a table with a row per topic, and --json the API's list", async () => {
    const table = await runPunctual([...api(), "topics", "list"]);
    const json = await runPunctual([...api(), "--json", "topics", "list"]);

    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/topic\s*│\s*paused\s*│\s*waiting/);
    expect(table.stdout).toMatch(/│\s*demo\s*│\s*no\s*│/);
    expect(json.code, json.stderr).toBe(0);
    expect(topicListSchema.parse(JSON.parse(json.stdout)).topics.map((t) => t.topic)).toContain("demo");
  });

  it("topics show demo --json prints the topic's view", async () => {
    const run = await runPunctual([...api(), "--json", "topics", "show", "demo"]);

    expect(run.code, run.stderr).toBe(0);
    expect(topicViewSchema.parse(JSON.parse(run.stdout))).toMatchObject({
      topic: "demo",
      paused: false,
      settings: { name: "demo" },
    });
  });

  it("topics pause demo holds a due task, topics resume demo delivers it; the API shows each state", async () => {
    // Prepare
    const group = orderId();

    // Act 1
    const pause = await runPunctual([...api(), "--json", "topics", "pause", "demo"]);
    const taskId = await addLater(group, "cli-pause", 0);
    await h.waitForBacklog("demo", 1);
    const whilePaused = topicViewSchema.parse((await h.api("GET", "/v1/topics/demo")).json);

    // Assess 1
    expect(pause.code, pause.stderr).toBe(0);
    expect(topicPauseResponseSchema.parse(JSON.parse(pause.stdout))).toEqual({ topic: "demo", paused: true });
    expect(whilePaused.paused).toBe(true);
    expect(h.receiver.forTask(taskId)).toHaveLength(0);
    expect((await h.api("GET", `/v1/tasks/${taskId}`)).json).toMatchObject({
      status: "scheduled",
      attempts: 0,
    });

    // Act 2
    const resume = await runPunctual([...api(), "topics", "resume", "demo"]);
    const delivered = await h.waitForStatus(taskId, ["delivered"]);
    const afterResume = topicViewSchema.parse((await h.api("GET", "/v1/topics/demo")).json);

    // Assess 2
    expect(resume.code, resume.stderr).toBe(0);
    expect(resume.stdout).toMatch(/paused\s*│\s*false/);
    expect(afterResume.paused).toBe(false);
    expect(delivered).toMatchObject({ status: "delivered", attempts: 1 });
    expect(h.receiver.forTask(taskId)).toHaveLength(1);
  });

  it("exits 2 with a structured not_found for an unknown topic, stdout empty", async () => {
    const run = await runPunctual([...api(), "--json", "topics", "pause", "no-such-topic"]);

    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { code: "not_found", status: 404 } });
  });
});

describe("npx punctual tasks reschedule|run, groups cancel", () => {
  it("tasks reschedule ID --delay 60 --json prints the moved task; the old id reads rescheduled", async () => {
    const taskId = await addLater(orderId(), "cli-reschedule");
    const before = Date.now();

    const run = await runPunctual([...api(), "--json", "tasks", "reschedule", taskId, "--delay", "60"]);

    expect(run.code, run.stderr).toBe(0);
    const moved = rescheduleResponseSchema.parse(JSON.parse(run.stdout));
    expect(moved).toMatchObject({ status: "scheduled", rescheduled_from: taskId });
    expect(Date.parse(String(moved.due_at))).toBeGreaterThanOrEqual(
      Math.floor(before / 1000) * 1000 + 60_000,
    );
    expect((await h.api("GET", `/v1/tasks/${taskId}`)).json).toMatchObject({
      status: "rescheduled",
      rescheduled_to: moved.task_id,
    });
    expect((await h.api("GET", `/v1/tasks/${moved.task_id}`)).json).toMatchObject({ status: "scheduled" });
    expect((await h.api("DELETE", `/v1/tasks/${moved.task_id}`)).status).toBe(200);
  });

  it("tasks run ID prints the task due now; it is delivered under its new id", async () => {
    const taskId = await addLater(orderId(), "cli-run", 3_600);

    const run = await runPunctual([...api(), "tasks", "run", taskId]);
    const old = (await h.api("GET", `/v1/tasks/${taskId}`)).json;
    const newId = String(old.rescheduled_to);
    const delivered = await h.waitForStatus(newId, ["delivered"]);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`task_id\\s*│\\s*${newId.replaceAll(".", "\\.")}`));
    expect(old).toMatchObject({ status: "rescheduled" });
    expect(delivered).toMatchObject({ status: "delivered", attempts: 1 });
    expect(h.receiver.forTask(newId)).toHaveLength(1);
    expect(h.receiver.forTask(taskId)).toHaveLength(0);
  });

  it("groups cancel --topic demo --group V --json cancels the group's scheduled tasks, none other", async () => {
    const group = orderId();
    const ids = [await addLater(group, "cli-group"), await addLater(group, "cli-group", 3_600)];
    const other = await addLater(orderId(), "cli-group-other");

    const run = await runPunctual([
      ...api(),
      "--json",
      "groups",
      "cancel",
      "--topic",
      "demo",
      "--group",
      group,
    ]);

    expect(run.code, run.stderr).toBe(0);
    expect(
      z
        .pick(cancelGroupResponseSchema, { cancelled: true, not_cancelled: true })
        .parse(JSON.parse(run.stdout)),
    ).toEqual({
      cancelled: 2,
      not_cancelled: [],
      // The pages' callbacks in flight (their cancel requested): none here, every task still scheduled.
      cancel_requested: [],
    });
    for (const id of ids) {
      expect((await h.api("GET", `/v1/tasks/${id}`)).json).toMatchObject({ status: "cancelled" });
    }
    expect((await h.api("GET", `/v1/tasks/${other}`)).json).toMatchObject({ status: "scheduled" });
    expect((await h.api("DELETE", `/v1/tasks/${other}`)).status).toBe(200);
  });

  it("groups cancel --group .. cancels the group named .. (sent in the query, where no URL parser removes it)", async () => {
    const id = await addLater("..", "cli-group-dot-dot");
    const other = await addLater(orderId(), "cli-group-dot-dot-other");

    const run = await runPunctual([
      ...api(),
      "--json",
      "groups",
      "cancel",
      "--topic",
      "demo",
      "--group",
      "..",
    ]);

    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ cancelled: 1, not_cancelled: [] });
    expect((await h.api("GET", `/v1/tasks/${id}`)).json).toMatchObject({ status: "cancelled" });
    expect((await h.api("GET", `/v1/tasks/${other}`)).json).toMatchObject({ status: "scheduled" });
    expect((await h.api("DELETE", `/v1/tasks/${other}`)).status).toBe(200);
  });

  it("shows an example in each operations command's --help", async () => {
    const commands = [
      ["topics"],
      ["topics", "list"],
      ["topics", "show"],
      ["topics", "pause"],
      ["topics", "resume"],
      ["tasks", "reschedule"],
      ["tasks", "run"],
      ["groups", "cancel"],
    ];

    const runs = await Promise.all(commands.map((path) => runPunctual([...path, "--help"])));

    for (const [i, run] of runs.entries()) {
      expect(run.code, commands[i]?.join(" ")).toBe(0);
      expect(run.stdout, commands[i]?.join(" ")).toContain("Example:\n  $ npx punctual");
    }
  });
});
