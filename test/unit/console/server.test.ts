import { mkdtemp, readFile, rm, stat, utimes } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConsole, ensureConsoleBuilt } from "../../../console/build.js";
import { consoleHandler } from "../../../console/server.js";
import { quietMetrics, serveOnLoopback } from "../../support/console-server.js";

let dist: string;
let origin: string;
let closeServer: () => Promise<void>;

beforeAll(async () => {
  dist = path.join(await mkdtemp(path.join(tmpdir(), "console-")), "dist");
  await buildConsole(dist);
  const handle = consoleHandler({
    distDir: dist,
    sources: {
      metrics: async (q) =>
        quietMetrics(q.topic, {
          added: q.minutes,
          rates: { added_per_minute: 1, delivered_per_minute: 0, failed_per_minute: 0 },
        }),
    },
  });
  ({ origin, close: closeServer } = await serveOnLoopback(handle));
});

afterAll(async () => {
  await closeServer();
  await rm(path.dirname(dist), { recursive: true, force: true });
});

const marked = { "x-punctual-console": "1" };

describe("the console's static build", () => {
  it("writes the page, its bundle (Preact + uPlot) and uPlot's stylesheet", async () => {
    const html = await readFile(path.join(dist, "index.html"), "utf8");
    const js = await readFile(path.join(dist, "app.js"), "utf8");
    expect(html).toContain('<script type="module" src="/console/app.js"></script>');
    expect(html).toContain('href="/console/uplot.css"');
    expect(js).toContain("uplot");
    expect((await readFile(path.join(dist, "uplot.css"), "utf8")).length).toBeGreaterThan(0);
  });
});

describe("ensureConsoleBuilt", () => {
  it("builds when dist/ is missing or older than the sources, and leaves a fresh build alone", async () => {
    // Prepare
    const out = path.join(await mkdtemp(path.join(tmpdir(), "console-")), "dist");
    const app = path.join(out, "app.js");
    try {
      // Act: missing → built
      await ensureConsoleBuilt(out);
      const first = (await stat(app)).mtimeMs;
      // Act: fresh → untouched
      await ensureConsoleBuilt(out);
      const second = (await stat(app)).mtimeMs;
      // Act: older than the sources → rebuilt
      await utimes(app, new Date(0), new Date(0));
      await ensureConsoleBuilt(out);
      const third = (await stat(app)).mtimeMs;

      // Assess
      expect(second).toBe(first);
      expect(third).toBeGreaterThan(0);
    } finally {
      await rm(path.dirname(out), { recursive: true, force: true });
    }
  });
});

describe("consoleHandler", () => {
  it("serves the built files under /console and nothing else from the folder", async () => {
    const page = await fetch(`${origin}/console`);
    const script = await fetch(`${origin}/console/app.js`);
    const traversal = await fetch(`${origin}/console/..%2F..%2Fpackage.json`);
    const other = await fetch(`${origin}/v1/topics`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(script.headers.get("content-type")).toContain("text/javascript");
    expect(traversal.status).toBe(404);
    expect(other.status).toBe(418);
  });

  it("answers metrics for a valid query and refuses a bad one with a structured 400", async () => {
    const good = await fetch(`${origin}/console/api/metrics?topic=orders&minutes=5`, { headers: marked });
    const bad = await fetch(`${origin}/console/api/metrics?topic=orders&minutes=500`, { headers: marked });
    expect(good.status).toBe(200);
    expect(await good.json()).toMatchObject({ topic: "orders", added: 5 });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: "validation_failed" } });
  });

  it("a query missing a parameter is the API's 400: validation_failed, issues as {path, message} naming it", async () => {
    // Act
    const answer = await fetch(`${origin}/console/api/metrics?minutes=5`, { headers: marked });

    // Assess
    expect(answer.status).toBe(400);
    const { error } = (await answer.json()) as {
      error: { code: string; message: string; issues: unknown[] };
    };
    expect(error.code).toBe("validation_failed");
    expect(error.issues).toEqual([{ path: "topic", message: "is required" }]);
    expect(error.message).toBe("topic: is required");
  });

  it("a 404 names the unknown file or endpoint cut to 64 characters, never the whole path", async () => {
    const long = "q".repeat(5_000);
    const file = await fetch(`${origin}/console/${long}.js`);
    const endpoint = await fetch(`${origin}/console/api/${long}`, { headers: marked });
    for (const answer of [file, endpoint]) {
      expect(answer.status).toBe(404);
      const { error } = (await answer.json()) as { error: { message: string } };
      expect(error.message).toContain("q".repeat(20));
      expect(error.message).not.toContain("q".repeat(64));
    }
  });

  it("sends a Content-Security-Policy and the other security headers on every answer: page, files, calls, refusals", async () => {
    const answers = await Promise.all([
      fetch(`${origin}/console`),
      fetch(`${origin}/console/app.js`),
      fetch(`${origin}/console/console.css`),
      fetch(`${origin}/console/api/metrics?topic=orders&minutes=5`, { headers: marked }),
      fetch(`${origin}/console/nothing.js`),
      fetch(`${origin}/console/api/metrics?topic=orders`),
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 404, 403]);
    for (const answer of answers) {
      const csp = answer.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe");
      expect(answer.headers.get("x-frame-options")).toBe("DENY");
      expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
      expect(answer.headers.get("referrer-policy")).toBe("no-referrer");
    }
  });

  it("has no local view without a local source", async () => {
    expect((await fetch(`${origin}/console/api/local`, { headers: marked })).status).toBe(404);
  });

  it("refuses calls without the console header, from another origin, or for a non-loopback host", async () => {
    const url = `${origin}/console/api/metrics?topic=orders`;
    const unmarked = await fetch(url);
    const crossSite = await fetch(url, { headers: { ...marked, origin: "https://evil.example" } });
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = http.get(url, { headers: { ...marked, host: "evil.example" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once("error", reject);
    });
    expect([unmarked.status, crossSite.status, rebound]).toEqual([403, 403, 403]);
  });

  it("refuses an opaque origin (Origin: null, a sandboxed frame's or a data: page's) and loopback near misses", async () => {
    // Prepare
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = http.get(
          `${origin}/console/api/metrics?topic=orders`,
          { headers: { ...marked, ...headers } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.once("error", reject);
      });
    const port = new URL(origin).port;

    // Act
    const statuses = await Promise.all([
      status({ origin: "null" }),
      status({ origin: `http://localhost:${port}` }),
      ...[
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "[::1].evil.example",
        "evil.example#@127.0.0.1",
      ].map((name) => status({ host: `${name}:${port}` })),
    ]);

    // Assess: each refused; the same call from this origin is answered.
    expect(statuses).toEqual([403, 403, 403, 403, 403, 403]);
    expect(await status({ origin })).toBe(200);
  });

  it("names a refused host in a message that fits any server it guards, cut to a bounded echo", async () => {
    // Prepare: a rebound name far longer than any echo we allow.
    const host = `${"a".repeat(2000)}.evil.example`;

    // Act
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.get(
        `${origin}/console/api/metrics?topic=orders`,
        { headers: { ...marked, host } },
        (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (chunk) => {
            text += chunk;
          });
          res.once("end", () => resolve(text));
        },
      );
      req.once("error", reject);
    });

    // Assess
    expect(answer).toContain("only loopback host names are served here");
    expect(answer).not.toContain("the console");
    expect(answer.length).toBeLessThan(400);
  });
});
