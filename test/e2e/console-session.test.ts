import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsoleBrowser } from "./support/browser.js";
import { type FakeApiConsole, startFakeApiConsole } from "./support/fake-api-console.js";

/**
 * `punctual console`'s session in a real headless Chromium: cookies do not tell ports apart (RFC 6265, section 8.5),
 * so the browser sends the console's session cookie to any server on 127.0.0.1 the user opens — another user's on
 * this machine too. Such a server must not be able to have a call signed with it; the page itself still works. A fake
 * API on loopback; no local cloud.
 */
let fake: FakeApiConsole;
let apiCalls = 0;
let other: http.Server;
/** The Cookie header of each request the server on another port received. */
const cookiesSeenElsewhere: string[] = [];
let consoleUrl: string;
let b: ConsoleBrowser;

beforeAll(async () => {
  fake = await startFakeApiConsole((req, res) => {
    req.resume();
    apiCalls++;
    const topics = [{ topic: "session-topic", paused: false, backlog: { waiting: 0, in_flight: 0 } }];
    const body = new URL(req.url ?? "/", "http://api").pathname.startsWith("/v1/topics")
      ? { topics: topics.map((t) => ({ ...t, oldest_age_seconds: null, dead_letter_count: 0 })) }
      : { tasks: [], schedules: [], destinations: [], next_cursor: null };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  other = http.createServer((req, res) => {
    cookiesSeenElsewhere.push(req.headers.cookie ?? "");
    res.writeHead(200, { "content-type": "text/html" }).end("<p>another local server</p>");
  });
  await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
  consoleUrl = fake.consoleUrl;
  b = fake.browser;
});

afterAll(async () => {
  await fake?.stop();
  other?.closeAllConnections();
  await new Promise((resolve) => other?.close(resolve));
});

describe("punctual console's session in a browser", () => {
  it("the page opened from the printed URL loads through the proxy, with neither secret left in its address", async () => {
    // Act
    await b.page.goto(consoleUrl, { waitUntil: "load" });
    await b.page.waitForFunction(
      `document.querySelector("[data-testid=topics-panel]")?.textContent.includes("session-topic")`,
      { timeout: 15_000 },
    );

    // Assess
    expect(b.page.url()).toBe(`${new URL(consoleUrl).origin}/console`);
  });

  it("a server on another port of 127.0.0.1 the user then opens gets the cookie, but no call signed with it", async () => {
    // Prepare: the user opens another local server in the same browser.
    const otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    await b.page.goto(`${otherOrigin}/`, { waitUntil: "load" });
    const sent = cookiesSeenElsewhere.find((c) => c.includes("punctual_console_")) ?? "";
    const before = apiCalls;

    // Act: that server's process replays what it was sent, with the page's header.
    const origin = new URL(consoleUrl).origin;
    const replayed = await fetch(`${origin}/v1/topics`, {
      headers: { cookie: sent, "x-punctual-console": "1" },
    });

    // Assess
    expect(sent).toMatch(/punctual_console_\d+=[\w-]{43}/);
    expect(replayed.status).toBe(403);
    expect(await replayed.text()).toContain("open the URL `punctual console` printed");
    expect(apiCalls).toBe(before);
    // Its own pages cannot read what the console's page keeps: another origin's storage.
    expect(await b.page.evaluate("JSON.stringify(Object.keys(localStorage))")).toBe("[]");
  });
});
