/**
 * `npx tsx bench/trace-summary.ts <dir>`: reads what BENCH_TRACE_DIR=<dir> wrote (bench/lib/trace.ts) for each
 * workload and prints where an API request's time went, on both sides of the connection:
 *   handed   — given to a connection by the bench's undici pool, headers not yet sent;
 *   inbound  — sent by the bench, not yet parsed by the API server (the system's event loop had other work);
 *   server   — parsed to answer flushed: the add itself, as the capacity planner's model charges it;
 *   outbound — answer flushed, not yet read by the bench (the bench's event loop had other work);
 *   turn     — read by the bench, the next request on that connection not yet sent (with requests waiting in the
 *              pool: the bench's turnaround; without: the connection idle, the open loop ahead of its schedule).
 * Then, per second of the run: adds answered, callbacks received, adds inside the system on average (of the 64
 * connections, how many the system holds), and both event loops' delay.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { distribution } from "./lib/stats.js";
import type { ClientTrace, ServerTrace } from "./lib/trace.js";

interface Matched {
  readonly created: number;
  readonly sent: number;
  readonly start: number;
  readonly finish: number;
  readonly complete: number;
  /** When the next request on the same connection was sent. */
  readonly nextSent?: number;
}

/** Zips each connection's requests on both sides, in order (HTTP/1.1: one at a time per connection). */
function match(client: ClientTrace, server: ServerTrace): Matched[] {
  const byPort = (rows: number[][], at: number) => {
    const ports = new Map<number, number[][]>();
    for (const row of rows) {
      if (Number.isNaN(row[at] as number)) continue;
      const list = ports.get(row[0] as number) ?? [];
      list.push(row);
      ports.set(row[0] as number, list);
    }
    for (const list of ports.values()) list.sort((a, b) => (a[at] as number) - (b[at] as number));
    return ports;
  };
  const clientPorts = byPort(client.requests, 2);
  const serverPorts = byPort(server.requests, 1);
  const out: Matched[] = [];
  for (const [port, sent] of clientPorts) {
    const got = serverPorts.get(port) ?? [];
    sent.forEach((c, i) => {
      const s = got[i];
      if (!s || Number.isNaN(s[2] as number) || Number.isNaN(c[4] as number)) return;
      const next = sent[i + 1];
      out.push({
        created: c[1] as number,
        sent: c[2] as number,
        start: s[1] as number,
        finish: s[2] as number,
        complete: c[4] as number,
        ...(next ? { nextSent: next[2] as number } : {}),
      });
    });
  }
  return out;
}

const fmt = (d: ReturnType<typeof distribution>) =>
  `p50 ${d.p50.toFixed(2)} p90 ${d.p90.toFixed(2)} p99 ${d.p99.toFixed(2)} max ${d.max.toFixed(1)} (n ${d.count})`;
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function phases(rows: readonly Matched[]): void {
  const of = (f: (r: Matched) => number | undefined) =>
    rows.map(f).filter((x): x is number => x !== undefined);
  const parts: [string, (r: Matched) => number | undefined][] = [
    ["handed", (r) => r.sent - r.created],
    ["inbound", (r) => r.start - r.sent],
    ["server", (r) => r.finish - r.start],
    ["outbound", (r) => r.complete - r.finish],
    ["turn", (r) => (r.nextSent === undefined ? undefined : r.nextSent - r.complete)],
  ];
  for (const [name, f] of parts) {
    const xs = of(f);
    console.log(`  ${name.padEnd(9)} mean ${mean(xs).toFixed(2)} ms  ${fmt(distribution(xs))}`);
  }
}

/** Cores each thread used between `from` and `to`, from the cumulative samples nearest them. */
function cores(samples: number[], from: number, to: number): string {
  const at = (t: number) => {
    let best = 0;
    for (let i = 0; i < samples.length; i += 4) if ((samples[i] as number) <= t) best = i;
    return samples.slice(best, best + 4);
  };
  const [t0 = 0, ...a] = at(from);
  const [t1 = 0, ...b] = at(to);
  if (t1 <= t0) return "–";
  return a.map((x, i) => (((b[i] as number) - x) / (t1 - t0)).toFixed(2)).join("/");
}

/** Per second: adds answered, callbacks, mean adds inside the system and inside the bench, loop delays. */
function timeline(rows: readonly Matched[], client: ClientTrace, server: ServerTrace, t0: number): void {
  const end = Math.max(...rows.map((r) => r.complete), ...client.callbacks) - t0;
  console.log(
    "  s   adds/s  callbacks/s  in system  sent, unread (of 64 connections)  loop delay mean/max: system, bench  cores: main/emulators/helpers  inbound+server ms  main's GC pauses ms",
  );
  for (let s = 0; s * 1000 < end; s++) {
    const from = t0 + s * 1000;
    const to = from + 1000;
    const overlap = (a: number, b: number) => Math.max(0, Math.min(b, to) - Math.max(a, from)) / 1000;
    const inSystem = rows.reduce((n, r) => n + overlap(r.start, r.finish), 0);
    // Sent, not yet read by the API: waiting in the system's socket.
    const inBench = rows.reduce((n, r) => n + overlap(r.sent, r.start), 0);
    const answered = rows.filter((r) => r.finish >= from && r.finish < to);
    const adds = answered.length;
    const waits = `${mean(answered.map((r) => r.start - r.sent)).toFixed(0)}+${mean(answered.map((r) => r.finish - r.start)).toFixed(0)}`;
    const callbacks = client.callbacks.filter((t) => t >= from && t < to).length;
    const loop = (samples: number[]) => {
      const inside: number[][] = [];
      for (let i = 0; i < samples.length; i += 3)
        if ((samples[i] as number) >= from && (samples[i] as number) < to)
          inside.push(samples.slice(i, i + 3));
      return `${mean(inside.map((x) => x[1] as number)).toFixed(1)}/${Math.max(0, ...inside.map((x) => x[2] as number)).toFixed(0)}`;
    };
    let gcMs = 0;
    for (let i = 0; i < server.gc.length; i += 3)
      if ((server.gc[i] as number) >= from && (server.gc[i] as number) < to)
        gcMs += server.gc[i + 1] as number;
    console.log(
      `  ${String(s).padStart(2)}  ${String(adds).padStart(6)}  ${String(callbacks).padStart(11)}  ${inSystem.toFixed(1).padStart(9)}  ${inBench.toFixed(1).padStart(8)}  ${loop(server.loop).padStart(40)}, ${loop(client.loop).padEnd(8)} ${cores(server.threads, from, to)}  ${waits}  gc ${gcMs.toFixed(0)}`,
    );
  }
}

/**
 * Stretches of fast-path messages the main thread handled with no API request parsed in between: while adds
 * were coming in, how long their sockets waited behind the messages (Node's MessagePort handles up to
 * max(queued, 1000) messages per wake-up, including those arriving meanwhile).
 */
function drains(rows: readonly Matched[], server: ServerTrace, t0: number): void {
  const events: [number, "m" | "r"][] = [];
  for (let i = 0; i < server.messages.length; i += 2) events.push([server.messages[i] as number, "m"]);
  for (const r of rows) events.push([r.start, "r"]);
  events.sort((a, b) => a[0] - b[0]);
  const stretches: { from: number; to: number; messages: number }[] = [];
  let open: { from: number; to: number; messages: number } | undefined;
  for (const [at, kind] of events) {
    if (kind === "r") {
      if (open) stretches.push(open);
      open = undefined;
    } else if (open) {
      open.to = at;
      open.messages++;
    } else open = { from: at, to: at, messages: 1 };
  }
  const lastAdd = Math.max(...rows.map((r) => r.start));
  const during = stretches.filter((x) => x.to <= lastAdd);
  console.log(
    "  s   fast-path messages  between two API requests: stretches  longest ms  time-weighted mean ms  poll phases: count, longest ms, time-weighted",
  );
  const end = lastAdd - t0;
  for (let s = 0; s * 1000 < end; s++) {
    const from = t0 + s * 1000;
    const mine = during.filter((x) => x.from >= from && x.from < from + 1000);
    const msgs = server.messages.filter((t, i) => i % 2 === 0 && t >= from && t < from + 1000).length;
    const lengths = mine.map((x) => x.to - x.from);
    const weighted =
      lengths.reduce((a, b) => a + b * b, 0) /
      Math.max(
        1e-9,
        lengths.reduce((a, b) => a + b, 0),
      );
    const ends = (server.pollEnds ?? []).filter((t) => t >= from && t < from + 1000);
    const gaps = ends.slice(1).map((t, i) => t - (ends[i] as number));
    const polls = `${ends.length}, ${Math.max(0, ...gaps).toFixed(0)}, ${(
      gaps.reduce((a, b) => a + b * b, 0) /
        Math.max(
          1e-9,
          gaps.reduce((a, b) => a + b, 0),
        )
    ).toFixed(0)}`;
    console.log(
      `  ${String(s).padStart(2)}  ${String(msgs).padStart(18)}  ${String(mine.length).padStart(35)}  ${Math.max(
        0,
        ...lengths,
      )
        .toFixed(1)
        .padStart(10)}  ${weighted.toFixed(1).padStart(21)}  ${polls}`,
    );
  }
}

const dir = process.argv[2] ?? "";
for (const file of readdirSync(dir)
  .filter((f) => f.startsWith("bench-"))
  .sort()) {
  const pid = file.slice("bench-".length, -".json".length);
  const client = JSON.parse(readFileSync(path.join(dir, file), "utf8")) as ClientTrace;
  const server = JSON.parse(readFileSync(path.join(dir, `sut-${pid}.json`), "utf8")) as ServerTrace;
  const rows = match(client, server);
  const t0 = Math.min(...rows.map((r) => r.created));
  console.log(`${file}: ${rows.length} requests matched of ${client.requests.length}`);
  phases(rows);
  timeline(rows, client, server, t0);
  if (server.messages) drains(rows, server, t0);
}
