/**
 * `node --expose-gc --import tsx scripts/cron-memory.ts [patterns|schedules]`: the heap a warm function keeps after
 * computing the next occurrence of 999 distinct cron patterns (one zone), measured after a full GC.
 * - `patterns`: 999 croner patterns held (where the bytes go: each holds a 10,000-entry year table, ~80 KB);
 * - `schedules` (default): 999 patterns through nextOccurrence (shared/domain/schedule-cron.ts), i.e. what its
 *   pattern cache keeps.
 * A measurement for the commit and the docs, not a test: no threshold.
 */
import { CronPattern } from "croner";
import { nextOccurrence } from "#shared/domain/schedule-cron.js";

const mode = process.argv[2] ?? "schedules";
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const patterns = Array.from(
  { length: 999 },
  (_, i) => `${i % 60} ${Math.floor(i / 60)} */${(i % 23) + 1} * * *`,
);
const fromMs = Date.UTC(2027, 0, 1);
nextOccurrence({ cron: "* * * * *", timezone: "Europe/Berlin" }, fromMs); // the zone's formatter, croner's module
const held: CronPattern[] = [];
gc();
const before = process.memoryUsage().heapUsed;
for (const cron of patterns) {
  if (mode === "patterns") held.push(new CronPattern(cron, undefined, { mode: "5-or-6-parts" }));
  else nextOccurrence({ cron, timezone: "Europe/Berlin" }, fromMs);
}
gc();
const keptKb = (process.memoryUsage().heapUsed - before) / 1024;
console.log(
  `${mode}: ${patterns.length} patterns, heap kept +${(keptKb / 1024).toFixed(1)} MB (${held.length} held)`,
);
