import type { ClientStats } from "../engine.js";
import type { AcceptedTask } from "../verify.js";
import type { PlannedBatch, PlannedStep, PlannedTask } from "../workload.js";

/** The topic every chaos task is sent to. */
export const TOPIC = "demo";

/** A 2xx for a task: which task, when the client got it, and its due time. */
interface AddAnswer {
  readonly taskId: string;
  readonly atMs: number;
  readonly dueAt: string;
}

/** What a cancel's 200 tells of the task's earlier calls. */
interface CancelledView {
  readonly status?: string;
  readonly failed_at?: string;
  readonly attempts?: number;
  readonly attempt_log?: readonly unknown[];
}

/**
 * Whether a task a cancel answered 200 for had been called back before it: a dead-lettered task discarded (failed →
 * cancelled; the view still shows when it failed), or one cancelled while it waited for its retry (delivering →
 * cancelled), which counts the attempts it made before — or only logs them: a circuit's failed probe gives its
 * attempt back (attempts 0 after probes alone), yet its call was made and is in `attempt_log`. Only callbacks
 * arriving before the first DELETE was sent are excused by this, never one after.
 */
export function calledBeforeCancel(view: CancelledView | undefined): boolean {
  return view?.failed_at !== undefined || (view?.attempts ?? 0) > 0 || (view?.attempt_log?.length ?? 0) > 0;
}

/**
 * The attempt a 202 met in flight: the answer's `attempts`, which count it (a plain task; a fan-out parent's
 * `attempts` sum its copies, and chaos adds none). Undefined when the answer does not say.
 */
export function inFlightAttemptOf(view: CancelledView | undefined): number | undefined {
  return typeof view?.attempts === "number" && view.attempts > 0 ? view.attempts : undefined;
}

/** One item's result in a batch answer. */
interface BatchItemAnswer {
  readonly status: number;
  readonly task_id?: string;
  readonly due_at?: string;
}

/** When a task is due: after a delay, or at a named time (its group's previous task's). */
type DueSpec = { readonly due_at: string } | { readonly delay_seconds: number };

/**
 * A batch's item bodies, in request order, made once (every copy, retry and repeat sends exactly these). An item
 * due with its group's previous task names the same due: that task's `due_at` when it was accepted in an earlier
 * step, or the same `delay_seconds` when it is in this batch (the batch resolves every delay from one clock).
 */
export function batchBodies(
  items: readonly PlannedTask[],
  previousDue: ReadonlyMap<string | undefined, string>,
  body: (task: PlannedTask, due: DueSpec) => Record<string, unknown>,
): Record<string, unknown>[] {
  const lastInBatch = new Map<string, DueSpec>();
  return items.map((task) => {
    const group = task.group;
    const earlier = group !== undefined ? lastInBatch.get(group) : undefined;
    const before = group !== undefined ? previousDue.get(group) : undefined;
    const due: DueSpec = !task.sameDueAsPrevious
      ? { delay_seconds: task.delayMs / 1000 }
      : (earlier ?? (before ? { due_at: before } : { delay_seconds: task.delayMs / 1000 }));
    if (group !== undefined) lastInBatch.set(group, due);
    return body(task, due);
  });
}

function count(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** An HTTP answer as the chaos client sees it: status 0 when none came. */
interface HttpAnswer {
  readonly status: number;
  readonly json: unknown;
  readonly atMs: number;
  readonly sentAtMs: number;
}

/**
 * The client side: sends each lane's tasks in order (a group's acceptance order is its lane order), retries a
 * request that got a 5xx, a 429 or no answer — with the same idempotency key when the task has one, as a new
 * request otherwise — repeats idempotent requests (some concurrently, some later), and cancels some tasks.
 */
export class ChaosClient {
  readonly #accepted = new Map<string, AcceptedTask & { cancel?: AcceptedTask["cancel"] }>();
  readonly #background: Promise<void>[] = [];
  readonly #answers: Record<string, number> = {};
  #posts = 0;
  #notAccepted = 0;
  #idempotencyMismatches = 0;
  #repeats = 0;
  #copies = 0;
  #cancels = 0;
  #multiBatches = 0;
  #multiBatchItems = 0;
  #mixedBatches = 0;
  #multiBatchRequests = 0;
  readonly #multiBatchItemAnswers: Record<string, number> = {};
  readonly #latencies: number[] = [];
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    private readonly apiUrl: string,
    private readonly receiverUrl: string,
    private readonly concurrency: number,
  ) {}

  acceptedCount(): number {
    return this.#accepted.size;
  }

  accepted(): AcceptedTask[] {
    return [...this.#accepted.values()];
  }

  stats(): ClientStats {
    return {
      posts: this.#posts,
      postAnswers: { ...this.#answers },
      notAccepted: this.#notAccepted,
      idempotencyMismatches: this.#idempotencyMismatches,
      idempotentRepeats: this.#repeats,
      concurrentCopies: this.#copies,
      schedulerPathTasks: 0,
      cancelRequests: this.#cancels,
      postLatencyMs: percentiles(this.#latencies),
      multiBatches: {
        batches: this.#multiBatches,
        items: this.#multiBatchItems,
        mixed: this.#mixedBatches,
        requests: this.#multiBatchRequests,
        itemAnswers: { ...this.#multiBatchItemAnswers },
      },
    };
  }

  /** A runner's steps one after another (each group's acceptance order is its lane order). */
  async runSteps(steps: readonly PlannedStep[]): Promise<void> {
    // The due time of each group's last accepted task: a task "due with the previous one" names it.
    const previousDue = new Map<string | undefined, string>();
    for (const step of steps) {
      if (step.kind === "task") await this.#sendTask(step.task, previousDue);
      else await this.#sendBatch(step.batch, previousDue);
    }
  }

  async #sendTask(task: PlannedTask, previousDue: Map<string | undefined, string>): Promise<void> {
    const previousDueAt = task.group !== undefined ? previousDue.get(task.group) : undefined;
    const dueAt = task.sameDueAsPrevious && previousDueAt ? previousDueAt : undefined;
    const body = this.#body(task, dueAt ? { due_at: dueAt } : { delay_seconds: task.delayMs / 1000 }, false);
    const headers: Record<string, string> =
      task.idempotencyKey && !task.viaBatch && !task.clientKey.endsWith("0")
        ? { "idempotency-key": task.idempotencyKey }
        : {};
    if (task.copies > 1) this.#copies += task.copies - 1;
    const answers = await Promise.all(
      Array.from({ length: task.copies }, () => this.#addWithRetries(task, body, headers)),
    );
    const first = this.#settle(task, answers);
    if (!first) return;
    if (task.group !== undefined) previousDue.set(task.group, first.dueAt);
    if (task.repeatAfterMs !== undefined) {
      this.#background.push(
        sleep(task.repeatAfterMs).then(async () => {
          this.#repeats++;
          const again = await this.#addWithRetries(task, body, headers);
          if (again && again.taskId !== first.taskId) this.#idempotencyMismatches++;
        }),
      );
    }
  }

  /**
   * A multi-item batch: its copies at once, each retried whole (same bodies, same keys) until every item answered
   * 2xx or a final 4xx. An item is accepted at its first 2xx in any copy; the next step starts once all settled.
   */
  async #sendBatch(batch: PlannedBatch, previousDue: Map<string | undefined, string>): Promise<void> {
    const bodies = batchBodies(batch.items, previousDue, (task, due) => this.#body(task, due, true));
    this.#multiBatches++;
    this.#multiBatchItems += batch.items.length;
    if (new Set(batch.items.map((t) => t.group)).size > 1) this.#mixedBatches++;
    if (batch.copies > 1) this.#copies += batch.copies - 1;
    const copies = await Promise.all(
      Array.from({ length: batch.copies }, () => this.#batchWithRetries(bodies)),
    );
    const firsts = batch.items.map((task, i) =>
      this.#settle(
        task,
        copies.map((answers) => answers[i]),
      ),
    );
    batch.items.forEach((task, i) => {
      const first = firsts[i];
      if (first && task.group !== undefined) previousDue.set(task.group, first.dueAt);
    });
    if (batch.repeatAfterMs === undefined) return;
    this.#background.push(
      sleep(batch.repeatAfterMs).then(async () => {
        this.#repeats++;
        const again = await this.#batchWithRetries(bodies);
        again.forEach((answer, i) => {
          const first = firsts[i];
          if (answer && first && answer.taskId !== first.taskId) this.#idempotencyMismatches++;
        });
      }),
    );
  }

  /** A task's add body; its key in the body for half the tasks, and always for a batch item. */
  #body(task: PlannedTask, due: DueSpec, inBatch: boolean): Record<string, unknown> {
    return {
      topic: TOPIC,
      ...due,
      content: {
        chaos_id: task.clientKey,
        ...(task.group !== undefined ? { order_id: task.group } : {}),
      },
      callback: { url: `${this.receiverUrl}/${task.path}/${task.clientKey}` },
      ...(task.idempotencyKey && (inBatch || task.viaBatch || task.clientKey.endsWith("0"))
        ? { idempotency_key: task.idempotencyKey }
        : {}),
    };
  }

  /**
   * A task's outcome from its copies' answers: accepted at the first 2xx (every copy must name the same task), or
   * not accepted at all; its cancel scheduled.
   */
  #settle(task: PlannedTask, answers: readonly (AddAnswer | undefined)[]): AddAnswer | undefined {
    const ok = answers.filter((a): a is AddAnswer => a !== undefined);
    if (ok.length === 0) {
      this.#notAccepted++;
      return undefined;
    }
    const first = ok.reduce((a, b) => (b.atMs < a.atMs ? b : a));
    if (ok.some((a) => a.taskId !== first.taskId)) this.#idempotencyMismatches++;
    this.#accepted.set(task.clientKey, {
      clientKey: task.clientKey,
      taskId: first.taskId,
      acceptedAtMs: first.atMs,
      laneOrder: this.#accepted.size,
    });
    if (task.cancelAfterMs !== undefined) {
      const at = Math.max(0, task.cancelAfterMs);
      this.#background.push(sleep(at).then(() => this.#cancel(task.clientKey, first.taskId)));
    }
    return first;
  }

  /** Waits for repeats and cancels still running in the background. */
  async drain(): Promise<void> {
    await Promise.all(this.#background);
  }

  async #addWithRetries(
    task: PlannedTask,
    body: Record<string, unknown>,
    headers: Record<string, string>,
  ): Promise<AddAnswer | undefined> {
    for (let attempt = 0; attempt < 8; attempt++) {
      if (attempt > 0) await sleep(Math.min(3_000, 100 * 2 ** attempt));
      const answer = task.viaBatch
        ? await this.#postAsBatch(body)
        : await this.#request("POST", "/v1/tasks", body, headers);
      this.#latencies.push(answer.atMs - answer.sentAtMs);
      this.#posts++;
      const key = `${task.viaBatch ? "batch " : ""}${answer.status === 0 ? "network" : String(answer.status)}`;
      this.#answers[key] = (this.#answers[key] ?? 0) + 1;
      if (answer.status === 200 || answer.status === 201) {
        const json = answer.json as { task_id: string; due_at: string };
        return { taskId: json.task_id, atMs: answer.atMs, dueAt: json.due_at };
      }
      // 4xx other than 429: the request itself is wrong, retrying cannot help (and the report shows it).
      if (answer.status >= 400 && answer.status < 500 && answer.status !== 429) return undefined;
    }
    return undefined;
  }

  /**
   * A one-item POST /v1/tasks/batch, answered as the single add would be: the item's status and body (a request
   * refused whole, or not answered, keeps its own status).
   */
  async #postAsBatch(body: Record<string, unknown>): Promise<HttpAnswer> {
    const answer = await this.#request("POST", "/v1/tasks/batch", { tasks: [body] });
    const item = (answer.json as { results?: { status: number }[] } | undefined)?.results?.[0];
    return answer.status === 200 && item ? { ...answer, status: item.status, json: item } : answer;
  }

  /**
   * One copy of a multi-item batch, retried whole with the same bodies until every item answered 2xx (its first
   * 2xx kept) or a 4xx other than 429 (final), at most 8 requests. Per item: its first 2xx, or undefined.
   */
  async #batchWithRetries(bodies: readonly Record<string, unknown>[]): Promise<(AddAnswer | undefined)[]> {
    const accepted: (AddAnswer | undefined)[] = bodies.map(() => undefined);
    const final = bodies.map(() => false);
    for (let attempt = 0; attempt < 8 && final.some((done) => !done); attempt++) {
      if (attempt > 0) await sleep(Math.min(3_000, 100 * 2 ** attempt));
      const answer = await this.#request("POST", "/v1/tasks/batch", { tasks: bodies });
      this.#latencies.push(answer.atMs - answer.sentAtMs);
      this.#posts++;
      this.#multiBatchRequests++;
      count(this.#answers, `multi-batch ${answer.status === 0 ? "network" : String(answer.status)}`);
      const results = (answer.json as { results?: BatchItemAnswer[] } | undefined)?.results;
      if (answer.status !== 200 || results?.length !== bodies.length) {
        // Refused whole (not a batch at all): nothing to retry.
        if (answer.status >= 400 && answer.status < 500 && answer.status !== 429) final.fill(true);
        continue;
      }
      results.forEach((item, i) => {
        count(this.#multiBatchItemAnswers, String(item.status));
        if (item.status === 200 || item.status === 201) {
          final[i] = true;
          const previous = accepted[i];
          if (previous && previous.taskId !== item.task_id) this.#idempotencyMismatches++;
          accepted[i] ??= { taskId: item.task_id ?? "", atMs: answer.atMs, dueAt: item.due_at ?? "" };
        } else if (item.status >= 400 && item.status < 500 && item.status !== 429) final[i] = true;
      });
    }
    return accepted;
  }

  async #cancel(clientKey: string, taskId: string): Promise<void> {
    this.#cancels++;
    let outcome: NonNullable<AcceptedTask["cancel"]>["outcome"] = "gave-up";
    let atMs = Date.now();
    let firstSentAtMs: number | undefined;
    let calledBefore = false;
    let inFlightAttempt: number | undefined;
    let attemptsAtCancel: number | undefined;
    for (let attempt = 0; attempt < 10; attempt++) {
      if (attempt > 0) await sleep(Math.min(3_000, 100 * 2 ** attempt));
      const answer = await this.#request("DELETE", `/v1/tasks/${encodeURIComponent(taskId)}`);
      atMs = answer.atMs;
      firstSentAtMs ??= answer.sentAtMs;
      calledBefore = answer.status === 200 && calledBeforeCancel(answer.json as CancelledView | undefined);
      if (calledBefore) attemptsAtCancel = inFlightAttemptOf(answer.json as CancelledView | undefined);
      if (answer.status === 202)
        inFlightAttempt = inFlightAttemptOf(answer.json as CancelledView | undefined);
      if (answer.status === 200) outcome = "cancelled";
      else if (answer.status === 202) outcome = "cancel-requested";
      else if (answer.status === 409) outcome = "conflict";
      else if (answer.status === 404) outcome = "not-found";
      else continue;
      break;
    }
    const accepted = this.#accepted.get(clientKey);
    // A 202's callback in flight may arrive after the DELETE was sent: the first one sent is the bound, as for a 200.
    const since =
      (calledBefore || outcome === "cancel-requested") && firstSentAtMs !== undefined
        ? { cancelSentAtMs: firstSentAtMs }
        : {};
    const inFlight =
      outcome === "cancel-requested" && inFlightAttempt !== undefined ? { inFlightAttempt } : {};
    // A 200's attempts: one in flight as the DELETE was sent may have ended before the cancel landed (verify).
    const counted = calledBefore && attemptsAtCancel !== undefined ? { attemptsAtCancel } : {};
    if (accepted)
      this.#accepted.set(clientKey, {
        ...accepted,
        cancel: { outcome, atMs, ...since, ...inFlight, ...counted },
      });
  }

  async #request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpAnswer> {
    await this.#slot();
    const sentAtMs = Date.now();
    try {
      const response = await fetch(`${this.apiUrl}${path}`, {
        method,
        headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      const atMs = Date.now();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, json, atMs, sentAtMs };
    } catch {
      return { status: 0, json: undefined, atMs: Date.now(), sentAtMs };
    } finally {
      this.#release();
    }
  }

  async #slot(): Promise<void> {
    if (this.#inFlight < this.concurrency) {
      this.#inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#inFlight--;
  }
}

function percentiles(values: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? 0 };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
