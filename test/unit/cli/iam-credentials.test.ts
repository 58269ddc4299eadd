import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../../cli/main.js";

// The client's backoff between tries passes at once: what is sent and printed is the point here, not the waiting.
vi.mock("node:timers/promises", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:timers/promises")>()),
  setTimeout: async <T>(_ms?: number, value?: T) => value,
}));

afterEach(() => {
  vi.unstubAllEnvs();
});

/** A deployed API: IAM auth by default, its region in the URL. */
const API = "https://abc123.execute-api.eu-west-1.amazonaws.com";

/**
 * The AWS setup the SDK's credential chain reads (the process environment), and nothing of the host's: `extra`
 * holds the credentials, if any.
 */
function awsSetup(extra: Record<string, string>): void {
  for (const name of Object.keys(process.env)) if (name.startsWith("AWS_")) vi.stubEnv(name, undefined);
  vi.stubEnv("AWS_CONFIG_FILE", "/nonexistent/punctual-test/config");
  vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/punctual-test/credentials");
  vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
  for (const [name, value] of Object.entries(extra)) vi.stubEnv(name, value);
}

/** `punctual --api API …` in-process, recording every request it sends (none should be answered). */
async function run(argv: string[]) {
  const sent: string[] = [];
  const fetch: typeof globalThis.fetch = async (input) => {
    sent.push(String(input));
    throw new TypeError("fetch failed");
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", API, ...argv], io);
  return { code, out: out.join(""), err: err.join(""), sent };
}

const add = ["tasks", "add", "--topic", "demo", "--delay", "5", "--content", "{}"];
const create = ["schedules", "create", "--topic", "demo", "--cron", "@daily", "--timezone", "UTC"];

async function batchFile(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "punctual-credentials-"));
  const file = path.join(dir, "tasks.json");
  await writeFile(file, '[{"topic":"demo","delay_seconds":90,"content":{"n":1}}]');
  return file;
}

describe("AWS credentials that cannot be sent (a session token pasted across lines)", () => {
  const pasted = {
    AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
    AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    AWS_SESSION_TOKEN: "IQoJb3JpZ2luX2VjEXAMPLE\nsecond-line-of-the-token",
  };

  it("tasks add: exit 1 (fix the credentials; a repeat never mends them), nothing sent, no claim the task may have been added", async () => {
    // Prepare
    awsSetup(pasted);

    // Act
    const result = await run(add);

    // Assess
    expect(result.sent).toEqual([]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/x-amz-security-token header/);
    expect(result.err).not.toMatch(/may have been added|--idempotency-key/);
    expect(result.err).not.toContain("second-line-of-the-token");
  });

  it("schedules create --json: exit 1, a usage error, no 'may have been created, look first'", async () => {
    // Prepare
    awsSetup(pasted);

    // Act
    const result = await run(["--json", ...create, "--content", "{}"]);

    // Assess
    expect(result.sent).toEqual([]);
    expect(result.code).toBe(1);
    const printed = JSON.parse(result.err) as { error: { code: string }; retry?: unknown };
    expect(printed.error.code).toBe("usage");
    expect(printed.retry).toBeUndefined();
  });

  it("tasks add-batch: exit 1 and no rerun file, nothing having been sent", async () => {
    // Prepare
    awsSetup(pasted);
    const file = await batchFile();

    // Act
    const result = await run(["tasks", "add-batch", "--file", file]);

    // Assess
    expect(result.sent).toEqual([]);
    expect(result.code).toBe(1);
    expect(result.err).not.toMatch(/rerun|may have been added/);
    expect(await readdir(path.dirname(file))).toEqual(["tasks.json"]);
  });
});
