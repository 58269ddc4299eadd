import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { HTTPRequest, Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { latenessOf } from "../../console/schemas.js";
import { ms } from "../../console/src/format.js";
import { type ConsoleBrowser, launchConsoleBrowser } from "./support/browser.js";
import { startCallbackReceiver } from "./support/callback-receiver.js";
import { e2eTarget, type Harness, startHarness } from "./support/harness.js";

/**
 * Issue 12, points 1, 2 and 4 in a real headless Chromium against the local cloud: tasks added through the API
 * are seen delivered on the page; a dead-lettered task is replayed from the page (through its confirmation
 * dialog) and delivered, another discarded from the dead-letter list, another (and a fan-out task's dead-lettered copy)
 * discarded from its task view, a fan-out task cancelled from its view; the topic is paused and resumed from the
 * page and the API agrees; a task is found by id with its timeline; the console's lateness p50/p90/p99 equal the nearest ranks of the tasks' own `lateness_ms` (replays left out, as the metric leaves them);
 * every list request the page made carries a page limit. Issue 14: a destination whose circuit opened shows
 * "open" and is reset from the page; a schedule is paused, resumed and deleted from the Schedules panel. PUNCTUAL_CONSOLE_SCREENSHOT=<file> also saves the
 * final page there (`npm run console:screenshot` writes docs/console.png).
 */
const TOPIC = "demo";
/** A topic whose circuit opens after 2 failed attempts and stays open (no probe within the test). */
const GUARDED = "guarded";
/** A fan-out topic (issue 14, point 3): `ok` answers 200, `down` 500; one attempt each. */
const FANNED = "fanned";
const LATENESS_STATS = ["p50", "p90", "p99"].map((p) => `[data-testid="lateness-${p}"]`).join(",");
/** The list endpoints the page calls: every call carries a page limit. */
const LISTS = ["/v1/tasks", "/v1/schedules", "/v1/destinations", "/console/api/local"];
/** The fields of a listed schedule this file reads. */
interface ScheduleJson {
  readonly schedule_id: string;
  readonly cron: string;
  readonly timezone: string;
  readonly status: string;
  readonly content: string;
}
/** Bounds for conditions the page must reach (correctness bounds, not speed targets). */
const WAIT = { timeout: 20_000 };

/** The console is served by the local cloud's API server; a stack in LocalStack has no /console. */
const local = e2eTarget() === "local";
let h: Harness;
let b: ConsoleBrowser;
let subscribers: Awaited<ReturnType<typeof startCallbackReceiver>>;
/** Every task this file added to the topic: the lateness check reads them all. */
const added: string[] = [];
/** The added tasks this file cancels (from the task view or the dead-letter list): never delivered. */
const cancelled = new Set<string>();
/** Each added task's content as the API received it (JSON text). */
const contents = new Map<string, string>();

beforeAll(async () => {
  if (!local) return;
  subscribers = await startCallbackReceiver();
  h = await startHarness({
    sweeperIntervalMs: 500,
    configOverrides: {
      topics: {
        // One attempt per task: nothing retries after the reset, so the circuit stays closed once reset.
        [GUARDED]: { maxAttempts: 1, circuitFailureThreshold: 2, circuitCooldownSeconds: 3_600 },
        [FANNED]: {
          deliverBy: "order_id",
          maxAttempts: 1,
          subscribers: [
            { id: "ok", url: `${subscribers.url}/ok/console-fan-out` },
            { id: "down", url: `${subscribers.url}/fail/console-fan-out` },
          ],
        },
      },
    },
  });
  b = await launchConsoleBrowser();
  await b.page.goto(`${h.cloud.apiUrl}/console?topic=${TOPIC}`);
  await b.page.waitForSelector(`[data-testid="topic-row-${TOPIC}"]`, WAIT);
});

afterAll(async () => {
  await b?.close();
  await h?.stop();
  await subscribers?.stop();
});

async function addTask(callbackPath: string, extra: Record<string, unknown> = {}): Promise<string> {
  const content = { order_id: `order-${randomUUID()}`, note: "from the console test", n: 1 };
  const response = await h.api("POST", "/v1/tasks", {
    topic: TOPIC,
    delay_seconds: 0,
    content,
    callback: { url: `${h.receiver.url}${callbackPath}` },
    ...extra,
  });
  expect(response.status, response.text).toBe(201);
  const id = String(response.json.task_id);
  added.push(id);
  contents.set(id, JSON.stringify(content));
  return id;
}

/** Waits until the trimmed text of the first element matching `selector` is `expected`. */
async function waitForText(page: Page, selector: string, expected: string): Promise<void> {
  await page.waitForFunction(
    `document.querySelector(${JSON.stringify(selector)})?.textContent?.trim() === ${JSON.stringify(expected)}`,
    WAIT,
  );
}

/** Answers the page's confirmation dialog with yes, after checking it asks what we expect. */
async function confirmDialog(page: Page, mustMention: string): Promise<string> {
  await page.waitForSelector('[data-testid="confirm-dialog"][open]', WAIT);
  const message = await page.$eval('[data-testid="confirm-message"]', (el) => el.textContent ?? "");
  expect(message).toContain(mustMention);
  await page.click('[data-testid="confirm-yes"]');
  await page.waitForSelector('[data-testid="confirm-dialog"]:not([open])', WAIT);
  return message;
}

/**
 * Adds one task to both of FANNED's subscribers, due now, waits until `down` has failed its one attempt (the task
 * reads `failed`, `ok` delivered) and shows it in the task view; answers its id.
 */
async function showFannedTaskDownFailed(page: Page): Promise<string> {
  const added = await h.api("POST", "/v1/tasks", {
    topic: FANNED,
    delay_seconds: 0,
    content: { order_id: `order-${randomUUID()}` },
  });
  expect(added.status, added.text).toBe(201);
  const id = String(added.json.task_id);
  await h.waitForStatus(id, ["failed"]);
  await showTask(page, id);
  await waitForText(page, '[data-testid="subscriber-ok"] td:nth-child(2)', "delivered");
  await waitForText(page, '[data-testid="subscriber-down"] td:nth-child(2)', "failed");
  return id;
}

async function showTask(page: Page, taskId: string): Promise<void> {
  // Cleared with an input event, as a user's delete: the field is controlled, and a refresh between a silent
  // clear and the typing would put the old id back.
  await page.$eval('[data-testid="task-id-input"]', (el) => {
    (el as unknown as { value: string }).value = "";
    el.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await page.type('[data-testid="task-id-input"]', taskId);
  await page.click('[data-testid="task-id-search"]');
  await waitForText(page, '[data-testid="task-detail"] code', taskId);
}

/** Lists `group` of the selected topic from the group search, the field cleared first as a user's delete. */
async function listGroup(page: Page, group: string): Promise<void> {
  await page.$eval('[data-testid="group-input"]', (el) => {
    (el as unknown as { value: string }).value = "";
    el.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await page.type('[data-testid="group-input"]', group);
  await page.click('[data-testid="group-search"]');
}

/** The task ids the group list shows. */
async function listedInGroup(page: Page): Promise<string[]> {
  return page.$$eval('[data-testid="group-list"] [data-testid="open-task"]', (rows) =>
    rows.map((row) => row.textContent ?? ""),
  );
}

async function groupHeading(page: Page): Promise<string> {
  return page.$eval('[data-testid="group-list"] h3', (el) => el.textContent ?? "");
}

describe.runIf(local)("the console in a real browser", () => {
  it("shows tasks added through the API as delivered, and a task's timeline and content found by id", async () => {
    // Prepare
    const ids = await Promise.all(Array.from({ length: 5 }, () => addTask("/ok/console")));

    // Act
    for (const id of ids) await h.waitForStatus(id, ["delivered"]);

    // Assess: the topic row counts them (metrics of this file only: a fresh cloud), the timeline shows the path.
    await waitForText(b.page, `[data-testid="topic-row-${TOPIC}"] [data-testid="topic-delivered"]`, "5");
    await showTask(b.page, ids[0] as string);
    await waitForText(b.page, '[data-testid="task-status"]', "delivered");
    const steps = await b.page.$$eval('[data-testid="task-timeline"] li', (items) =>
      items.map((li) => li.getAttribute("data-testid")),
    );
    expect(steps).toEqual(["timeline-accepted", "timeline-queued", "timeline-attempt", "timeline-delivered"]);
    const content = await b.page.$eval('[data-testid="task-content"]', (el) => el.textContent);
    expect(content).toBe(contents.get(ids[0] as string));

    // Act: the same task found by its ordering group (content.order_id, the topic's deliverBy field).
    await b.page.type('[data-testid="group-input"]', JSON.parse(content ?? "{}").order_id);
    await b.page.click('[data-testid="group-search"]');

    // Assess
    await waitForText(b.page, '[data-testid="group-list"] [data-testid="open-task"]', ids[0] as string);
    await b.screenshot("1-delivered");
  });

  it("lists a group exactly as typed (spaces around a value are part of it), and the empty group from its checkbox", async () => {
    // Prepare: three groups one trim apart, and the empty one; due in an hour, so none is delivered meanwhile.
    const value = `g-${randomUUID()}`;
    const add = async (orderId: string) => {
      const response = await h.api("POST", "/v1/tasks", {
        topic: TOPIC,
        delay_seconds: 3_600,
        content: { order_id: orderId },
        callback: { url: `${h.receiver.url}/ok/console-groups` },
      });
      expect(response.status, response.text).toBe(201);
      return String(response.json.task_id);
    };
    const [plain, spaced, empty] = [await add(value), await add(` ${value}`), await add("")];

    try {
      // Act + Assess: the value as typed, then with a leading space: two groups, each named as typed.
      await listGroup(b.page, value);
      await expect.poll(() => listedInGroup(b.page), WAIT).toEqual([plain]);
      await listGroup(b.page, ` ${value}`);
      await expect.poll(() => listedInGroup(b.page), WAIT).toEqual([spaced]);
      expect(await groupHeading(b.page)).toBe(`Group \u201c ${value}\u201d in ${TOPIC}`);

      // Act: the empty group, by its checkbox (an empty field is no search).
      await b.page.click('[data-testid="group-empty"]');
      await b.page.click('[data-testid="group-search"]');

      // Assess
      await expect.poll(async () => (await listedInGroup(b.page)).includes(empty), WAIT).toBe(true);
      expect(await listedInGroup(b.page)).not.toContain(plain);
      expect(await listedInGroup(b.page)).not.toContain(spaced);
      expect(await groupHeading(b.page)).toBe(`Group \u201c\u201d in ${TOPIC}`);
      expect(
        await b.page.$eval(
          '[data-testid="group-input"]',
          (el) => (el as unknown as { disabled: boolean }).disabled,
        ),
      ).toBe(true);
    } finally {
      await b.page.click('[data-testid="group-empty"]').catch(() => undefined);
      for (const id of [plain, spaced, empty]) await h.api("DELETE", `/v1/tasks/${id}`);
    }
  });

  it("replays a dead-lettered task from the page after confirming, and it is delivered", async () => {
    // Prepare: a receiver that fails until fixed; the task uses up its attempts and is dead-lettered.
    const receiver = `console-${randomUUID()}`;
    const id = await addTask(`/until-fixed/${receiver}/hook`);
    await h.waitForStatus(id, ["failed"]);
    const row = `[data-testid="dead-letter-${id}"]`;
    await b.page.waitForSelector(row, WAIT);
    await b.screenshot("2-dead-lettered");
    h.receiver.fix(receiver);

    // Act
    await b.page.click(`${row} [data-testid="dead-letter-replay"]`);
    await confirmDialog(b.page, id);

    // Assess
    expect((await h.waitForStatus(id, ["delivered"])).status).toBe("delivered");
    await b.page.waitForSelector(row, { ...WAIT, hidden: true });
    await showTask(b.page, id);
    await waitForText(b.page, '[data-testid="task-status"]', "delivered");
    const attempts = await b.page.$$('[data-testid="task-timeline"] [data-testid="timeline-attempt"]');
    expect(attempts.length).toBe(4);
    await b.screenshot("3-replayed");
  });

  it("replays the selected dead letters, then all matching a filter with the dry run's count in the confirmation", async () => {
    // Prepare
    const receiver = `console-${randomUUID()}`;
    const ids = await Promise.all(Array.from({ length: 3 }, () => addTask(`/until-fixed/${receiver}/hook`)));
    for (const id of ids) await h.waitForStatus(id, ["failed"]);
    for (const id of ids) await b.page.waitForSelector(`[data-testid="dead-letter-${id}"]`, WAIT);
    h.receiver.fix(receiver);

    // Act: two selected
    for (const id of ids.slice(0, 2))
      await b.page.click(`[data-testid="dead-letter-${id}"] [data-testid="dead-letter-select"]`);
    await b.page.click('[data-testid="replay-selected"]');
    await confirmDialog(b.page, "2 tasks");
    for (const id of ids.slice(0, 2)) await h.waitForStatus(id, ["delivered"]);

    // Act: the rest by filter (none: every dead letter of the topic); the dialog names the dry run's count.
    const dryRun = await h.api("POST", `/v1/topics/${TOPIC}/replay`, { dry_run: true });
    expect(dryRun.json.matched).toBe(1);
    await b.page.click('[data-testid="replay-matching"]');
    await confirmDialog(b.page, "Replay all 1 dead-lettered");

    // Assess: the page says what it replayed (replay-all.ts; its stops are unit-tested there).
    await waitForText(b.page, '[data-testid="dead-letters-message"]', "replayed 1 of 1 matching task(s)");
    expect((await h.waitForStatus(ids[2] as string, ["delivered"])).status).toBe("delivered");
  });

  it("says why Replay all did not start when its dry run fails: the API's code and message, as text", async () => {
    // Prepare: the dry run answers a 503 whose message carries markup. The browser fakes that one answer (the
    // local cloud's replay route does not fail on demand); every other request goes through.
    const markup = "throttled <b>now</b>";
    const failDryRun = (request: HTTPRequest) => {
      const dryRun =
        request.url().endsWith(`/v1/topics/${TOPIC}/replay`) &&
        (request.postData() ?? "").includes('"dry_run":true');
      if (!dryRun) return void request.continue();
      const body = JSON.stringify({ error: { code: "service_unavailable", message: markup } });
      void request.respond({ status: 503, contentType: "application/json", body });
    };
    await b.page.setRequestInterception(true);
    b.page.on("request", failDryRun);
    try {
      // Act
      await b.page.click('[data-testid="replay-matching"]');

      // Assess: the line says why, the markup is text (no <b> element), and nothing was asked.
      await waitForText(
        b.page,
        '[data-testid="dead-letters-message"]',
        `not replayed: service_unavailable: ${markup}`,
      );
      expect(await b.page.$('[data-testid="dead-letters-message"] b')).toBeNull();
      expect(await b.page.$('[data-testid="confirm-dialog"][open]')).toBeNull();
    } finally {
      b.page.off("request", failDryRun);
      await b.page.setRequestInterception(false);
    }
  });

  it("says why Replay all did not start when a date of its filter has a year past 9999, and sends nothing", async () => {
    // Prepare: the date picker takes a year of up to six digits, which `Date` does not read in this form.
    const sent: string[] = [];
    const record = (request: HTTPRequest) => void sent.push(`${request.method()} ${request.url()}`);
    const setAfter = (value: string) =>
      b.page.$eval(
        '[data-testid="filter-after"]',
        (el, v) => {
          (el as unknown as { value: string }).value = v;
          el.dispatchEvent(new Event("input", { bubbles: true }));
        },
        value,
      );
    await setAfter("10000-01-01T00:00");
    b.page.on("request", record);
    try {
      // Act
      await b.page.click('[data-testid="replay-matching"]');

      // Assess: the panel's line names the field; no dry run went, nothing was asked.
      await waitForText(
        b.page,
        '[data-testid="dead-letters-message"]',
        'not replayed: "failed after" is no date the page can read: 10000-01-01T00:00',
      );
      expect(sent.filter((r) => r.includes("/replay"))).toEqual([]);
      expect(await b.page.$('[data-testid="confirm-dialog"][open]')).toBeNull();
    } finally {
      b.page.off("request", record);
      await setAfter("");
    }
  });

  it("shows Replay all's progress page by page, and its Stop ends it after the page in flight", async () => {
    // Prepare: the browser answers the replay route (the local cloud's has no endless list to read): the dry run
    // counts 5 and more to come; each replay page, 150 ms later, replayed one task and names a next cursor.
    let replayPages = 0;
    const endlessReplay = (request: HTTPRequest) => {
      if (!request.url().endsWith(`/v1/topics/${TOPIC}/replay`)) return void request.continue();
      const dryRun = (request.postData() ?? "").includes('"dry_run":true');
      if (!dryRun) replayPages++;
      const page = {
        matched: dryRun ? 5 : 1,
        replayed: dryRun ? 0 : 1,
        failed: [],
        next_cursor: `c${replayPages}`,
      };
      const answer = () =>
        void request.respond({ status: 200, contentType: "application/json", body: JSON.stringify(page) });
      if (dryRun) answer();
      else setTimeout(answer, 150);
    };
    await b.page.setRequestInterception(true);
    b.page.on("request", endlessReplay);
    try {
      // Act
      await b.page.click('[data-testid="replay-matching"]');
      await confirmDialog(b.page, "Replay all 5 dead-lettered");
      await b.page.waitForFunction(
        `document.querySelector('[data-testid="dead-letters-message"]')?.textContent?.startsWith("replaying… 2 of 2")`,
        WAIT,
      );
      await b.page.click('[data-testid="replay-all-stop"]');

      // Assess: it ends after the page in flight, says so with the pages it sent, and offers Replay all again
      await b.page.waitForSelector('[data-testid="replay-matching"]', WAIT);
      const line = await b.page.$eval('[data-testid="dead-letters-message"]', (el) => el.textContent ?? "");
      expect(line).toBe(
        `stopped after ${replayPages} page(s), having replayed ${replayPages} of ${replayPages} matching task(s): stopped as you asked; the tasks not reached are still dead-lettered (Replay all again goes on with them)`,
      );
      expect(await b.page.$('[data-testid="replay-all-stop"]')).toBeNull();
    } finally {
      b.page.off("request", endlessReplay);
      await b.page.setRequestInterception(false);
    }
  });

  it("pauses and resumes the topic from the page, and the API agrees", async () => {
    const row = `[data-testid="topic-row-${TOPIC}"]`;

    // Act
    await b.page.click(`${row} [data-testid="topic-toggle"]`);
    await confirmDialog(b.page, "Pause topic");

    // Assess
    await waitForText(b.page, `${row} [data-testid="topic-state"]`, "paused");
    expect((await h.api("GET", `/v1/topics/${TOPIC}`)).json.paused).toBe(true);
    await b.screenshot("4-paused");

    // Act
    await b.page.click(`${row} [data-testid="topic-toggle"]`);
    await confirmDialog(b.page, "Resume topic");

    // Assess
    await waitForText(b.page, `${row} [data-testid="topic-state"]`, "active");
    expect((await h.api("GET", `/v1/topics/${TOPIC}`)).json.paused).toBe(false);
  });

  it("cancels a scheduled task from its view after confirming", async () => {
    // Prepare
    const id = await addTask("/ok/console", { delay_seconds: 3600 });
    await showTask(b.page, id);

    // Act
    await b.page.click('[data-testid="task-cancel"]');
    await confirmDialog(b.page, id);

    // Assess
    await waitForText(b.page, '[data-testid="task-status"]', "cancelled");
    expect((await h.api("GET", `/v1/tasks/${id}`)).json.status).toBe("cancelled");
    cancelled.add(id);
  });

  it("offers Cancel on a delivering task and says its cancel is requested while its callback is being made", async () => {
    // Prepare: the task's callback held at the receiver (in flight); its view open
    const name = `held-${randomUUID()}`;
    const id = await addTask(`/held/${name}/console`);
    await h.receiver.waitFor((all) => all.some((r) => r.json.task_id === id));
    await showTask(b.page, id);
    await waitForText(b.page, '[data-testid="task-status"]', "delivering");

    // Act
    await b.page.click('[data-testid="task-cancel"]');
    await confirmDialog(b.page, "its receiver will not be called again");

    // Assess: its cancel requested, said so on the page; answered 2xx, the task is delivered (a callback cannot be
    // unsent) and not called again
    await b.page.waitForFunction(
      `document.querySelector('[data-testid="task-message"]')?.textContent?.includes("cancel requested")`,
      WAIT,
    );
    h.receiver.fix(name);
    await h.waitForStatus(id, ["delivered"]);
    expect(h.receiver.forTask(id)).toHaveLength(1);
  });

  it("discards a dead-lettered task from the dead-letter list after confirming, as its view's Discard; it leaves the failed list", async () => {
    // Prepare: a receiver that always fails; the task uses up its attempts and is dead-lettered.
    const id = await addTask(`/fail/console-${randomUUID()}`);
    await h.waitForStatus(id, ["failed"]);
    const row = `[data-testid="dead-letter-${id}"]`;
    await b.page.waitForSelector(row, WAIT);

    // Act: the row's button is named as the task view's, and asks as it does
    await waitForText(b.page, `${row} [data-testid="dead-letter-cancel"]`, "Discard");
    await b.page.click(`${row} [data-testid="dead-letter-cancel"]`);
    const asked = await confirmDialog(b.page, "can no longer be replayed");
    cancelled.add(id);

    // Assess: the page says so, in the view's words, and drops the row; the API has it cancelled and off the
    // failed list.
    expect(asked).toBe(
      `Discard dead-lettered task ${id}? It will not be delivered, and can no longer be replayed.`,
    );
    await waitForText(
      b.page,
      '[data-testid="dead-letters-message"]',
      `discarded ${id}; it will not be delivered (now cancelled)`,
    );
    await b.page.waitForSelector(row, { ...WAIT, hidden: true });
    expect((await h.api("GET", `/v1/tasks/${id}`)).json).toMatchObject({
      status: "cancelled",
      last_error: "HTTP 500",
    });
    const failed = await h.api("GET", `/v1/tasks?topic=${TOPIC}&status=failed&limit=100`);
    expect(failed.status).toBe(200);
    expect((failed.json.tasks as { task_id: string }[]).map((t) => t.task_id)).not.toContain(id);
  });

  it("discards a dead-lettered task from its view after confirming; a delivered task's view offers neither Cancel nor Discard", async () => {
    // Prepare: one task dead-lettered (its receiver always fails), one delivered
    const id = await addTask(`/fail/console-${randomUUID()}`);
    const done = await addTask("/ok/console");
    await h.waitForStatus(id, ["failed"]);
    await h.waitForStatus(done, ["delivered"]);
    await showTask(b.page, id);
    await waitForText(b.page, '[data-testid="task-status"]', "failed");
    expect(await b.page.$('[data-testid="task-cancel"]')).toBeNull();

    // Act
    await waitForText(b.page, '[data-testid="task-discard"]', "Discard");
    await b.page.click('[data-testid="task-discard"]');
    await confirmDialog(b.page, "can no longer be replayed");
    cancelled.add(id);

    // Assess: the line and the view say so; the API has it cancelled and off the failed list
    await waitForText(
      b.page,
      '[data-testid="task-message"]',
      `discarded ${id}; it will not be delivered (now cancelled)`,
    );
    await waitForText(b.page, '[data-testid="task-status"]', "cancelled");
    expect(await b.page.$('[data-testid="task-discard"]')).toBeNull();
    expect((await h.api("GET", `/v1/tasks/${id}`)).json).toMatchObject({
      status: "cancelled",
      last_error: "HTTP 500",
    });
    const failed = await h.api("GET", `/v1/tasks?topic=${TOPIC}&status=failed&limit=100`);
    expect((failed.json.tasks as { task_id: string }[]).map((t) => t.task_id)).not.toContain(id);

    // Act + Assess: the delivered task's view has no button
    await showTask(b.page, done);
    await waitForText(b.page, '[data-testid="task-status"]', "delivered");
    expect(await b.page.$('[data-testid="task-discard"]')).toBeNull();
    expect(await b.page.$('[data-testid="task-cancel"]')).toBeNull();
  });

  it("shows lateness p50/p90/p99 equal to the nearest ranks of the delivered tasks' own lateness_ms", async () => {
    // Prepare: every task this file added, as the API reports it.
    const views = await Promise.all(added.map(async (id) => (await h.api("GET", `/v1/tasks/${id}`)).json));
    const delivered = views.filter((v) => v.status === "delivered");
    expect(delivered.map((v) => v.task_id).sort()).toEqual(added.filter((id) => !cancelled.has(id)).sort());
    // A replay's delivery is not in the lateness metric (late by as long as it lay dead-lettered; docs/OPERATIONS.md).
    const lateness = delivered.filter((v) => !v.replays).map((v) => Number(v.lateness_ms));
    expect(lateness.length).toBeLessThan(delivered.length);
    const expected = latenessOf(lateness);

    // Assess: the page reaches exactly those numbers.
    await waitForText(b.page, '[data-testid="lateness-raw"]', JSON.stringify(expected));
    const shown = await b.page.$$eval(LATENESS_STATS, (els) => els.map((el) => el.textContent));
    expect(shown).toEqual([ms(expected.p50), ms(expected.p90), ms(expected.p99)]);
    const file = await b.screenshot("5-console");
    if (process.env.PUNCTUAL_CONSOLE_SCREENSHOT)
      await copyFile(file, process.env.PUNCTUAL_CONSOLE_SCREENSHOT);
  });

  it("stops refreshing while its tab is hidden, and refreshes again when shown", async () => {
    // Prepare: a second console tab in front hides the first; its own refresh ticks measure time passing.
    const other = await b.browser.newPage();
    try {
      await other.goto(`${h.cloud.apiUrl}/console?topic=${TOPIC}`);
      await other.bringToFront();
      expect(await b.page.evaluate("document.visibilityState")).toBe("hidden");
      const tickOf = async () =>
        Number(await other.$eval('[data-testid="refresh-tick"]', (el) => el.dataset.tick));
      const ticksLater = async (n: number) => {
        const target = (await tickOf()) + n;
        await other.waitForFunction(
          `Number(document.querySelector('[data-testid="refresh-tick"]')?.dataset.tick) >= ${target}`,
          WAIT,
        );
      };
      // Calls a tick started just before the tab was hidden have finished two visible ticks later.
      await ticksLater(2);
      const before = b.requests.length;

      // Act: two more ticks of the visible tab (at least one refresh period).
      await ticksLater(2);

      // Assess: the hidden tab made no request; shown again, it refreshes.
      expect(b.requests.slice(before)).toEqual([]);
      const refreshed = b.page.waitForRequest((r) => new URL(r.url()).pathname === "/v1/topics", WAIT);
      await b.page.bringToFront();
      await refreshed;
    } finally {
      await other.close();
    }
  });

  it("shows a destination's circuit open after its receiver fails, and Reset (confirmed) closes it; the API agrees", async () => {
    // Prepare: two failed attempts on the guarded topic open the receiver host's circuit there.
    const host = new URL(h.receiver.url).host;
    for (const n of [1, 2]) {
      const response = await h.api("POST", "/v1/tasks", {
        topic: GUARDED,
        delay_seconds: 0,
        content: { n },
        callback: { url: `${h.receiver.url}/fail/console-${randomUUID()}` },
      });
      expect(response.status, response.text).toBe(201);
      await h.waitForStatus(String(response.json.task_id), ["failed"]);
    }
    const row = `[data-testid="destination-${GUARDED}-${host}"]`;
    await waitForText(b.page, `${row} [data-testid="destination-state"]`, "open");
    await b.screenshot("6-circuit-open");
    // "open circuits only" (`state=open`) lists it too; back to every circuit for the reset.
    await b.page.click('[data-testid="destinations-open-only"]');
    await expect
      .poll(() => b.requests.some((u) => new URL(u).searchParams.get("state") === "open"), WAIT)
      .toBe(true);
    await waitForText(b.page, `${row} [data-testid="destination-state"]`, "open");
    // Back: the panel shows nothing while it loads the other list, so wait for that load's request, then the row.
    const everyList = () =>
      b.requests.filter((u) => {
        const url = new URL(u);
        return url.pathname === "/v1/destinations" && !url.searchParams.has("state");
      }).length;
    const listsBefore = everyList();
    await b.page.click('[data-testid="destinations-open-only"]');
    await expect.poll(everyList, WAIT).toBeGreaterThan(listsBefore);
    await waitForText(b.page, `${row} [data-testid="destination-state"]`, "open");

    // Act
    await b.page.click(`${row} [data-testid="destination-reset"]`);
    await confirmDialog(b.page, `${host} on ${GUARDED}`);

    // Assess: the page and the API both have it closed, with no failures.
    await waitForText(b.page, `${row} [data-testid="destination-state"]`, "closed");
    await waitForText(b.page, `${row} [data-testid="destination-failures"]`, "0");
    // The list takes no filter (a `?topic=` is a 400): this topic's row is picked from every topic's hosts.
    const listed = await h.api("GET", "/v1/destinations");
    expect(listed.status, listed.text).toBe(200);
    const rows = listed.json.destinations as { host: string; topic: string }[];
    expect(rows.find((d) => d.host === host && d.topic === GUARDED)).toMatchObject({
      topic: GUARDED,
      state: "closed",
      failures: 0,
      opened_at: null,
    });
  });

  it("lists a schedule created through the API; pauses, resumes and deletes it from the page after confirming", async () => {
    // Prepare: a schedule far from due (Jan 1st, 04:00 in Berlin), so no occurrence runs during the test.
    const created = await h.api("POST", "/v1/schedules", {
      topic: TOPIC,
      cron: "0 4 1 1 *",
      timezone: "Europe/Berlin",
      content: { report: `console-${randomUUID()}` },
      callback: { url: `${h.receiver.url}/ok/console` },
      catch_up: "latest",
    });
    expect(created.status, created.text).toBe(201);
    const id = String(created.json.schedule_id);
    const row = `[data-testid="schedule-${id}"]`;
    const status = `${row} [data-testid="schedule-status"]`;
    const apiStatus = async () => (await h.api("GET", `/v1/schedules/${id}`)).json.status;
    await waitForText(b.page, status, "active");
    const cell = (name: string) =>
      b.page.$eval(`${row} [data-testid="schedule-${name}"]`, (el) => el.textContent);
    expect(await cell("next")).not.toBe("—");
    // The policy it was created with, and no occurrence skipped yet.
    expect(await cell("catch-up")).toBe("latest");
    expect(await cell("skipped")).toBe("—");

    // Act / Assess: pause
    await b.page.click(`${row} [data-testid="schedule-pause"]`);
    await confirmDialog(b.page, `Pause schedule ${id}`);
    await waitForText(b.page, status, "paused");
    expect(await apiStatus()).toBe("paused");
    await b.screenshot("7-schedule-paused");

    // Act / Assess: resume
    await b.page.click(`${row} [data-testid="schedule-resume"]`);
    await confirmDialog(b.page, `Resume schedule ${id}`);
    await waitForText(b.page, status, "active");
    expect(await apiStatus()).toBe("active");

    // Act / Assess: delete
    await b.page.click(`${row} [data-testid="schedule-delete"]`);
    await confirmDialog(b.page, `Delete schedule ${id}`);
    await waitForText(b.page, status, "deleted");
    expect(await apiStatus()).toBe("deleted");
  });

  it("creates a schedule from the page's form; content that is not JSON or a bad cron creates nothing", async () => {
    // Prepare: the form's fields, filled as a user would (a unique content marks this schedule).
    const marker = `console-form-${randomUUID()}`;
    // Clearing fires an input event, as a user's delete does: the form's fields are controlled, so a refresh
    // between a silent clear and the typing would put the old value back and the typing would append to it.
    const fill = async (field: string, value: string) => {
      await b.page.$eval(`[data-testid="${field}"]`, (el) => {
        (el as unknown as { value: string }).value = "";
        el.dispatchEvent(new Event("input", { bubbles: true }));
      });
      await b.page.type(`[data-testid="${field}"]`, value);
    };
    const submit = () => b.page.click('[data-testid="schedule-create-submit"]');
    const mine = async () =>
      (
        (await h.api("GET", `/v1/schedules?topic=${TOPIC}&limit=100`)).json.schedules as ScheduleJson[]
      ).filter((s) => s.content.includes(marker));
    await fill("schedule-timezone", "Europe/Berlin");
    await fill("schedule-callback", `${h.receiver.url}/ok/console`);

    // Act 1: content that is not JSON, then a cron that is not one
    await fill("schedule-cron", "0 4 1 1 *");
    await fill("schedule-content", `{"marker": "${marker}"`);
    await submit();
    await b.page.waitForFunction(
      `document.querySelector('[data-testid="schedules-message"]')?.textContent?.startsWith("content is not JSON")`,
      WAIT,
    );
    await fill("schedule-content", JSON.stringify({ marker }));
    await fill("schedule-cron", "not a cron");
    await submit();
    await b.page.waitForFunction(
      `document.querySelector('[data-testid="schedules-message"]')?.textContent?.startsWith("not created:")`,
      WAIT,
    );
    expect(await mine()).toEqual([]);

    // Act 2: a valid schedule, missed occurrences skipped
    await fill("schedule-cron", "0 4 1 1 *");
    await b.page.select('[data-testid="schedule-catch-up-select"]', "none");
    await submit();

    // Assess: created as sent, and listed on the page.
    await b.page.waitForFunction(
      `document.querySelector('[data-testid="schedules-message"]')?.textContent?.startsWith("created ")`,
      WAIT,
    );
    const [created, ...more] = await mine();
    expect(more).toEqual([]);
    expect(created).toMatchObject({
      cron: "0 4 1 1 *",
      timezone: "Europe/Berlin",
      status: "active",
      content: JSON.stringify({ marker }),
      catch_up: "none",
    });
    await waitForText(
      b.page,
      `[data-testid="schedule-${created?.schedule_id}"] [data-testid="schedule-status"]`,
      "active",
    );
    await h.api("DELETE", `/v1/schedules/${created?.schedule_id}`);
  });

  it("shows a fan-out task's subscribers, one row each, and replays only the failed one from its row", async () => {
    // Prepare: one task to both subscribers; `down` fails its one attempt
    const id = await showFannedTaskDownFailed(b.page);

    // Act
    await b.page.click('[data-testid="subscriber-replay-down"]');
    await confirmDialog(b.page, "down");

    // Assess: the API agrees that only `down` was replayed
    await waitForText(b.page, '[data-testid="subscriber-message"]', "replaying down");
    const rows = (await h.api("GET", `/v1/tasks/${id}`)).json.subscribers as {
      id: string;
      replays?: number;
    }[];
    expect(rows.map((r) => [r.id, r.replays])).toEqual([
      ["ok", undefined],
      ["down", 1],
    ]);
  });

  it("discards a fan-out task's dead-lettered copy from its view after confirming; the delivered copy stays delivered", async () => {
    // Prepare: one task to both subscribers; `down` fails its one attempt, so the task reads `failed`
    const id = await showFannedTaskDownFailed(b.page);

    // Act
    await waitForText(b.page, '[data-testid="task-discard"]', "Discard dead letters");
    await b.page.click('[data-testid="task-discard"]');
    await confirmDialog(b.page, "delivered copies stay delivered");

    // Assess: the line names each copy's new state, and so do the rows; the API agrees, and no dead letter of the
    // topic is a copy of the task
    await waitForText(
      b.page,
      '[data-testid="task-message"]',
      `discarded the dead letters of ${id} (now delivered): ok delivered, down cancelled`,
    );
    await waitForText(b.page, '[data-testid="subscriber-down"] td:nth-child(2)', "cancelled");
    await waitForText(b.page, '[data-testid="subscriber-ok"] td:nth-child(2)', "delivered");
    const rows = (await h.api("GET", `/v1/tasks/${id}`)).json.subscribers as {
      id: string;
      task_id: string;
      status: string;
    }[];
    expect(rows.map((r) => [r.id, r.status])).toEqual([
      ["ok", "delivered"],
      ["down", "cancelled"],
    ]);
    const failed = await h.api("GET", `/v1/tasks?topic=${FANNED}&status=failed&limit=100`);
    expect(failed.status).toBe(200);
    const copies = new Set([id, ...rows.map((r) => r.task_id)]);
    expect((failed.json.tasks as { task_id: string }[]).filter((t) => copies.has(t.task_id))).toEqual([]);
  });

  it("cancels a scheduled fan-out task from its view after confirming; the line names each copy's new state", async () => {
    // Prepare: one task to both subscribers, due in an hour; both copies shown scheduled
    const added = await h.api("POST", "/v1/tasks", {
      topic: FANNED,
      delay_seconds: 3600,
      content: { order_id: `order-${randomUUID()}` },
    });
    expect(added.status, added.text).toBe(201);
    const id = String(added.json.task_id);
    await showTask(b.page, id);
    await waitForText(b.page, '[data-testid="subscriber-ok"] td:nth-child(2)', "scheduled");
    await waitForText(b.page, '[data-testid="subscriber-down"] td:nth-child(2)', "scheduled");

    // Act
    await b.page.click('[data-testid="task-cancel"]');
    await confirmDialog(b.page, "never be delivered");

    // Assess: the line names each copy, as Discard dead letters' does; the API agrees
    await waitForText(
      b.page,
      '[data-testid="task-message"]',
      `cancelled ${id} (now cancelled): ok cancelled, down cancelled`,
    );
    const view = (await h.api("GET", `/v1/tasks/${id}`)).json;
    expect(view.status).toBe("cancelled");
    expect((view.subscribers as { id: string; status: string }[]).map((r) => [r.id, r.status])).toEqual([
      ["ok", "cancelled"],
      ["down", "cancelled"],
    ]);
  });

  it("never lists without a page limit", () => {
    const lists = b.requests
      .map((u) => new URL(u))
      .filter((u) => LISTS.includes(u.pathname) && u.search !== "");
    expect(lists.length).toBeGreaterThan(0);
    for (const url of lists) {
      const limit = Number(url.searchParams.get("limit"));
      expect(limit, url.href).toBeGreaterThanOrEqual(1);
      expect(limit, url.href).toBeLessThanOrEqual(100);
    }
  });
});

describe.runIf(local)("npx punctual console against an API (here the local cloud, --auth none)", () => {
  const BIN = fileURLToPath(new URL("../../cli/bin/punctual.mjs", import.meta.url));

  /** Starts the command as a user would, and reads the console URL it prints. */
  async function startConsoleCommand(): Promise<{ url: string; stop(): Promise<void> }> {
    const child = spawn(
      process.execPath,
      [BIN, "--api", h.cloud.apiUrl, "--auth", "none", "console", "--port", "0"],
      { env: { ...process.env, PUNCTUAL_API_URL: "" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    let output = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const found = /(http:\/\/127\.0\.0\.1:\d+\/console\?token=[\w-]+)/.exec(output);
        if (found) resolve(found[1] as string);
      });
      child.stderr.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.once("exit", (code) => reject(new Error(`punctual console exited (${code}): ${output}`)));
    });
    return {
      url,
      stop: async () => {
        child.kill("SIGTERM");
        await exited;
      },
    };
  }

  it("serves the page to the holder of its printed URL, proxies /v1 calls that carry the console header, and has no local view", async () => {
    // Prepare: open the printed URL (it holds the session's token), as a browser does.
    const server = await startConsoleCommand();
    const origin = new URL(server.url).origin;
    const opened = await fetch(server.url, { redirect: "manual" });
    // The call secret the page reads from the redirect's fragment (console/src/session.ts).
    const pageUrl = new URL(opened.headers.get("location") ?? "", origin);
    const secret = new URLSearchParams(pageUrl.hash.slice(1)).get("session") ?? "";
    const headers = { "x-punctual-console": "1", "x-punctual-session": secret };
    try {
      // Act
      const page = await fetch(`${origin}${pageUrl.pathname}`);
      const topics = await fetch(`${origin}/v1/topics`, { headers });
      const direct = await h.api("GET", "/v1/topics");
      const unmarked = await fetch(`${origin}/v1/topics`, { headers: { "x-punctual-session": secret } });
      const withoutSecret = await fetch(`${origin}/v1/topics`, {
        headers: { ...headers, "x-punctual-session": "" },
      });
      const sessionless = await fetch(`${origin}/v1/topics`, { headers: { "x-punctual-console": "1" } });
      const local = await fetch(`${origin}/console/api/local`, { headers });
      const script = await fetch(`${origin}/console/app.js`);

      // Assess
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script type="module" src="/console/app.js">');
      expect(script.status).toBe(200);
      expect(topics.status).toBe(200);
      // The same topics with the same settings; the live figures (backlog, ages, dead letters) move between the
      // two reads while other tests' tasks settle, so they are compared by shape only.
      expect(withoutLiveFigures(await topics.json())).toEqual(withoutLiveFigures(direct.json));
      expect(unmarked.status).toBe(403);
      expect(withoutSecret.status).toBe(403);
      expect(sessionless.status).toBe(403);
      expect(local.status).toBe(404);
    } finally {
      await server.stop();
    }
  });
});

/** A topic list with each topic's live figures dropped: what two reads a moment apart must agree on. */
function withoutLiveFigures(body: unknown): unknown {
  const { topics } = body as { topics: Record<string, unknown>[] };
  return topics.map(({ backlog, oldest_age_seconds, dead_letter_count, ...stable }) => ({
    ...stable,
    live: [
      typeof backlog,
      typeof oldest_age_seconds === "number" || oldest_age_seconds === null,
      typeof dead_letter_count,
    ],
  }));
}
