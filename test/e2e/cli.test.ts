import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { topicSigningKey } from "#shared/security/signing.js";
import { type Harness, startHarness } from "./support/harness.js";

/** `npx punctual` as scripts run it: the bin as a child process, against the local cloud's URL. */
const BIN = fileURLToPath(new URL("../../cli/bin/punctual.mjs", import.meta.url));

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function punctual(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const childEnv = { ...process.env, PUNCTUAL_API_URL: "", PUNCTUAL_SIGNING_SECRET: "", ...env };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: childEnv }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const api = () => ["--api", h.cloud.apiUrl];
const orderId = () => `order-${randomUUID()}`;

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
  return port;
}

describe("npx punctual against the local cloud", () => {
  it("tasks add --json prints the task; it is delivered with the content exactly as typed; tasks get shows it", async () => {
    // Prepare
    const content = `{"order_id":"${orderId()}","big":12345678901234567890,"price":1.0}`;

    // Act
    const add = await punctual([
      ...api(),
      "--json",
      "tasks",
      "add",
      "--topic",
      "demo",
      "--delay",
      "0",
      "--content",
      content,
      "--callback",
      `${h.receiver.url}/ok/cli`,
    ]);
    const added = JSON.parse(add.stdout) as { task_id: string; status: string };
    await h.receiver.waitFor(() => h.receiver.forTask(added.task_id).length > 0);
    await h.waitForStatus(added.task_id, ["delivered"]);
    const get = await punctual([...api(), "--json", "tasks", "get", added.task_id]);
    const table = await punctual([...api(), "tasks", "get", added.task_id]);

    // Assess
    expect(add.code, add.stderr).toBe(0);
    expect(added.status).toBe("scheduled");
    expect(h.receiver.forTask(added.task_id)[0]?.body).toContain(`"content":${content}`);
    expect(get.code, get.stderr).toBe(0);
    expect(JSON.parse(get.stdout)).toMatchObject({
      task_id: added.task_id,
      status: "delivered",
      attempts: 1,
    });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/status\s*│\s*delivered/);
  });

  it("exits 2 with the API's error as JSON on stderr when the API refuses (4xx), stdout empty", async () => {
    const run = await punctual([
      ...api(),
      "--json",
      "tasks",
      "add",
      "--topic",
      `no-such-topic-${randomUUID().slice(0, 8)}`,
      "--delay",
      "5",
      "--content",
      "{}",
    ]);

    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(JSON.parse(run.stderr)).toMatchObject({
      error: { code: "unknown_topic", status: 400, issues: [{ path: "topic" }] },
    });
  });

  it("exits 2 when cancelling a delivered task, naming the conflict", async () => {
    const add = await punctual([
      ...api(),
      "--json",
      "tasks",
      "add",
      "--topic",
      "demo",
      "--delay",
      "0",
      "--content",
      `{"order_id":"${orderId()}"}`,
      "--callback",
      `${h.receiver.url}/ok/cli-cancel`,
    ]);
    const { task_id } = JSON.parse(add.stdout) as { task_id: string };
    await h.waitForStatus(task_id, ["delivered"]);

    const cancel = await punctual([...api(), "tasks", "cancel", task_id]);

    expect(cancel.code).toBe(2);
    expect(cancel.stderr).toContain("error: conflict (HTTP 409)");
  });

  it("exits 1 for usage mistakes", async () => {
    const noTiming = await punctual([...api(), "tasks", "add", "--topic", "demo", "--content", "{}"]);
    const twoTimings = await punctual([
      ...api(),
      "tasks",
      "add",
      "--topic",
      "demo",
      "--delay",
      "1",
      "--due-at",
      "2030-01-01T00:00:00Z",
      "--content",
      "{}",
    ]);
    const notJson = await punctual([
      ...api(),
      "tasks",
      "add",
      "--topic",
      "demo",
      "--delay",
      "1",
      "--content",
      "{",
    ]);
    const noApi = await punctual(["tasks", "get", "demo.x"]);

    expect([noTiming.code, twoTimings.code, notJson.code, noApi.code]).toEqual([1, 1, 1, 1]);
    expect(noTiming.stderr).toContain("give one of --delay, --due-at or --timing-moment");
    expect(twoTimings.stderr).toContain("cannot be used with");
    expect(notJson.stderr).toContain("the content is not JSON");
    expect(noApi.stderr).toContain("no API");
  });

  it("exits 3 when the API cannot be reached", async () => {
    const port = await closedPort();

    const run = await punctual(["--api", `http://127.0.0.1:${port}`, "--json", "tasks", "get", "demo.x"]);

    expect(run.code).toBe(3);
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { code: "network_error", status: 0 } });
  });

  it("key --topic prints the topic's verification key derived from the signing secret", async () => {
    const run = await punctual(["key", "--topic", "demo"], {
      PUNCTUAL_SIGNING_SECRET: h.cloud.signingSecret,
    });
    const json = await punctual(["--json", "key", "--topic", "demo"], {
      PUNCTUAL_SIGNING_SECRET: h.cloud.signingSecret,
    });

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`${topicSigningKey(h.cloud.signingSecret, "demo")}\n`);
    expect(JSON.parse(json.stdout)).toEqual({
      topic: "demo",
      key: topicSigningKey(h.cloud.signingSecret, "demo"),
    });
  });

  it("shows an example in every command's --help", async () => {
    const commands = [
      [],
      ["tasks"],
      ["tasks", "add"],
      ["tasks", "get"],
      ["tasks", "cancel"],
      ["key"],
      ["console"],
      // Issue 14, point 4.
      ...["create", "show", "list", "pause", "resume", "delete"].map((c) => ["schedules", c]),
      ["schedules"],
    ];

    const runs = await Promise.all(commands.map((path) => punctual([...path, "--help"])));

    for (const [i, run] of runs.entries()) {
      expect(run.code, commands[i]?.join(" ")).toBe(0);
      expect(run.stdout, commands[i]?.join(" ")).toContain("Example:\n  $ npx punctual");
    }
  });
});
