/**
 * BENCH_TRACE_DIR (a diagnostic, off by default): timestamps of every API request on both sides of the loopback
 * connection, to see where an add's time goes outside the system under test — the bench's pool queue, its event
 * loop's turnaround — and how busy each event loop is. Read by bench/trace-summary.ts.
 *
 * Both processes stamp with process.hrtime (CLOCK_MONOTONIC: one clock for every process on the machine), and a
 * request is matched across them by its connection (the bench's local port is the server's remote port) and its
 * turn on that connection (HTTP/1.1 without pipelining: one request at a time, in order). Node's and undici's
 * diagnostics channels give the moments without touching the code under test.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import path from "node:path";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { threadCpuMeter } from "./stats.js";

export const TRACE_DIR = process.env.BENCH_TRACE_DIR;

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** The event loop's delay (a 1 ms timer's lateness), sampled every 100 ms: how long ready work waited. */
function loopDelay(): { stop(): number[] } {
  const samples: number[] = [];
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const timer = setInterval(() => {
    samples.push(nowMs(), histogram.mean / 1e6, histogram.max / 1e6);
    histogram.reset();
  }, 100);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      histogram.disable();
      return samples;
    },
  };
}

export interface ServerTrace {
  /** Per request: [remote port, start ms, finish ms, 1 for POST /v1/tasks]. */
  readonly requests: number[][];
  /** [ms, mean delay ms, max delay ms] per 100 ms. */
  readonly loop: number[];
  /** Each fast-path message the main thread received: [ms, answers in it] (local/aws/mailbox.ts). */
  readonly messages: number[];
  /** When each poll phase that handled messages ended, ms. */
  readonly pollEnds: number[];
  /** The main thread's garbage collections (gcPauses). */
  readonly gc: number[];
  /** [ms, main thread's CPU ms, busiest other thread's (the emulators'), the rest's], cumulative, per 250 ms. */
  readonly threads: number[];
}

/** Garbage collections on this thread: [start ms, pause ms, kind (1 minor, 2 major, 4 incremental, 8 weak)]. */
function gcPauses(): { stop(): number[] } {
  const pauses: number[] = [];
  // performance entries count from timeOrigin; hrtime from boot: one offset puts them on the shared clock.
  const offset = nowMs() - performance.now();
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
      pauses.push(entry.startTime + offset, entry.duration, kind);
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  return {
    stop: () => {
      observer.disconnect();
      return pauses;
    },
  };
}

/** This process's CPU by thread (bench/lib/stats.ts's roles), cumulative, every 250 ms. */
function threadTimeline(): { stop(): number[] } {
  const samples: number[] = [];
  const read = threadCpuMeter(process.pid);
  const timer = setInterval(() => {
    const split = read();
    samples.push(nowMs(), split.mainMs, split.busiestMs, split.restMs);
  }, 250);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

/** In the system under test: when each API request was emitted (headers parsed) and when its answer was flushed. */
export function traceServer(): { save(name: string): void } {
  const started = new WeakMap<IncomingMessage, number[]>();
  const requests: number[][] = [];
  const onStart = (message: unknown) => {
    const { request, socket } = message as { request: IncomingMessage; socket: Socket };
    const row = [socket.remotePort ?? 0, nowMs(), Number.NaN, request.url === "/v1/tasks" ? 1 : 0];
    started.set(request, row);
    requests.push(row);
  };
  const onFinish = (message: unknown) => {
    const { request } = message as { request: IncomingMessage; response: ServerResponse };
    const row = started.get(request);
    if (row) row[2] = nowMs();
  };
  const messages: number[] = [];
  // The end of each poll phase that handled messages: a setImmediate runs right after it (the check phase).
  const pollEnds: number[] = [];
  let marking = false;
  const markPollEnd = () => {
    marking = false;
    pollEnds.push(nowMs());
  };
  const onMessage = (count: unknown) => {
    messages.push(nowMs(), count as number);
    if (!marking) {
      marking = true;
      setImmediate(markPollEnd);
    }
  };
  subscribe("http.server.request.start", onStart);
  subscribe("http.server.response.finish", onFinish);
  subscribe("punctual:mailbox:received", onMessage);
  const loop = loopDelay();
  const threads = threadTimeline();
  const gc = gcPauses();
  return {
    save: (name) => {
      unsubscribe("http.server.request.start", onStart);
      unsubscribe("http.server.response.finish", onFinish);
      unsubscribe("punctual:mailbox:received", onMessage);
      const trace: ServerTrace = {
        requests,
        loop: loop.stop(),
        threads: threads.stop(),
        gc: gc.stop(),
        messages,
        pollEnds,
      };
      writeFileSync(path.join(TRACE_DIR as string, `${name}.json`), JSON.stringify(trace));
    },
  };
}

export interface ClientTrace {
  /**
   * Per request: [local port, created (undici makes the request when it hands it to a connection: the pool's own
   * queue is before this), headers sent, response headers, response complete].
   */
  readonly requests: number[][];
  /** Callbacks received, ms. */
  readonly callbacks: number[];
  readonly loop: number[];
}

/** In the bench: each API request's moments in undici (on a connection, sent, answered, complete) and each callback's. */
export function traceClient(): { callback(): void; save(name: string): void } {
  const rows = new WeakMap<object, number[]>();
  const requests: number[][] = [];
  const callbacks: number[] = [];
  const handlers: [string, (message: unknown) => void][] = [
    [
      "undici:request:create",
      (m) => {
        const row = [0, nowMs(), Number.NaN, Number.NaN, Number.NaN];
        rows.set((m as { request: object }).request, row);
        requests.push(row);
      },
    ],
    [
      "undici:client:sendHeaders",
      (m) => {
        const { request, socket } = m as { request: object; socket: Socket };
        const row = rows.get(request);
        if (!row) return;
        row[0] = socket.localPort ?? 0;
        row[2] = nowMs();
      },
    ],
    ["undici:request:headers", (m) => stamp(rows, m, 3)],
    ["undici:request:trailers", (m) => stamp(rows, m, 4)],
  ];
  for (const [name, handler] of handlers) subscribe(name, handler);
  const loop = loopDelay();
  return {
    callback: () => callbacks.push(nowMs()),
    save: (name) => {
      for (const [channel, handler] of handlers) unsubscribe(channel, handler);
      const trace: ClientTrace = { requests, callbacks, loop: loop.stop() };
      writeFileSync(path.join(TRACE_DIR as string, `${name}.json`), JSON.stringify(trace));
    },
  };
}

function stamp(rows: WeakMap<object, number[]>, message: unknown, field: number): void {
  const row = rows.get((message as { request: object }).request);
  if (row) row[field] = nowMs();
}
