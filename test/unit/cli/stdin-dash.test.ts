import { execFile } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const BIN = path.resolve(import.meta.dirname, "../../../cli/bin/punctual.mjs");
const TASK_ID = "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY";

let server: Server | undefined;
afterEach(async () => {
  server?.close();
  server = undefined;
});

/** An API answering every request as an add (or a batch of one) would, recording each body. */
async function apiRecording(bodies: string[]): Promise<string> {
  server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8").on("data", (chunk: string) => {
      body += chunk;
    });
    request.on("end", () => {
      bodies.push(body);
      const task = { task_id: TASK_ID, topic: "demo", due_at: "2026-11-23T12:01:30.000Z" };
      const answer = request.url?.endsWith("/batch")
        ? { results: [{ status: 201, ...task, task_status: "scheduled" }], added: 1, failed: 0 }
        : { ...task, status: "scheduled" };
      response.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(answer));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The bin in a new process, `input` on its stdin (a pipe). */
function punctual(argv: string[], input: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...argv], (error, out, err) =>
      resolve({ code: typeof error?.code === "number" ? error.code : 0, out, err }),
    );
    child.stdin?.end(input);
  });
}

describe("`-` as a file reads stdin, as Unix tools do", () => {
  it("tasks add --content-file - sends the piped content exactly as written", async () => {
    // Prepare
    const bodies: string[] = [];
    const api = await apiRecording(bodies);
    const content = '{"id":12345678901234567890,"n":1.0}';

    // Act
    const result = await punctual(
      ["--api", api, "--json", "tasks", "add", "--topic", "demo", "--delay", "5", "--content-file", "-"],
      content,
    );

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(bodies).toHaveLength(1);
    expect(JSON.parse(bodies[0] as string).content).toBe(content);
  }, 30_000);

  it("tasks add-batch --file - sends the piped batch", async () => {
    // Prepare
    const bodies: string[] = [];
    const api = await apiRecording(bodies);
    const batch = JSON.stringify([{ topic: "demo", delay_seconds: 5, content: { n: 1 } }]);

    // Act
    const result = await punctual(["--api", api, "--json", "tasks", "add-batch", "--file", "-"], batch);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(bodies[0] as string).tasks).toHaveLength(1);
  }, 30_000);
});
