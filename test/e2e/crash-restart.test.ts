import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCallbackReceiver } from "./support/callback-receiver.js";
import { validatingFetch } from "./support/harness.js";

/**
 * `npm start -- --data <dir>` killed outright (SIGKILL: a crash, the laptop's power) and started again on the same
 * directory, as real processes: every accepted task is delivered, in its group's order, none early. The process is
 * killed the moment the last task is accepted, before the Scheduler emulator's next write of its schedules (a
 * moment after each change): recovery must not leave those tasks to the sweeper.
 */
const ROOT = path.resolve(import.meta.dirname, "../..");
// Every task past a 1 s horizon rides a schedule; the sweeper's grace before repairing one is 120 s.
const OVERRIDES = JSON.stringify({ timer: { horizonSeconds: 1, leadSeconds: 1 } });
const DELAY_SECONDS = 25;

let dir: string;
let receiver: Awaited<ReturnType<typeof startCallbackReceiver>>;
const running = new Set<ChildProcess>();

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "punctual-crash-"));
  receiver = await startCallbackReceiver();
});

afterAll(async () => {
  await Promise.all([...running].map((child) => stopProcess(child, "SIGTERM")));
  await receiver?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `local/bin/start.ts` as `npm start` runs it, on free ports; resolves with its API URL once it is ready. */
async function startLocalCloudProcess(): Promise<{ child: ChildProcess; apiUrl: string }> {
  const args = ["--import", "tsx", "local/bin/start.ts", "--port", "0", "--aws-port", "0"];
  const child = spawn(
    process.execPath,
    [...args, "--data", path.join(dir, "data"), "--settings", path.join(dir, "settings.json")],
    {
      cwd: ROOT,
      env: { ...process.env, PUNCTUAL_CONFIG_OVERRIDES: OVERRIDES },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  running.add(child);
  child.once("exit", () => running.delete(child));
  let output = "";
  const apiUrl = await new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const api = /API\s+(http:\/\/\S+)/.exec(output);
      if (output.includes("Ctrl-C") && api?.[1]) resolve(api[1]);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) => reject(new Error(`local cloud exited (${code}) before ready:\n${output}`)));
  });
  return { child, apiUrl };
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  await exited;
}

describe("a local cloud killed and started again on its data directory", () => {
  it("delivers every task accepted just before the kill, in group order, none early, by its timer", async () => {
    // Prepare: one group of three tasks on the Scheduler path, then SIGKILL at once.
    const first = await startLocalCloudProcess();
    const url = `${receiver.url}/ok/crash`;
    const accepted: { task_id: string; due_at: string }[] = [];
    for (let seq = 0; seq < 3; seq++) {
      const response = await validatingFetch(`${first.apiUrl}/v1/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          topic: "demo",
          delay_seconds: DELAY_SECONDS + seq,
          content: { order_id: "crash-1", seq },
          callback: { url },
        }),
      });
      expect(response.status).toBe(201);
      accepted.push((await response.json()) as { task_id: string; due_at: string });
    }
    await stopProcess(first.child, "SIGKILL");

    // Act
    await startLocalCloudProcess();
    const ids = accepted.map((t) => t.task_id);
    // Within the sweeper's 120 s grace: only the timers (schedules, or recovery's re-arms) deliver this soon.
    await receiver.waitFor(() => ids.every((id) => receiver.forTask(id).length > 0), 90_000);

    // Assess
    const seqs = receiver.received.filter((r) => ids.includes(r.json.task_id)).map((r) => r.json.content.seq);
    expect(seqs).toEqual([0, 1, 2]);
    for (const task of accepted) {
      expect(receiver.forTask(task.task_id)[0]?.receivedAtMs).toBeGreaterThanOrEqual(Date.parse(task.due_at));
    }
  }, 150_000);
});
