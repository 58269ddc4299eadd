import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

/**
 * The batch route parses up to 4 MiB of JSON before it reads any item, in a 512 MB function. JSON dense in containers
 * (`[{},{},…]`: over a million of them in 4 MiB) must not take more memory to parse than the function has: the
 * invocation would die out of memory, which API Gateway answers with a bare 500, whatever the body said. Run in a
 * child process whose heap is capped at half the function's memory, so running out is seen rather than guessed.
 */
const CHILD = `
const { parseExactJson, MAX_JSON_DEPTH } = await import("#shared/domain/exact-json.js");
const { MAX_BATCH_BODY_BYTES } = await import("#shared/api/schemas/batch-request.js");
const { addTasksBatch } = await import("#shared/services/add-tasks-batch.js");
const { fixture } = await import("./test/unit/api/fakes.js");
// 100 valid items of ~40 KB each (far under the topic's 256 KiB), each content an array of 13,900 empty objects.
const content = '{"order_id":"o","a":[' + Array(13_900).fill("{}").join(",") + "]}";
const item = '{"topic":"demo","delay_seconds":5,"content":' + content + ',"callback":{"url":"https://hooks.example.com/n"}}';
const body = '{"tasks":[' + Array(100).fill(item).join(",") + "]}";
if (Buffer.byteLength(body) > MAX_BATCH_BODY_BYTES) throw new Error("the body must fit the batch cap");
const parsed = parseExactJson(body, MAX_JSON_DEPTH);
const answer = await addTasksBatch(fixture(Date.now()).deps, parsed.ok ? parsed.value : undefined);
console.log(JSON.stringify({ added: answer.added, failed: answer.failed }));
`;

describe("POST /v1/tasks/batch: a 4 MiB body dense in containers", () => {
  it("is parsed and added within half the function's 512 MB, not run out of memory (a bare 500)", async () => {
    // Act
    const { stdout } = await run(
      process.execPath,
      ["--max-old-space-size=256", "--import", "tsx", "--input-type=module", "-e", CHILD],
      { cwd: process.cwd(), maxBuffer: 1024 * 1024 },
    );

    // Assess
    expect(JSON.parse(stdout.trim())).toEqual({ added: 100, failed: 0 });
  }, 120_000);
});

/**
 * Numbers outside `content` are read as JS numbers, and each that no JS number holds is an issue at its path. A 4 MiB
 * body can hold 600,000 of them 120 levels down in one field: an issue each, with its whole path written out,
 * took more memory than the function has (and, read again for each way an item is checked, far more than its time).
 */
const NUMBERS_CHILD = `
const { parseExactJson, MAX_JSON_DEPTH } = await import("#shared/domain/exact-json.js");
const { MAX_BATCH_BODY_BYTES } = await import("#shared/api/schemas/batch-request.js");
const { addTasksBatch } = await import("#shared/services/add-tasks-batch.js");
const { fixture } = await import("./test/unit/api/fakes.js");
const field = "[".repeat(120) + Array(600_000).fill("1e400").join(",") + "]".repeat(120);
const body = '{"tasks":[{"topic":"demo","delay_seconds":5,"content":{"order_id":"o"},"x":' + field + "}]}";
if (Buffer.byteLength(body) > MAX_BATCH_BODY_BYTES) throw new Error("the body must fit the batch cap");
const parsed = parseExactJson(body, MAX_JSON_DEPTH);
const answer = await addTasksBatch(fixture(Date.now()).deps, parsed.ok ? parsed.value : undefined);
const [item] = answer.results;
console.log(JSON.stringify({ status: item.status, code: item.error.code, first: item.error.issues[0] }));
`;

describe("POST /v1/tasks/batch: a 4 MiB body of numbers no JS number holds, outside content", () => {
  it("is answered 400 for its item within half the function's 512 MB, not run out of memory", async () => {
    // Act
    const { stdout } = await run(
      process.execPath,
      ["--max-old-space-size=256", "--import", "tsx", "--input-type=module", "-e", NUMBERS_CHILD],
      { cwd: process.cwd(), maxBuffer: 1024 * 1024 },
    );

    // Assess
    expect(JSON.parse(stdout.trim())).toEqual({
      status: 400,
      code: "validation_failed",
      // The path as every answer clips it: its first 200 characters.
      first: { path: `${`x${".0".repeat(120)}`.slice(0, 200)}…`, message: "is not a representable number" },
    });
  }, 120_000);
});
