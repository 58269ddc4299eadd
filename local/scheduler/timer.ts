import { randomBytes } from "node:crypto";
import { isoSeconds } from "./expression.js";
import { parseSqsArn, type SqsTargetSender, TargetError } from "./sqs-sender.js";
import { type ScheduleRecord, type ScheduleStore, scheduleKey } from "./store.js";

/** One pending invocation attempt of a one-time schedule. */
interface Job {
  readonly due: number;
  /** Tie-break so schedules due at the same instant fire in the order they were armed. */
  readonly seq: number;
  readonly key: string;
  readonly revision: number;
  /** 1 for the first invocation, 2 for the first retry, … */
  readonly attempt: number;
  readonly firstAttemptAt?: number;
}

type ExhaustedCondition = "MaximumRetryAttempts" | "MaximumEventAgeInSeconds";

/** AWS's defaults when a schedule has no RetryPolicy. */
const DEFAULT_MAX_RETRY_ATTEMPTS = 185;
const DEFAULT_MAX_EVENT_AGE_SECONDS = 86_400;
/** AWS documents "exponential backoff with jitter" but not its figures; these keep local retries brisk. */
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 60_000;
/**
 * The longest single wait before the wall clock is read again. Node's timers run on a monotonic clock that stops
 * while the machine sleeps (a laptop's lid closed), so one long setTimeout fired the sleep's length after its
 * schedule's time; waking at least every second, the emulator fires a schedule at most a second after the wake.
 * (libuv's clock misses the suspended time: https://github.com/nodejs/node/issues/47724.)
 */
const MAX_TIMEOUT_MS = 1_000;
const STOP_GRACE_MS = 5_000;

export function isArmed(record: ScheduleRecord): boolean {
  return record.fireAt !== undefined && record.State === "ENABLED" && !record.completed;
}

export interface FiringTimerOptions {
  readonly store: Pick<ScheduleStore, "lookup" | "complete">;
  readonly sender: SqsTargetSender;
  readonly now: () => number;
  readonly random: () => number;
  readonly logger: (line: string) => void;
  /** Invocations in flight at once; the rest wait their turn in due order. */
  readonly concurrency?: number;
}

/**
 * Fires due one-time schedules. Due times sit in a min-heap and a single setTimeout waits for the earliest (a
 * second at most, then it looks again: `MAX_TIMEOUT_MS`), so arming a schedule costs O(log n) and an idle emulator
 * does next to no work. Entries are never removed from the heap
 * when a schedule changes: each carries the schedule's revision and is skipped when it no longer matches, and the
 * heap is rebuilt once such stale entries make up most of it.
 */
export class FiringTimer {
  private readonly heap = new MinHeap<Job>((a, b) => a.due < b.due || (a.due === b.due && a.seq < b.seq));
  private seq = 0;
  private stale = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDue: number | undefined;
  private stopped = false;
  private readonly inFlight = new Set<Promise<boolean>>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly concurrency: number;

  constructor(private readonly options: FiringTimerOptions) {
    this.concurrency = options.concurrency ?? 512;
  }

  /** The store's change hook. */
  onChange(previous: ScheduleRecord | undefined, next: ScheduleRecord | undefined): void {
    if (previous && isArmed(previous)) this.stale++;
    if (next?.fireAt !== undefined && isArmed(next)) {
      this.push({
        due: next.fireAt,
        key: scheduleKey(next.GroupName, next.Name),
        revision: next.revision,
        attempt: 1,
      });
    }
    if (this.stale > 1024 && this.stale * 2 > this.heap.size) this.compact();
  }

  /** Starts every attempt due by now, waits for them (and any already running), returns how many it started. */
  async fireDueNow(): Promise<number> {
    const alreadyRunning = [...this.inFlight];
    const started = this.startDue();
    const fired = await Promise.all(started);
    await Promise.all(alreadyRunning);
    return fired.filter(Boolean).length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimer();
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.inFlight),
      new Promise<void>((resolve) => {
        grace = setTimeout(resolve, STOP_GRACE_MS);
      }),
    ]);
    clearTimeout(grace);
  }

  private push(job: Omit<Job, "seq">): void {
    this.heap.push({ ...job, seq: this.seq++ });
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    const top = this.heap.peek();
    if (!top) {
      this.clearTimer();
      return;
    }
    if (this.timerDue !== undefined && this.timerDue <= top.due) return;
    this.clearTimer();
    const delay = Math.min(MAX_TIMEOUT_MS, Math.max(0, top.due - this.options.now()));
    this.timerDue = top.due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = undefined;
      this.startDue();
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = undefined;
  }

  private startDue(): Promise<boolean>[] {
    const now = this.options.now();
    const started: Promise<boolean>[] = [];
    for (let top = this.heap.peek(); top && top.due <= now && !this.stopped; top = this.heap.peek()) {
      this.heap.pop();
      const run = this.run(top);
      this.inFlight.add(run);
      void run.finally(() => this.inFlight.delete(run));
      started.push(run);
    }
    this.arm();
    return started;
  }

  private compact(): void {
    const live = this.heap.drain().filter((job) => this.isCurrent(job));
    for (const job of live) this.heap.push(job);
    this.stale = 0;
  }

  private isCurrent(job: Job): ScheduleRecord | undefined {
    const record = this.options.store.lookup(job.key);
    return record && record.revision === job.revision && isArmed(record) ? record : undefined;
  }

  private async run(job: Job): Promise<boolean> {
    if (!this.isCurrent(job)) return false;
    await this.acquire();
    try {
      // Re-checked after the wait: the schedule may have been deleted or changed in the meantime.
      const record = this.isCurrent(job);
      if (!record || this.stopped) return false;
      await this.attempt(record, job);
      return true;
    } catch (error) {
      this.options.logger(`scheduler: unexpected error firing ${job.key}: ${String(error)}`);
      return true;
    } finally {
      this.release();
    }
  }

  private async attempt(record: ScheduleRecord, job: Job): Promise<void> {
    const firstAttemptAt = job.firstAttemptAt ?? this.options.now();
    const executionId = randomBytes(8).toString("hex");
    const body = renderInput(record, job.attempt, executionId);
    try {
      await this.deliver(record, body);
      this.options.store.complete(job.key, job.revision);
      return;
    } catch (error) {
      const failure = describeFailure(error);
      const retriesDone = job.attempt - 1;
      const now = this.options.now();
      const delay = this.backoffMs(job.attempt);
      const policy = record.Target.RetryPolicy;
      const maxRetries = policy?.MaximumRetryAttempts ?? DEFAULT_MAX_RETRY_ATTEMPTS;
      const maxAgeMs = (policy?.MaximumEventAgeInSeconds ?? DEFAULT_MAX_EVENT_AGE_SECONDS) * 1000;
      let exhausted: ExhaustedCondition | undefined;
      if (!failure.permanent) {
        if (retriesDone >= maxRetries) exhausted = "MaximumRetryAttempts";
        else if (now + delay - firstAttemptAt > maxAgeMs) exhausted = "MaximumEventAgeInSeconds";
        else {
          this.options.logger(
            `scheduler: ${record.Arn} attempt ${job.attempt} failed (${failure.code}); retrying in ${delay} ms`,
          );
          // When stopping, the schedule stays uncompleted and fires again from persisted state on restart.
          if (!this.stopped) {
            this.push({
              due: now + delay,
              key: job.key,
              revision: job.revision,
              attempt: job.attempt + 1,
              firstAttemptAt,
            });
          }
          return;
        }
      }
      await this.deadLetter(record, body, failure, retriesDone, exhausted, executionId);
      this.options.store.complete(job.key, job.revision);
    }
  }

  private async deliver(record: ScheduleRecord, body: string): Promise<void> {
    const target = record.Target;
    if (!parseSqsArn(target.Arn)) {
      throw new TargetError(
        "AWS.Scheduler.UnsupportedTarget",
        `The scheduler emulator only invokes SQS queue targets, not ${target.Arn}`,
        true,
      );
    }
    const messageGroupId = target.SqsParameters?.MessageGroupId;
    await this.options.sender.send({
      queueArn: target.Arn,
      body,
      ...(messageGroupId === undefined ? {} : { messageGroupId }),
    });
  }

  /** The dead-letter event: the payload the target would have received, plus AWS's diagnostic attributes. */
  private async deadLetter(
    record: ScheduleRecord,
    body: string,
    failure: Failure,
    retriesDone: number,
    exhausted: ExhaustedCondition | undefined,
    executionId: string,
  ): Promise<void> {
    const dlqArn = record.Target.DeadLetterConfig?.Arn;
    const reason = exhausted ? `${exhausted} exhausted` : "permanent error";
    if (!dlqArn) {
      this.options.logger(
        `scheduler: ${record.Arn} dropped after ${reason}: ${failure.code} ${failure.message}`,
      );
      return;
    }
    const attributes: Record<string, string> = {
      ERROR_CODE: failure.code,
      ERROR_MESSAGE: failure.message,
      EXECUTION_ID: executionId,
      ...(exhausted ? { EXHAUSTED_RETRY_CONDITION: exhausted } : {}),
      IS_PAYLOAD_TRUNCATED: "false",
      RETRY_ATTEMPTS: String(retriesDone),
      SCHEDULED_TIME: isoSeconds(record.scheduledAt ?? this.options.now()),
      SCHEDULE_ARN: record.Arn,
      TARGET_ARN: record.Target.Arn,
    };
    try {
      await this.options.sender.send({ queueArn: dlqArn, body, messageAttributes: attributes });
      this.options.logger(`scheduler: ${record.Arn} dead-lettered after ${reason}: ${failure.code}`);
    } catch (error) {
      // AWS drops the event too when its DLQ cannot take it (and counts it in a CloudWatch metric).
      this.options.logger(`scheduler: ${record.Arn} lost: dead-letter queue refused it: ${String(error)}`);
    }
  }

  private backoffMs(failedAttempt: number): number {
    const capped = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(30, failedAttempt - 1));
    return Math.round(capped / 2 + (this.options.random() * capped) / 2);
  }

  private acquire(): Promise<void> {
    if (this.active < this.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

interface Failure {
  readonly code: string;
  readonly message: string;
  readonly permanent: boolean;
}

function describeFailure(error: unknown): Failure {
  if (error instanceof TargetError) {
    return { code: error.code, message: error.message || "Target error", permanent: error.permanent };
  }
  // SDK errors from a query-compatible service (SQS) carry the legacy code AWS reports, e.g.
  // AWS.SimpleQueueService.NonExistentQueue, in `Code`.
  const e = error as { Code?: unknown; name?: unknown; message?: unknown } | undefined;
  const code = typeof e?.Code === "string" ? e.Code : typeof e?.name === "string" ? e.name : "Error";
  const message = typeof e?.message === "string" && e.message !== "" ? e.message : String(error);
  // SQS rejects message attributes longer than its limits; AWS truncates long messages likewise.
  return { code, message: message.slice(0, 1024), permanent: false };
}

const CONTEXT_ATTRIBUTE = /<aws\.scheduler\.(schedule-arn|scheduled-time|execution-id|attempt-number)>/g;

/**
 * The target payload. AWS documents only "a default notification" when Input is omitted; an empty JSON object
 * is what the emulator sends. Context attributes are substituted as on AWS.
 */
function renderInput(record: ScheduleRecord, attempt: number, executionId: string): string {
  const input = record.Target.Input ?? "{}";
  if (!input.includes("<aws.scheduler.")) return input;
  return input.replace(CONTEXT_ATTRIBUTE, (_match, name: string) => {
    switch (name) {
      case "schedule-arn":
        return record.Arn;
      case "scheduled-time":
        return isoSeconds(record.scheduledAt ?? Date.now());
      case "execution-id":
        return executionId;
      default:
        return String(attempt);
    }
  });
}

/** Binary min-heap ordered by `less`. */
class MinHeap<T> {
  private items: T[] = [];

  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as T;
      if (!this.less(item, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && this.less(items[right] as T, items[left] as T) ? right : left;
      const c = items[child] as T;
      if (!this.less(c, last)) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
    return top;
  }

  /** Empties the heap and returns its items in no particular order. */
  drain(): T[] {
    const items = this.items;
    this.items = [];
    return items;
  }
}
