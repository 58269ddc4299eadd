import type { IncomingMessage } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../cli/main.js";
import { cliAgainstServer } from "../../support/cli-against-server.js";
import { taskViewAnswer } from "../client/fakes.js";

/**
 * The CLI reads its environment variables from the CliIo it is given (the process's for the bin), never from
 * `process.env` behind it: commander's `Option.env` read PUNCTUAL_API_URL and PUNCTUAL_TOKEN from `process.env`, so a
 * test or an embedder running `main` with its own environment could not set them, and the process's leaked in.
 */
const TASK_ID = "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY";
const TOKEN = "eyJhbGciOi.payload.sig";

const requests: IncomingMessage[] = [];
let api: Awaited<ReturnType<typeof cliAgainstServer>>;

beforeAll(async () => {
  api = await cliAgainstServer((_url, request) => {
    requests.push(request);
    return { status: 200, body: taskViewAnswer(TASK_ID) };
  });
});

afterEach(() => {
  requests.length = 0;
  vi.unstubAllEnvs();
});

afterAll(async () => {
  await api.close();
});

async function punctual(argv: readonly string[], env: NodeJS.ProcessEnv) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => void out.push(t), err: (t) => void err.push(t), env });
  return { code, out: out.join(""), err: err.join("") };
}

describe("environment variables come from the CliIo's env", () => {
  it("PUNCTUAL_API_URL given there names the API", async () => {
    // Act
    const result = await punctual(["--json", "tasks", "get", TASK_ID], { PUNCTUAL_API_URL: api.apiUrl });

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ task_id: TASK_ID });
    expect(requests.map((r) => r.url)).toEqual([`/v1/tasks/${TASK_ID}`]);
  });

  it("PUNCTUAL_TOKEN given there is the bearer token of --auth jwt", async () => {
    // Act
    const result = await punctual(["--auth", "jwt", "tasks", "get", TASK_ID], {
      PUNCTUAL_API_URL: api.apiUrl,
      PUNCTUAL_TOKEN: TOKEN,
    });

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${TOKEN}`]);
  });

  it("the process's PUNCTUAL_API_URL and PUNCTUAL_TOKEN are not read when the CliIo's env has none", async () => {
    // Prepare: the process's environment names the API and a token; the CliIo's names neither.
    vi.stubEnv("PUNCTUAL_API_URL", api.apiUrl);
    vi.stubEnv("PUNCTUAL_TOKEN", TOKEN);

    // Act
    const noApi = await punctual(["--json", "tasks", "get", TASK_ID], {});
    const noToken = await punctual(
      ["--json", "--api", api.apiUrl, "--auth", "jwt", "tasks", "get", TASK_ID],
      {},
    );

    // Assess
    expect(noApi.code).toBe(1);
    expect(JSON.parse(noApi.err).error.message).toMatch(/no API: give --api URL \(or set PUNCTUAL_API_URL\)/);
    expect(noToken.code).toBe(1);
    expect(JSON.parse(noToken.err).error.message).toMatch(/--auth jwt needs --token \(or PUNCTUAL_TOKEN\)/);
    expect(requests).toEqual([]);
  });

  it("the option on the command line beats the variable, which the help still names", async () => {
    // Act
    const given = await punctual(["--api", api.apiUrl, "--json", "tasks", "get", TASK_ID], {
      PUNCTUAL_API_URL: "http://127.0.0.1:9/",
    });
    const help = await punctual(["--help"], {});

    // Assess
    expect(given.code, given.err).toBe(0);
    expect(requests).toHaveLength(1);
    expect(help.out).toMatch(/--api <url>\s+the API's base URL \(env: PUNCTUAL_API_URL\)/);
    expect(help.out).toMatch(/--token <jwt>\s+bearer token for --auth jwt \(env: PUNCTUAL_TOKEN\)/);
  });
});
