import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsoleBrowser } from "./support/browser.js";
import { type FakeApiConsole, startFakeApiConsole } from "./support/fake-api-console.js";

/**
 * `punctual console`'s session in a real headless Chromium: cookies do not tell ports apart (RFC 6265, section 8.5),
 * so the browser would send a session cookie to any server on 127.0.0.1 the user opens — another user's on this
 * machine too — and let any of them overwrite it. The console sets none: such a server is sent nothing it could have
 * a call signed with, and neither it nor its pages can spoil the holder's session. A fake API on loopback; no local
 * cloud.
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
    // `/plant`: what a hostile server on another port can do, set a cookie of the console's name for this host.
    const plant =
      req.url === "/plant" ? { "set-cookie": `${consoleCookieName()}=spoiled; Path=/; HttpOnly` } : {};
    res.writeHead(200, { "content-type": "text/html", ...plant }).end("<p>another local server</p>");
  });
  await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
  consoleUrl = fake.consoleUrl;
  b = fake.browser;
});

/** The name the console's session cookie had (`punctual_console_<port>`): a hostile page knows the port. */
function consoleCookieName(): string {
  return `punctual_console_${new URL(consoleUrl).port}`;
}

/** The page shows the fake API's topic: its calls were answered, so its session holds. */
async function topicsShown(): Promise<void> {
  await b.page.waitForFunction(
    `document.querySelector("[data-testid=topics-panel]")?.textContent.includes("session-topic")`,
    { timeout: 15_000 },
  );
}

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

  it("a server on another port of 127.0.0.1 the user then opens is sent no secret of the console's, and gets no call signed with what it was sent", async () => {
    // Prepare: the user opens another local server in the same browser.
    const otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    await b.page.goto(`${otherOrigin}/`, { waitUntil: "load" });
    const sent = cookiesSeenElsewhere.at(-1) ?? "";
    const before = apiCalls;

    // Act: that server's process replays what it was sent, with the page's header.
    const origin = new URL(consoleUrl).origin;
    const replayed = await fetch(`${origin}/v1/topics`, {
      headers: { cookie: sent, "x-punctual-console": "1" },
    });

    // Assess: the console sets no cookie (cookies do not tell ports apart), so nothing of it was sent
    expect(sent).not.toContain("punctual_console_");
    expect(replayed.status).toBe(403);
    expect(await replayed.text()).toContain("open the URL `punctual console` printed");
    expect(apiCalls).toBe(before);
    // Its own pages cannot read what the console's page keeps: another origin's storage.
    expect(await b.page.evaluate("JSON.stringify(Object.keys(localStorage))")).toBe("[]");
  });

  /**
   * What a page on another port of 127.0.0.1 can still reach: the tab (it may navigate it) and, as every server of
   * this host may, the cookies of this host. Neither may leave the holder's session unusable.
   */
  it("a page on another port that sends the tab to the console with another call secret in its fragment does not spoil the session", async () => {
    // Prepare: a working session
    const origin = new URL(consoleUrl).origin;
    await b.page.goto(consoleUrl, { waitUntil: "load" });
    await topicsShown();
    const kept = await b.page.evaluate(`localStorage.getItem("punctual_console_session")`);
    const otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    await b.page.goto(`${otherOrigin}/`, { waitUntil: "load" });

    // Act: that page sends the tab to the console with a secret of its making
    await b.page.goto(`${origin}/console#session=${"A".repeat(43)}`, { waitUntil: "load" });

    // Assess: the page goes on with the secret it had, and the forged one is neither kept nor left in the address
    await topicsShown();
    expect(await b.page.evaluate(`localStorage.getItem("punctual_console_session")`)).toBe(kept);
    expect(b.page.url()).toBe(`${origin}/console`);
  });

  it("a server on another port that sets a cookie of the console's name does not lock the holder out", async () => {
    // Prepare: a working session, then the user opens the other server, which plants its cookie
    const origin = new URL(consoleUrl).origin;
    const otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    await b.page.goto(consoleUrl, { waitUntil: "load" });
    await topicsShown();
    await b.page.goto(`${otherOrigin}/plant`, { waitUntil: "load" });

    // Act: back to the console, as a reload or a new tab does
    const page = await b.page.goto(`${origin}/console`, { waitUntil: "load" });

    // Assess
    expect(page?.status()).toBe(200);
    await topicsShown();
  });
});
