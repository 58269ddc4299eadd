import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AppConfigDataClient,
  GetLatestConfigurationCommand,
  StartConfigurationSessionCommand,
} from "@aws-sdk/client-appconfigdata";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startAppConfigEmulator } from "#local/aws/appconfig-emulator.js";

// Linux refuses a new inotify watch once the user's limit is reached ("ENOSPC: System limit for number of file
// watchers reached"), a common state on a developer's machine with editors and test watchers running. The watch
// only makes an edit's verdict show before the next poll, which reads the file anyway.
vi.mock("node:fs", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:fs")>()),
  watch: () => {
    throw Object.assign(new Error("ENOSPC: System limit for number of file watchers reached, watch"), {
      code: "ENOSPC",
    });
  },
}));

const IDS = { application: "app", environment: "env", profile: "profile" };
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "punctual-appconfig-watch-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("local AppConfig emulator when the settings file cannot be watched", () => {
  it("starts, says so, and serves the file's document at each poll", async () => {
    // Prepare
    const lines: string[] = [];
    const content = JSON.stringify({ topics: { demo: {} } });

    // Act
    const emulator = await startAppConfigEmulator({
      host: "127.0.0.1",
      settingsFile: join(dir, "settings.json"),
      initialContent: content,
      ids: IDS,
      log: (line) => lines.push(line),
      fastRefresh: true,
    });
    emulator.useValidator(async () => undefined);
    const client = new AppConfigDataClient({
      region: "us-east-1",
      endpoint: emulator.url,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    try {
      const session = await client.send(
        new StartConfigurationSessionCommand({
          ApplicationIdentifier: IDS.application,
          EnvironmentIdentifier: IDS.environment,
          ConfigurationProfileIdentifier: IDS.profile,
          RequiredMinimumPollIntervalInSeconds: 15,
        }),
      );
      const latest = await client.send(
        new GetLatestConfigurationCommand({ ConfigurationToken: session.InitialConfigurationToken }),
      );

      // Assess
      expect(Buffer.from(latest.Configuration ?? []).toString("utf8")).toBe(content);
      expect(lines.some((line) => line.includes("ENOSPC"))).toBe(true);
    } finally {
      client.destroy();
      await emulator.stop();
    }
  });
});
