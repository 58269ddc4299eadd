import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { uptime } from "node:os";
import path from "node:path";

/**
 * One local cloud per `--data` directory. Two would share dynalite's LevelDB (the second cannot open it: it never
 * became ready and said only "Database is closed") and overwrite each other's schedules.json, so the second is
 * refused at once, naming the directory and the process holding it. The lock is a file holding the holder's pid:
 * a holder killed without stopping (SIGKILL, a crash) leaves it behind, and the next start takes it over once that
 * pid is no longer alive, or once that pid cannot have written it (`cannotHaveWritten`: the laptop rebooted with the
 * cloud running, and the lock named the pid of, say, a browser).
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
      if (attempt > 0 || (held && !(await cannotHaveWritten(file, holder)))) {
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
 * Whether `pid` cannot be the process that wrote the lock: the machine booted after it was written, or (on Linux,
 * where /proc tells) the process started after it. A new boot, or a container restarted on the same volume, hands
 * the old pid to any process. The slack keeps a lock from being taken for a stale one when the wall clock is
 * stepped by a second or so (the boot time is derived from it, and /proc's to the second).
 */
async function cannotHaveWritten(file: string, pid: number): Promise<boolean> {
  const written = await stat(file).catch(() => undefined);
  if (written === undefined) return false;
  const bootedAtMs = Date.now() - uptime() * 1000;
  if (written.mtimeMs < bootedAtMs - BOOT_TIME_SLACK_MS) return true;
  const startedAtMs = await linuxStartTimeMs(pid);
  return startedAtMs !== undefined && startedAtMs > written.mtimeMs + START_TIME_SLACK_MS;
}

const BOOT_TIME_SLACK_MS = 60_000;
const START_TIME_SLACK_MS = 2_000;
/** /proc counts in USER_HZ, 100 on the architectures Node runs on (`getconf CLK_TCK`). */
const CLOCK_TICKS_PER_SECOND = 100;

/** When a process started (proc(5): /proc/<pid>/stat's field 22 after /proc/stat's btime), or undefined. */
async function linuxStartTimeMs(pid: number): Promise<number | undefined> {
  if (process.platform !== "linux") return undefined;
  try {
    const [processStat, systemStat] = await Promise.all([
      readFile(`/proc/${pid}/stat`, "utf8"),
      readFile("/proc/stat", "utf8"),
    ]);
    // Fields counted after the command name's closing parenthesis (a name may hold spaces): field 3 first.
    const ticks = Number(processStat.slice(processStat.lastIndexOf(")") + 2).split(" ")[19]);
    const bootSeconds = Number(/^btime (\d+)$/m.exec(systemStat)?.[1]);
    const started = bootSeconds * 1000 + (ticks / CLOCK_TICKS_PER_SECOND) * 1000;
    return Number.isFinite(started) ? started : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
