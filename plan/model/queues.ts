import type { Simulation } from "./engine.js";
import type { SimTask } from "./table.js";

/** What an event source polls: messages visible now, taken in batches; a wake-up when more arrive. */
export interface PolledQueue<M> {
  available(): number;
  take(max: number): M[];
  onArrival(wake: () => void): void;
}

/**
 * Pollers waiting for messages. One is woken per arrival, and one more after every take that leaves messages
 * behind: a chain that reaches as many pollers as there are batches to take, without waking a thousand idle
 * pollers for every message (which would only cost simulation time).
 */
class Waiters {
  #waiting: (() => void)[] = [];
  add(wake: () => void): void {
    this.#waiting.push(wake);
  }
  wakeOne(): void {
    this.#waiting.shift()?.();
  }
}

/** The standard timer queue: per-message delays, no order. */
export class StandardQueue implements PolledQueue<SimTask> {
  #visible: SimTask[] = [];
  #head = 0;
  readonly #waiters = new Waiters();
  sent = 0;

  constructor(
    private readonly sim: Simulation,
    /** A delayed message is found visible on the next tick of this (0: exactly on time). */
    private readonly tickMs: number,
  ) {}

  send(task: SimTask, delaySeconds: number): void {
    this.sent++;
    let visibleAt = this.sim.now + delaySeconds * 1000;
    if (this.tickMs > 0 && delaySeconds > 0) visibleAt = Math.ceil(visibleAt / this.tickMs) * this.tickMs;
    this.sim.at(visibleAt, () => {
      this.#visible.push(task);
      this.#waiters.wakeOne();
    });
  }

  available(): number {
    return this.#visible.length - this.#head;
  }

  take(max: number): SimTask[] {
    const batch = this.#visible.slice(this.#head, this.#head + max);
    this.#head += batch.length;
    if (this.#head > 4096 && this.#head * 2 > this.#visible.length) {
      this.#visible = this.#visible.slice(this.#head);
      this.#head = 0;
    }
    if (this.available() > 0) this.#waiters.wakeOne();
    return batch;
  }

  onArrival(wake: () => void): void {
    this.#waiters.add(wake);
  }
}

export interface FifoMessage {
  readonly task: SimTask;
  readonly group: string;
}

/**
 * A topic's FIFO queue: per-group order, and no message of a group is handed out while another of the same group
 * is in flight; a send of a task id seen before is dropped (deduplication by task id).
 */
export class FifoQueue implements PolledQueue<FifoMessage> {
  readonly #groups = new Map<string, FifoMessage[]>();
  /** Groups with visible messages and none in flight, oldest first (a Set keeps insertion order). */
  readonly #ready = new Set<string>();
  readonly #inFlight = new Set<string>();
  readonly #seen = new Set<string>();
  readonly #waiters = new Waiters();
  /** Messages in ready groups. */
  #available = 0;
  duplicatesDropped = 0;

  send(group: string, tasks: readonly SimTask[]): void {
    const fresh = tasks.filter((task) => !this.#seen.has(task.key.taskId));
    this.duplicatesDropped += tasks.length - fresh.length;
    if (fresh.length === 0) return;
    for (const task of fresh) this.#seen.add(task.key.taskId);
    const queue = this.#groups.get(group) ?? [];
    this.#groups.set(group, queue);
    queue.push(...fresh.map((task) => ({ task, group })));
    if (this.#ready.has(group)) this.#available += fresh.length;
    else if (!this.#inFlight.has(group)) this.#makeReady(group);
    this.#waiters.wakeOne();
  }

  available(): number {
    return this.#available;
  }

  take(max: number): FifoMessage[] {
    const batch: FifoMessage[] = [];
    for (const group of this.#ready) {
      if (batch.length >= max) break;
      const queue = this.#groups.get(group) ?? [];
      this.#ready.delete(group);
      this.#available -= queue.length;
      batch.push(...queue.splice(0, max - batch.length));
      this.#inFlight.add(group);
    }
    if (this.#available > 0) this.#waiters.wakeOne();
    return batch;
  }

  /** The batch holding these groups finished: their next messages become visible. */
  release(groups: Iterable<string>): void {
    for (const group of groups) {
      this.#inFlight.delete(group);
      if ((this.#groups.get(group)?.length ?? 0) > 0) this.#makeReady(group);
      else this.#groups.delete(group);
    }
    if (this.#available > 0) this.#waiters.wakeOne();
  }

  onArrival(wake: () => void): void {
    this.#waiters.add(wake);
  }

  #makeReady(group: string): void {
    this.#ready.add(group);
    this.#available += this.#groups.get(group)?.length ?? 0;
  }
}
