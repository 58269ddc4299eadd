import { readdirSync, readFileSync } from "node:fs";

export interface Distribution {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentiles of a sample (ms). An empty sample reports NaN, never a flattering zero. */
export function distribution(values: readonly number[]): Distribution {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) =>
    sorted.length === 0
      ? Number.NaN
      : (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0);
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

/** Sorted copy thinned to at most `points` values, for the chart (the JSON keeps the percentiles). */
export function cdfPoints(values: readonly number[], points = 200): number[] {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length <= points) return [...sorted];
  return Array.from(
    { length: points },
    (_, i) => sorted[Math.round((i * (sorted.length - 1)) / (points - 1))] ?? 0,
  );
}

// CPU of other processes: utime + stime from /proc/<pid>/stat, in clock ticks (USER_HZ is 100 on Linux).
const TICK_MS = 10;

function procCpuMs(pid: number, file = `/proc/${pid}/stat`): number | undefined {
  try {
    const stat = readFileSync(file, "utf8");
    // Fields after the parenthesised command name (which may contain spaces): state is field 3.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** `pid` and every live descendant (the local cloud forks its emulators; tsx may add a hop). */
export function processTree(pid: number): number[] {
  const pids = readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
  const tree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of pids) {
      const parent = parentOf(p);
      if (!tree.has(p) && parent !== undefined && tree.has(parent)) {
        tree.add(p);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** CPU ms used by a set of processes since the meter was created (processes that exited meanwhile drop out). */
export function cpuMeter(pids: readonly number[]): () => number {
  const start = new Map(pids.map((pid) => [pid, procCpuMs(pid) ?? 0]));
  return () => pids.reduce((sum, pid) => sum + Math.max(0, (procCpuMs(pid) ?? 0) - (start.get(pid) ?? 0)), 0);
}

/** CPU ms of this process since the meter was created. */
export function selfCpuMeter(): () => number {
  const start = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  };
}

/**
 * CPU ms the whole machine spent busy since the meter was created (/proc/stat: user, nice, system, irq, softirq,
 * steal), so a run can tell how much of the machine other work took.
 */
export function machineCpuMeter(): () => number {
  const read = () => {
    try {
      const fields =
        readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
      const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
      return (user + nice + system + irq + softirq + steal) * TICK_MS;
    } catch {
      return 0;
    }
  };
  const start = read();
  return () => Math.max(0, read() - start);
}

/** CPU ms of each thread of process `pid` (/proc/<pid>/task/<tid>/stat), by thread id. */
function threadCpuMs(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const ms = procCpuMs(Number(tid), `/proc/${pid}/task/${tid}/stat`);
    if (ms !== undefined) out.set(Number(tid), ms);
  }
  return out;
}

/**
 * How a process's CPU split over its threads since the meter was created. The local cloud is one process of
 * several event loops (the main thread; the emulators' worker thread) plus V8's and libuv's helper threads (GC,
 * compilation, the thread pool), which all compete for the same cores. Node 20 names every thread "node", so
 * the threads are told apart by role: the main thread is the one whose id is the process id; `busiest` is the
 * other thread that used the most CPU (in the local cloud's default layout, the emulators' thread: no helper
 * comes near an event loop running dynalite and fauxqs), unless `busiestTid` names it; `rest` is everything else.
 * Threads of `exclude` (a measuring tool's own worker) are left out.
 */
export interface ThreadSplit {
  readonly mainMs: number;
  readonly busiestMs: number;
  readonly busiestTid?: number;
  readonly restMs: number;
}

export function threadCpuMeter(
  pid: number,
  options: { readonly exclude?: readonly number[]; readonly busiestTid?: number } = {},
): () => ThreadSplit {
  const start = threadCpuMs(pid);
  return () => {
    let mainMs = 0;
    let busiest: { tid?: number; ms: number } = { ms: 0 };
    let restMs = 0;
    for (const [tid, ms] of threadCpuMs(pid)) {
      if (options.exclude?.includes(tid)) continue;
      const used = Math.max(0, ms - (start.get(tid) ?? 0));
      if (tid === pid) mainMs = used;
      else if (options.busiestTid !== undefined) {
        if (tid === options.busiestTid) busiest = { tid, ms: used };
        else restMs += used;
      } else if (used > busiest.ms) {
        restMs += busiest.ms;
        busiest = { tid, ms: used };
      } else restMs += used;
    }
    return {
      mainMs,
      busiestMs: busiest.ms,
      ...(busiest.tid !== undefined ? { busiestTid: busiest.tid } : {}),
      restMs,
    };
  };
}
