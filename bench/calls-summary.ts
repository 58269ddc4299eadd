/**
 * `npx tsx bench/calls-summary.ts <BENCH_CALLS_FILE> <delivered tasks>`: the call counter's file as billed requests
 * and DynamoDB write units per delivered task (bench/lib/calls.ts).
 */
import { readFileSync } from "node:fs";
import { billedCalls, perTask } from "./lib/calls.js";

const [file, tasks] = process.argv.slice(2);
if (!file || !(Number(tasks) > 0)) {
  console.error("usage: tsx bench/calls-summary.ts <calls.json> <delivered tasks>");
  process.exit(2);
}
const calls = billedCalls(JSON.parse(readFileSync(file, "utf8")));
console.log(JSON.stringify(perTask(calls, Number(tasks)), null, 2));
if (calls.unitsUnknown.length > 0)
  console.log(`write units not counted for: ${calls.unitsUnknown.join(", ")}`);
