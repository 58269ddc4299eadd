import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configBaseFile, startAppConfigEmulator } from "#local/aws/appconfig-emulator.js";

/**
 * `npm start` after the environment's settings changed (shared/config/environments/local.ts, PUNCTUAL_CONFIG_OVERRIDES)
 * is the local deploy: as a `cdk deploy` whose environment file changed the settings replaces the runtime edits
 * (docs/OPERATIONS.md, "Topic settings without a deploy"), the settings file is written again from the new
 * settings. Found following README "Configuration": an edited local.ts changed nothing at the next `npm start`,
 * since .punctual/local-settings.json, written at the first start, was kept with the old values.
 */
const IDS = { application: "app", environment: "env", profile: "profile" };
const A = JSON.stringify({ topics: { demo: { maxAttempts: 3 } } });
const B = JSON.stringify({ topics: { demo: { maxAttempts: 5 } } });
const EDITED = JSON.stringify({ topics: { demo: { maxAttempts: 2 } } });
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "punctual-appconfig-config-change-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function startAndStop(settingsFile: string, initialContent: string, log: string[] = []): Promise<void> {
  const emulator = await startAppConfigEmulator({
    host: "127.0.0.1",
    settingsFile,
    initialContent,
    ids: IDS,
    log: (line) => log.push(line),
  });
  await emulator.stop();
}

describe("the local settings file across restarts", () => {
  it("keeps the runtime edits over a restart with the same environment settings", async () => {
    const file = join(dir, "settings.json");
    await startAndStop(file, A);
    await writeFile(file, EDITED);

    await startAndStop(file, A);

    expect(await readFile(file, "utf8")).toBe(EDITED);
  });

  it("is written again from the environment's settings once they changed, as a deploy replaces runtime edits, keeping the edited file beside it and saying so", async () => {
    const file = join(dir, "settings.json");
    await startAndStop(file, A);
    await writeFile(file, EDITED);
    const log: string[] = [];

    await startAndStop(file, B, log);

    expect(await readFile(file, "utf8")).toBe(B);
    expect(await readFile(`${file}.previous.json`, "utf8")).toBe(EDITED);
    expect(log).toEqual([expect.stringContaining("the environment's settings changed since")]);
    expect(await readFile(configBaseFile(file), "utf8")).toBe(B);
  });

  it("rewrites an unedited file silently, keeping no copy of it", async () => {
    const file = join(dir, "settings.json");
    await startAndStop(file, A);
    const log: string[] = [];

    await startAndStop(file, B, log);

    expect(await readFile(file, "utf8")).toBe(B);
    expect(log).toEqual([]);
    await expect(readFile(`${file}.previous.json`, "utf8")).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("keeps a file that has no record of the settings it was written from (prepared by hand, or by an older start)", async () => {
    const file = join(dir, "settings.json");
    await writeFile(file, EDITED);

    await startAndStop(file, B);
    await startAndStop(file, A);

    // Still of unknown origin: B was never taken for what the file was written from.
    expect(await readFile(file, "utf8")).toBe(EDITED);
    await expect(readFile(configBaseFile(file), "utf8")).rejects.toMatchObject({ code: "ENOENT" });
  });
});
