import { describe, expect, it } from "vitest";
import { startEmulatorThread } from "#local/aws/emulator-thread.js";

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
