import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsoleBrowser } from "./support/browser.js";
import {
  deadLetteredTaskAnswer,
  type FakeApiConsole,
  startFakeApiConsole,
} from "./support/fake-api-console.js";

/**
 * `punctual console` in a real headless Chromium: "Replay all matching" asks only once its dry run answers, which
 * against a slow API is seconds after the click. A question the operator is reading meanwhile (a row's Discard) must
 * not turn into "Replay all 500 …?" under the cursor, its confirm button the same button. A fake API on loopback.
 */
const DRY_RUN_DELAY_MS = 2_000;
const WAIT = { timeout: 15_000 };
const DEAD = deadLetteredTaskAnswer("demo.dead-1", "demo");

let fake: FakeApiConsole;
let b: ConsoleBrowser;
const writes: string[] = [];

beforeAll(async () => {
  fake = await startFakeApiConsole((req, res) => {
    const json = (body: unknown) =>
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    const url = new URL(req.url ?? "/", "http://api");
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      if (req.method === "POST" && url.pathname === "/v1/topics/demo/replay") {
        const dry = body.includes('"dry_run":true');
        if (!dry) writes.push(`replay ${body}`);
        const answer = { matched: 500, replayed: dry ? 0 : 500, failed: [], next_cursor: null };
        return void setTimeout(() => json(answer), dry ? DRY_RUN_DELAY_MS : 0);
      }
      if (req.method === "DELETE") {
        writes.push(`cancel ${url.pathname}`);
        return json({ task_id: DEAD.task_id, status: "cancelled" });
      }
      if (url.pathname === "/v1/topics")
        return json({
          topics: [
            {
              topic: "demo",
              paused: false,
              backlog: { waiting: 0, in_flight: 0 },
              oldest_age_seconds: null,
              dead_letter_count: 1,
            },
          ],
        });
      if (url.pathname === "/v1/tasks" && url.searchParams.get("status") === "failed")
        return json({ tasks: [DEAD], next_cursor: null });
      return json({ tasks: [], schedules: [], destinations: [], next_cursor: null });
    });
  });
  b = fake.browser;
});

afterAll(async () => {
  await fake?.stop();
});

const dialogText = () => b.page.$eval('[data-testid="confirm-message"]', (e) => e.textContent ?? "");

describe("the confirmation dialog while a slow dry run is under way", () => {
  it("keeps the question the operator is reading; the late one waits its turn", async () => {
    // Prepare
    await b.page.goto(fake.consoleUrl, { waitUntil: "load" });
    await b.page.waitForSelector('[data-testid="dead-letter-cancel"]', WAIT);

    // Act: Replay all (its dry run slow), then a row's Discard while the dry run is unanswered
    await b.page.click('[data-testid="replay-matching"]');
    await b.page.click('[data-testid="dead-letter-cancel"]');
    await b.page.waitForFunction(
      `document.querySelector('[data-testid="confirm-message"]')?.textContent?.startsWith("Discard dead-lettered task")`,
      WAIT,
    );
    // Past the dry run's answer: its question has been asked by now.
    await new Promise((resolve) => setTimeout(resolve, DRY_RUN_DELAY_MS * 2));
    const readingWhenClicked = await dialogText();
    // A double click: its second click must not confirm the question that shows next in the same dialog.
    await b.page.click('[data-testid="confirm-yes"]', { count: 2 });
    await b.page.waitForFunction(
      `document.querySelector('[data-testid="dead-letters-message"]')?.textContent`,
      WAIT,
    );
    const line = await b.page.$eval('[data-testid="dead-letters-message"]', (e) => e.textContent);
    const confirmed = [...writes];
    const next = await b.page
      .waitForFunction(
        `document.querySelector('[data-testid="confirm-dialog"]')?.open && document.querySelector('[data-testid="confirm-message"]')?.textContent?.startsWith("Replay all")`,
        WAIT,
      )
      .then(
        () => dialogText(),
        () => "no second question",
      );
    if (next !== "no second question") await b.page.click('[data-testid="confirm-no"]');

    // Assess: the click confirmed the Discard it showed; Replay all was asked after, and declined
    expect(readingWhenClicked).toBe(
      "Discard dead-lettered task demo.dead-1? It will not be delivered, and can no longer be replayed.",
    );
    expect(confirmed).toEqual(["cancel /v1/tasks/demo.dead-1"]);
    expect(line).toBe("discarded demo.dead-1; it will not be delivered (now cancelled)");
    expect(next).toBe("Replay all 500 dead-lettered tasks matching this filter?");
    expect(writes).toEqual(["cancel /v1/tasks/demo.dead-1"]);
  });
});
