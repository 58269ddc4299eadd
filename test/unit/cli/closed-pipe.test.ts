import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { taskViewAnswer } from "../client/fakes.js";

const BIN = path.resolve(import.meta.dirname, "../../../cli/bin/punctual.mjs");

/** A task view whose content is `bytes` long: an answer the CLI prints in more than one pipe buffer. */
const TASK_ID = "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY";
const bigTask = (bytes: number) =>
  taskViewAnswer(TASK_ID, { content: JSON.stringify({ filler: "x".repeat(bytes) }) });

let server: Server | undefined;
afterEach(async () => {
  server?.close();
  server = undefined;
});

async function apiAnswering(body: unknown): Promise<string> {
  server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("punctual whose reader closes the pipe early (`| head -c 100`)", () => {
  it("stops quietly, as a Unix tool killed by SIGPIPE does: no stack trace, exit 141", async () => {
    // Prepare
    const api = await apiAnswering(bigTask(1_000_000));
    const child = spawn(process.execPath, [BIN, "--api", api, "tasks", "get", TASK_ID, "--content"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });

    // Act: read the first chunk, then close the reading end, as `head -c 100` does.
    await once(child.stdout, "data");
    child.stdout.destroy();
    const [code] = (await once(child, "exit")) as [number | null];

    // Assess
    expect(stderr).toBe("");
    expect(code).toBe(141);
  }, 30_000);
});
