import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";
import { handlerFetch, loadAddHandlers } from "../client/handler-fetch.js";

/** `punctual tasks add-batch --file` in-process, against the API's real batch handler. */
beforeAll(loadAddHandlers);

async function addBatch(
  fileText: string,
  output: "--json" | "human" = "--json",
  /** What stands between the CLI and the API (a proxy), given the API's fetch. */
  via: (api: typeof globalThis.fetch) => typeof globalThis.fetch = (api) => api,
) {
  const dir = await mkdtemp(path.join(tmpdir(), "punctual-add-batch-"));
  const file = path.join(dir, "tasks.json");
  await writeFile(file, fileText);
  const api = handlerFetch();
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (t: string) => void out.push(t),
    err: (t: string) => void err.push(t),
    env: {},
    fetch: via(api.fetch),
  };
  const code = await main(
    [
      "--api",
      "http://127.0.0.1:3000",
      ...(output === "--json" ? [output] : []),
      "tasks",
      "add-batch",
      "--file",
      file,
    ],
    io,
  );
  return { code, out: out.join(""), err: err.join(""), api };
}

const task = (content: string, extra = "") =>
  `{"topic":"demo","delay_seconds":90,"content":${content},"callback":{"url":"https://hooks.example.com/n"}${extra}}`;

describe("punctual tasks add-batch --file", () => {
  it("a batch the API added whose answer a proxy turns into a 500: its items go again in halves with their keys and are found (200), exit 0, each task stored once", async () => {
    // Prepare: the first request reaches the API; its answer comes back as API Gateway's function-error 500
    let requests = 0;
    const via =
      (api: typeof globalThis.fetch): typeof globalThis.fetch =>
      async (input, init) => {
        const response = await api(input, init);
        if (++requests > 1) return response;
        await response.text();
        return new Response('{"message":"Internal Server Error"}', { status: 500 });
      };
    const tasks = [1, 2, 3].map((n) => task(`{"order_id":"A-${n}"}`));

    // Act
    const run = await addBatch(`[${tasks.join(",")}]`, "--json", via);

    // Assess
    expect(run.code, run.err).toBe(0);
    const answer = JSON.parse(run.out) as { results: { status: number; task_id: string }[] };
    expect(answer.results.map((result) => result.status)).toEqual([200, 200, 200]);
    expect(run.api.paths).toEqual(["/v1/tasks/batch", "/v1/tasks/batch", "/v1/tasks/batch"]);
    expect(run.api.store.tasks.size).toBe(3);
    expect(new Set(answer.results.map((result) => result.task_id))).toEqual(
      new Set(run.api.store.tasks.keys()),
    );
  });

  it("stores each task's content exactly as the file writes it: 64-bit ids and 1.0 as written", async () => {
    // Prepare: numbers no JS number holds, and a decimal the API keeps as written (`1.0` and `1` are two contents).
    const content = '{"order_id":"A-1","id":12345678901234567890,"price":1.0,"tiny":1e-400}';

    // Act
    const run = await addBatch(`{"tasks":[${task(content)}]}`);

    // Assess
    expect(run.code, run.err).toBe(0);
    const [stored] = [...run.api.store.tasks.values()];
    expect(stored?.content).toBe(content);
  });

  it("keeps each content's keys in the order the file writes them, integer-like keys included", async () => {
    // Prepare: a JS object would list "2" and "10" first
    const content = '{"order_id":"A-1","2":"b","10":{"z":0,"9":1},"1":[{"x":0,"0":1}]}';

    // Act
    const run = await addBatch(`{"tasks":[${task(content)}]}`);

    // Assess
    expect(run.code, run.err).toBe(0);
    const [stored] = [...run.api.store.tasks.values()];
    expect(stored?.content).toBe(content);
  });

  it("refuses a file that gives a key twice with two values, sending nothing, rather than keeping one of them", async () => {
    // Act
    const run = await addBatch(`[${task('{"order_id":"A-1"}', ',"delay_seconds":5')}]`);

    // Assess
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/delay_seconds/);
    expect(run.api.paths).toEqual([]);
  });

  it("refuses a file that gives a key twice with equal values, naming where, sending nothing, as the API refuses that content", async () => {
    // Prepare: `tasks add --content` sends this text as written and the API answers 400 at content.a; merged into
    // one key, the add-batch file's copy was stored as another content than the file writes
    const content = '{"order_id":"A-1","a":1,"a":1}';

    // Act
    const run = await addBatch(`{"tasks":[${task('{"order_id":"A-0"}')},${task(content)}]}`);

    // Assess
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/tasks\.1\.content\.a/);
    expect(run.api.paths).toEqual([]);
  });

  it("refuses a file whose {tasks} object holds another field, sending nothing, rather than dropping it (the API refuses unknown fields)", async () => {
    // Prepare: a field the user meant something by (a key for the whole batch, a dry run) that no batch takes
    const file = `{"tasks":[${task('{"order_id":"A-1"}')}],"dry_run":true}`;

    // Act
    const run = await addBatch(file);

    // Assess
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/dry_run/);
    expect(run.api.paths).toEqual([]);
  });

  it("names, in the human table, what is wrong with each refused item (its code and issues), not only 'the request is invalid'", async () => {
    // Prepare: the second item's delay is negative, the third's topic unknown.
    const file = `[${task('{"order_id":"A-1"}')},${task('{"order_id":"A-2"}').replace('"delay_seconds":90', '"delay_seconds":-5')},${task('{"order_id":"A-3"}').replace('"demo"', '"nope"')}]`;

    // Act
    const run = await addBatch(file, "human");

    // Assess: a person fixing the file learns which field of which item to fix, as `tasks add` prints it.
    expect(run.code).toBe(2);
    const rows = run.out.split("\n");
    const row = (n: number) => rows.find((line) => line.includes(`│ ${n} `)) ?? "";
    expect(row(1)).toMatch(/validation_failed/);
    expect(row(1)).toMatch(/delay_seconds/);
    expect(row(2)).toMatch(/unknown_topic/);
  });

  it("sends an item that is a number as that number, for the API to refuse as not an object, not as the parser's wrapper object", async () => {
    // Prepare: a stray number among the tasks (a count left in the file)
    const run = await addBatch(`[${task('{"order_id":"A-1"}')},12345678901234567890]`);

    // Assess: the second item's error is the API's for a non-object body, naming no field of a parser's wrapper.
    expect(run.code).toBe(2);
    const sent = JSON.parse(String(run.api.bodies.at(-1))) as { tasks: unknown[] };
    expect(typeof sent.tasks[1]).toBe("number");
    const answer = JSON.parse(run.out) as { results: { error?: { issues: { path: string }[] } }[] };
    expect(JSON.stringify(answer.results[1]?.error)).not.toMatch(/isLosslessNumber|"value"/);
  });
});
