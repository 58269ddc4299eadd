import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsoleBrowser } from "./support/browser.js";
import {
  deadLetteredTaskAnswer,
  type FakeApiConsole,
  startFakeApiConsole,
} from "./support/fake-api-console.js";

/**
 * `punctual console` in a real headless Chromium against a broken API that answers every list with far more rows
 * than the page asked for (its `limit`): each panel says so on its error line and renders none of them (console/src/
 * api.ts `callPage`), where it rendered them all (thousands of rows, with Replay, Cancel and Delete buttons for tasks
 * the page never asked about). A fake API on loopback; no local cloud.
 */
const TOPIC = "overfull";
/** Every row the fake API answers carries this, so the page's text shows whether any was rendered. */
const MARK = "over-row-";
const ROWS = 2_000;
const WAIT = { timeout: 20_000 };

const rows = <T>(row: (n: number) => T): T[] => Array.from({ length: ROWS }, (_, n) => row(n));
const task = (n: number) => deadLetteredTaskAnswer(`${TOPIC}.${MARK}${n}`, TOPIC);
const schedule = (n: number) => ({
  schedule_id: `${TOPIC}.schedule.${MARK}${n}`,
  topic: TOPIC,
  cron: "@daily",
  timezone: "UTC",
  status: "active",
  content: "{}",
  created_at: "2026-01-01T00:00:00.000Z",
  next_occurrences: [],
});
const destination = (n: number) => ({
  topic: TOPIC,
  host: `${MARK}${n}.example.com`,
  state: "open",
  failures: 5,
  opened_at: "2026-01-01T00:00:00.000Z",
  next_probe_at: "2026-01-01T00:01:00.000Z",
  last_error: "HTTP 503",
  last_failure_at: "2026-01-01T00:00:00.000Z",
  in_flight: 0,
});

let fake: FakeApiConsole;
let b: ConsoleBrowser;
/** Each list call's `limit`, by path. */
const limits = new Map<string, string | null>();

beforeAll(async () => {
  fake = await startFakeApiConsole((req, res) => {
    req.resume();
    const json = (body: unknown) =>
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    const url = new URL(req.url ?? "/", "http://api");
    if (url.pathname === "/v1/topics") {
      const view = { topic: TOPIC, paused: false, backlog: { waiting: 0, in_flight: 0 } };
      return json({ topics: [{ ...view, oldest_age_seconds: null, dead_letter_count: ROWS }] });
    }
    const kind = url.searchParams.has("group") ? "group" : url.pathname;
    limits.set(kind, url.searchParams.get("limit"));
    if (url.pathname === "/v1/tasks") return json({ tasks: rows(task), next_cursor: "c2" });
    if (url.pathname === "/v1/schedules") return json({ schedules: rows(schedule), next_cursor: "c2" });
    if (url.pathname === "/v1/destinations")
      return json({ destinations: rows(destination), next_cursor: "c2" });
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"code":"not_found"}}');
  });
  b = fake.browser;
});

afterAll(async () => {
  await fake?.stop();
});

/** The text of the panel `testid` once its error line says the answer held more than was asked for. */
async function refusedIn(testid: string): Promise<string> {
  const panel = `document.querySelector("[data-testid=${testid}]")`;
  await b.page.waitForFunction(
    `${panel}?.querySelector(".error")?.textContent.includes("were asked for")`,
    WAIT,
  );
  return (await b.page.evaluate(`${panel}.textContent`)) as string;
}

describe("the console against an API answering more rows than asked for", () => {
  it("dead letters, schedules and destinations: each panel says so and renders none of the rows", async () => {
    // Act
    await b.page.goto(fake.consoleUrl, { waitUntil: "load" });
    const deadLetters = await refusedIn("dead-letters");
    const schedules = await refusedIn("schedules-panel");
    const destinations = await refusedIn("destinations-panel");

    // Assess
    expect(deadLetters).toContain(
      `the API answered ${ROWS} tasks where at most 20 were asked for: not shown`,
    );
    expect(schedules).toContain(`the API answered ${ROWS} schedules where at most 20 were asked for`);
    expect(destinations).toContain(`the API answered ${ROWS} destinations where at most 100 were asked for`);
    expect(limits.get("/v1/tasks")).toBe("20");
    expect(limits.get("/v1/schedules")).toBe("20");
    expect(limits.get("/v1/destinations")).toBe("100");
    expect(await b.page.evaluate(`document.body.textContent.includes(${JSON.stringify(MARK)})`)).toBe(false);
    expect(await b.page.evaluate(`document.querySelectorAll("tbody tr").length`)).toBe(1);
  });

  it("a group's tasks: the list says so and renders none of them", async () => {
    // Act
    await b.page.type('[data-testid="group-input"]', "A-1");
    await b.page.click('[data-testid="group-search"]');
    const group = await refusedIn("group-list");

    // Assess
    expect(group).toContain(`the API answered ${ROWS} tasks where at most 20 were asked for`);
    expect(limits.get("group")).toBe("20");
    expect(await b.page.evaluate(`document.body.textContent.includes(${JSON.stringify(MARK)})`)).toBe(false);
  });
});
