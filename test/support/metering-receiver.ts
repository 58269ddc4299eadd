import http from "node:http";
import type { AddressInfo } from "node:net";

/** One request as the metering receiver saw it arrive (its headers complete). */
export interface MeteredRequest {
  readonly taskId: string;
  readonly path: string;
  readonly attempt: number;
  readonly arrivedAtMs: number;
  /** The request's `punctual-attempt` header: the task's attempt number as Punctual counted it. */
  readonly punctualAttempt: number;
  /** The request's signed `webhook-timestamp` (seconds): when the attempt started. */
  readonly signedSecond: number;
  /** What the receiver answered. */
  readonly status: number;
}

/**
 * A callback receiver on 127.0.0.1 that meters what a protected destination sees (issue 14): requests in flight
 * at once (its peak) and requests per second they were sent in (their signed timestamp), and can be taken down (answers 503) and brought
 * back. Paths: `/hold/<ms>/…` holds each request that long before answering; `/retry-after/<s>/…` answers the
 * first request of each task `429` with `Retry-After: <s>`, then 200. Every answer is 200 unless said otherwise.
 */
export async function startMeteringReceiver() {
  const requests: MeteredRequest[] = [];
  const attempts = new Map<string, number>();
  const waiters = new Set<() => void>();
  let inFlight = 0;
  let peakInFlight = 0;
  let down = false;

  const server = http.createServer((req, res) => {
    const arrivedAtMs = Date.now();
    inFlight++;
    peakInFlight = Math.max(peakInFlight, inFlight);
    const path = req.url ?? "/";
    const taskId = String(req.headers["webhook-id"] ?? "");
    const attempt = (attempts.get(taskId) ?? 0) + 1;
    attempts.set(taskId, attempt);
    const retryAfter = /^\/retry-after\/(\d+)\//.exec(path)?.[1];
    const status = down ? 503 : retryAfter !== undefined && attempt === 1 ? 429 : 200;
    const signedSecond = Number(req.headers["webhook-timestamp"]);
    const punctualAttempt = Number(req.headers["punctual-attempt"]);
    requests.push({ taskId, path, attempt, arrivedAtMs, punctualAttempt, signedSecond, status });
    const holdMs = Number(/^\/hold\/(\d+)\//.exec(path)?.[1] ?? 0);
    req.resume();
    req.on("end", () => {
      setTimeout(() => {
        res.once("finish", () => {
          inFlight--;
          for (const wake of waiters) wake();
        });
        res.writeHead(status, status === 429 ? { "retry-after": retryAfter as string } : {}).end();
      }, holdMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    /** The most requests that were ever in flight at once. */
    peakInFlight: () => peakInFlight,
    /**
     * Requests per whole second their attempt started in, as each request's signed `webhook-timestamp` says
     * (epoch second → count): the second the sender counted it in, whatever the network and the machine's load
     * added before it arrived.
     */
    perSignedSecond(): Map<number, number> {
      const counts = new Map<number, number>();
      for (const r of requests) counts.set(r.signedSecond, (counts.get(r.signedSecond) ?? 0) + 1);
      return counts;
    },
    /** Down: every request is answered 503 (no Retry-After); up again: answers as the path says. */
    setDown(value: boolean) {
      down = value;
    },
    /** Resolves once `predicate` holds over the requests (checked after every answer). */
    async waitFor(predicate: (all: readonly MeteredRequest[]) => boolean, timeoutMs = 30_000): Promise<void> {
      if (predicate(requests)) return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`receiver never saw what was expected; ${requests.length} requests`));
        }, timeoutMs);
        const check = () => {
          if (!predicate(requests)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
    async stop(): Promise<void> {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type MeteringReceiver = Awaited<ReturnType<typeof startMeteringReceiver>>;
