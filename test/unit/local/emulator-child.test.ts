import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { startLocalCloud } from "#local/cloud/local-cloud.js";
import { startFailureMessage } from "#local/cloud/start-failure.js";

describe("the emulators' child process failing to start (PUNCTUAL_LOCAL_EMULATORS=child)", () => {
  it("says why (schedules.json cut short), as the thread does, not only 'exited early (code 1)'", async () => {
    // Prepare
    const dataDir = await mkdtemp(path.join(tmpdir(), "punctual-child-"));
    const file = path.join(dataDir, "schedules.json");
    await writeFile(file, '{"version":1,"groups":[{"Name":"def', "utf8");

    try {
      // Act
      const error = await startLocalCloud({ emulators: "child", dataDir, apiPort: 0, awsPort: 0 }).then(
        async (cloud) => {
          await cloud.stop();
          return undefined;
        },
        (reason: unknown) => reason,
      );

      // Assess
      const message = startFailureMessage(error, { port: 3000, awsPort: 4566 });
      expect(message).toContain(`${file} is not a scheduler emulator state file`);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
