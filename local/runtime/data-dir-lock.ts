import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { uptime } from "node:os";
import path from "node:path";

/**
 * One local cloud per `--data` directory. Two would share dynalite's LevelDB (the second cannot open it: it never
 * became ready and said only "Database is closed") and overwrite each other's schedules.json, so the second is
 * refused at once, naming the directory and the process holding it. The lock is a file holding the holder's pid:
 * a holder killed without stopping (SIGKILL, a crash) leaves it behind, and the next start takes it over once that
 * pid is no longer alive, or once the machine has restarted since it was written (a new boot hands the old pid to
 * any process: the laptop rebooted with the cloud running, and the lock named the pid of, say, a browser).
 */
const LOCK_FILE = "local-cloud.pid";

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holderPid: number,
  ) {
    super(
      `the data directory ${dataDir} is in use by another local cloud (pid ${holderPid}): stop that one first, ` +
        `or pass another --data <dir> (if pid ${holderPid} is no local cloud, delete ${path.join(dataDir, LOCK_FILE)})`,
    );
    this.name = "DataDirInUseError";
  }
}

export interface DataDirLock {
  release(): Promise<void>;
}

/** Directories held by a local cloud of this process (the pid in the file cannot tell two of them apart). */
const heldHere = new Set<string>();

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const dir = path.resolve(dataDir);
  if (heldHere.has(dir)) throw new DataDirInUseError(dir, process.pid);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  // Twice at most: a stale lock is removed once; losing the race for it to another start then refuses.
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(file, "wx");
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = await holderOf(file);
      const held = holder !== undefined && holder !== process.pid && isAlive(holder);
      if (attempt > 0 || (held && !(await writtenBeforeBoot(file)))) {
        throw new DataDirInUseError(dir, holder ?? 0);
      }
      await rm(file, { force: true });
    }
  }
  heldHere.add(dir);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(dir);
      if ((await holderOf(file)) === process.pid) await rm(file, { force: true });
    },
  };
}

async function holderOf(file: string): Promise<number | undefined> {
  const text = await readFile(file, "utf8").catch(() => "");
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Whether the lock was written before this machine's last boot. The slack keeps a lock written since from being
 * taken for a stale one when the wall clock is stepped by a few seconds (the boot time is derived from it).
 */
async function writtenBeforeBoot(file: string): Promise<boolean> {
  const written = await stat(file).catch(() => undefined);
  const bootedAtMs = Date.now() - uptime() * 1000;
  return written !== undefined && written.mtimeMs < bootedAtMs - BOOT_TIME_SLACK_MS;
}

const BOOT_TIME_SLACK_MS = 60_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
