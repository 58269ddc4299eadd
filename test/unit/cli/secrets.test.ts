import { describe, expect, it, vi } from "vitest";
import { runOffline } from "./offline.js";

// The client's backoff between tries (random, up to 1.4 s a command; up to 1.1 s a test measured on a loaded
// 2-core host) passes at once: what is sent and printed is the point here, not the waiting.
vi.mock("node:timers/promises", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:timers/promises")>()),
  setTimeout: async <T>(_ms?: number, value?: T) => value,
}));

const GET = ["tasks", "get", "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY"];

describe("--api: a URL the CLI cannot call is a usage error, its secrets never printed", () => {
  it.each([
    ["--api", "http://user:s3cret@127.0.0.1:3000"],
    ["--json", "--api", "https://user:s3cret@abc123.execute-api.eu-west-1.amazonaws.com/"],
  ])("credentials in the URL (%s %s): exit 1, nothing sent, the password not echoed", async (...global) => {
    // Act
    const result = await runOffline([...global, ...GET]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.sent).toEqual([]);
    expect(result.err).not.toContain("s3cret");
    expect(result.err).toMatch(/user name or password/);
  });

  it("credentials in PUNCTUAL_API_URL are refused the same way", async () => {
    // Act
    const result = await runOffline(GET, { PUNCTUAL_API_URL: "http://user:s3cret@127.0.0.1:3000" });

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).not.toContain("s3cret");
  });

  it.each(["ftp://127.0.0.1:3000", "file:///etc/passwd", "mailto:ops@example.com"])(
    "a scheme other than http(s) (%s) is exit 1, nothing sent",
    async (api) => {
      // Act
      const result = await runOffline(["--api", api, ...GET]);

      // Assess
      expect(result.code).toBe(1);
      expect(result.sent).toEqual([]);
      expect(result.err).toMatch(/http: or https:/);
    },
  );

  it("an unparsable URL is exit 1 without echoing a password in it", async () => {
    // Act
    const result = await runOffline(["--api", "https://user:s3cret@bad host/", ...GET]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).not.toContain("s3cret");
  });

  it.each([
    "https://user:pw/s3cret@abc123.execute-api.eu-west-1.amazonaws.com/",
    "https://user:pw?s3cret@abc123.execute-api.eu-west-1.amazonaws.com/",
    "https://user:pw#s3cret@abc123.execute-api.eu-west-1.amazonaws.com/",
    "https://user:pw/s3cret@ext@abc123.execute-api.eu-west-1.amazonaws.com/",
  ])("an unparsable URL whose password holds / ? or # (%s) is exit 1 without echoing it", async (api) => {
    // Act: a raw `/`, `?` or `#` ends the authority, so the rest reads as an invalid port and the URL does not parse
    const result = await runOffline(["--api", api, ...GET]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.sent).toEqual([]);
    expect(result.err).toMatch(/must be an absolute URL/);
    expect(result.err).not.toContain("s3cret");
  });

  it("iam auth with no region to be found is a usage error (exit 1), not a failure worth retrying", async () => {
    // Act
    const result = await runOffline(["--api", "https://punctual.example.com/", ...GET]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/--region/);
  });
});

describe("--token: a token that cannot be sent is a usage error that never prints it", () => {
  it.each([
    ["a trailing CR (a CRLF file read by $(cat))", "eyJhbGciOi.s3cret-payload.sig\r"],
    ["a newline inside", "eyJhbGciOi\ns3cret-payload.sig"],
    ["a control character", "eyJhbGciOi.s3cret-payload.sig\u0001"],
    ["a non-ASCII character", "eyJhbGciOi.s3cret-payloadé.sig"],
  ])("%s: exit 1, nothing sent, the token not echoed", async (_what, token) => {
    // Act
    const human = await runOffline([
      "--api",
      "http://127.0.0.1:3000",
      "--auth",
      "jwt",
      "--token",
      token,
      ...GET,
    ]);
    // PUNCTUAL_TOKEN from the CliIo's environment, as the bin passes the process's (cli/main.ts
    // optionsFromEnvironment): the token is read, and refused, without being echoed.
    const json = await runOffline(["--json", "--api", "http://127.0.0.1:3000", "--auth", "jwt", ...GET], {
      PUNCTUAL_TOKEN: token,
    });

    // Assess
    for (const result of [human, json]) {
      expect(result.code).toBe(1);
      expect(result.sent).toEqual([]);
      expect(result.err).not.toContain("s3cret");
      expect(result.err).toMatch(/--token: /);
    }
  });
});

describe("a JWT over plain http to a host that is not loopback is refused before sending", () => {
  it.each([
    ["http://punctual.example.com", "a host name"],
    [
      "http://127.0.0.1.example.com:3000",
      "a domain name that starts like a loopback address, which any DNS may point anywhere",
    ],
  ])("--auth jwt to %s (%s): exit 1, nothing sent, the token not echoed", async (api) => {
    // Act
    const result = await runOffline([
      "--api",
      api,
      "--auth",
      "jwt",
      "--token",
      "eyJhbGciOi.s3cret-payload.sig",
      ...GET,
    ]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.sent).toEqual([]);
    expect(result.err).not.toContain("s3cret");
    expect(result.err).toMatch(/a JWT goes only over https/);
  });

  it("--auth none over http, and a JWT over http to loopback, are sent", async () => {
    // Act
    const none = await runOffline(["--api", "http://punctual.example.com", "--auth", "none", ...GET]);
    const loopback = await runOffline([
      "--api",
      "http://127.0.0.1:3000",
      "--auth",
      "jwt",
      "--token",
      "t",
      ...GET,
    ]);

    // Assess
    expect(none.sent.length).toBeGreaterThan(0);
    expect(loopback.sent.length).toBeGreaterThan(0);
  });
});

describe("--token without --auth jwt: refused, not dropped without a word", () => {
  it.each([
    [
      "no --auth, a loopback API (its default: none)",
      ["--api", "http://127.0.0.1:3000"],
      /give --auth jwt too/,
    ],
    ["--auth none", ["--api", "http://127.0.0.1:3000", "--auth", "none"], /not of --auth none/],
    [
      "--auth iam",
      ["--api", "https://abc123.execute-api.eu-west-1.amazonaws.com", "--auth", "iam"],
      /not of --auth iam/,
    ],
  ])("%s: exit 1, nothing sent, the token not echoed", async (_what, global, said) => {
    // Act
    const result = await runOffline([...global, "--token", "eyJhbGciOi.s3cret-payload.sig", ...GET]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.sent).toEqual([]);
    expect(result.err).not.toContain("s3cret");
    expect(result.err).toMatch(said);
  });

  it("with --auth jwt it is sent, as before", async () => {
    // Act
    const result = await runOffline([
      "--api",
      "http://127.0.0.1:3000",
      "--auth",
      "jwt",
      "--token",
      "t",
      ...GET,
    ]);

    // Assess
    expect(result.sent.length).toBeGreaterThan(0);
  });
});
