import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { OutdatedDataDirError } from "#local/cloud/provision.js";
import { startFailureMessage } from "#local/cloud/start-failure.js";
import { DataDirInUseError, lockDataDir } from "#local/runtime/data-dir-lock.js";
import { DataFileError } from "#local/runtime/data-file-error.js";
import { ConfigError, loadEnvironmentConfig } from "#shared/config/index.js";
import { verificationKeys } from "#shared/security/signing.js";

/** What `listen` rejects with when the port is taken (the worker thread passes code, address and port on). */
const addressInUse = (port: number) =>
  Object.assign(new Error(`listen EADDRINUSE: address already in use 127.0.0.1:${port}`), {
    code: "EADDRINUSE",
    syscall: "listen",
    address: "127.0.0.1",
    port,
  });

const ports = { port: 3000, awsPort: 4566 };

describe("why `npm start` could not start, in one line", () => {
  it("names the API port taken and the option that moves it", () => {
    const message = startFailureMessage(addressInUse(3000), ports);
    expect(message).toContain("127.0.0.1:3000");
    expect(message).toContain("--port");
    expect(message).not.toContain("--aws-port");
  });

  it("names the AWS endpoint's port taken and the option that moves it", () => {
    const message = startFailureMessage(addressInUse(4566), ports);
    expect(message).toContain("127.0.0.1:4566");
    expect(message).toContain("--aws-port");
  });

  it("says another local cloud may hold the port", () => {
    expect(startFailureMessage(addressInUse(3000), ports)).toMatch(/another local cloud/);
  });

  it("passes an invalid configuration's problems on, one a line, as synth and cold starts name them", () => {
    // Prepare
    let error: unknown;
    try {
      loadEnvironmentConfig("local", JSON.stringify({ topics: { demo: { maxAttempts: 0 } } }));
    } catch (caught) {
      error = caught;
    }

    // Act
    const message = startFailureMessage(error, ports);

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect(message).toBe((error as Error).message);
    expect(message).toMatch(
      /^invalid configuration for environment "local":\n {2}- topic "demo", field "maxAttempts"/,
    );
  });

  it("passes the data directory's refusal on as it is", () => {
    const error = new DataDirInUseError("/tmp/data", 42);
    expect(startFailureMessage(error, ports)).toBe(error.message);
  });

  it("names a --data directory it cannot write (here a file stands where the directory should be)", async () => {
    // Prepare
    const dir = await mkdtemp(path.join(tmpdir(), "punctual-unusable-"));
    try {
      const file = path.join(dir, "not-a-directory");
      await writeFile(file, "");
      const error = await lockDataDir(path.join(file, "data")).catch((e: unknown) => e);

      // Act
      const message = startFailureMessage(error, ports);

      // Assess
      expect(message).toContain(path.join(file, "data"));
      expect(message).toContain("--data");
      expect(message).not.toContain("\n");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("says a full disk or a read-only file system is why a file could not be written", () => {
    for (const code of ["ENOSPC", "EROFS", "EACCES"]) {
      const error = Object.assign(new Error(`${code}: failed, open '/data/local-cloud.pid'`), {
        code,
        syscall: "open",
        path: "/data/local-cloud.pid",
      });
      expect(startFailureMessage(error, ports)).toContain("/data/local-cloud.pid");
    }
  });

  it("passes on as it is that the data directory was made by an older version (a table without an index)", () => {
    const error = new OutdatedDataDirError("Punctual-local-Table", ["bySweepShard"]);
    expect(startFailureMessage(error, ports)).toBe(error.message);
    expect(error.message).toContain("--data");
  });

  it("names PUNCTUAL_SIGNING_SECRET when its material is no signing secret (too short, not base64)", () => {
    // Prepare: what loading the functions throws for PUNCTUAL_SIGNING_SECRET=garbage.
    const error = (() => {
      try {
        return verificationKeys("garbage", "demo");
      } catch (e) {
        return e;
      }
    })();

    // Act
    const message = startFailureMessage(error, ports);

    // Assess
    expect(message).toContain("PUNCTUAL_SIGNING_SECRET");
    expect(message).toContain("at least 24 bytes");
    expect(message).not.toContain("\n");
  });

  it("passes on as it is that a --data file cannot be read back, from this thread or copied from the emulators'", () => {
    const error = new DataFileError(
      "/d/schedules.json",
      "/d/schedules.json is not a scheduler emulator state file",
    );
    expect(startFailureMessage(error, ports)).toBe(error.message);
    const copied = Object.assign(new Error("/d/schedules.json is not …"), { name: "DataFileError" });
    expect(startFailureMessage(copied, ports)).toBe("/d/schedules.json is not …");
  });

  it("leaves any other failure to its stack trace", () => {
    expect(startFailureMessage(new Error("boom"), ports)).toBeUndefined();
    expect(startFailureMessage("boom", ports)).toBeUndefined();
  });
});
