import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { startDynalite } from "#local/aws/dynalite-store.js";
import { startEmulatorThread } from "#local/aws/emulator-thread.js";
import { startFailureMessage } from "#local/cloud/start-failure.js";

describe("the emulators' thread dying under a running local cloud", () => {
  it("reports why (a full disk), and stops at once rather than waiting for it forever", async () => {
    // Prepare
    const entry = new URL("../../support/failing-emulator-thread.ts", import.meta.url);
    const lines: string[] = [];
    let failed: (error: Error) => void = () => undefined;
    const failure = new Promise<Error>((resolve) => {
      failed = resolve;
    });

    // Act
    const thread = await startEmulatorThread({} as never, (line) => lines.push(line), {
      entry,
      onFailure: failed,
    });
    const error = await failure;
    await thread.stop();

    // Assess
    expect(error.message).toContain("No space left on device");
    expect(lines.join("\n")).toContain("No space left on device");
  }, 20_000);
});

/** A fresh `--data` directory for one test, removed afterwards whatever the test found. */
async function withDataDir(use: (dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "punctual-thread-"));
  try {
    await use(dataDir);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * Why the emulators' thread would not start on `dataDir`, or undefined if it started after all (then it is
 * stopped, so a test that fails leaves no thread holding the directory).
 */
function startFailure(dataDir: string): Promise<Error | undefined> {
  return startEmulatorThread({ dataDir, gatewayPort: 0 }, () => undefined).then(
    async (thread) => {
      await thread.stop();
      return undefined;
    },
    (reason: unknown) => reason as Error,
  );
}

describe("the emulators' thread failing to start", () => {
  it("says why (schedules.json cut short) in one line npm start can print, not only its exit code", async () => {
    await withDataDir(async (dataDir) => {
      // Prepare
      const file = path.join(dataDir, "schedules.json");
      await writeFile(file, '{"version":1,"groups":[{"Name":"def', "utf8");

      // Act
      const error = await startFailure(dataDir);

      // Assess
      expect(error?.name).toBe("DataFileError");
      const message = startFailureMessage(error, { port: 3000, awsPort: 4566 });
      expect(message).toContain(`${file} is not a scheduler emulator state file`);
      expect(message).toContain("move it away");
    });
  }, 30_000);

  it("says the local DynamoDB's LevelDB cannot be opened (a damaged CURRENT file), rather than report ready", async () => {
    await withDataDir(async (dataDir) => {
      // Prepare
      await mkdir(path.join(dataDir, "dynamodb"));
      await writeFile(path.join(dataDir, "dynamodb", "CURRENT"), "", "utf8");

      // Act
      const error = await startFailure(dataDir);

      // Assess: before, it came up, and its first call stopped it with "Database is closed"
      expect(error?.name).toBe("DataFileError");
      const message = startFailureMessage(error, { port: 3000, awsPort: 4566 });
      expect(message).toContain(
        `${path.join(dataDir, "dynamodb")} (the local DynamoDB's LevelDB) cannot be opened`,
      );
      expect(message).toContain("Corruption");
    });
  }, 30_000);

  it("says the LevelDB is open in another process (its lock file deleted), not that it is damaged", async () => {
    await withDataDir(async (dataDir) => {
      // Prepare: this process holds the LevelDB, as another local cloud would
      const { store } = startDynalite({ path: path.join(dataDir, "dynamodb") });
      const holder = store.db as typeof store.db & { close(): Promise<void> };
      await holder.open();

      try {
        // Act
        const error = await startFailure(dataDir);

        // Assess
        const message = startFailureMessage(error, { port: 3000, awsPort: 4566 });
        expect(message).toContain("(the local DynamoDB's LevelDB) is open in another process");
        expect(message).not.toContain("restore");
      } finally {
        await holder.close();
      }
    });
  }, 30_000);
});
