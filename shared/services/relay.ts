import type { GroupTaskRef, TaskStore } from "#shared/adapters/task-store.js";
import type { SendInOrderResult, TopicQueue } from "#shared/adapters/topic-queue.js";
import { VISIBILITY_CHANGE_WAIT_MS, type VisibilityChange } from "#shared/adapters/visibility.js";
import { isFanOutParent } from "#shared/domain/fan-out.js";
import { bySortKey, parseTaskId, type TaskKey } from "#shared/domain/keys.js";
import { parseTaskMessage, scheduleIdsOf } from "#shared/domain/messages.js";
import {
  byPartition,
  dueWave,
  groupSweepWindow,
  latestOwnKey,
  relayRetrySeconds,
  splitRelayBatch,
} from "#shared/domain/relay-plan.js";
import type { TaskRecord, TaskStatus } from "#shared/domain/task.js";
import { abortedAfterMs, createLimiter, errorText, withinMs } from "#shared/runtime/async.js";
import type { ServiceLogger } from "#shared/runtime/observability.js";

/** One timer-queue message as the relay sees it (the function maps SQS records to this). */
export interface TimerMessage {
  readonly messageId: string;
  readonly body: string;
  readonly receiveCount: number;
  /** This receive's handle, for `TimerRearm.retryAfter`; without it a failed message waits out its visibility. */
  readonly receiptHandle?: string;
}

/** Puts tasks back on the standard timer queue with a per-message delay (whole seconds, ≤ 900). */
export interface TimerRearm {
  /**
   * Returns the task ids that could not be re-armed (never throws for a partial failure). `signal` gives up what is
   * still unanswered: it counts as not re-armed (a timer message that lands after all is harmless).
   */
  rearm(
    entries: readonly { taskId: string; delaySeconds: number }[],
    signal?: AbortSignal,
  ): Promise<{ failedTaskIds: string[] }>;
  /**
   * Makes received messages visible again after the given seconds (`relayRetrySeconds`) instead of the queue's
   * visibility timeout; resolves with the receipt handles it could not change. Optional: a relay without it (tests,
   * the planner's model) leaves failed messages to the visibility timeout.
   */
  retryAfter?(
    changes: readonly VisibilityChange[],
    signal?: AbortSignal,
  ): Promise<{ failed: string[]; errors?: string[] }>;
}

export interface RelayDeps {
  readonly store: TaskStore;
  readonly topicQueue: Pick<TopicQueue, "sendGroupsInOrder"> & {
    /** This container's memory of its recent sends (shared/adapters/recent-sends.ts), when it keeps one. */
    wasSentRecently?(queueUrl: string, taskId: string): boolean;
  };
  readonly timer: TimerRearm;
  /** Topic name → its FIFO queue URL. */
  readonly topicQueueUrls: Readonly<Record<string, string>>;
  readonly logger: ServiceLogger;
  readonly clock?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** How many groups are read at the same time (each is a Query of the group). */
  readonly groupConcurrency?: number;
  /** How far back a group's still-scheduled tasks are swept along with a due one. */
  readonly lookbackMs?: number;
  /**
   * How many seconds before due the timer messages are armed (config `eventSources.earlyWakeSeconds`): messages
   * that early are held in place until due, not re-armed.
   */
  readonly earlyWakeSeconds?: number;
  /** The jitter of `relayRetrySeconds` (values in [0, 1)); tests fix it. */
  readonly random?: () => number;
  /** The invocation's time left (Lambda's `getRemainingTimeInMillis`): the batch answers before it runs out. */
  readonly remainingMs?: () => number;
  /** How long a wave is waited for before the next one goes without it (`RELAY_WAVE_WAIT_MS`); tests shorten it. */
  readonly waveWaitMs?: number;
}

export const RELAY_LOOKBACK_MS = 15 * 60 * 1000;
const DEFAULT_GROUP_CONCURRENCY = 8;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface ParsedMessage {
  readonly messageId: string;
  readonly key: TaskKey;
}

/**
 * The relay: moves due tasks from the timer queue to their topic's FIFO queue, restoring each group's order
 * (the timer queue is a standard queue and delivers in any order). Returns the ids of the messages that must be
 * retried (ReportBatchItemFailures); everything else is done or deliberately dropped.
 */
export async function relayTimerMessages(
  deps: RelayDeps,
  messages: readonly TimerMessage[],
): Promise<{ failedMessageIds: string[] }> {
  const clock = neverBack(deps.clock ?? Date.now);
  const parsed: ParsedMessage[] = [];
  for (const message of messages) {
    const key = parseMessage(message, deps.logger);
    if (key) parsed.push({ messageId: message.messageId, key });
  }

  const split = splitRelayBatch(parsed, clock(), deps.earlyWakeSeconds ?? 0);
  const rearms = split.rearm.map(({ message, delaySeconds }) => ({
    messageId: message.messageId,
    taskId: message.key.taskId,
    delaySeconds,
  }));

  // Re-arming runs while what is due goes at once and the rest is held until due. `finished`: the messages whose
  // re-arm or wave part has answered without failing them, so a batch given up at its budget retries only the rest.
  const finished = new Set<string>();
  const rearmed = settled(
    rearmAll(deps, rearms),
    rearms.map((r) => r.messageId),
    finished,
  );
  const work = Promise.all([rearmed, forwardWhenDue(deps, split.hold, clock, finished)]).then((f) =>
    f.flat(),
  );
  const failedMessageIds = await inTime(deps, work, parsed, finished);
  await retrySoon(deps, messages, failedMessageIds);
  return { failedMessageIds };
}

/**
 * Kept free at the end of an invocation: `retrySoon`'s wait (`RELAY_RETRY_WAIT_MS`) and a second to answer in.
 */
export const RELAY_ANSWER_RESERVE_MS = VISIBILITY_CHANGE_WAIT_MS + 1_000;

/**
 * The batch's forwarding and re-arming, given up `RELAY_ANSWER_RESERVE_MS` before the invocation's end. A call whose
 * answer is lost never settles (the SDK sets no request timeout): held to Lambda's timeout, the whole batch failed,
 * every message back only after the timer queue's 3-minute visibility timeout, its due tasks that late. Given up,
 * every message not yet `finished` (its re-arm or wave part answered without failing it) is reported failed and backed
 * off (`retrySoon`): one forwarded meanwhile comes back to find its task sent (FIFO deduplication and deliver's
 * fence absorb a re-send), one re-armed meanwhile leaves a second timer message, as a lost answer does. The calls
 * left running may still land later: harmless for the same reasons.
 */
async function inTime(
  deps: RelayDeps,
  work: Promise<string[]>,
  parsed: readonly ParsedMessage[],
  finished: ReadonlySet<string>,
): Promise<string[]> {
  const budgetMs = deps.remainingMs ? deps.remainingMs() - RELAY_ANSWER_RESERVE_MS : 0;
  // No budget to bound (no clock, or a timeout shorter than the reserve): giving up at once would fail every batch.
  if (budgetMs <= 0) return work;
  const outcome = await withinMs(work, budgetMs);
  if (outcome !== "overdue") return outcome;
  const unfinished = parsed.filter((m) => !finished.has(m.messageId)).map((m) => m.messageId);
  deps.logger.warn("forwarding timer messages did not finish in time; the unfinished ones are retried", {
    count: unfinished.length,
  });
  return unfinished;
}

/** `work`'s failed message ids, unchanged; once it answers, every other id of `ids` is added to `finished`. */
function settled(work: Promise<string[]>, ids: readonly string[], finished: Set<string>): Promise<string[]> {
  return work.then((failed) => {
    const failedIds = new Set(failed);
    for (const id of ids) if (!failedIds.has(id)) finished.add(id);
    return failed;
  });
}

/**
 * Shortens the wait of the messages about to be reported failed (`relayRetrySeconds`): a passing fault costs
 * their tasks a second or two, not the timer queue's visibility timeout. Never throws: a change that fails leaves
 * the message to that timeout, as before. The new timeout counts from this call, not from the receive
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html), and
 * Lambda does nothing to a message named in `batchItemFailures`: it only deletes the others, and a failed one
 * comes back when its visibility ends
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html). The next receive starts from the
 * queue's own timeout again, so a relay that then dies is still covered by it. The timer queue is a standard queue:
 * a message back early overtakes nothing (a FIFO queue's group would hold it back).
 */
async function retrySoon(
  deps: RelayDeps,
  messages: readonly TimerMessage[],
  failedMessageIds: readonly string[],
): Promise<void> {
  if (!deps.timer.retryAfter || failedMessageIds.length === 0) return;
  const failed = new Set(failedMessageIds);
  const changes = messages.flatMap((m) =>
    failed.has(m.messageId) && m.receiptHandle
      ? [{ receiptHandle: m.receiptHandle, seconds: relayRetrySeconds(m.receiveCount, deps.random) }]
      : [],
  );
  if (changes.length === 0) return;
  // Bound: the port may be a class whose method reads `this`.
  const retryAfter = deps.timer.retryAfter.bind(deps.timer);
  const outcome = await abortedAfterMs(
    (signal) =>
      retryAfter(changes, signal).catch((error: unknown) => ({
        failed: changes.map((c) => c.receiptHandle),
        errors: [errorText(error)],
      })),
    RELAY_RETRY_WAIT_MS,
  );
  if (outcome === "overdue") {
    deps.logger.warn(
      "shortening failed timer messages' wait did not answer in time; the batch answers without it",
      {
        count: changes.length,
      },
    );
    return;
  }
  if (outcome.failed.length > 0)
    deps.logger.warn(
      "shortening failed timer messages' wait failed; they come back after the visibility timeout",
      { count: outcome.failed.length, ...(outcome.errors ? { errors: outcome.errors } : {}) },
    );
}

/**
 * The longest the relay waits for its retry backoff's visibility changes (`VISIBILITY_CHANGE_WAIT_MS`). Held to the
 * relay's timeout instead, the whole batch would fail: its forwarded messages sent again, its failed ones back only
 * after the 3-minute visibility timeout.
 */
export const RELAY_RETRY_WAIT_MS = VISIBILITY_CHANGE_WAIT_MS;

/**
 * Forwards each message when it is due, in waves: everything due now at once, then whatever has come due by the
 * time that wave was sent (or after a sleep until the next due time). With an early wake a batch spans seconds, so
 * no task may wait for a later one of the same batch; the loop re-reads the clock after every sleep, so a timer
 * that fires a millisecond early forwards nothing early. A wave is waited for up to `waveWaitMs`: what comes due
 * meanwhile joins the next wave instead of queueing a wave per due time. A wave still sending after that (a waiting
 * group's whole backlog, one call per task) holds back only the groups still in flight: the next wave's other
 * groups go at once, and its groups still in flight go together once every earlier part they are in has finished
 * (each group's order holds, and its second sweep finds only what is left) — so such a group may also wait for
 * another in-flight group's longer part, never for less than its own.
 */
async function forwardWhenDue(
  deps: RelayDeps,
  held: readonly ParsedMessage[],
  clock: () => number,
  finished: Set<string>,
): Promise<string[]> {
  const sleep = deps.sleep ?? defaultSleep;
  const bounded = createLimiter(deps.groupConcurrency ?? DEFAULT_GROUP_CONCURRENCY);
  const inFlight = new Map<string, Promise<unknown>>();
  const waves: Promise<string[]>[] = [];
  for (let pending = held; pending.length > 0; ) {
    const now = clock();
    const { wave, rest } = dueWave(pending, now);
    if (wave.length === 0) {
      await sleep((rest[0] as ParsedMessage).key.dueAtMs - now);
      continue;
    }
    pending = rest;
    // Each part settles its own messages: a part held behind a hung wave keeps none of the others unfinished.
    const launched = launchWave(wave, inFlight, (part) =>
      settled(
        forwardWave(deps, part, clock, bounded),
        part.map((m) => m.messageId),
        finished,
      ),
    );
    waves.push(launched);
    await withinMs(launched, deps.waveWaitMs ?? RELAY_WAVE_WAIT_MS);
  }
  return (await Promise.all(waves)).flat();
}

/**
 * How long the relay waits for a wave before it forwards what has come due since without it. Far above a usual
 * wave's Query and send (tens of milliseconds), so waves still gather what comes due while one is sent.
 */
export const RELAY_WAVE_WAIT_MS = 1_000;

/**
 * Starts a wave: its groups not in flight at once, the others once every wave they are in has finished. Records the
 * wave's groups as in flight until their part is done. Never rejects (`forwardWave` never throws).
 */
function launchWave(
  wave: readonly ParsedMessage[],
  inFlight: Map<string, Promise<unknown>>,
  forward: (part: readonly ParsedMessage[]) => Promise<string[]>,
): Promise<string[]> {
  const blockers = [...new Set(wave.flatMap((m) => inFlight.get(m.key.pk) ?? []))];
  const free = wave.filter((m) => !inFlight.has(m.key.pk));
  const blocked = wave.filter((m) => inFlight.has(m.key.pk));
  const parts = [
    free.length > 0 ? forward(free) : Promise.resolve([]),
    blocked.length > 0 ? Promise.all(blockers).then(() => forward(blocked)) : Promise.resolve([]),
  ];
  const done = Promise.all(parts).then((f) => f.flat());
  for (const [part, messages] of [
    [parts[0], free],
    [parts[1], blocked],
  ] as const) {
    for (const m of messages) inFlight.set(m.key.pk, part as Promise<string[]>);
    const settle = () => {
      for (const m of messages) if (inFlight.get(m.key.pk) === part) inFlight.delete(m.key.pk);
    };
    void (part as Promise<string[]>).then(settle, settle);
  }
  return done;
}

/** What one group of a wave needs: nothing, a retry of its messages, or these tasks sent in this order. */
type GroupPlan =
  | { readonly kind: "done" }
  | { readonly kind: "retry"; readonly messages: readonly ParsedMessage[] }
  | {
      readonly kind: "send";
      readonly pk: string;
      readonly topic: string;
      readonly queueUrl: string;
      readonly messages: readonly ParsedMessage[];
      readonly taskIds: readonly string[];
      /** The occurrences' schedules (their messages carry them: messages.ts). */
      readonly scheduleIds: ReadonlyMap<string, string>;
    };

/**
 * One wave: every group is read (bounded), then each topic's groups go out together, packed into shared
 * SendMessageBatch calls instead of one call per group. Never throws: returns the message ids to retry.
 */
async function forwardWave(
  deps: RelayDeps,
  wave: readonly ParsedMessage[],
  clock: () => number,
  bounded: <T>(work: () => Promise<T>) => Promise<T>,
): Promise<string[]> {
  const plans = await Promise.all(
    [...byPartition(wave)].map(([pk, group]) => bounded(() => planGroupOrFail(deps, pk, group, clock))),
  );
  const retry = plans.flatMap((p) => (p.kind === "retry" ? p.messages.map((m) => m.messageId) : []));
  const byQueue = new Map<string, Extract<GroupPlan, { kind: "send" }>[]>();
  for (const plan of plans) {
    if (plan.kind === "send") byQueue.set(plan.queueUrl, [...(byQueue.get(plan.queueUrl) ?? []), plan]);
  }
  const failedSends = await Promise.all(
    [...byQueue].map(([queueUrl, sends]) => sendGroups(deps, queueUrl, sends)),
  );
  return [...retry, ...failedSends.flat()];
}

/** One group's read; never throws. */
async function planGroupOrFail(
  deps: RelayDeps,
  pk: string,
  group: readonly ParsedMessage[],
  clock: () => number,
): Promise<GroupPlan> {
  try {
    return await planGroup(deps, pk, group, clock);
  } catch (error) {
    deps.logger.warn("forwarding group failed", { pk, error: errorText(error) });
    return { kind: "retry", messages: group };
  }
}

function parseMessage(message: TimerMessage, logger: ServiceLogger): TaskKey | undefined {
  // A message we cannot read is logged and dropped: retrying it would only poison the queue.
  const body = parseTaskMessage(message.body);
  if (!body) {
    logger.error("dropping timer message: not a task message", { messageId: message.messageId });
    return undefined;
  }
  const key = parseTaskId(body.taskId);
  if (!key) {
    logger.error("dropping timer message: malformed task id", { messageId: message.messageId });
    return undefined;
  }
  return key;
}

/**
 * The longest the relay waits for its re-arms' SendMessageBatch calls (`VISIBILITY_CHANGE_WAIT_MS`: the SDK's three
 * attempts of a throttled call; it sets no request timeout, so a call whose answer is lost never settles). Left to
 * the relay's timeout instead, the whole batch failed: its re-armed tasks came back only after the timer queue's
 * 3-minute visibility timeout, late when due sooner than that; given up, they are retried in a second or two.
 */
export const RELAY_REARM_WAIT_MS = VISIBILITY_CHANGE_WAIT_MS;

async function rearmAll(
  deps: RelayDeps,
  rearms: readonly { messageId: string; taskId: string; delaySeconds: number }[],
): Promise<string[]> {
  if (rearms.length === 0) return [];
  const entries = rearms.map(({ taskId, delaySeconds }) => ({ taskId, delaySeconds }));
  // Bound: the port may be a class whose method reads `this`.
  const rearm = deps.timer.rearm.bind(deps.timer);
  try {
    const outcome = await abortedAfterMs((signal) => rearm(entries, signal), RELAY_REARM_WAIT_MS);
    if (outcome === "overdue") {
      deps.logger.warn("re-arming timer messages did not answer in time", { count: rearms.length });
      return rearms.map((r) => r.messageId);
    }
    const { failedTaskIds } = outcome;
    const failedIds = new Set(failedTaskIds);
    const failed = rearms.filter((r) => failedIds.has(r.taskId));
    if (failed.length > 0) deps.logger.warn("re-arming timer messages failed", { count: failed.length });
    return failed.map((r) => r.messageId);
  } catch (error) {
    deps.logger.warn("re-arming timer messages failed", { count: rearms.length, error: errorText(error) });
    return rearms.map((r) => r.messageId);
  }
}

/**
 * Which due, still-scheduled tasks of one group must go now, in order. The relay writes nothing to the table:
 * sending is the whole step. A task stays `scheduled` until deliver's conditional `startAttempt` (the fence a
 * cancel cannot pass), so a crash after the send needs no repair (the timer message comes back and sends again;
 * FIFO deduplication, same MessageDeduplicationId = task id within 5 minutes, absorbs the copy, and deliver's
 * conditional start skips a finished task after that). Recording `queued` per task cost one write each and
 * protected nothing the fence does not.
 */
async function planGroup(
  deps: RelayDeps,
  pk: string,
  messages: readonly ParsedMessage[],
  clock: () => number,
): Promise<GroupPlan> {
  // The topic comes from the id (all of a group's tasks share it).
  const topic = (messages[0] as ParsedMessage).key.topic;
  const queueUrl = Object.hasOwn(deps.topicQueueUrls, topic) ? deps.topicQueueUrls[topic] : undefined;
  if (!queueUrl) {
    deps.logger.error("no FIFO queue configured for topic; timer messages will be retried", { topic, pk });
    return { kind: "retry", messages };
  }
  if (messages.every((m) => deps.topicQueue.wasSentRecently?.(queueUrl, m.key.taskId))) {
    // An earlier sweep of this container sent these tasks, and everything before them it found, less than 4
    // minutes ago: the messages have nothing left to do, and the group's Query is saved. (A task written since
    // may sort before them — its due time was floored at its writer's clock, before the write landed — but it was
    // acknowledged only after that sweep, so after they were due: it need not go first, chaos/verify/order.ts.)
    deps.logger.debug("timer messages already forwarded by this container", { pk, count: messages.length });
    return { kind: "done" };
  }
  const due = await dueTasksOfGroup(deps, pk, messages, clock());
  if (due === "not-yet-due") {
    // Cannot happen after the wait above unless clocks disagree; never drop it, never send it early.
    deps.logger.warn("task not yet due at forwarding time; the group will be retried", { pk });
    return { kind: "retry", messages };
  }
  if (due.length === 0) return { kind: "done" };
  return {
    kind: "send",
    pk,
    topic,
    queueUrl,
    messages,
    taskIds: due.map((t) => t.taskId),
    scheduleIds: scheduleIdsOf(due),
  };
}

/**
 * The group's still-scheduled tasks that must go now, in order (due time, then acceptance: the sort key order):
 * its earlier stragglers and this batch's own tasks.
 */
async function dueTasksOfGroup(
  deps: RelayDeps,
  pk: string,
  messages: readonly ParsedMessage[],
  now: number,
): Promise<GroupTaskRef[] | "not-yet-due"> {
  // The sweep ends at this batch's latest task of the group (by sort key: due time, then acceptance), not at
  // `now`: that is all the order needs (every earlier still-scheduled task goes first), and later tasks have
  // timer messages of their own. In a burst a group's messages land in many concurrent batches, and sweeping to
  // `now` made each of them re-send (and re-mark) the whole group.
  const latestOwn = latestOwnKey(messages);
  const window = groupSweepWindow(messages, now, deps.lookbackMs ?? RELAY_LOOKBACK_MS);
  const others = new Map<string, TaskStatus>();
  // Read latest first and only back to the group's latest started task: FIFO handed everything sent before it
  // over first, so what sorts before it is on its way (or was overtaken before this message came). A hot group's
  // window is otherwise mostly delivered history, and DynamoDB bills every item read, filtered or not.
  const listed = await deps.store.listScheduledInGroup(pk, window.fromMs, window.toMs, others, {
    stopAtStarted: true,
  });
  const tasks = new Map<string, GroupTaskRef>(
    listed
      .filter((t) => t.sk <= latestOwn.sk && !isFanOutParent(t) && !handedOver(t))
      .map((t) => [t.taskId, t]),
  );
  for (const m of messages) {
    const status = others.get(m.key.taskId);
    if (status !== undefined && !tasks.has(m.key.taskId)) {
      deps.logger.debug("timer message needs no forwarding", { taskId: m.key.taskId, status });
    }
  }
  const unseen = messages.filter((m) => !tasks.has(m.key.taskId) && !others.has(m.key.taskId));
  const own = await readOwnTasks(deps, unseen, now);
  if (own === "not-yet-due") return own;
  for (const task of own) tasks.set(task.taskId, task);
  return [...tasks.values()].sort(bySortKey);
}

/**
 * A `scheduled` task with a start on record: a read-free start deliver refunded unused gave it back the status it
 * found (its `lastAttemptAtMs` kept; no other `scheduled` task has one). Its record is still on its FIFO queue,
 * ahead of anything sent now, and starts it when it comes back: sending it again would only add a copy (past SQS's
 * 5-minute deduplication) while that record exists. Left as a `delivering` task is; a lost record is the sweeper's
 * (its stall repair, repair.ts `isStalled`).
 */
function handedOver(task: Pick<TaskRecord, "status" | "lastAttemptAtMs">): boolean {
  return task.status === "scheduled" && task.lastAttemptAtMs !== undefined;
}

/**
 * A message's own task can be missing from the sweep: no longer scheduled (cancelled, or already queued /
 * delivered by an earlier message of the group: the sweep saw it, nothing to do, no extra read), or not found by
 * it at all, which one more read settles. Returns the due, still-scheduled ones.
 */
async function readOwnTasks(
  deps: RelayDeps,
  messages: readonly ParsedMessage[],
  now: number,
): Promise<TaskRecord[] | "not-yet-due"> {
  const read = await Promise.all(messages.map((m) => deps.store.get(m.key.taskId)));
  const due: TaskRecord[] = [];
  let notYetDue = false;
  read.forEach((own, i) => {
    if (own?.status !== "scheduled" || handedOver(own)) {
      // Cancelled, already queued / delivering / done, or gone: nothing to do for this message.
      deps.logger.debug("timer message needs no forwarding", {
        taskId: messages[i]?.key.taskId,
        status: own?.status ?? "missing",
      });
    } else if (own.dueAtMs <= now) due.push(own);
    else notYetDue = true;
  });
  return notYetDue ? "not-yet-due" : due;
}

/** Sends a wave's groups of one topic; returns the message ids of the groups whose send failed. */
async function sendGroups(
  deps: RelayDeps,
  queueUrl: string,
  sends: readonly Extract<GroupPlan, { kind: "send" }>[],
): Promise<string[]> {
  let results: Map<string, SendInOrderResult>;
  try {
    results = await deps.topicQueue.sendGroupsInOrder(
      queueUrl,
      sends.map((s) => ({ groupId: s.pk, taskIds: s.taskIds, scheduleIds: s.scheduleIds })),
    );
  } catch (error) {
    // The port never throws; should it, nothing is known to be sent and every group is retried.
    deps.logger.warn("sending to the topic queue failed; the groups will be retried", {
      error: errorText(error),
    });
    return sends.flatMap((s) => s.messages.map((m) => m.messageId));
  }
  return sends.flatMap(({ pk, topic, messages }) => {
    const result = results.get(pk);
    if (result && !result.failure) {
      deps.logger.debug("group forwarded", { pk, topic, count: result.sent.length });
      return [];
    }
    deps.logger.warn("sending to the topic queue failed; the group will be retried", {
      pk,
      topic,
      sent: result?.sent.length ?? 0,
      unsent: result?.failure?.taskIds.length,
      error: result?.failure?.error ?? "no result for the group",
    });
    return messages.map((m) => m.messageId);
  });
}

/**
 * The wall clock as one invocation reads it: never earlier than it read before. An NTP step back between a wave's
 * reading and its group's read made a task the wave found due read as not yet due, and its group wait out the
 * timer queue's visibility timeout (minutes late). Deliver still holds anything sent before its due time.
 */
function neverBack(clock: () => number): () => number {
  let latest = Number.NEGATIVE_INFINITY;
  return () => {
    latest = Math.max(latest, clock());
    return latest;
  };
}
