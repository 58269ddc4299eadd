import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { topicViewSchema } from "#shared/api/schemas/topics.js";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * Topic settings without a deploy, through the local cloud: the settings file is the local AppConfig's hosted
 * document (served by the AppConfig Data emulator, validated by the stack's validator function), and the running
 * functions read it through Powertools' AppConfig provider. Editing the file changes behaviour without a restart;
 * an invalid edit changes nothing and the log says why.
 */
let h: Harness;
let dir: string;
let settingsFile: string;
let defaults: string;
const logLines: string[] = [];

/** How long the functions cache the settings here: every wait below is a causal bound derived from it. */
const MAX_AGE_SECONDS = 1;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "punctual-settings-e2e-"));
  settingsFile = path.join(dir, "settings.json");
  h = await startHarness({
    settingsFile,
    settingsMaxAgeSeconds: MAX_AGE_SECONDS,
    sweeperIntervalMs: 500,
    log: (line) => logLines.push(line),
  });
  defaults = readFileSync(settingsFile, "utf8");
});

afterEach(async () => {
  // Back to the CDK's defaults, seen by the topic routes, and the topic running.
  writeFileSync(settingsFile, defaults);
  await untilEveryFunctionSees((s) => s.maxAttempts === 3 && s.paused === false);
  await h.api("POST", "/v1/topics/demo/resume");
});

afterAll(async () => {
  await h?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const orderId = () => `order-${randomUUID()}`;

function writeSettings(demo: Record<string, unknown>): void {
  writeFileSync(settingsFile, JSON.stringify({ topics: { demo } }, null, 2));
}

type TopicView = ReturnType<typeof topicViewSchema.parse>;

/** Polls GET /v1/topics/demo (which reads the settings through the same port) until `done` holds. */
async function waitForTopic(done: (view: TopicView) => boolean): Promise<TopicView> {
  for (;;) {
    const response = await h.api("GET", "/v1/topics/demo");
    expect(response.status, response.text).toBe(200);
    const view = topicViewSchema.parse(response.json);
    if (done(view)) return view;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function waitForSettings(done: (settings: Record<string, unknown>) => boolean): Promise<TopicView> {
  return waitForTopic((view) => done(view.settings));
}

/**
 * Until every function reads settings satisfying `done`: the topic routes see them first (so the emulator has
 * deployed them); each other function's cached copy is at most one max-age old, so one max-age later it is newer.
 */
async function untilEveryFunctionSees(done: (settings: Record<string, unknown>) => boolean): Promise<void> {
  await waitForSettings(done);
  await new Promise((resolve) => setTimeout(resolve, MAX_AGE_SECONDS * 1000));
}

async function waitForLog(pattern: RegExp, after: number): Promise<string> {
  for (;;) {
    const line = logLines.slice(after).find((l) => pattern.test(l));
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("topic settings without a deploy (local AppConfig from a file)", () => {
  it("serves the CDK-declared settings as the initial document", () => {
    const document = JSON.parse(defaults);

    expect(document.topics.demo).toMatchObject({ maxAttempts: 3, paused: false, callbackTimeoutSeconds: 5 });
  });

  it("a lower max attempts takes effect while running: a failing task is dead-lettered after one attempt", async () => {
    // Prepare
    writeSettings({ maxAttempts: 1 });
    await untilEveryFunctionSees((s) => s.maxAttempts === 1);

    // Act
    const added = await h.api("POST", "/v1/tasks", {
      topic: "demo",
      delay_seconds: 1,
      content: { order_id: orderId() },
      callback: { url: `${h.receiver.url}/fail/settings-attempts` },
    });
    expect(added.status, added.text).toBe(201);
    const taskId = String(added.json.task_id);
    const failed = await h.waitForStatus(taskId, ["failed"]);

    // Assess
    expect(failed.attempts).toBe(1);
    expect(h.receiver.forTask(taskId)).toHaveLength(1);
  });

  it("a narrowed allow-list takes effect while running: add refuses the loopback callback, then accepts it again", async () => {
    // Prepare
    writeSettings({ allowedCallbackHosts: ["example.com"] });
    await untilEveryFunctionSees((s) => JSON.stringify(s.allowedCallbackHosts) === '["example.com"]');
    const body = {
      topic: "demo",
      delay_seconds: 60,
      content: { order_id: orderId() },
      callback: { url: `${h.receiver.url}/ok/settings-allow-list` },
    };

    // Act
    const refused = await h.api("POST", "/v1/tasks", body);
    writeFileSync(settingsFile, defaults);
    await untilEveryFunctionSees((s) => JSON.stringify(s.allowedCallbackHosts).includes("127.0.0.1"));
    const accepted = await h.api("POST", "/v1/tasks", body);

    // Assess
    expect(refused.status, refused.text).toBe(400);
    expect(refused.json.error?.issues).toEqual([
      expect.objectContaining({
        path: "callback.url",
        message: expect.stringContaining("not in the topic's allowed callback hosts"),
      }),
    ]);
    expect(accepted.status, accepted.text).toBe(201);
    await h.api("DELETE", `/v1/tasks/${accepted.json.task_id}`);
  });

  it("a narrowed allow-list reaches the deliver function too: a task accepted before is refused at delivery", async () => {
    // Prepare: accepted under the deployed allow-list, due much later.
    const added = await h.api("POST", "/v1/tasks", {
      topic: "demo",
      delay_seconds: 600,
      content: { order_id: orderId() },
      callback: { url: `${h.receiver.url}/ok/settings-allow-list-deliver` },
    });
    expect(added.status, added.text).toBe(201);
    writeSettings({ allowedCallbackHosts: ["example.com"] });
    await untilEveryFunctionSees((s) => JSON.stringify(s.allowedCallbackHosts) === '["example.com"]');

    // Act: due now.
    const run = await h.api("POST", `/v1/tasks/${added.json.task_id}/run`);
    expect(run.status, run.text).toBe(200);
    const taskId = String(run.json.task_id);
    const failed = await h.waitForStatus(taskId, ["failed", "delivered"]);

    // Assess: refused by the current allow-list, dead-lettered without retrying, nothing sent.
    expect(failed).toMatchObject({ status: "failed", attempts: 1 });
    expect(String(failed.last_error)).toContain("destination refused by policy");
    expect(h.receiver.forTask(taskId)).toHaveLength(0);
  });

  it("paused holds the topic (the sweeper disables its mapping): a due task waits unattempted, then is delivered", async () => {
    // Prepare
    writeSettings({ paused: true });
    await waitForTopic((view) => view.paused === true);

    // Act 1
    const added = await h.api("POST", "/v1/tasks", {
      topic: "demo",
      delay_seconds: 1,
      content: { order_id: orderId() },
      callback: { url: `${h.receiver.url}/ok/settings-paused` },
    });
    expect(added.status, added.text).toBe(201);
    const taskId = String(added.json.task_id);
    await waitForTopic((view) => view.backlog.waiting >= 1);

    // Assess 1
    expect((await h.api("GET", `/v1/tasks/${taskId}`)).json).toMatchObject({
      status: "scheduled",
      attempts: 0,
    });
    expect(h.receiver.forTask(taskId)).toHaveLength(0);

    // Act 1b: a resume while the document holds the topic is refused, naming the document, and switches nothing.
    await untilEveryFunctionSees((s) => s.paused === true);
    const refused = await h.api("POST", "/v1/topics/demo/resume");
    expect(refused.status, refused.text).toBe(409);
    expect(refused.json).toMatchObject({
      error: { code: "conflict", reason: "paused_by_settings", message: expect.stringContaining("settings") },
    });
    expect((await waitForTopic(() => true)).paused).toBe(true);

    // Act 2: the setting lifted, the topic resumed through the API, as documented.
    writeFileSync(settingsFile, defaults);
    await untilEveryFunctionSees((s) => s.paused === false);
    const resumed = await h.api("POST", "/v1/topics/demo/resume");
    await h.waitForStatus(taskId, ["delivered"]);

    // Assess 2
    expect(resumed.status, resumed.text).toBe(200);
    expect(h.receiver.forTask(taskId)).toHaveLength(1);
  });

  it("an invalid edit changes nothing, and the log says why", async () => {
    // Prepare
    writeSettings({ maxAttempts: 2 });
    await waitForSettings((s) => s.maxAttempts === 2);
    const mark = logLines.length;

    // Act
    writeSettings({ maxAttempts: 0, allowedCallbackHosts: ["example.com"] });
    // (A write caught half done is refused too, as not JSON: wait for the verdict on the whole edit.)
    const line = await waitForLog(/topic settings: refused .*field "maxAttempts"/, mark);
    const after = await waitForTopic(() => true);

    // Assess
    expect(line).toContain("keeping version");
    expect(after.settings).toMatchObject({ maxAttempts: 2 });
    expect(after.settings.allowedCallbackHosts).toContain("127.0.0.1");
  });

  it("a new topic is refused: it needs a deploy", async () => {
    const mark = logLines.length;

    writeFileSync(settingsFile, JSON.stringify({ topics: { orders: { maxAttempts: 2 } } }));
    const line = await waitForLog(/topic settings: refused .*"orders"/, mark);

    expect(line).toContain("adding a topic needs a deploy");
  });
});
