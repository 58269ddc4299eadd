import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AppConfigDataClient,
  GetLatestConfigurationCommand,
  StartConfigurationSessionCommand,
} from "@aws-sdk/client-appconfigdata";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type AppConfigEmulator, startAppConfigEmulator } from "#local/aws/appconfig-emulator.js";
import { rawRequest } from "../../support/raw-request.js";

/** The local AppConfig Data API: the real SDK client is served; a web page (Origin, rebound Host) is not. */
const IDS = { application: "app", environment: "env", profile: "profile" };
const SESSION = {
  ApplicationIdentifier: IDS.application,
  EnvironmentIdentifier: IDS.environment,
  ConfigurationProfileIdentifier: IDS.profile,
};
let dir: string;
let emulator: AppConfigEmulator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "punctual-appconfig-emulator-"));
  emulator = await startAppConfigEmulator({
    host: "127.0.0.1",
    settingsFile: join(dir, "settings.json"),
    initialContent: JSON.stringify({ topics: {} }),
    ids: IDS,
    log: () => {},
  });
  emulator.useValidator(async () => undefined);
});

afterAll(async () => {
  await emulator?.stop();
  await rm(dir, { recursive: true, force: true });
});

function sdkClient(): AppConfigDataClient {
  return new AppConfigDataClient({
    region: "us-east-1",
    endpoint: emulator.url,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
}

describe("local AppConfig Data emulator", () => {
  it("serves the real SDK client (session, then the deployed document)", async () => {
    const client = sdkClient();
    try {
      const session = await client.send(new StartConfigurationSessionCommand(SESSION));
      const latest = await client.send(
        new GetLatestConfigurationCommand({ ConfigurationToken: session.InitialConfigurationToken }),
      );

      expect(JSON.parse(Buffer.from(latest.Configuration ?? []).toString("utf8"))).toEqual({ topics: {} });
    } finally {
      client.destroy();
    }
  });

  it.each([
    ["a foreign Host (DNS rebinding)", { host: "evil.example" }],
    ["an Origin (a web page)", { origin: "https://evil.example" }],
  ])("refuses a request with %s: 403, no session token", async (_name, headers) => {
    const answer = await rawRequest(`${emulator.url}/configurationsessions`, {
      method: "POST",
      headers: { "content-type": "text/plain", ...headers },
      body: JSON.stringify(SESSION),
    });

    expect(answer.status).toBe(403);
    expect(answer.headers["x-amzn-errortype"]).toBe("AccessDeniedException");
    expect(answer.body).not.toContain("InitialConfigurationToken");
  });

  // AWS: RequiredMinimumPollIntervalInSeconds is 15–86,400 and defaults to 60 s; a GetLatestConfiguration sooner
  // than the session's interval after the previous one is refused ("Request too early", BadRequestException) —
  // https://docs.aws.amazon.com/appconfig/2019-10-09/APIReference/API_appconfigdata_StartConfigurationSession.html,
  // https://github.com/aws-powertools/powertools-lambda-python/issues/1506.
  it("refuses a poll sooner than AWS's default 60 s interval when the session asked for none", async () => {
    const client = sdkClient();
    try {
      const session = await client.send(new StartConfigurationSessionCommand(SESSION));
      const first = await client.send(
        new GetLatestConfigurationCommand({ ConfigurationToken: session.InitialConfigurationToken }),
      );

      expect(first.NextPollIntervalInSeconds).toBe(60);
      await expect(
        client.send(
          new GetLatestConfigurationCommand({ ConfigurationToken: first.NextPollConfigurationToken }),
        ),
      ).rejects.toMatchObject({ name: "BadRequestException", message: "Request too early" });
    } finally {
      client.destroy();
    }
  });

  it("answers the interval a session asked for", async () => {
    const client = sdkClient();
    try {
      const session = await client.send(
        new StartConfigurationSessionCommand({ ...SESSION, RequiredMinimumPollIntervalInSeconds: 15 }),
      );
      const first = await client.send(
        new GetLatestConfigurationCommand({ ConfigurationToken: session.InitialConfigurationToken }),
      );

      expect(first.NextPollIntervalInSeconds).toBe(15);
    } finally {
      client.destroy();
    }
  });

  it("refuses a token issued more than 24 hours ago, never used (BadRequestException, token Expired)", async () => {
    const client = sdkClient();
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const session = await client.send(new StartConfigurationSessionCommand(SESSION));
      vi.setSystemTime(Date.now() + 24 * 60 * 60 * 1000 + 1000);

      await expect(
        client.send(
          new GetLatestConfigurationCommand({ ConfigurationToken: session.InitialConfigurationToken }),
        ),
      ).rejects.toMatchObject({
        name: "BadRequestException",
        Details: { InvalidParameters: { ConfigurationToken: { Problem: "Expired" } } },
      });
    } finally {
      vi.useRealTimers();
      client.destroy();
    }
  });

  it.each([14, 86_401, 1.5])(
    "refuses RequiredMinimumPollIntervalInSeconds %s (AWS: 15–86,400)",
    async (seconds) => {
      const client = sdkClient();
      try {
        await expect(
          client.send(
            new StartConfigurationSessionCommand({
              ...SESSION,
              RequiredMinimumPollIntervalInSeconds: seconds,
            }),
          ),
        ).rejects.toMatchObject({ name: "BadRequestException" });
      } finally {
        client.destroy();
      }
    },
  );
});

describe("local AppConfig Data emulator with the local cloud's fast refresh", () => {
  it("does not hold a session that asked for an interval, holds one that asked for none to 60 s", async () => {
    const fast = await startAppConfigEmulator({
      host: "127.0.0.1",
      settingsFile: join(dir, "fast-settings.json"),
      initialContent: JSON.stringify({ topics: {} }),
      ids: IDS,
      log: () => {},
      fastRefresh: true,
    });
    fast.useValidator(async () => undefined);
    const client = new AppConfigDataClient({
      region: "us-east-1",
      endpoint: fast.url,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const pollTwice = async (interval?: number) => {
      const session = await client.send(
        new StartConfigurationSessionCommand({
          ...SESSION,
          ...(interval === undefined ? {} : { RequiredMinimumPollIntervalInSeconds: interval }),
        }),
      );
      const first = await client.send(
        new GetLatestConfigurationCommand({ ConfigurationToken: session.InitialConfigurationToken }),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      return client.send(
        new GetLatestConfigurationCommand({ ConfigurationToken: first.NextPollConfigurationToken }),
      );
    };
    try {
      await expect(pollTwice(15)).resolves.toMatchObject({ NextPollIntervalInSeconds: 15 });
      await expect(pollTwice()).rejects.toMatchObject({ message: "Request too early" });
    } finally {
      client.destroy();
      await fast.stop();
    }
  });
  // AWS: "Each configuration token is only valid for one call to GetLatestConfiguration", and a token past its use
  // is answered BadRequestException (Reason InvalidParameters, the token's Problem one of Corrupted | Expired |
  // PollIntervalNotSatisfied) —
  // https://docs.aws.amazon.com/appconfig/2021-11-11/APIReference/API_appconfigdata_GetLatestConfiguration.html,
  // https://docs.aws.amazon.com/appconfig/2019-10-09/APIReference/API_appconfigdata_InvalidParameterDetail.html.
  // A client that keeps a spent token (a lost answer, a retry) must fail here as it would on AWS.
  it.each([
    ["the initial token", 0],
    ["a poll's next token", 1],
  ])("refuses %s used a second time (BadRequestException, token Expired)", async (_name, polls) => {
    const fast = await startAppConfigEmulator({
      host: "127.0.0.1",
      settingsFile: join(dir, `spent-${polls}.json`),
      initialContent: JSON.stringify({ topics: {} }),
      ids: IDS,
      log: () => {},
      fastRefresh: true,
    });
    fast.useValidator(async () => undefined);
    const client = new AppConfigDataClient({
      region: "us-east-1",
      endpoint: fast.url,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    try {
      const session = await client.send(
        new StartConfigurationSessionCommand({ ...SESSION, RequiredMinimumPollIntervalInSeconds: 15 }),
      );
      let token = session.InitialConfigurationToken;
      for (let i = 0; i < polls; i++) {
        const answer = await client.send(new GetLatestConfigurationCommand({ ConfigurationToken: token }));
        token = answer.NextPollConfigurationToken;
      }
      await client.send(new GetLatestConfigurationCommand({ ConfigurationToken: token }));

      await expect(
        client.send(new GetLatestConfigurationCommand({ ConfigurationToken: token })),
      ).rejects.toMatchObject({
        name: "BadRequestException",
        Reason: "InvalidParameters",
        Details: { InvalidParameters: { ConfigurationToken: { Problem: "Expired" } } },
      });
    } finally {
      client.destroy();
      await fast.stop();
    }
  });
});

// The settings file watcher: one refresh at a time, and concurrent ones shared. An editor that saves in two steps
// (truncate, then write) fires two events: the first refresh reads the empty file (refused: not JSON), and a
// second event while it was being validated joined it instead of reading the file again, so the saved edit was
// neither deployed nor refused until some function happened to poll; the terminal's last word was "refused".
describe("local AppConfig emulator's settings file watcher", () => {
  it("reads the file again when it changed while the previous change was being validated", async () => {
    // Prepare
    const file = join(dir, "watched-settings.json");
    const lines: string[] = [];
    const watched = await startAppConfigEmulator({
      host: "127.0.0.1",
      settingsFile: file,
      initialContent: JSON.stringify({ topics: {} }),
      ids: IDS,
      log: (line) => lines.push(line),
      fastRefresh: true,
    });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const validated: string[] = [];
    watched.useValidator(async (content) => {
      validated.push(content);
      if (validated.length === 1) await gate;
      return undefined;
    });
    const saveAtomically = async (content: string) => {
      await writeFile(`${file}.tmp`, content);
      await rename(`${file}.tmp`, file);
    };
    try {
      await saveAtomically(JSON.stringify({ topics: { first: {} } }));
      await vi.waitFor(() => expect(validated).toHaveLength(1));

      // Act: saved again while the first save is being validated
      await saveAtomically(JSON.stringify({ topics: { second: {} } }));
      await new Promise((resolve) => setTimeout(resolve, 100));
      release();

      // Assess
      await vi.waitFor(() => expect(watched.deployedVersion()).toBe(2), { timeout: 2_000 });
      expect(validated.at(-1)).toBe(JSON.stringify({ topics: { second: {} } }));
    } finally {
      release();
      await watched.stop();
    }
  });
});

// An editor that saves in place truncates the file, then writes it: judged at once, the empty file was logged
// "refused … not JSON", then "deployed" for the same valid edit. The settle between reads is injected, so the
// test holds the save half-way as long as it likes, with no sleeps.
describe("local AppConfig emulator judges a changed settings file once it has settled", () => {
  const notJson = async (content: string) => {
    try {
      JSON.parse(content);
      return undefined;
    } catch {
      return "not JSON";
    }
  };

  async function startHeld(name: string) {
    const file = join(dir, name);
    const lines: string[] = [];
    const waits: (() => void)[] = [];
    const held = await startAppConfigEmulator({
      host: "127.0.0.1",
      settingsFile: file,
      initialContent: JSON.stringify({ topics: {} }),
      ids: IDS,
      log: (line) => lines.push(line),
      fastRefresh: true,
      settle: () => new Promise<void>((resolve) => waits.push(resolve)),
    });
    held.useValidator(notJson);
    /** Returns once the emulator waits in its n-th settle (1-based). */
    const waitingIn = (n: number) => vi.waitFor(() => expect(waits.length).toBeGreaterThanOrEqual(n));
    /** Ends the n-th settle once the emulator waits in it. */
    const settleNth = async (n: number) => {
      await waitingIn(n);
      waits[n - 1]?.();
    };
    const stop = async () => {
      for (const resolve of waits) resolve();
      await held.stop();
    };
    return { file, lines, held, waitingIn, settleNth, stop };
  }

  it("a save caught half-way (truncated, then written) is deployed, never reported refused", async () => {
    const { file, lines, held, waitingIn, settleNth, stop } = await startHeld("in-place.json");
    const edit = JSON.stringify({ topics: { edited: {} } });
    try {
      // Act: truncated (the watcher reads it empty and waits), then written while it waits
      await writeFile(file, "");
      await waitingIn(1);
      await writeFile(file, edit);
      await settleNth(1);
      await settleNth(2);

      // Assess
      await vi.waitFor(() => expect(held.deployedVersion()).toBe(1));
      expect(lines.filter((line) => line.includes("refused"))).toEqual([]);
      expect(lines).toContainEqual(expect.stringContaining("deployed version 1"));
    } finally {
      await stop();
    }
  });

  it("a file that stays invalid across the settle is still refused, once", async () => {
    const { file, lines, held, settleNth, stop } = await startHeld("invalid.json");
    try {
      // Saved whole (renamed into place): the one content the emulator ever reads.
      await writeFile(`${file}.tmp`, "{ not json");
      await rename(`${file}.tmp`, file);
      await settleNth(1);

      await vi.waitFor(() => expect(lines).toContainEqual(expect.stringContaining("refused")));
      expect(lines.filter((line) => line.includes("refused"))).toHaveLength(1);
      expect(lines.join("\n")).toContain("not JSON");
      expect(held.deployedVersion()).toBe(1);
    } finally {
      await stop();
    }
  });
});
