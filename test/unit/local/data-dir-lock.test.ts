import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir, uptime } from "node:os";
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

  it("takes over a lock written before the machine last booted, though its pid now names a live process", async () => {
    // Prepare: a lock from before a restart (a laptop rebooted with the cloud running), whose pid the new boot
    // gave to an unrelated process.
    const unrelated = await liveProcess();
    try {
      await writeFile(lockFile(), `${unrelated.pid}\n`);
      const beforeBoot = (Date.now() - uptime() * 1000 - 3_600_000) / 1000;
      await utimes(lockFile(), beforeBoot, beforeBoot);
      // Act
      const lock = await lockDataDir(dir);
      // Assess
      expect((await readFile(lockFile(), "utf8")).trim()).toBe(String(process.pid));
      await lock.release();
    } finally {
      unrelated.kill();
    }
  });

  it.runIf(process.platform === "linux")(
    "takes over a lock whose pid now names a process started after the lock was written (a container restarted)",
    async () => {
      // Prepare: a lock written a minute ago; its pid since reused by a process that started just now (a container
      // restarted with the same volume hands out the same low pids; the host's boot time does not change).
      const writtenAt = (Date.now() - 60_000) / 1000;
      const newcomer = await liveProcess();
      try {
        await writeFile(lockFile(), `${newcomer.pid}\n`);
        await utimes(lockFile(), writtenAt, writtenAt);
        // Act
        const lock = await lockDataDir(dir);
        // Assess
        expect((await readFile(lockFile(), "utf8")).trim()).toBe(String(process.pid));
        await lock.release();
      } finally {
        newcomer.kill();
      }
    },
  );

  it("tells how to free a directory whose holder is not a local cloud: the lock file to delete", async () => {
    const other = await liveProcess();
    try {
      await writeFile(lockFile(), `${other.pid}\n`);
      const error = await lockDataDir(dir).catch((e: unknown) => e);
      expect((error as Error).message).toContain(lockFile());
    } finally {
      other.kill();
    }
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
