import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsoleBrowser } from "./support/browser.js";
import { type FakeApiConsole, startFakeApiConsole } from "./support/fake-api-console.js";

/**
 * `punctual console` in a real headless Chromium: the Schedules panel's create form has no confirmation (its
 * button is one) and a create has no idempotency key, so every POST /v1/schedules makes a schedule. A double
 * click, or Enter pressed again while a slow API has not answered, must send one. A fake API on loopback.
 */
const CREATE_DELAY_MS = 1_500;
const WAIT = { timeout: 15_000 };

let fake: FakeApiConsole;
let b: ConsoleBrowser;
const creates: string[] = [];

beforeAll(async () => {
  fake = await startFakeApiConsole((req, res) => {
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    const url = new URL(req.url ?? "/", "http://api");
    if (req.method === "POST" && url.pathname === "/v1/schedules") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        creates.push(Buffer.concat(chunks).toString("utf8"));
        const id = `sch-${creates.length}`;
        setTimeout(() => json(201, { schedule_id: id, status: "active" }), CREATE_DELAY_MS);
      });
      return;
    }
    req.resume();
    if (url.pathname === "/v1/topics")
      return json(200, {
        topics: [
          {
            topic: "demo",
            paused: false,
            backlog: { waiting: 0, in_flight: 0 },
            oldest_age_seconds: null,
            dead_letter_count: 0,
          },
        ],
      });
    return json(200, { tasks: [], schedules: [], destinations: [], next_cursor: null });
  });
  b = fake.browser;
});

afterAll(async () => {
  await fake?.stop();
});

describe("the create schedule form against a slow API", () => {
  it("sends one create for a double click and a second Enter while the first is unanswered", async () => {
    // Prepare
    await b.page.goto(fake.consoleUrl, { waitUntil: "load" });
    await b.page.waitForSelector('[data-testid="schedule-create-submit"]', WAIT);

    // Act: a double click, then Enter in a field, all before the API answers
    await b.page.click('[data-testid="schedule-create-submit"]', { count: 2 });
    await b.page.focus('[data-testid="schedule-cron"]');
    await b.page.keyboard.press("Enter");
    await b.page.waitForFunction(
      `document.querySelector('[data-testid="schedules-message"]')?.textContent?.startsWith("created")`,
      WAIT,
    );
    // Past the API's delay again: a second create sent would have been received by now.
    await new Promise((resolve) => setTimeout(resolve, CREATE_DELAY_MS * 2));

    // Assess
    expect(creates).toHaveLength(1);
    const line = await b.page.$eval('[data-testid="schedules-message"]', (e) => e.textContent);
    expect(line).toBe("created sch-1");
  });
});
