import http from "node:http";
import type { AddressInfo } from "node:net";
import { type ConsoleServerOptions, startConsoleServer } from "../../../console/cli-server.js";
import { type ConsoleBrowser, launchConsoleBrowser } from "./browser.js";

/** `punctual console` in front of a fake API on loopback, and a headless Chromium to open it: no local cloud. */
export interface FakeApiConsole {
  /** The printed URL (its token in it). */
  readonly consoleUrl: string;
  readonly browser: ConsoleBrowser;
  /** Closes the browser, the console and the fake API, in that order. */
  stop(): Promise<void>;
}

export async function startFakeApiConsole(
  answer: http.RequestListener,
  options: Pick<ConsoleServerOptions, "metrics"> = {},
): Promise<FakeApiConsole> {
  const api = http.createServer(answer);
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  const server = await startConsoleServer({
    apiUrl: new URL(`http://127.0.0.1:${(api.address() as AddressInfo).port}/`),
    authorize: async () => ({}),
    port: 0,
    ...options,
  });
  const browser = await launchConsoleBrowser();
  return {
    consoleUrl: server.url,
    browser,
    stop: async () => {
      await browser.close();
      await server.stop();
      api.closeAllConnections();
      await new Promise((resolve) => api.close(resolve));
    },
  };
}

/** A dead-lettered task's view as the fake API answers it: failed after one attempt answered 500. */
export function deadLetteredTaskAnswer(taskId: string, topic: string) {
  return {
    task_id: taskId,
    topic,
    status: "failed",
    due_at: "2026-01-01T00:00:00.000Z",
    accepted_at: "2026-01-01T00:00:00.000Z",
    failed_at: "2026-01-01T00:00:01.000Z",
    attempts: 1,
    last_error: "HTTP 500",
    callback_url: "http://127.0.0.1:9/callback",
    attempt_log: [],
  };
}
