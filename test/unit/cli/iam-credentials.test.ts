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

describe("AWS credentials that turn unsendable after a multi-page command's first page acted", () => {
  /** Credentials read anew for each request (their expiry passed, the SDK's chain reads them again): they can turn bad. */
  const good = {
    AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
    AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    AWS_SESSION_TOKEN: "IQoJb3JpZ2luX2VjEXAMPLE",
    AWS_CREDENTIAL_EXPIRATION: new Date(Date.now() - 60_000).toISOString(),
  };

  /** The first page answered (with a cursor); the credentials then pasted across lines, so page 2 is never sent. */
  async function runPaged(argv: string[], firstPage: unknown) {
    const sent: string[] = [];
    const fetch: typeof globalThis.fetch = async (input) => {
      sent.push(String(input));
      vi.stubEnv("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLE\nsecond-line-of-the-token");
      return new Response(JSON.stringify(firstPage), {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    };
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
    const code = await main(["--api", API, ...argv], io);
    return { code, out: out.join(""), err: err.join(""), sent };
  }

  it.each([
    [
      "groups cancel",
      ["groups", "cancel", "--topic", "orders", "--group", "A-1"],
      { cancelled: 2, not_cancelled: [], more: true, next_cursor: "c1" },
      { pages: 1, cancelled: 2 },
    ],
    [
      "topics replay",
      ["topics", "replay", "orders"],
      { matched: 2, replayed: 2, failed: [], next_cursor: "c1" },
      { pages: 1, replayed: 2 },
    ],
  ])(
    "%s: exit 3 (the first page acted: not 'nothing sent'), with the totals so far, not a usage error",
    async (_name, argv, firstPage, totals) => {
      // Prepare
      awsSetup(good);

      // Act
      const human = await runPaged(argv, firstPage);
      awsSetup(good);
      const json = await runPaged(["--json", ...argv], firstPage);

      // Assess: one request sent each time (page 2 refused before sending), exit 3 as a partial run
      expect(human.sent).toHaveLength(1);
      expect(human.code).toBe(3);
      expect(human.err).toMatch(/before the error: 1 page/);
      expect(human.err).toMatch(/x-amz-security-token header/);
      expect(human.err).not.toContain("second-line-of-the-token");
      expect(json.code).toBe(3);
      const printed = JSON.parse(json.err) as { error: { code: string }; before_error: unknown };
      expect(printed.error.code).not.toBe("usage");
      expect(printed.before_error).toMatchObject(totals);
    },
  );
});
