import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsoleBrowser } from "./support/browser.js";
import { type FakeApiConsole, startFakeApiConsole } from "./support/fake-api-console.js";

/**
 * `punctual console` in a real headless Chromium while CloudWatch does not answer (throttled, a dropped VPN): the
 * Topics panel's pause state and backlog come from the API, which answers at once, and must be shown without
 * waiting for the window's counts. A fake API on loopback and a metrics source that never answers; no local cloud.
 */
let fake: FakeApiConsole;
let b: ConsoleBrowser;

beforeAll(async () => {
  fake = await startFakeApiConsole(
    (req, res) => {
      req.resume();
      const body =
        new URL(req.url ?? "/", "http://api").pathname === "/v1/topics"
          ? {
              topics: [
                {
                  topic: "held-metrics",
                  paused: true,
                  backlog: { waiting: 7, in_flight: 0 },
                  oldest_age_seconds: null,
                  dead_letter_count: 0,
                },
              ],
            }
          : { tasks: [], schedules: [], destinations: [], next_cursor: null };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    },
    { metrics: () => new Promise(() => undefined) },
  );
  b = fake.browser;
});

afterAll(async () => {
  await fake?.stop();
});

describe("the console while CloudWatch does not answer", () => {
  it("shows each topic's pause state and backlog from the API, its counts as not known yet", async () => {
    // Act
    await b.page.goto(fake.consoleUrl, { waitUntil: "load" });
    const shown = await b.page
      .waitForFunction(
        `document.querySelector("[data-testid=topic-row-held-metrics] [data-testid=topic-state]")?.textContent === "paused"`,
        { timeout: 20_000 },
      )
      .then(
        () => true,
        () => false,
      );

    // Assess
    expect(shown).toBe(true);
    const row = await b.page.$eval("[data-testid=topic-row-held-metrics]", (el) => el.textContent ?? "");
    expect(row).toContain("7");
    expect(
      await b.page.$eval(
        "[data-testid=topic-row-held-metrics] [data-testid=topic-added]",
        (el) => el.textContent,
      ),
    ).toBe("—");
  });
});
