import { channel } from "node:diagnostics_channel";
import type { MessagePort } from "node:worker_threads";

/**
 * Published with the size of each batch a thread receives, when someone listens (the bench's BENCH_TRACE_DIR
 * diagnostic, bench/lib/trace.ts: how long the event loop stays on the fast path's messages); otherwise one check.
 */
const received = channel("punctual:mailbox:received");

/**
 * Coalesces the messages one side of a MessagePort sends in one synchronous stretch (the code that runs until it
 * yields, with its microtasks) into a single `postMessage` of an array: the local fast path's calls and answers
 * (local/aws/fast-path.ts, local/aws/in-process.ts). Why: a handler often fans out — a batch add's four
 * BatchWriteItems and ten SendMessageBatches go out from one `Promise.all`, the relay's sends per group likewise
 * — and each `postMessage` pays a fixed cost on both ends (a message envelope, waking the other thread, one event
 * dispatched there); profiles of the add path showed it at 4–5 % of each thread. Order is kept.
 *
 * The flush is a microtask, not the end of the event-loop turn: holding calls until the turn ended (tried first)
 * saved a little more CPU per single add but made every hop wait for the rest of a busy turn — the emulators'
 * thread sat idle while the API thread validated further batches (batched adds 7,400–8,200/s instead of
 * 9,200–10,400/s), and the fire path's chains of calls slowed down with it (docs/PERFORMANCE.md, "Adds through
 * the local cloud").
 */
export class Mailbox<T> {
  readonly #port: MessagePort;
  #pending: T[] = [];

  constructor(port: MessagePort) {
    this.#port = port;
  }

  send(message: T): void {
    this.#pending.push(message);
    if (this.#pending.length === 1) queueMicrotask(this.#flush);
  }

  readonly #flush = (): void => {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    this.#port.postMessage(batch);
  };

  /** Drops what is not sent yet (the port is closing: the other side's answers could not arrive anyway). */
  discard(): void {
    this.#pending = [];
  }
}

/** Receives what a `Mailbox` sent on the other end: each message of a batch, in order. */
export function onMailbox<T>(port: MessagePort, receive: (message: T) => void): void {
  port.on("message", (batch: T[]) => {
    if (received.hasSubscribers) received.publish(batch.length);
    for (const message of batch) receive(message);
  });
}
