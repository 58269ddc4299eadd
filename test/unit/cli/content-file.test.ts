import { mkdir, mkdtemp, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";
import { scheduleCreate } from "./offline.js";

/** `punctual` in-process; every request recorded and answered as an add (or a batch of one) would be. */
async function run(argv: string[]) {
  const bodies: string[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    bodies.push(String(init?.body));
    const task = { task_id: "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY", topic: "demo" };
    const due = { due_at: "2026-11-23T12:01:30.000Z" };
    const answer = String(input).endsWith("/batch")
      ? { results: [{ status: 201, ...task, task_status: "scheduled", ...due }], added: 1, failed: 0 }
      : { ...task, status: "scheduled", ...due };
    return new Response(JSON.stringify(answer), {
      status: 201,
      headers: { "content-type": "application/json" },
    });
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", "--json", ...argv], io);
  return { code, out: out.join(""), err: err.join(""), bodies };
}

async function fileWith(bytes: string | Buffer, name = "content.json"): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "punctual-content-file-"));
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}

const add = (file: string) => ["tasks", "add", "--topic", "demo", "--delay", "5", "--content-file", file];
const addBatch = (file: string) => ["tasks", "add-batch", "--file", file];
const BOM = "\uFEFF";
/** `{"name":"` + Latin-1 "é" (one byte, not UTF-8) + `"}`: what a file saved in Windows-1252 holds. */
const latin1 = Buffer.concat([Buffer.from('{"name":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);

describe("tasks add --content-file", () => {
  it("a UTF-8 BOM (Notepad's) is not content: the JSON text after it is sent as written", async () => {
    // Act
    const result = await run(add(await fileWith(`${BOM}{"order_id": "A-1"}\r\n`)));

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(result.bodies[0] as string).content).toBe('{"order_id": "A-1"}\r\n');
  });

  it("a file that is not UTF-8 is refused (exit 1), not sent with its bytes replaced by U+FFFD", async () => {
    // Act
    const result = await run(add(await fileWith(latin1)));

    // Assess
    expect(result.code).toBe(1);
    expect(result.bodies).toEqual([]);
    expect(JSON.parse(result.err).error.message).toMatch(/UTF-8/);
  });

  it.each([
    ["a missing file", async () => path.join(await mkdtemp(path.join(tmpdir(), "punctual-")), "nope.json")],
    ["a directory", async () => mkdtemp(path.join(tmpdir(), "punctual-"))],
  ])("%s is a usage error (exit 1) naming the file, not a failure to retry", async (_what, make) => {
    // Prepare
    const file = await make();

    // Act
    const result = await run(add(file));

    // Assess
    expect(result.code).toBe(1);
    expect(result.bodies).toEqual([]);
    expect(JSON.parse(result.err).error).toMatchObject({ code: "usage" });
    expect(JSON.parse(result.err).error.message).toContain(file);
  });

  it("a file over 1 MiB (no add's body holds it) is refused at once, unread, exit 1", async () => {
    // Prepare: a sparse 3 GiB file, past what Node reads into one string.
    const file = await fileWith("{}");
    await truncate(file, 3 * 1024 ** 3);

    // Act
    const result = await run(add(file));

    // Assess
    expect(result.code).toBe(1);
    expect(result.bodies).toEqual([]);
    expect(JSON.parse(result.err).error.message).toMatch(/1 MiB/);
  });
});

describe("a --content-file that is not JSON (a mistyped path: a password file, a credentials file)", () => {
  /** The start of an AWS credentials file: what `--content-file ~/.aws/credentials` would read. */
  const secretFile = "[default]\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG\n";

  it.each([
    ["tasks add", add],
    ["schedules create", (file: string) => scheduleCreate("--content-file", file)],
  ])(
    "%s: exit 1 naming the file and where it stops being JSON, quoting none of its text",
    async (_what, argv) => {
      // Prepare
      const file = await fileWith(secretFile, "credentials");

      // Act
      const result = await run(argv(file));

      // Assess
      expect(result.code).toBe(1);
      expect(result.bodies).toEqual([]);
      const { message } = JSON.parse(result.err).error;
      expect(message).toContain(file);
      expect(message).toMatch(/not JSON.*line 1, column 2/);
      expect(message).not.toMatch(/default|aws|wJal/);
    },
  );

  it("--content given inline (the user's own text) is still quoted in its error, as before", async () => {
    // Act
    const result = await run(["tasks", "add", "--topic", "demo", "--delay", "5", "--content", "{nope"]);

    // Assess
    expect(result.code).toBe(1);
    expect(JSON.parse(result.err).error.message).toMatch(/^the content is not JSON: .*position 1/);
  });
});

describe("tasks add-batch --file", () => {
  it("a UTF-8 BOM is not content: the tasks after it are read", async () => {
    // Act
    const result = await run(
      addBatch(await fileWith(`${BOM}[{"topic":"demo","delay_seconds":5,"content":{}}]`)),
    );

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(result.bodies[0] as string).tasks).toHaveLength(1);
  });

  it("a file that is not UTF-8 is refused (exit 1), nothing sent", async () => {
    // Prepare
    const text = Buffer.concat([
      Buffer.from('[{"topic":"demo","delay_seconds":5,"content":'),
      latin1,
      Buffer.from("}]"),
    ]);

    // Act
    const result = await run(addBatch(await fileWith(text)));

    // Assess
    expect(result.code).toBe(1);
    expect(result.bodies).toEqual([]);
    expect(JSON.parse(result.err).error.message).toMatch(/UTF-8/);
  });

  it("a directory is a usage error naming it", async () => {
    // Prepare
    const dir = await mkdtemp(path.join(tmpdir(), "punctual-"));
    await mkdir(path.join(dir, "tasks.json"));

    // Act
    const result = await run(addBatch(path.join(dir, "tasks.json")));

    // Assess
    expect(result.code).toBe(1);
  });
});

describe("schedules create --content-file reads as tasks add's does", () => {
  const create = (file: string) => scheduleCreate("--content-file", file);

  it("a UTF-8 BOM is dropped: the JSON text after it is sent", async () => {
    // Act
    const result = await run(create(await fileWith(`${BOM}{"report":"nightly"}`)));

    // Assess
    expect(JSON.parse(result.bodies[0] as string).content).toBe('{"report":"nightly"}');
  });

  it("a file that is not UTF-8, or is missing, is exit 1, nothing sent", async () => {
    // Act
    const notUtf8 = await run(create(await fileWith(latin1)));
    const missing = await run(
      create(path.join(await mkdtemp(path.join(tmpdir(), "punctual-")), "nope.json")),
    );

    // Assess
    expect([notUtf8.code, missing.code]).toEqual([1, 1]);
    expect([...notUtf8.bodies, ...missing.bodies]).toEqual([]);
  });
});
