import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedCallback {
  readonly receivedAtMs: number;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly json: { task_id: string; content: Record<string, unknown>; [key: string]: unknown };
  readonly status: number;
}

export interface CallbackReceiverOptions {
  /** Address to listen on. Default 127.0.0.1: nothing outside this machine can call the receiver. */
  readonly listenHost?: string;
  /**
   * Host name put in `url`, i.e. what the deliver function dials. Default: the listen address (127.0.0.1 for
   * 0.0.0.0 / ::). Against LocalStack the functions run in containers, for which the host is e.g.
   * `host.docker.internal`.
   */
  readonly advertisedHost?: string;
  /** Default 0: a free port. */
  readonly port?: number;
  /** How long `waitFor` waits unless told. Default 20 s. */
  readonly defaultTimeoutMs?: number;
}

/**
 * A real HTTP callback receiver, on loopback unless told otherwise. Paths choose the behaviour:
 * `/ok/...` answers 200; `/fail/...` answers 500 forever; `/flaky/<n>/...` answers 503 to the first n attempts
 * of each task, then 200; `/slow/<ms>/...` answers 200 after holding the request for that long;
 * `/until-fixed/<name>/...` answers 500 until the test calls `fix(name)` (a receiver that is repaired), then 200;
 * `/held/<name>/...` holds each request until the test calls `fix(name)`, then answers 200 (a delivery kept under way);
 * `/held-fail/<name>/...` likewise, then answers 500 (a delivery kept under way that fails; once fixed, at once).
 */
export async function startCallbackReceiver(options: CallbackReceiverOptions = {}): Promise<{
  readonly url: string;
  readonly received: ReceivedCallback[];
  forTask(taskId: string): ReceivedCallback[];
  waitFor(predicate: (all: ReceivedCallback[]) => boolean, timeoutMs?: number): Promise<void>;
  fix(name: string): void;
  stop(): Promise<void>;
}> {
  const fixed = new Set<string>();
  const held = new Map<string, (() => void)[]>();
  const received: ReceivedCallback[] = [];
  const attemptsByTask = new Map<string, number>();
  const waiters = new Set<() => void>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const receivedAtMs = Date.now();
      const body = Buffer.concat(chunks).toString("utf8");
      let json: ReceivedCallback["json"];
      try {
        json = JSON.parse(body);
      } catch {
        json = { task_id: "", content: {} };
      }
      const path = req.url ?? "/";
      const taskId = String(req.headers["webhook-id"] ?? json.task_id);
      const attempt = (attemptsByTask.get(taskId) ?? 0) + 1;
      attemptsByTask.set(taskId, attempt);
      let status = 200;
      if (path.startsWith("/fail")) status = 500;
      const flaky = /^\/flaky\/(\d+)/.exec(path);
      if (flaky && attempt <= Number(flaky[1])) status = 503;
      const untilFixed = /^\/until-fixed\/([^/]+)/.exec(path);
      if (untilFixed && !fixed.has(untilFixed[1] as string)) status = 500;
      if (path.startsWith("/held-fail/")) status = 500;
      received.push({
        receivedAtMs,
        path,
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body,
        json,
        status,
      });
      const slow = /^\/slow\/(\d+)/.exec(path);
      const answer = () => {
        res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : "nope");
        for (const wake of waiters) wake();
      };
      const hold = /^\/held(?:-fail)?\/([^/]+)/.exec(path)?.[1];
      if (slow) setTimeout(answer, Number(slow[1]));
      else if (hold !== undefined && !fixed.has(hold)) {
        held.set(hold, [...(held.get(hold) ?? []), answer]);
        // A held request is seen (waitFor) on arrival: its answer waits for the test.
        for (const wake of waiters) wake();
      } else answer();
    });
  });
  const listenHost = options.listenHost ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, listenHost, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const wildcard = listenHost === "0.0.0.0" || listenHost === "::";
  const host = options.advertisedHost ?? (wildcard ? "127.0.0.1" : listenHost);

  return {
    url: `http://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`,
    received,
    forTask: (taskId) => received.filter((r) => r.headers["webhook-id"] === taskId),
    fix: (name) => {
      fixed.add(name);
      for (const answer of held.get(name) ?? []) answer();
      held.delete(name);
    },
    waitFor: (predicate, timeoutMs = options.defaultTimeoutMs ?? 20_000) =>
      new Promise<void>((resolve, reject) => {
        if (predicate(received)) return resolve();
        const wake = () => {
          if (!predicate(received)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(`callback condition not met within ${timeoutMs} ms (${received.length} received)`),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        waiters.add(wake);
      }),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
