import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsoleServer } from "../../console/cli-server.js";
import { type ConsoleBrowser, launchConsoleBrowser } from "./support/browser.js";

/**
 * `punctual console` in a real headless Chromium while CloudWatch does not answer (throttled, a dropped VPN): the
 * Topics panel's pause state and backlog come from the API, which answers at once, and must be shown without
 * waiting for the window's counts. A fake API on loopback and a metrics source that never answers; no local cloud.
 */
let api: http.Server;
let stopConsole: () => Promise<void>;
let consoleUrl: string;
let b: ConsoleBrowser;

beforeAll(async () => {
  api = http.createServer((req, res) => {
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
  });
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  const server = await startConsoleServer({
    apiUrl: new URL(`http://127.0.0.1:${(api.address() as AddressInfo).port}/`),
    authorize: async () => ({}),
    port: 0,
    metrics: () => new Promise(() => undefined),
  });
  consoleUrl = server.url;
  stopConsole = server.stop;
  b = await launchConsoleBrowser();
});

afterAll(async () => {
  await b?.close();
  await stopConsole?.();
  api?.closeAllConnections();
  await new Promise((resolve) => api?.close(resolve));
});

describe("the console while CloudWatch does not answer", () => {
  it("shows each topic's pause state and backlog from the API, its counts as not known yet", async () => {
    // Act
    await b.page.goto(consoleUrl, { waitUntil: "load" });
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
