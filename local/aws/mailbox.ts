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

/**
 * Receives what a `Mailbox` sent on the other end: each message of a batch, in order.
 *
 * `yieldToIo` (the main thread's answers): the batches are only queued when they arrive and handled in the event
 * loop's check phase (`setImmediate`), after the I/O that was ready. Why: Node's MessagePort handles up to 1,000
 * messages per wake-up, counting those that arrive meanwhile, and the emulators answer each call in a message of its
 * own; handled on arrival, each answer's continuation sends further calls whose answers join the same drain, so
 * during deliveries the main thread stayed on answers for 176–352 ms at a time while the API's sockets waited
 * (docs/PERFORMANCE.md, "The main thread's split"; `npx tsx bench/message-drain.ts` shows it apart from the
 * pipeline). Queued, a drain is cheap and every turn of the loop reads the sockets once.
 */
export function onMailbox<T>(
  port: MessagePort,
  receive: (message: T) => void,
  options: { readonly yieldToIo?: boolean } = {},
): void {
  const handle = (batch: T[]) => {
    for (const message of batch) receive(message);
  };
  const take = options.yieldToIo ? inCheckPhase(handle) : handle;
  port.on("message", (batch: T[]) => {
    if (received.hasSubscribers) received.publish(batch.length);
    take(batch);
  });
}

/** `handle`, for every batch queued since the last check phase, in that phase (`setImmediate`), in order. */
function inCheckPhase<T>(handle: (batch: T[]) => void): (batch: T[]) => void {
  let queued: T[][] = [];
  const drain = () => {
    const batches = queued;
    queued = [];
    for (const batch of batches) handle(batch);
  };
  return (batch) => {
    queued.push(batch);
    if (queued.length === 1) setImmediate(drain);
  };
}
