import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";

/** `punctual` in-process against a server that answers what it should not. */
async function run(
  argv: string[],
  answer: { status: number; body: unknown; headers?: Record<string, string> },
) {
  const fetch: typeof globalThis.fetch = async () =>
    new Response(typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body), {
      status: answer.status,
      headers: answer.headers ?? { "content-type": "application/json" },
    });
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, out: out.join(""), err: err.join("") };
}

const taskIdOf = (n: number) => `demo.n${n}.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY`;
const added = (n: number) => ({
  status: 201,
  task_id: taskIdOf(n),
  topic: "demo",
  task_status: "scheduled",
  due_at: "2026-11-23T12:01:30.000Z",
});

describe("tasks add-batch: a batch answer whose summary contradicts its results", () => {
  async function addBatchAnswered(body: unknown) {
    const dir = await mkdtemp(path.join(tmpdir(), "punctual-hostile-"));
    const file = path.join(dir, "tasks.json");
    const task = { topic: "demo", delay_seconds: 90, content: {} };
    await writeFile(file, JSON.stringify([task, task]));
    return run(["--json", "tasks", "add-batch", "--file", file], { status: 200, body });
  }

  it("an item refused (400) exits 2 even when the answer's `failed` says 0", async () => {
    // Act
    const refused = { status: 400, error: { code: "validation_failed", message: "bad" } };
    const result = await addBatchAnswered({ results: [added(0), refused], added: 2, failed: 0 });

    // Assess
    expect(result.code).toBe(2);
  });

  it("an item answered 503 exits 3 even when the answer's `failed` says 0", async () => {
    // Act
    const busy = { status: 503, error: { code: "service_unavailable", message: "retry it" } };
    const result = await addBatchAnswered({ results: [busy, added(1)], added: 2, failed: 0 });

    // Assess
    expect(result.code).toBe(3);
  });

  it("every item added exits 0 even when the answer's `failed` says 1", async () => {
    // Act
    const result = await addBatchAnswered({ results: [added(0), added(1)], added: 0, failed: 1 });

    // Assess
    expect(result.code, result.err).toBe(0);
  });
});
