import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

/**
 * The batch route parses up to 4 MiB of JSON before it reads any item, then checks each item, in a 512 MB function.
 * Running out of memory kills the invocation, which API Gateway answers with a bare 500, whatever the body said. Each
 * case runs in a child process whose heap is capped at half the function's memory, so running out is seen rather
 * than guessed: `body` (a JS expression) is parsed as the route parses it and added by the batch service, and the
 * child prints `answer` (a JS expression over `answer`, the batch's answer) as JSON.
 */
async function batchInHalfTheMemory(body: string, answer: string): Promise<unknown> {
  const child = `
const { parseExactJson, MAX_JSON_DEPTH } = await import("#shared/domain/exact-json.js");
const { MAX_BATCH_BODY_BYTES } = await import("#shared/api/schemas/batch-request.js");
const { addTasksBatch } = await import("#shared/services/add-tasks-batch.js");
const { fixture } = await import("./test/unit/api/fakes.js");
const body = ${body};
if (Buffer.byteLength(body) > MAX_BATCH_BODY_BYTES) throw new Error("the body must fit the batch cap");
const parsed = parseExactJson(body, MAX_JSON_DEPTH);
const answer = await addTasksBatch(fixture(Date.now()).deps, parsed.ok ? parsed.value : undefined);
console.log(JSON.stringify(${answer}));
`;
  const { stdout } = await run(
    process.execPath,
    ["--max-old-space-size=256", "--import", "tsx", "--input-type=module", "-e", child],
    { cwd: process.cwd(), maxBuffer: 1024 * 1024 },
  );
  return JSON.parse(stdout.trim());
}

describe("POST /v1/tasks/batch in half the function's 512 MB, never out of memory (a bare 500)", () => {
  it("parses and adds a valid 4 MiB body dense in containers: 100 items, each an array of 13,900 empty objects", async () => {
    // Prepare: ~40 KB of content an item, far under the topic's 256 KiB; over a million containers in all
    const body = `'{"tasks":[' + Array(100).fill('{"topic":"demo","delay_seconds":5,"content":{"order_id":"o","a":[' + Array(13_900).fill("{}").join(",") + ']},"callback":{"url":"https://hooks.example.com/n"}}').join(",") + "]}"`;

    // Act
    const answer = await batchInHalfTheMemory(body, "{ added: answer.added, failed: answer.failed }");

    // Assess
    expect(answer).toEqual({ added: 100, failed: 0 });
  }, 120_000);

  it("answers 400 for an item holding 600,000 numbers no JS number holds, 120 levels down outside content", async () => {
    // Prepare: numbers outside `content` are read as JS numbers, each that none holds an issue at its path
    const body = `'{"tasks":[{"topic":"demo","delay_seconds":5,"content":{"order_id":"o"},"x":' + "[".repeat(120) + Array(600_000).fill("1e400").join(",") + "]".repeat(120) + "}]}"`;

    // Act
    const answer = await batchInHalfTheMemory(
      body,
      "{ status: answer.results[0].status, code: answer.results[0].error.code, first: answer.results[0].error.issues[0] }",
    );

    // Assess
    expect(answer).toEqual({
      status: 400,
      code: "validation_failed",
      // The path as every answer clips it: its first 200 characters.
      first: { path: `${`x${".0".repeat(120)}`.slice(0, 200)}…`, message: "is not a representable number" },
    });
  }, 120_000);
});
