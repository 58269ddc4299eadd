import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DataDirInUseError, lockDataDir } from "#local/runtime/data-dir-lock.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "punctual-lock-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lockFile = () => path.join(dir, "local-cloud.pid");

/** A process that is alive while the test runs, and its pid. */
async function liveProcess(): Promise<{ pid: number; kill(): void }> {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
  await new Promise((resolve) => child.once("spawn", resolve));
  return { pid: child.pid as number, kill: () => child.kill() };
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid as number;
}

describe("one local cloud per data directory", () => {
  it("refuses a second local cloud of this process on a directory already in use, and frees it on release", async () => {
    const first = await lockDataDir(dir);
    await expect(lockDataDir(dir)).rejects.toBeInstanceOf(DataDirInUseError);
    await first.release();
    const again = await lockDataDir(dir);
    await again.release();
  });

  it("refuses a directory held by another live process, naming it and that process", async () => {
    const other = await liveProcess();
    try {
      await writeFile(lockFile(), `${other.pid}\n`);
      const error = await lockDataDir(dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DataDirInUseError);
      expect((error as Error).message).toContain(dir);
      expect((error as Error).message).toContain(String(other.pid));
      // The other process's lock is left alone.
      expect((await readFile(lockFile(), "utf8")).trim()).toBe(String(other.pid));
    } finally {
      other.kill();
    }
  });

  it("takes over a lock left by a process that is gone (killed without stopping)", async () => {
    await writeFile(lockFile(), `${await deadPid()}\n`);
    const lock = await lockDataDir(dir);
    expect((await readFile(lockFile(), "utf8")).trim()).toBe(String(process.pid));
    await lock.release();
  });

  it("takes over a lock this process left behind without releasing it (a cloud that crashed in a test)", async () => {
    await writeFile(lockFile(), `${process.pid}\n`);
    const lock = await lockDataDir(dir);
    await lock.release();
  });

  it("creates the directory when it does not exist yet", async () => {
    const lock = await lockDataDir(path.join(dir, "new", "data"));
    await lock.release();
  });
});
