import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_LOCAL_SIGNING_SECRET } from "#local/cloud/local-cloud.js";
import { verificationKeys } from "#shared/security/signing.js";

/**
 * docs/OPERATIONS.md ("The local cloud"): `npm start` prints a fan-out topic's key per subscriber, each subscriber's receiver
 * verifying only its own, and the local receiver is how one tries callbacks out. A subscriber's copies are signed
 * with its own key, so a receiver that could derive only the topic's key refused every one of them (400, dead-lettered).
 * This runs the bin itself, as a user does, on a free port.
 */
const root = fileURLToPath(new URL("../../../", import.meta.url));
const tsx = `${root}node_modules/.bin/tsx`;
let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill("SIGTERM");
  child = undefined;
});

async function startReceiver(args: string[]): Promise<string> {
  child = spawn(tsx, ["local/bin/receiver.ts", ...args], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const out = child.stdout as NodeJS.ReadableStream;
  return new Promise((resolve, reject) => {
    let text = "";
    out.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(text)?.[1];
      if (url) resolve(url);
    });
    child?.once("exit", (code) => reject(new Error(`receiver exited (${code}): ${text}`)));
  });
}

function post(url: string, key: string): Promise<number> {
  const body = JSON.stringify({ task_id: "orders.x", topic: "orders", subscriber: "billing", content: {} });
  const at = new Date();
  const headers = {
    "content-type": "application/json",
    "webhook-id": "orders.x",
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(key).sign("orders.x", at, body),
  };
  return fetch(`${url}/hooks/punctual`, { method: "POST", headers, body }).then((res) => res.status);
}

describe("local/bin/receiver.ts", () => {
  it("verifies a fan-out subscriber's callbacks with that subscriber's key, given [port] [topic] [subscriber]", async () => {
    const url = await startReceiver(["0", "orders", "billing"]);
    const [billing] = verificationKeys(DEFAULT_LOCAL_SIGNING_SECRET, "orders", "billing");
    const [audit] = verificationKeys(DEFAULT_LOCAL_SIGNING_SECRET, "orders", "audit");
    const [topic] = verificationKeys(DEFAULT_LOCAL_SIGNING_SECRET, "orders");
    expect(await post(url, billing as string)).toBe(204);
    // Only its own: another subscriber's key and the topic's are refused.
    expect(await post(url, audit as string)).toBe(400);
    expect(await post(url, topic as string)).toBe(400);
  }, 30_000);

  it("verifies a topic's callbacks with the topic's key when no subscriber is given", async () => {
    const url = await startReceiver(["0", "orders"]);
    const [topic] = verificationKeys(DEFAULT_LOCAL_SIGNING_SECRET, "orders");
    expect(await post(url, topic as string)).toBe(204);
  }, 30_000);

  it("prints a body's control characters escaped: a web page's POST cannot write escape sequences to the terminal", async () => {
    // Prepare: what any page open in the browser can send it (a text/plain POST needs no preflight), unsigned.
    const url = await startReceiver(["0", "orders"]);
    let printed = "";
    const line = new Promise<void>((resolve) =>
      child?.stdout?.on("data", (chunk: Buffer) => {
        printed += chunk.toString();
        if (printed.includes("ZXZpbA")) resolve();
      }),
    );
    const body = "\u001b]52;c;ZXZpbA==\u0007\u001b[2J\rsignature OK\u202e";

    // Act
    const status = await fetch(`${url}/hooks/punctual`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body,
    }).then((res) => res.status);
    await line;

    // Assess: refused, and printed as text: OSC 52 (clipboard), clear screen, carriage return and bidi override
    expect(status).toBe(400);
    expect(printed.replaceAll("\n", "")).not.toMatch(/[\p{Cc}\u202e]/u);
    expect(printed).toContain("\\u001b]52;c;ZXZpbA==\\u0007\\u001b[2J\\rsignature OK\\u202e");
  }, 30_000);

  it("says in one line that its port is taken, and exits, when another program holds it", async () => {
    // Prepare: a port held by something else (a dev server on :4000, a receiver already running).
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const { port } = holder.address() as AddressInfo;
    try {
      // Act
      child = spawn(tsx, ["local/bin/receiver.ts", String(port)], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const code = await new Promise<number | null>((resolve) => child?.once("exit", resolve));

      // Assess
      expect(code).toBe(1);
      expect(stderr).toContain(`127.0.0.1:${port} is already in use`);
      expect(stderr).not.toMatch(/^\s+at /m);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  }, 30_000);

  it("says in one line that PUNCTUAL_SIGNING_SECRET is no signing secret, and exits", async () => {
    // Act
    child = spawn(tsx, ["local/bin/receiver.ts", "0"], {
      cwd: root,
      env: { ...process.env, PUNCTUAL_SIGNING_SECRET: "garbage" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child?.once("exit", resolve));

    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain("PUNCTUAL_SIGNING_SECRET");
    expect(stderr).toContain("at least 24 bytes");
    expect(stderr).not.toMatch(/^\s+at /m);
  }, 30_000);
});
