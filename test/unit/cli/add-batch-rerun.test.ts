import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../cli/main.js";
import { handlerFetch, loadAddHandlers } from "../client/handler-fetch.js";

/** Writes of a rerun file fail while `fail` is set (ENOSPC), as on a full disk; every other write is made. */
const rerunWrites = vi.hoisted(() => ({ fail: false }));
vi.mock("node:fs/promises", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs/promises")>();
  const writeFile: typeof fs.writeFile = async (target, ...rest) => {
    if (rerunWrites.fail && String(target).includes(".rerun-")) {
      throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    }
    return fs.writeFile(target, ...rest);
  };
  return { ...fs, writeFile, default: { ...fs, writeFile } };
});

// The client's backoff between tries passes at once: what is sent and written is the point here, not the waiting.
vi.mock("node:timers/promises", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:timers/promises")>()),
  setTimeout: async <T>(_ms?: number, value?: T) => value,
}));

/**
 * `tasks add-batch` whose items may have been added though not answered so: a second run of the file would make
 * new keys for its keyless items, and so maybe second tasks. The CLI writes the items not added, with the keys it
 * sent them with, to a file beside the input, to run instead.
 */
beforeAll(loadAddHandlers);

type Api = ReturnType<typeof handlerFetch>;
type Via = (api: typeof globalThis.fetch) => typeof globalThis.fetch;

async function addBatch(file: string, api: Api, via: Via = (f) => f, json = true) {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (t: string) => void out.push(t),
    err: (t: string) => void err.push(t),
    env: {},
    fetch: via(api.fetch),
  };
  const argv = [
    "--api",
    "http://127.0.0.1:3000",
    ...(json ? ["--json"] : []),
    "tasks",
    "add-batch",
    "--file",
    file,
  ];
  const code = await main(argv, io);
  return { code, out: out.join(""), err: err.join("") };
}

async function inputFile(items: readonly string[]): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "punctual-rerun-"));
  const file = path.join(dir, "tasks.json");
  await writeFile(file, `{"tasks":[${items.join(",")}]}`);
  return file;
}

const task = (orderId: string, extra = "") =>
  `{"topic":"demo","delay_seconds":90,"content":{"order_id":"${orderId}","n":12345678901234567890},"callback":{"url":"https://hooks.example.com/n"}${extra}}`;

const busy = JSON.stringify({ error: { code: "service_unavailable", message: "busy" } });

/** Every answer, after the API handled the request, replaced by a 503 (a proxy's): the tasks are added. */
const answeredBusy: Via = (api) => async (input, init) => {
  await (await api(input, init)).text();
  return new Response(busy, { status: 503 });
};

/** The item whose content names `orderId` answered 503 in every batch that holds it, the rest as the API said. */
const itemBusy =
  (orderId: string): Via =>
  (api) =>
  async (input, init) => {
    const response = await api(input, init);
    const sent = JSON.parse(String(init?.body)) as { tasks: unknown[] };
    const answer = (await response.json()) as { results: unknown[] };
    sent.tasks.forEach((item, i) => {
      if (JSON.stringify(item).includes(orderId)) answer.results[i] = JSON.parse(busy);
      if (JSON.stringify(item).includes(orderId)) (answer.results[i] as { status: number }).status = 503;
    });
    return new Response(JSON.stringify(answer), { status: response.status, headers: response.headers });
  };

describe("tasks add-batch: a rerun file for items that may have been added", () => {
  it("a batch whose every try was answered 503 after the API added it: exit 3, a rerun file with every item and its key; running it finds them (200), nothing added twice", async () => {
    // Prepare
    const file = await inputFile([task("A-1"), task("A-2"), task("A-3", ',"idempotency_key":"mine-3"')]);
    const api = handlerFetch();

    // Act
    const first = await addBatch(file, api, answeredBusy);
    const printed = JSON.parse(first.err) as { retry?: { file?: string } };
    const rerunFile = printed.retry?.file as string;
    const second = await addBatch(rerunFile, api);

    // Assess
    expect(first.code).toBe(3);
    expect(path.dirname(rerunFile)).toBe(path.dirname(file));
    const rerun = JSON.parse(await readFile(rerunFile, "utf8")) as { tasks: { idempotency_key: string }[] };
    expect(rerun.tasks).toHaveLength(3);
    expect(rerun.tasks[2]?.idempotency_key).toBe("mine-3");
    expect(new Set(rerun.tasks.map((t) => t.idempotency_key)).size).toBe(3);
    expect(second.code, second.err).toBe(0);
    const answer = JSON.parse(second.out) as { results: { status: number }[] };
    expect(answer.results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(api.store.tasks.size).toBe(3);
  });

  it("an item answered 503 after its retries while the others were added: exit 3, the rerun file holds that item alone, its content exactly as the input wrote it", async () => {
    // Prepare
    const file = await inputFile([task("B-1"), task("B-2"), task("B-3")]);
    const api = handlerFetch();

    // Act
    const first = await addBatch(file, api, itemBusy("B-2"));
    const rerunFile = (JSON.parse(first.err) as { retry: { file: string } }).retry.file;
    const second = await addBatch(rerunFile, api);

    // Assess
    expect(first.code).toBe(3);
    const firstAnswer = JSON.parse(first.out) as { results: { status: number }[] };
    expect(firstAnswer.results.map((r) => r.status)).toEqual([201, 503, 201]);
    const rerunText = await readFile(rerunFile, "utf8");
    expect(rerunText).toContain("B-2");
    expect(rerunText).not.toContain("B-1");
    expect(rerunText).toContain("12345678901234567890");
    expect(second.code, second.err).toBe(0);
    expect(
      (JSON.parse(second.out) as { results: { status: number }[] }).results.map((r) => r.status),
    ).toEqual([200]);
    expect(api.store.tasks.size).toBe(3);
  });

  it("the human output names the rerun file and the command to run", async () => {
    // Prepare
    const file = await inputFile([task("C-1")]);

    // Act
    const run = await addBatch(file, handlerFetch(), answeredBusy, false);

    // Assess
    expect(run.code).toBe(3);
    expect(run.err).toMatch(/tasks add-batch --file .*tasks\.rerun-[^ ]+\.json/);
  });

  it("a rerun file whose path holds a space or a quote is named in the command so that, pasted into a shell, the command names that file", async () => {
    // Prepare: an input in a directory named as a synced drive's often is
    const dir = await mkdtemp(path.join(tmpdir(), "punctual OneDrive - it's "));
    const file = path.join(dir, "tasks.json");
    await writeFile(file, `{"tasks":[${task("Q-1")}]}`);

    // Act
    const run = await addBatch(file, handlerFetch(), answeredBusy, false);

    // Assess: the words a POSIX shell makes of what follows `--file` are the rerun file's path, whole
    const rerun = (await readdir(dir)).filter((name) => name.includes(".rerun-"));
    expect(rerun).toHaveLength(1);
    const given = /--file (.*) \(the tasks not added/.exec(run.err)?.[1] as string;
    const shell = spawnSync("sh", ["-c", `printf '%s\\0' ${given}`], { encoding: "utf8" });
    expect(shell.stdout.split("\0").slice(0, -1)).toEqual([path.join(dir, rerun[0] as string)]);
  });

  it("a batch stopped by Ctrl-C while its request is unanswered (the API added it): exit 3 and a rerun file with every item and its key; running it finds them (200), nothing added twice", async () => {
    // Prepare: the API adds the batch and then holds its answer, and the user presses Ctrl-C — which ends the
    // process there and then unless the command took the interrupt
    const file = await inputFile([task("I-1"), task("I-2")]);
    const api = handlerFetch();
    let interrupt: (() => void) | undefined;
    let killed = false;
    const teardown = new AbortController();
    const heldAfterAdding: Via = (f) => async (input, init) => {
      await (await f(input, init)).text();
      if (interrupt) interrupt();
      else killed = true;
      const signals = [init?.signal, teardown.signal].filter((s): s is AbortSignal => s != null);
      return new Promise<Response>((_, reject) => {
        const gone = AbortSignal.any(signals);
        if (gone.aborted) reject(gone.reason);
        gone.addEventListener("abort", () => reject(gone.reason), { once: true });
      });
    };
    const err: string[] = [];
    const io = {
      out: () => {},
      err: (t: string) => void err.push(t),
      env: {},
      fetch: heldAfterAdding(api.fetch),
      onInterrupt: (stop: () => void) => {
        interrupt = stop;
        return () => {
          interrupt = undefined;
        };
      },
    };
    const argv = ["--api", "http://127.0.0.1:3000", "--json", "tasks", "add-batch", "--file", file];

    // Act
    const run = main(argv, io);
    const code = await Promise.race([run, vi.waitUntil(() => killed).then(() => "killed" as const)]);
    teardown.abort(new Error("test over"));
    await run;
    const rerun = (await readdir(path.dirname(file))).filter((name) => name.includes(".rerun-"));
    const second =
      rerun.length === 1 ? await addBatch(path.join(path.dirname(file), rerun[0] as string), api) : undefined;

    // Assess
    expect(code).toBe(3);
    expect(rerun).toHaveLength(1);
    expect((JSON.parse(err.join("")) as { retry?: { file?: string } }).retry?.file).toBe(
      path.join(path.dirname(file), rerun[0] as string),
    );
    expect(second?.code, second?.err).toBe(0);
    expect(
      (JSON.parse(second?.out ?? "{}") as { results: { status: number }[] }).results.map((r) => r.status),
    ).toEqual([200, 200]);
    expect(api.store.tasks.size).toBe(2);
  });

  it("a rerun file that cannot be written (a full or read-only disk): the error gives each item not added its key, by its number", async () => {
    // Prepare: writing the rerun file fails (root may write anywhere: a read-only directory cannot show it here)
    const file = await inputFile([task("E-1"), task("E-2", ',"idempotency_key":"mine-2"')]);
    rerunWrites.fail = true;

    // Act
    const run = await addBatch(file, handlerFetch(), answeredBusy).finally(() => {
      rerunWrites.fail = false;
    });

    // Assess
    expect(run.code).toBe(3);
    const printed = JSON.parse(run.err) as { retry: { items: { index: number; idempotency_key: string }[] } };
    expect(printed.retry.items.map((item) => item.index)).toEqual([0, 1]);
    expect(printed.retry.items[0]?.idempotency_key).toMatch(/^[0-9a-f-]{36}$/);
    expect(printed.retry.items[1]?.idempotency_key).toBe("mine-2");
  });

  it("items only refused (4xx: nothing added) write no rerun file", async () => {
    // Prepare
    const file = await inputFile([task("D-1"), task("D-2").replace('"demo"', '"no-such-topic"')]);

    // Act
    const run = await addBatch(file, handlerFetch());

    // Assess
    expect(run.code).toBe(2);
    expect(run.err).not.toMatch(/rerun/);
    expect(await readdir(path.dirname(file))).toEqual(["tasks.json"]);
  });
});
