/**
 * `npx tsx scripts/console-load.ts [n]`: how the console fares with n (default 10,000) far-future tasks in one
 * topic. Starts a local cloud, adds the tasks through POST /v1/tasks/batch (100 per request), then opens the
 * console in headless Chromium and prints the page's load time (until the topics, lateness, dead letters and
 * local panels are drawn) and the time of refreshes (one tick's requests, until the page has all answers).
 * A measurement for docs/OPERATIONS.md ("The console and the dashboard"), not a test: no threshold.
 */
import os from "node:os";
import { startLocalCloud } from "#local/cloud/local-cloud.js";
import { launchConsoleBrowser } from "../test/e2e/support/browser.js";

const total = Number(process.argv[2] ?? 10_000);
const cloud = await startLocalCloud({ apiPort: 0, awsPort: 0 });
const b = await launchConsoleBrowser();
try {
  const started = Date.now();
  for (let i = 0; i < total; i += 100) {
    const tasks = Array.from({ length: Math.min(100, total - i) }, (_, j) => ({
      topic: "demo",
      delay_seconds: 86_400 + i + j,
      content: { order_id: "bulk", n: i + j },
      callback: { url: "http://127.0.0.1:9/never" },
    }));
    const response = await fetch(`${cloud.apiUrl}/v1/tasks/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tasks }),
    });
    if (response.status !== 200) throw new Error(`batch ${i}: ${response.status} ${await response.text()}`);
  }
  process.stdout.write(`added ${total} tasks in ${Date.now() - started} ms\n`);

  const panels = ["topic-row-demo", "lateness-p50", "dead-letters", "timer-queue"];
  const loadStarted = Date.now();
  await b.page.goto(`${cloud.apiUrl}/console?topic=demo`);
  for (const id of panels) await b.page.waitForSelector(`[data-testid="${id}"]`, { timeout: 60_000 });
  await b.page.waitForFunction(
    `document.querySelectorAll('[data-testid="local-panel"] tbody tr').length > 0`,
    { timeout: 60_000 },
  );
  process.stdout.write(`page load: ${Date.now() - loadStarted} ms\n`);

  // A refresh: every call the page starts at one tick, from the first request to the last response.
  const refreshes: number[] = [];
  for (let r = 0; r < 5; r++) {
    const pending = new Set<string>();
    let first = 0;
    let last = 0;
    const onRequest = (req: { url(): string }) => {
      if (!first) first = Date.now();
      pending.add(req.url());
    };
    const onFinished = (req: { url(): string }) => {
      pending.delete(req.url());
      last = Date.now();
    };
    b.page.on("request", onRequest);
    b.page.on("requestfinished", onFinished);
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    b.page.off("request", onRequest);
    b.page.off("requestfinished", onFinished);
    if (first && pending.size === 0) refreshes.push(last - first);
  }
  process.stdout.write(
    `refresh (one tick's calls, first request to last answer): ${refreshes.join(", ")} ms\n`,
  );
  process.stdout.write(
    `load average: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}\n`,
  );
  await b.screenshot("load-10000");
} finally {
  await b.close();
  await cloud.stop();
}
