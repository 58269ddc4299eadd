/**
 * The discrete-event clock: callbacks run in time order (ties in the order they were scheduled). A binary heap
 * of our own, because the whole model needs only `at` and `run`, and no library in our tree provides one.
 */
interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

export class Simulation {
  #now: number;
  #seq = 0;
  readonly #heap: Scheduled[] = [];

  /** The clock starts at `startMs` (an epoch time, so ids and due times look like real ones). */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  get now(): number {
    return this.#now;
  }

  /** Runs `fn` at `timeMs` (never in the past). */
  at(timeMs: number, fn: () => void): void {
    this.#push({ at: Math.max(timeMs, this.#now), seq: this.#seq++, fn });
  }

  after(delayMs: number, fn: () => void): void {
    this.at(this.#now + Math.max(0, delayMs), fn);
  }

  /** Runs events until none is left or the next one lies beyond `untilMs`. */
  run(untilMs = Number.POSITIVE_INFINITY): void {
    for (let next = this.#pop(); next; next = this.#pop()) {
      if (next.at > untilMs) {
        this.#push(next);
        return;
      }
      this.#now = next.at;
      next.fn();
    }
  }

  #push(item: Scheduled): void {
    const heap = this.#heap;
    heap.push(item);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!before(item, heap[parent] as Scheduled)) break;
      heap[i] = heap[parent] as Scheduled;
      heap[parent] = item;
      i = parent;
    }
  }

  #pop(): Scheduled | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || !last) return top;
    heap[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l] as Scheduled, heap[m] as Scheduled)) m = l;
      if (r < heap.length && before(heap[r] as Scheduled, heap[m] as Scheduled)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m] as Scheduled, heap[i] as Scheduled];
      i = m;
    }
    return top;
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Runs `steps` one after another, each calling its continuation; then `done`. */
export function sequence(steps: readonly ((next: () => void) => void)[], done: () => void): void {
  const run = (i: number) => {
    const step = steps[i];
    if (step) step(() => run(i + 1));
    else done();
  };
  run(0);
}

/** Runs `items` through `work` with at most `limit` at once; `done` after the last finished. */
export function bounded<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, next: () => void) => void,
  done: () => void,
): void {
  if (items.length === 0) {
    done();
    return;
  }
  let started = 0;
  let finished = 0;
  const startNext = () => {
    if (started >= items.length) return;
    const item = items[started++] as T;
    work(item, () => {
      finished++;
      if (finished === items.length) done();
      else startNext();
    });
  };
  for (let i = 0; i < Math.min(limit, items.length); i++) startNext();
}

/** Runs every one of `count` jobs at once; `done` after the last. */
export function all(count: number, work: (i: number, next: () => void) => void, done: () => void): void {
  bounded(
    Array.from({ length: count }, (_, i) => i),
    Number.POSITIVE_INFINITY,
    work,
    done,
  );
}

/** At most `limit` jobs hold a slot at once; the others wait in arrival order (the relay's `createLimiter`). */
export class Slots {
  #free: number;
  readonly #waiting: ((release: () => void) => void)[] = [];

  constructor(limit: number) {
    this.#free = limit;
  }

  acquire(job: (release: () => void) => void): void {
    if (this.#free > 0) {
      this.#free--;
      job(() => this.#release());
    } else this.#waiting.push(job);
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next(() => this.#release());
    else this.#free++;
  }
}

/** Jobs of one key run one after another, each after the previous called `next` (a promise chain per key). */
export class KeyedChain {
  readonly #queues = new Map<string, ((next: () => void) => void)[]>();

  run(key: string, job: (next: () => void) => void): void {
    const queue = this.#queues.get(key);
    if (queue) queue.push(job);
    else {
      this.#queues.set(key, []);
      this.#start(key, job);
    }
  }

  #start(key: string, job: (next: () => void) => void): void {
    job(() => {
      const next = this.#queues.get(key)?.shift();
      if (next) this.#start(key, next);
      else this.#queues.delete(key);
    });
  }
}
