/**
 * `npx tsx bench/message-drain.ts [in flight] [main ms per message] [batched]`: how long an HTTP request waits on
 * an event loop that also handles a worker thread's messages, apart from the pipeline (docs/PERFORMANCE.md, "The
 * main thread's split"). The main thread keeps `in flight` requests going to a worker, spending `main ms` of CPU on
 * each answer; the worker answers each request in a message of its own (as the local cloud's emulators do), or
 * (`batched`) a whole batch in one. Meanwhile a child process sends 400 HTTP requests a second, loopback only, to a
 * server on the main thread. Node's MessagePort handles up to max(queued, 1,000) messages per wake-up, arrivals
 * included: while answers keep coming, the poll phase does not read the sockets. Prints the requests' wait (sent →
 * handled) and the stretches of messages with no request handled in between.
 */
import { fork } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Worker } from "node:worker_threads";

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
// Stands in for the work a message sets off: CPU for a set time, as a handler's code would use.
const spin = (ms: number) => {
  const end = nowMs() + ms;
  while (nowMs() < end);
};

if (process.argv[2] === "client") {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const port = Number(process.argv[3]);
  const send = () => {
    const request = http.request(
      { host: "127.0.0.1", port, agent, method: "POST", path: "/", headers: { "x-sent": String(nowMs()) } },
      (res) => res.resume(),
    );
    request.end("x");
  };
  setInterval(() => {
    send();
    send();
  }, 5);
} else {
  await measure(Number(process.argv[2] ?? 10), Number(process.argv[3] ?? 0.3), process.argv[4] === "batched");
  process.exit(0);
}

async function measure(inFlight: number, mainMs: number, batched: boolean): Promise<void> {
  const worker = new Worker(
    `const { parentPort } = require("node:worker_threads");
     const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
     const spin = (ms) => { const end = nowMs() + ms; while (nowMs() < end); };
     parentPort.on("message", (batch) => {
       if (${batched}) { spin(0.1 * batch.length); parentPort.postMessage(batch); return; }
       for (const x of batch) setImmediate(() => { spin(0.1); parentPort.postMessage([x]); });
     });`,
    { eval: true },
  );
  // The local fast path's mailbox (local/aws/mailbox.ts): what one synchronous stretch sends leaves as one message.
  let outbox: number[] = [];
  const send = (x: number) => {
    outbox.push(x);
    if (outbox.length === 1)
      queueMicrotask(() => {
        worker.postMessage(outbox);
        outbox = [];
      });
  };
  const stretches: number[] = [];
  let stretch: { from: number; to: number } | undefined;
  worker.on("message", (batch: number[]) => {
    const at = nowMs();
    stretch = stretch ? { from: stretch.from, to: at } : { from: at, to: at };
    for (const x of batch) {
      spin(mainMs);
      send(x);
    }
  });
  const waits: number[] = [];
  const server = http.createServer((req, res) => {
    if (stretch) stretches.push(stretch.to - stretch.from);
    stretch = undefined;
    waits.push(nowMs() - Number(req.headers["x-sent"]));
    spin(0.3);
    res.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = fork(
    new URL(import.meta.url).pathname,
    ["client", String((server.address() as AddressInfo).port)],
    {
      execArgv: ["--import", "tsx"],
    },
  );
  await sleep(1_000);
  for (let i = 0; i < inFlight; i++) send(i);
  const from = waits.length;
  await sleep(3_000);
  client.kill();
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))] ?? 0;
  const measured = waits.slice(from);
  console.log(
    `${inFlight} in flight, ${mainMs} ms per message, ${batched ? "one message per batch" : "one message per answer"}: ` +
      `${measured.length} requests handled of ~1,200 sent, wait p50 ${q(measured, 0.5).toFixed(1)} ms, p99 ${q(measured, 0.99).toFixed(1)} ms; ` +
      `message stretches p50 ${q(stretches, 0.5).toFixed(1)} ms, max ${q(stretches, 1).toFixed(1)} ms`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
