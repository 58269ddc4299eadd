import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * A worker thread running one of our TypeScript modules. A worker's `--import tsx` comes too late for its entry
 * module on Node 20, so the thread registers tsx's loader itself, then imports the entry. A profiled process
 * (`node --cpu-prof …`) profiles its threads too.
 */
export function startTsWorker(entry: URL, options: Omit<WorkerOptions, "eval" | "execArgv">): Worker {
  const bootstrap = `
import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })
  .catch((error) => { console.error(error); process.exit(1); });
`;
  return new Worker(bootstrap, {
    ...options,
    eval: true,
    execArgv: ["--no-warnings", ...process.execArgv.filter((a) => a.startsWith("--cpu-prof"))],
  });
}
