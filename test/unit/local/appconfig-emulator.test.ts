import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AppConfigDataClient,
  GetLatestConfigurationCommand,
  StartConfigurationSessionCommand,
} from "@aws-sdk/client-appconfigdata";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

describe("local AppConfig Data emulator", () => {
  it("serves the real SDK client (session, then the deployed document)", async () => {
    const client = new AppConfigDataClient({
      region: "us-east-1",
      endpoint: emulator.url,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
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
});
