import { processPartialResponse, SqsFifoPartialProcessorAsync } from "@aws-lambda-powertools/batch";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { CallbackClient } from "#shared/adapters/callback-client.js";
import type { TaskStore } from "#shared/adapters/task-store.js";
import type { TopicQueue, VisibilityChange } from "#shared/adapters/topic-queue.js";
import type { TopicConfig } from "#shared/config/index.js";
import { backoffSeconds } from "#shared/domain/backoff.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { taskMessageSchema } from "#shared/domain/messages.js";
import { METRIC, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import { retentionExpiry, type TaskRecord, TERMINAL_STATUSES } from "#shared/domain/task.js";
import { errorText } from "#shared/runtime/async.js";
import type { CallbackSigner } from "#shared/security/signing.js";
import { deadLetterTask } from "./dead-letter.js";
import type { ServiceLogger } from "./relay.js";

/** What the deliver function knows about the FIFO queue a record came from (its topology delivery + config). */
export interface DeliverBinding {
  readonly topic: TopicConfig;
  readonly queueUrl: string;
  readonly dlqUrl: string;
}

export interface DeliveryMetricsSink {
  delivered(topic: string, latenessMs: number, callbackLatencyMs: number): void;
  /** `callbackLatencyMs` is undefined when the request never got an answer or a timeout (refused, reset…). */
  attemptFailed(topic: string, callbackLatencyMs: number | undefined): void;
  deadLettered(topic: string): void;
  /** Called once at the end of every batch. */
  flush(): void;
}

export interface DeliverDeps {
  readonly store: TaskStore;
  readonly topicQueue: Pick<TopicQueue, "sendToDeadLetter" | "setVisibility">;
  /** The binding for a record's `eventSourceARN`, or undefined for a queue this function does not serve. */
  readonly bindingFor: (eventSourceArn: string) => DeliverBinding | undefined;
  /** The (cached, keep-alive) callback client for a topic: its SSRF policy depends on the topic's allow-list. */
  readonly callbackClientFor: (topic: TopicConfig) => CallbackClient;
  readonly signer: (topic: string) => Promise<CallbackSigner>;
  readonly metrics: DeliveryMetricsSink;
  readonly logger: ServiceLogger;
  readonly clock?: () => number;
  readonly random?: () => number;
  /**
   * Time kept free after a callback's timeout for recording the outcome, dead-lettering and setting
   * visibilities. A record is not started when less than `callbackTimeout + safetyMargin` remains.
   */
  readonly safetyMarginMs?: number;
  /**
   * How many message groups of a batch are delivered side by side (each group's records always in order, a
   * group's first failure failing the rest of that group). 1 (the default): one record after another in batch
   * order, Powertools' SqsFifoPartialProcessorAsync with skipGroupOnError. The deployed function uses the batch
   * size, so a batch costs about one callback's time instead of one per record.
   */
  readonly groupConcurrency?: number;
  /**
   * Side by side only: how long past a record's callback timeout the group runner waits for that record's step
   * (its DynamoDB/SQS bookkeeping included) before it stops waiting and fails the rest of the group. A backstop:
   * the callback client settles every attempt by its deadline, so this fires only if something else hangs.
   */
  readonly watchdogMarginMs?: number;
}

export const DEFAULT_SAFETY_MARGIN_MS = 1_000;
export const DEFAULT_WATCHDOG_MARGIN_MS = 2_000;

/**
 * The callback request body. `content` is the task's content exactly as stored (the API validated it as JSON and
 * stored its text), embedded without re-serialising:
 *
 *   {"task_id":"demo.k3Jx….01JD…","topic":"demo","due_at":"2026-11-23T12:00:05.000Z","attempt":1,"content":{…}}
 */
export function callbackBody(task: TaskRecord, attempt: number): string {
  return (
    `{"task_id":${JSON.stringify(task.taskId)},"topic":${JSON.stringify(task.topic)},` +
    `"due_at":${JSON.stringify(new Date(task.dueAtMs).toISOString())},"attempt":${attempt},` +
    `"content":${task.content}}`
  );
}

/** The headers of a callback besides content-type / user-agent: Standard Webhooks + `punctual-*`. */
export function callbackHeaders(
  signer: CallbackSigner,
  task: TaskRecord,
  attempt: number,
  body: string,
  at: Date,
): Record<string, string> {
  return {
    ...signer.sign(task.taskId, at, body),
    "punctual-attempt": String(attempt),
    "punctual-topic": task.topic,
  };
}

/** Why a record failed, which decides the visibility its whole group gets. */
type GroupOutcome =
  | { readonly kind: "backoff"; readonly seconds: number }
  /** Time guard: retry as soon as possible, no attempt was counted. */
  | { readonly kind: "immediate" }
  /** Not due yet (never deliver early): hide until due. */
  | { readonly kind: "until-due"; readonly seconds: number };

class RecordFailedError extends Error {
  override readonly name = "RecordFailedError";
}

/**
 * The deliver use case for one batch from a topic FIFO queue. Records are handled in order with Powertools'
 * FIFO processor and `skipGroupOnError`: a failed record fails the rest of its group (order), other groups go
 * on. Afterwards every failed record's visibility is set to its group's backoff (the head's and its followers',
 * else the followers would stay hidden for the queue's whole visibility timeout and hold the group back).
 */
export async function deliverBatch(
  deps: DeliverDeps,
  event: SQSEvent,
  context: Pick<Context, "getRemainingTimeInMillis">,
): Promise<SQSBatchResponse> {
  const clock = deps.clock ?? Date.now;
  const random = deps.random ?? Math.random;
  const safetyMarginMs = deps.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS;
  const outcomes = new Map<string, GroupOutcome>();
  const groupOf = (record: SQSRecord) => `${record.eventSourceARN}|${record.attributes.MessageGroupId ?? ""}`;

  const handleRecord = async (record: SQSRecord): Promise<void> => {
    const binding = deps.bindingFor(record.eventSourceARN);
    if (!binding) {
      deps.logger.error("record from a queue this function does not serve", {
        eventSourceArn: record.eventSourceARN,
        messageId: record.messageId,
      });
      throw new RecordFailedError("unknown event source");
    }
    const { topic } = binding;
    const group = groupOf(record);
    try {
      await deliverRecord(record, binding, group);
    } catch (error) {
      // An unexpected failure (DynamoDB, SQS…): retry after the topic's first backoff step.
      if (!outcomes.has(group)) {
        outcomes.set(group, { kind: "backoff", seconds: backoffSeconds(1, topic.backoff, random) });
      }
      if (!(error instanceof RecordFailedError)) {
        deps.logger.error("delivering a record failed", {
          messageId: record.messageId,
          topic: topic.name,
          error: errorText(error),
        });
      }
      throw error;
    }
  };

  const deliverRecord = async (record: SQSRecord, binding: DeliverBinding, group: string): Promise<void> => {
    const { topic } = binding;
    const message = parseBody(record.body);
    if (!message) {
      deps.logger.error("dropping topic message: not a task message", { messageId: record.messageId });
      return;
    }
    const taskId = message.taskId;
    const timeoutMs = topic.callbackTimeoutSeconds * 1000;
    const fast = await startWithoutReading(taskId, topic, timeoutMs);
    if (fast) return attemptCallback(binding, group, fast.started, fast.signer, fast.startedAt, timeoutMs);

    const task = await deps.store.get(taskId);
    if (!task) {
      deps.logger.warn("task not found; message dropped", { taskId });
      return;
    }
    if (TERMINAL_STATUSES.has(task.status)) {
      deps.logger.info("task already final; not delivered again", { taskId, status: task.status });
      return;
    }
    // Attempts already used up (a crash after recording the last failure, before dead-lettering): finish the
    // dead-lettering without calling the receiver again.
    if (task.status === "delivering" && task.attempts >= topic.maxAttempts) {
      await deadLetter(binding, task, task.lastError ?? "attempts exhausted");
      return;
    }
    const now = clock();
    if (task.dueAtMs > now) {
      // The relay never forwards early; this guards the invariant anyway (e.g. a hand-redriven message).
      outcomes.set(group, { kind: "until-due", seconds: Math.ceil((task.dueAtMs - now) / 1000) });
      deps.logger.warn("task not due yet; retried at its due time", { taskId });
      throw new RecordFailedError("not due yet");
    }
    if (context.getRemainingTimeInMillis() < timeoutMs + safetyMarginMs) {
      // Never start a callback that could outlive the invocation: no attempt is counted, retried at once.
      outcomes.set(group, { kind: "immediate" });
      deps.logger.info("not enough time left for a callback; record returned to the queue", { taskId });
      throw new RecordFailedError("not enough time left");
    }

    // The signer first: a secret that cannot be loaded must not use up an attempt.
    const signer = await deps.signer(topic.name);
    const startedAt = clock();
    const started = await deps.store.startAttempt(taskId, startedAt);
    if (!started) {
      deps.logger.info("task moved on before its attempt; not delivered", { taskId });
      return;
    }
    await attemptCallback(binding, group, started, signer, startedAt, timeoutMs);
  };

  /**
   * The common case in one DynamoDB call instead of two: the task id carries the due time, so a task that is due,
   * with time left for its callback and a signer at hand, is started by a single conditional write that also
   * refuses final and exhausted tasks. Undefined whenever anything is unusual (not due, no time, no signer,
   * the write refused): the caller then reads the task and decides exactly as it always did.
   */
  const startWithoutReading = async (
    taskId: string,
    topic: TopicConfig,
    timeoutMs: number,
  ): Promise<{ started: TaskRecord; signer: CallbackSigner; startedAt: number } | undefined> => {
    const key = parseTaskId(taskId);
    if (!key || key.dueAtMs > clock()) return undefined;
    if (context.getRemainingTimeInMillis() < timeoutMs + safetyMarginMs) return undefined;
    let signer: CallbackSigner;
    try {
      signer = await deps.signer(topic.name);
    } catch {
      return undefined;
    }
    const startedAt = clock();
    const started = await deps.store.startAttempt(taskId, startedAt, topic.maxAttempts);
    return started && { started, signer, startedAt };
  };

  /** One callback attempt of a started task, and its outcome recorded. */
  const attemptCallback = async (
    binding: DeliverBinding,
    group: string,
    started: TaskRecord,
    signer: CallbackSigner,
    startedAt: number,
    timeoutMs: number,
  ): Promise<void> => {
    const { topic } = binding;
    const taskId = started.taskId;
    const attempt = started.attempts;
    const body = callbackBody(started, attempt);
    const headers = callbackHeaders(signer, started, attempt, body, new Date(startedAt));
    const result = await deps.callbackClientFor(topic).post({
      url: started.callbackUrl,
      body,
      headers,
      timeoutMs,
    });
    const finishedAt = clock();

    if (result.ok) {
      const latenessMs = Math.max(0, startedAt - started.dueAtMs);
      await deps.store.markDelivered(taskId, {
        atMs: finishedAt,
        latenessMs,
        deliveryLatencyMs: result.durationMs,
        expiresAt: retentionExpiry(finishedAt, topic.retentionDays),
      });
      deps.metrics.delivered(topic.name, latenessMs, result.durationMs);
      deps.logger.debug("delivered", {
        taskId,
        attempt,
        status: result.status,
        latenessMs,
        durationMs: result.durationMs,
      });
      return;
    }

    const error = result.error ?? "callback failed";
    await deps.store.recordAttemptFailure(taskId, { error, atMs: finishedAt });
    // Callback latency counts answers and timeouts; a refused or reset connection says nothing about it.
    const answered = result.status !== undefined || error.startsWith("timeout");
    deps.metrics.attemptFailed(topic.name, answered ? result.durationMs : undefined);
    if (result.refused) {
      // The SSRF / URL policy refused the destination: no retry can change that, so no attempt is wasted on it.
      // What the host resolved to goes to the log only (the stored error is readable by the caller).
      deps.logger.warn("destination refused by policy; dead-lettered without retrying", {
        taskId,
        attempt,
        error,
        ...(result.detail && { detail: result.detail }),
      });
      await deadLetter(binding, started, error);
      return;
    }
    if (attempt >= topic.maxAttempts) {
      await deadLetter(binding, started, error);
      return;
    }
    const seconds = backoffSeconds(attempt, topic.backoff, random);
    outcomes.set(group, { kind: "backoff", seconds });
    deps.logger.info("callback failed; retrying after backoff", {
      taskId,
      attempt,
      maxAttempts: topic.maxAttempts,
      status: result.status,
      error,
      durationMs: result.durationMs,
      backoffSeconds: seconds,
    });
    throw new RecordFailedError(error);
  };

  const deadLetter = async (binding: DeliverBinding, task: TaskRecord, reason: string): Promise<void> => {
    await deadLetterTask(
      deps,
      { dlqUrl: binding.dlqUrl, retentionDays: binding.topic.retentionDays },
      task,
      reason,
      clock,
    );
    deps.metrics.deadLettered(binding.topic.name);
    deps.logger.warn("task dead-lettered", { taskId: task.taskId, attempts: task.attempts, error: reason });
  };

  /** How long the side-by-side runner waits for one record's step (see `watchdogMarginMs`). */
  const stepBudgetMs = (record: SQSRecord): number => {
    const timeoutMs = (deps.bindingFor(record.eventSourceARN)?.topic.callbackTimeoutSeconds ?? 0) * 1000;
    // Half the safety margin stays free after the budget for setting visibilities and flushing metrics.
    const invocationLeft = context.getRemainingTimeInMillis() - safetyMarginMs / 2;
    return Math.max(
      0,
      Math.min(timeoutMs + (deps.watchdogMarginMs ?? DEFAULT_WATCHDOG_MARGIN_MS), invocationLeft),
    );
  };

  /** A step the runner stopped waiting for: its group goes back after the first backoff step, not the queue's. */
  const onOverdue = (record: SQSRecord, budgetMs: number): void => {
    const binding = deps.bindingFor(record.eventSourceARN);
    const group = groupOf(record);
    if (binding && !outcomes.has(group)) {
      outcomes.set(group, { kind: "backoff", seconds: backoffSeconds(1, binding.topic.backoff, random) });
    }
    deps.logger.error("a record's step did not settle in time; its group is returned to the queue", {
      messageId: record.messageId,
      budgetMs,
    });
  };

  let response: SQSBatchResponse;
  try {
    const groupConcurrency = deps.groupConcurrency ?? 1;
    response =
      groupConcurrency > 1
        ? await processGroupsSideBySide(event.Records, groupOf, handleRecord, {
            limit: groupConcurrency,
            budgetMs: stepBudgetMs,
            onOverdue,
          })
        : // A processor per batch: it holds per-batch state, and invocations may run concurrently.
          await processPartialResponse(event, handleRecord, new SqsFifoPartialProcessorAsync(), {
            skipGroupOnError: true,
            throwOnFullBatchFailure: false,
          });
  } finally {
    deps.metrics.flush();
  }

  await applyVisibility(deps, event, response, (record) => {
    const outcome = outcomes.get(groupOf(record));
    if (!outcome) return undefined;
    return outcome.kind === "immediate" ? 0 : outcome.seconds;
  });
  return { batchItemFailures: response.batchItemFailures.map((f) => ({ itemIdentifier: f.itemIdentifier })) };
}

interface SideBySideOptions {
  /** How many groups run at once. */
  readonly limit: number;
  /** How long the runner waits for one record's step before it stops waiting (the watchdog). */
  readonly budgetMs: (record: SQSRecord) => number;
  /** Told about a step the runner stopped waiting for. */
  readonly onOverdue: (record: SQSRecord, budgetMs: number) => void;
}

/**
 * FIFO batch processing with Powertools' `skipGroupOnError` semantics — each group's records in order, and from a
 * group's first failure on, the rest of that group fails unattempted — but with up to `limit` groups of a batch
 * running side by side instead of one after another. Groups are independent by definition, so a batch of ten groups
 * takes one callback's time instead of ten, and one slow receiver holds up only its own group. Failures are
 * reported in the batch's order.
 *
 * Watchdog: a step that has not settled within its budget counts as failed (with the rest of its group), so one
 * hung step can hold neither the other groups' results nor the invocation. Its records are reported failed, never
 * acknowledged, so SQS delivers them again; the step itself is left to finish or not in the background.
 */
async function processGroupsSideBySide(
  records: readonly SQSRecord[],
  groupOf: (record: SQSRecord) => string,
  handleRecord: (record: SQSRecord) => Promise<void>,
  { limit, budgetMs, onOverdue }: SideBySideOptions,
): Promise<SQSBatchResponse> {
  const groups = new Map<string, SQSRecord[]>();
  for (const record of records) {
    const group = groups.get(groupOf(record));
    if (group) group.push(record);
    else groups.set(groupOf(record), [record]);
  }
  const failed = new Set<string>();
  const queue = [...groups.values()];
  const worker = async () => {
    for (let group = queue.shift(); group; group = queue.shift()) {
      for (const [i, record] of group.entries()) {
        const budget = budgetMs(record);
        const settled = await withinBudget(handleRecord(record), budget);
        if (settled === "done") continue;
        if (settled === "overdue") onOverdue(record, budget);
        for (const rest of group.slice(i)) failed.add(rest.messageId);
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, worker));
  return {
    batchItemFailures: records
      .filter((r) => failed.has(r.messageId))
      .map((r) => ({ itemIdentifier: r.messageId })),
  };
}

/** Whether a step settled (`done` / `failed`) within `budgetMs`, or was still running then (`overdue`). */
async function withinBudget(step: Promise<void>, budgetMs: number): Promise<"done" | "failed" | "overdue"> {
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<"overdue">((resolve) => {
    timer = setTimeout(() => resolve("overdue"), budgetMs);
  });
  try {
    // Both outcomes handled here, so a step that rejects after the runner gave up on it is not unhandled.
    return await Promise.race([
      step.then(
        () => "done" as const,
        () => "failed" as const,
      ),
      overdue,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function applyVisibility(
  deps: DeliverDeps,
  event: SQSEvent,
  response: SQSBatchResponse,
  visibilityOf: (record: SQSRecord) => number | undefined,
): Promise<void> {
  const failedIds = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  if (failedIds.size === 0) return;
  const byQueue = new Map<string, VisibilityChange[]>();
  for (const record of event.Records) {
    if (!failedIds.has(record.messageId)) continue;
    const seconds = visibilityOf(record);
    const queueUrl = deps.bindingFor(record.eventSourceARN)?.queueUrl;
    // Unknown queue or no decision: leave the queue's own visibility timeout in place.
    if (seconds === undefined || !queueUrl) continue;
    const changes = byQueue.get(queueUrl) ?? [];
    changes.push({ receiptHandle: record.receiptHandle, seconds });
    byQueue.set(queueUrl, changes);
  }
  await Promise.all(
    [...byQueue.entries()].map(async ([queueUrl, changes]) => {
      const { failed } = await deps.topicQueue.setVisibility(queueUrl, changes);
      if (failed.length > 0) {
        // Not fatal: those records come back after the queue's visibility timeout instead.
        deps.logger.warn("changing message visibility failed", { queueUrl, count: failed.length });
      }
    }),
  );
}

function parseBody(body: string): { taskId: string } | undefined {
  try {
    const parsed = taskMessageSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Delivery metrics through Powertools (EMF), one metric set per topic with the `Topic` dimension (plus the
 * `service` dimension Powertools adds). Values are buffered during a batch and published by `flush` (which the
 * batch runs in a `finally`), each topic through a Metrics instance of its own: no dimension or metric is shared
 * between topics or between invocations running side by side, and an invocation with nothing to report writes
 * nothing (no "no metrics" warning on every quiet batch).
 */
export class PowertoolsDeliveryMetrics implements DeliveryMetricsSink {
  readonly #byTopic = new Map<
    string,
    { lateness: number[]; latency: number[]; delivered: number; deadLettered: number; attemptFailed: number }
  >();

  constructor(private readonly createMetrics: () => Metrics) {}

  delivered(topic: string, latenessMs: number, callbackLatencyMs: number): void {
    const t = this.#topic(topic);
    t.delivered++;
    t.lateness.push(latenessMs);
    t.latency.push(callbackLatencyMs);
  }

  attemptFailed(topic: string, callbackLatencyMs: number | undefined): void {
    const t = this.#topic(topic);
    t.attemptFailed++;
    if (callbackLatencyMs !== undefined) t.latency.push(callbackLatencyMs);
  }

  deadLettered(topic: string): void {
    this.#topic(topic).deadLettered++;
  }

  flush(): void {
    const topics = [...this.#byTopic.entries()];
    this.#byTopic.clear();
    for (const [topic, t] of topics) {
      const metrics = this.createMetrics();
      metrics.addDimension(TOPIC_DIMENSION, topic);
      for (const v of t.lateness) metrics.addMetric(METRIC.lateness, MetricUnit.Milliseconds, v);
      for (const v of t.latency) metrics.addMetric(METRIC.callbackLatency, MetricUnit.Milliseconds, v);
      if (t.delivered) metrics.addMetric(METRIC.delivered, MetricUnit.Count, t.delivered);
      if (t.attemptFailed) metrics.addMetric(METRIC.attemptFailed, MetricUnit.Count, t.attemptFailed);
      if (t.deadLettered) metrics.addMetric(METRIC.deadLettered, MetricUnit.Count, t.deadLettered);
      metrics.publishStoredMetrics();
    }
  }

  #topic(topic: string) {
    let t = this.#byTopic.get(topic);
    if (!t) {
      t = { lateness: [], latency: [], delivered: 0, deadLettered: 0, attemptFailed: 0 };
      this.#byTopic.set(topic, t);
    }
    return t;
  }
}
