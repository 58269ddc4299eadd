import type { MessagePort } from "node:worker_threads";

/**
 * Coalesces the messages one side of a MessagePort sends within one turn of its event loop into a single
 * `postMessage` of an array (the local fast path's calls and answers, local/aws/fast-path.ts and
 * local/aws/in-process.ts). Why: under load a thread issues dozens of calls per turn, and each `postMessage`
 * pays a fixed cost on both ends (serialising a message envelope, waking the other thread, dispatching one
 * event there) that profiles of the add path showed at 5–7 % of each thread; one message per turn pays it once.
 * Order is kept: messages leave in the order they were sent. The flush runs in the same turn's check phase
 * (`setImmediate`), so a message waits for at most the rest of the turn that sent it — unless it is `urgent`:
 * then what is pending leaves as soon as the code that sent it yields (a microtask). The fast path marks large
 * calls urgent (a BatchWriteItem of 25 tasks): for them the fixed cost is small beside their bytes, and
 * holding them to the end of a turn in which the API thread validates several batches of 100 left the
 * emulators' thread idle meanwhile (measured: batched adds fell from ~9,400/s to ~7,800/s).
 */
export class Mailbox<T> {
  readonly #port: MessagePort;
  #pending: T[] = [];
  #scheduled = false;
  #urgent = false;

  constructor(port: MessagePort) {
    this.#port = port;
  }

  send(message: T, options?: { urgent?: boolean }): void {
    this.#pending.push(message);
    if (options?.urgent && !this.#urgent) {
      this.#urgent = true;
      queueMicrotask(this.#flush);
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#endOfTurn);
  }

  readonly #endOfTurn = (): void => {
    this.#scheduled = false;
    this.#flush();
  };

  readonly #flush = (): void => {
    this.#urgent = false;
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
    for (const message of batch) receive(message);
  });
}
