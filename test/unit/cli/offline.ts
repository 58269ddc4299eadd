import { main } from "../../../cli/main.js";

/**
 * `punctual` in-process with a fetch that records what it was asked to send and answers nothing (a network
 * error): for what the CLI must refuse before any request.
 */
export async function runOffline(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const sent: string[] = [];
  const fetch: typeof globalThis.fetch = async (input) => {
    sent.push(String(input));
    throw new TypeError("fetch failed");
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env, fetch };
  const code = await main(argv, io);
  return { code, out: out.join(""), err: err.join(""), sent };
}

/** `schedules create` of a daily schedule on topic demo, then these options (its content among them). */
export const scheduleCreate = (...options: string[]) => [
  "schedules",
  "create",
  "--topic",
  "demo",
  "--cron",
  "@daily",
  "--timezone",
  "UTC",
  ...options,
];
