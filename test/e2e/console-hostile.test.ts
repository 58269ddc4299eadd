import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConsoleBrowser, launchConsoleBrowser } from "./support/browser.js";
import { e2eTarget, type Harness, startHarness } from "./support/harness.js";

/**
 * The console against hostile data and hostile pages, in a real headless Chromium on the local cloud: markup in
 * a task's content, group key and callback URL is shown as text and never runs (a receiver's HTML answer is read
 * and dropped, never stored: the task's error is `HTTP 500`); the page runs under a Content-Security-Policy
 * without violating it; another site cannot frame the console (clickjacking its Replay and Cancel buttons), nor
 * pause a topic with a form-like request to the local API, nor reach it under its own host name (DNS rebinding).
 */
const TOPIC = "hostile";
/** Would set window.__pwned if any of it ran as markup. */
const PAYLOAD = `<img src=x onerror="window.__pwned='img'"></script><script>window.__pwned='script'</script>`;
const WAIT = { timeout: 20_000 };
const local = e2eTarget() === "local";

let h: Harness;
let b: ConsoleBrowser;
/** A receiver that answers every delivery 500 with the payload as an HTML body. */
let receiver: { url: string; server: http.Server };
/** Another site (another origin: `localhost`, not `127.0.0.1`) whose page the test chooses. */
let foreign: { url: string; server: http.Server; page: string };

async function serve(handler: http.RequestListener): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  if (!local) return;
  receiver = await serve((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(500, { "content-type": "text/html" }).end(PAYLOAD));
  });
  const site = { page: "" };
  const server = await serve((_req, res) =>
    res.writeHead(200, { "content-type": "text/html" }).end(site.page),
  );
  foreign = Object.assign(site, server, { url: server.url.replace("127.0.0.1", "localhost") });
  h = await startHarness({
    sweeperIntervalMs: 500,
    configOverrides: { topics: { [TOPIC]: { deliverBy: "order_id", maxAttempts: 1 } } },
  });
  b = await launchConsoleBrowser();
  // Strings, not functions: this project's type-check has no DOM types; they run in the page.
  await b.page.evaluateOnNewDocument(`
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__violations.push(e.violatedDirective + " " + e.blockedURI));
  `);
});

afterAll(async () => {
  await b?.close();
  await h?.stop();
  for (const s of [receiver?.server, foreign?.server]) await new Promise((r) => s?.close(r) ?? r(undefined));
});

describe.runIf(local)("the console against hostile data and hostile pages", () => {
  it("shows markup in content, group key and callback URL as text, the error as its status; nothing of it runs", async () => {
    // Prepare: a dead-lettered task whose every field the page shows carries the payload.
    const added = await h.api("POST", "/v1/tasks", {
      topic: TOPIC,
      delay_seconds: 0,
      content: { order_id: PAYLOAD, note: PAYLOAD },
      callback: { url: `${receiver.url}/${encodeURIComponent(PAYLOAD)}?next=javascript:alert(1)` },
    });
    expect(added.status, added.text).toBe(201);
    const id = String(added.json.task_id);
    await h.waitForStatus(id, ["failed"]);

    // Act: the dead-letter list, the task's view and its group's list.
    const page = await b.page.goto(`${h.cloud.apiUrl}/console?topic=${TOPIC}`);
    await b.page.waitForSelector(`[data-testid="dead-letter-${id}"]`, WAIT);
    await b.page.click(`[data-testid="dead-letter-${id}"] [data-testid="open-task"]`);
    await b.page.waitForSelector('[data-testid="task-content"]', WAIT);
    await b.page.type('[data-testid="group-input"]', PAYLOAD);
    await b.page.click('[data-testid="group-search"]');
    await b.page.waitForSelector('[data-testid="group-list"] [data-testid="open-task"]', WAIT);

    // Assess: the payload is on the page as text, no element came of it, nothing ran, no policy was broken.
    const seen = (await b.page.evaluate(`({
      text: document.body.textContent ?? "",
      images: document.querySelectorAll("img").length,
      scripts: [...document.scripts].map((s) => s.src),
      links: document.querySelectorAll("a[href]").length,
      pwned: window.__pwned,
      violations: window.__violations,
    })`)) as {
      text: string;
      images: number;
      scripts: string[];
      links: number;
      pwned?: string;
      violations: string[];
    };
    expect(seen.pwned).toBeUndefined();
    expect(seen.images).toBe(0);
    expect(seen.links).toBe(0);
    expect(seen.scripts).toEqual([`${h.cloud.apiUrl}/console/app.js`]);
    expect(seen.text).toContain(`Group “${PAYLOAD}” in ${TOPIC}`);
    expect(seen.text).toContain(JSON.stringify({ order_id: PAYLOAD, note: PAYLOAD }));
    expect(seen.text).toContain("HTTP 500");
    expect(seen.violations).toEqual([]);
    expect(page?.headers()["content-security-policy"]).toContain("script-src 'self'");
  });

  it("shows invisible and reordering characters in a group value and the content as escapes", async () => {
    // Prepare: a group value that would read as another (a right-to-left override flips what follows it; a
    // zero-width space makes `A1` and `A1\u200b` look alike), dead-lettered. (A callback URL is stored as the URL
    // parser writes it: such characters in its path are percent-encoded already.)
    const suffix = randomUUID().slice(0, 8);
    const group = `A1\u200b\u202e${suffix}`;
    const shownGroup = `A1\\u200b\\u202e${suffix}`;
    const added = await h.api("POST", "/v1/tasks", {
      topic: TOPIC,
      delay_seconds: 0,
      content: { order_id: group },
      callback: { url: `${receiver.url}/hooks` },
    });
    expect(added.status, added.text).toBe(201);
    const id = String(added.json.task_id);
    await h.waitForStatus(id, ["failed"]);

    // Act: its view, opened from the dead-letter list.
    await b.page.goto(`${h.cloud.apiUrl}/console?topic=${TOPIC}`);
    await b.page.waitForSelector(`[data-testid="dead-letter-${id}"]`, WAIT);
    await b.page.click(`[data-testid="dead-letter-${id}"] [data-testid="open-task"]`);
    await b.page.waitForFunction(
      `document.body.textContent.includes(${JSON.stringify(`group ${shownGroup}`)})`,
      WAIT,
    );

    // Assess: each shows as its escape; no such character is left anywhere on the page.
    const seen = (await b.page.evaluate(`({
      text: document.body.textContent ?? "",
      content: document.querySelector("section.wide [data-testid=task-content]")?.textContent,
    })`)) as { text: string; content?: string };
    expect(seen.content).toBe(`{"order_id":"${shownGroup}"}`);
    expect(JSON.parse(seen.content ?? "")).toEqual({ order_id: group });
    expect(seen.text).not.toMatch(/[\p{Cf}\u0080-\u009f\u2028\u2029]/u);
  });

  it("wraps a group value and a callback URL of one unbroken token inside the task view", async () => {
    // Prepare: a group value at its limit (1,024 characters) and a long callback path, dead-lettered.
    const group = `${randomUUID()}${"g".repeat(988)}`;
    const added = await h.api("POST", "/v1/tasks", {
      topic: TOPIC,
      delay_seconds: 0,
      content: { order_id: group },
      callback: { url: `${receiver.url}/${"p".repeat(1500)}` },
    });
    expect(added.status, added.text).toBe(201);
    const id = String(added.json.task_id);
    await h.waitForStatus(id, ["failed"]);

    // Act: its view, opened from the dead-letter list.
    await b.page.goto(`${h.cloud.apiUrl}/console?topic=${TOPIC}`);
    await b.page.waitForSelector(`[data-testid="dead-letter-${id}"]`, WAIT);
    await b.page.click(`[data-testid="dead-letter-${id}"] [data-testid="open-task"]`);
    await b.page.waitForFunction(`document.body.textContent.includes(${JSON.stringify(group)})`, WAIT);

    // Assess: nothing of it runs past the view's right edge, out of sight unless scrolled sideways.
    const widths = (await b.page.evaluate(`(() => {
      const view = document.querySelector("[data-testid=task-detail]").closest("section");
      return { scroll: view.scrollWidth, client: view.clientWidth };
    })()`)) as { scroll: number; client: number };
    expect(widths.scroll).toBeLessThanOrEqual(widths.client);
  });

  it("cannot be framed by another site", async () => {
    // Prepare
    foreign.page = `<!doctype html><iframe name="console" src="${h.cloud.apiUrl}/console"></iframe>`;

    // Act
    await b.page.goto(foreign.url, { waitUntil: "load" });
    await new Promise((r) => setTimeout(r, 300));
    const frame = b.page.frames().find((f) => f.name() === "console");
    const framed = await frame?.evaluate(`document.querySelector("#app") !== null`).catch(() => false);

    // Assess
    expect(frame).toBeDefined();
    expect(framed).toBe(false);
  });

  it("refuses another site's form-like request to the local API, and a request under a foreign host name", async () => {
    // Prepare: a page on another site that POSTs (no-cors: no preflight, the answer unreadable) to pause.
    const pause = `${h.cloud.apiUrl}/v1/topics/${TOPIC}/pause`;
    foreign.page = `<!doctype html><script>
      window.done = fetch(${JSON.stringify(pause)}, { method: "POST", mode: "no-cors" }).then(() => "sent", String);
    </script>`;

    // Act
    await b.page.goto(foreign.url, { waitUntil: "load" });
    const sent = await b.page.evaluate("window.done");
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = http.get(`${h.cloud.apiUrl}/v1/topics`, { headers: { host: "evil.example" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once("error", reject);
    });

    // Assess: the request went out (the refusal's same-origin CORP header fails the fetch in the page), and the
    // topic is not paused; the rebound name is refused.
    expect(sent).toMatch(/^(sent|TypeError: Failed to fetch)$/);
    const topic = await h.api("GET", `/v1/topics/${TOPIC}`);
    expect(topic.json.paused).toBe(false);
    expect(rebound).toBe(403);
  });
});
