import type { CallbackResult } from "#shared/adapters/callback-client.js";
import type { AbortOptions, TaskStore } from "#shared/adapters/task-store.js";
import type { TopicConfig } from "#shared/config/index.js";
import {
  circuitGate,
  type DestinationRecord,
  destinationHost,
  hostFailed,
  parseRetryAfter,
  probeCooldownSeconds,
  rateWindow,
  waitSeconds,
} from "#shared/domain/destination.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { errorText } from "#shared/runtime/async.js";
import { keepRecent } from "#shared/runtime/recent.js";
import {
  type BatchContext,
  DEFAULT_WATCHDOG_MARGIN_MS,
  RecordFailedError,
  type RecordScope,
  stopIfGivenUp,
} from "./types.js";

/**
 * Protecting receivers (docs/CALLBACKS.md "Protecting receivers"): before a protected topic's attempt is counted, its
 * destination host must admit it — circuit closed (or this delivery elected as the half-open probe), a
 * concurrency lease, a rate token. A delivery that is not admitted waits WITHOUT using an attempt: its group's
 * visibility is set to the wait (`wait` outcome) and SQS hands it back then. After the callback the lease is
 * released and the outcome feeds the host's circuit.
 *
 * Why DynamoDB and not an AWS-native limiter: Lambda's event-source MaximumConcurrency caps a topic's
 * invocations, not the requests per host (a batch holds many hosts, and one host spans topics' queues), and SQS
 * has no per-group or per-host rate; API Gateway / WAF throttle incoming traffic, not our outgoing callbacks. A
 * conditional UpdateItem on the task table is already in every function's path and costs one write.
 */

/** How long a container trusts its last read of a host's circuit before reading it again. */
export const DESTINATION_CACHE_MS = 2_000;

/**
 * How old a container's view of a host's circuit may be to make a delivery wait longer than DESTINATION_CACHE_MS:
 * a close since (a reset by hand, another container's success) is seen within this. Not every such wait reads: an
 * open circuit's waiting groups all come back at its next probe time, and a read each would put a herd of reads
 * on one item (3,000 read units a second at most); this is at most 4 reads a second per container and host.
 */
export const DESTINATION_WAIT_READ_MS = 250;

/** Whether a topic has any receiver protection configured (and so pays its calls). */
export function protectsDestinations(topic: TopicConfig): boolean {
  return (
    topic.rateLimit !== undefined ||
    topic.maxConcurrencyPerHost !== undefined ||
    topic.circuitFailureThreshold !== undefined
  );
}

/** What a destination granted one delivery. */
export interface Admission {
  readonly host: string;
  /** This delivery is the half-open circuit's one probe. */
  readonly probe: boolean;
  /** The probe's claim, identified by its end: released if the probe ends without a verdict. */
  readonly probeUntilMs?: number;
  readonly lease?: { readonly slot: number; readonly expiresAtMs: number };
  /**
   * Rate-limited topics: the instant the rate token was counted at. The attempt starts (and is signed) at this
   * instant, so a callback's `webhook-timestamp` is the very second its token was counted in.
   */
  readonly countedAtMs?: number;
}

/**
 * How many topic-and-host entries a container's DestinationCache keeps. Far above the hosts one container calls within
 * DESTINATION_CACHE_MS (a batch has at most 10 records; the local cloud's one deliver instance ~100 in flight).
 */
export const DESTINATION_CACHE_MAX_HOSTS = 10_000;

type CacheEntry = { readonly record: DestinationRecord | undefined; readonly readAtMs: number };

/**
 * A container's view of its hosts' circuits: read once per DESTINATION_CACHE_MS per topic and host (the happy path
 * pays one GetItem per host per container every 2 s, not one per delivery), updated by this container's own writes.
 *
 * Bounded: past `maxHosts` entries the least recently used is forgotten (its next delivery reads it again). A caller
 * may add tasks to ever new hosts under a wildcard allow-list entry (no DNS needed: the entry is made before the
 * callback), and a container kept every host it had seen for its life, ~600 B each: a 512 MB deliver function's
 * memory at some 700,000 of them. Forgetting costs at most a read, and a success this container then does not know
 * followed failures (circuitSuccess), as for another container's success.
 */
export class DestinationCache {
  readonly #entries = new Map<string, CacheEntry>();
  readonly #maxHosts: number;

  constructor(maxHosts = DESTINATION_CACHE_MAX_HOSTS) {
    this.#maxHosts = maxHosts;
  }

  /** The cached entry if it is younger than `maxAgeMs` (by default the cache window), else a read of the store. */
  async read(
    store: Pick<TaskStore, "getDestination">,
    topic: string,
    host: string,
    nowMs: number,
    options: AbortOptions = {},
    maxAgeMs = DESTINATION_CACHE_MS,
  ): Promise<DestinationRecord | undefined> {
    const key = `${topic}#${host}`;
    const cached = this.#entries.get(key);
    if (cached && nowMs - cached.readAtMs < maxAgeMs) {
      this.#keep(key, cached);
      return cached.record;
    }
    const record = await store.getDestination(topic, host, options);
    this.#keep(key, { record, readAtMs: nowMs });
    return record;
  }

  /**
   * What this container last knew of the host, without reading and whatever its age (undefined: nothing, or
   * forgotten past the cap). Its one caller, a success's circuit update, runs after the callback whose admission
   * `read` the entry within the cache window, so the age needs no check here.
   */
  peek(topic: string, host: string): DestinationRecord | undefined {
    return this.#entries.get(`${topic}#${host}`)?.record;
  }

  remember(topic: string, host: string, record: DestinationRecord | undefined, nowMs: number): void {
    this.#keep(`${topic}#${host}`, { record, readAtMs: nowMs });
  }

  forget(topic: string, host: string): void {
    this.#entries.delete(`${topic}#${host}`);
  }

  /** Stores `entry` as the most recently used (a Map iterates in insertion order), forgetting the least past the cap. */
  #keep(key: string, entry: CacheEntry): void {
    keepRecent(this.#entries, key, entry, this.#maxHosts);
  }
}

/** The group waits `ms` (whole seconds, at least 1) without an attempt being counted. */
function waitFor(ctx: BatchContext, scope: RecordScope, task: TaskRecord, ms: number, reason: string): never {
  const seconds = waitSeconds(ms);
  ctx.outcomes.set(scope.group, { kind: "wait", seconds });
  ctx.deps.logger.debug("destination not available; the group waits without using an attempt", {
    taskId: task.taskId,
    reason,
    waitSeconds: seconds,
  });
  throw new RecordFailedError(reason);
}

/**
 * Admits one delivery of a protected topic to its host, or makes its group wait (throws RecordFailedError).
 * Order: the circuit (a cached read), then the lease, then the rate token last, so the callback follows its
 * token at once.
 */
export async function admitToDestination(
  ctx: BatchContext,
  scope: RecordScope,
  task: TaskRecord,
  timeoutMs: number,
): Promise<Admission | undefined> {
  const { topic } = scope.binding;
  const host = destinationHost(task.callbackUrl);
  if (!host) return undefined; // the URL policy refuses it later, as it always did
  const probeUntilMs = await passCircuit(ctx, scope, task, host, timeoutMs);
  let admission: Admission = {
    host,
    probe: probeUntilMs !== undefined,
    ...(probeUntilMs !== undefined && { probeUntilMs }),
  };
  try {
    const lease = await takeLease(ctx, scope, task, host, timeoutMs);
    if (lease) admission = { ...admission, lease };
    const countedAtMs = await takeRateToken(ctx, scope, task, host);
    return countedAtMs === undefined ? admission : { ...admission, countedAtMs };
  } catch (error) {
    // No lease or token (a wait) or a failed call: what was taken goes back at once instead of at its expiry.
    await withdrawAdmission(ctx, topic, admission);
    throw error;
  }
}

/**
 * One token of the host's current second (answers the instant it was counted at), or the group waits for the
 * next second.
 */
async function takeRateToken(
  ctx: BatchContext,
  scope: RecordScope,
  task: TaskRecord,
  host: string,
): Promise<number | undefined> {
  const { topic } = scope.binding;
  if (topic.rateLimit === undefined) return undefined;
  const now = ctx.clock();
  const second = rateWindow(now);
  const taken =
    second !== undefined &&
    (await ctx.deps.store.takeRateToken(topic.name, host, second, topic.rateLimit, scope));
  if (!taken) waitFor(ctx, scope, task, 1000 - (now % 1000), "rate limit");
  return now;
}

/**
 * Closed: pass. Open: wait for the probe time. Half-open: pass as the elected prober (answers its claim's end),
 * else wait a second.
 */
async function passCircuit(
  ctx: BatchContext,
  scope: RecordScope,
  task: TaskRecord,
  host: string,
  timeoutMs: number,
): Promise<number | undefined> {
  const { topic } = scope.binding;
  if (topic.circuitFailureThreshold === undefined) return undefined;
  const now = ctx.clock();
  // The scope is the read's AbortOptions (its signal), as it is the probe claim's and the rate token's: a step the
  // watchdog gave up on sends neither (the SDK refuses an aborted call at once).
  const read = (maxAgeMs?: number) =>
    ctx.destinations.read(ctx.deps.store, topic.name, host, now, scope, maxAgeMs);
  let gate = circuitGate(await read(), now);
  // A wait longer than the cache window is decided on the circuit as the table held it at most
  // DESTINATION_WAIT_READ_MS ago, not as this container last saw it: a reset by hand (or another container's
  // success) since then would otherwise hold a delivery that comes after it for the rest of a cool-down it no
  // longer has. The happy path reads nothing more.
  if (gate.kind === "wait" && gate.ms > DESTINATION_CACHE_MS) {
    gate = circuitGate(await read(DESTINATION_WAIT_READ_MS), now);
  }
  if (gate.kind === "pass") return undefined;
  if (gate.kind === "wait") waitFor(ctx, scope, task, gate.ms, "circuit open");
  const claimUntil = now + timeoutMs + (ctx.deps.watchdogMarginMs ?? DEFAULT_WATCHDOG_MARGIN_MS);
  if (await ctx.deps.store.claimProbe(topic.name, host, now, claimUntil, scope)) {
    ctx.deps.logger.info("circuit half-open: probing the host", {
      topic: topic.name,
      host,
      taskId: task.taskId,
    });
    return claimUntil;
  }
  ctx.destinations.forget(topic.name, host);
  return waitFor(ctx, scope, task, 1000, "circuit half-open, another delivery probes");
}

/** A lease slot until the attempt's step can no longer be running (its expiry frees a crashed holder's slot). */
async function takeLease(
  ctx: BatchContext,
  scope: RecordScope,
  task: TaskRecord,
  host: string,
  timeoutMs: number,
): Promise<Admission["lease"]> {
  const { topic } = scope.binding;
  if (topic.maxConcurrencyPerHost === undefined) return undefined;
  stopIfGivenUp(scope);
  const now = ctx.clock();
  const expiresAtMs =
    now + timeoutMs + (ctx.deps.watchdogMarginMs ?? DEFAULT_WATCHDOG_MARGIN_MS) + ctx.safetyMarginMs;
  const slot = await ctx.deps.store.acquireLease(
    topic.name,
    host,
    topic.maxConcurrencyPerHost,
    now,
    expiresAtMs,
    scope,
  );
  if (slot === undefined) waitFor(ctx, scope, task, 1000, "concurrency limit");
  return { slot, expiresAtMs };
}

/**
 * Whether an admission still covers a whole callback started at `nowMs`. Its lease and its probe claim were sized
 * for a callback started at once (the timeout plus margins); a slow start (DynamoDB) can use the margins up, and a
 * callback then running past its lease would overlap the delivery that takes the freed slot (over
 * `maxConcurrencyPerHost`), one running past its probe claim a second prober's.
 */
export function admissionCovers(admission: Admission, nowMs: number, timeoutMs: number): boolean {
  const endsAtMs = nowMs + timeoutMs;
  return (
    endsAtMs <= (admission.lease?.expiresAtMs ?? Number.POSITIVE_INFINITY) &&
    endsAtMs <= (admission.probeUntilMs ?? Number.POSITIVE_INFINITY)
  );
}

/** Gives back an admission's lease (after the callback, or when its attempt could not start). */
export async function releaseAdmission(
  ctx: BatchContext,
  topic: TopicConfig,
  admission: Admission | undefined,
) {
  if (!admission?.lease) return;
  try {
    await ctx.deps.store.releaseLease(
      topic.name,
      admission.host,
      admission.lease.slot,
      admission.lease.expiresAtMs,
    );
  } catch (error) {
    // Not fatal: the lease expires by itself.
    ctx.deps.logger.warn("releasing a destination lease failed", {
      host: admission.host,
      error: errorText(error),
    });
  }
}

/**
 * Gives back a probe claim whose probe ends without a verdict (not admitted after all, its attempt not started,
 * its callback not sent or refused by our own policy), so the next delivery may probe at once instead of after
 * the claim's expiry. Conditioned on the claim's end: a later prober's claim is never released.
 */
export async function releaseProbe(ctx: BatchContext, topic: TopicConfig, admission: Admission | undefined) {
  if (admission?.probeUntilMs === undefined) return;
  try {
    await ctx.deps.store.releaseProbe(topic.name, admission.host, admission.probeUntilMs);
  } catch (error) {
    // Not fatal: the claim expires by itself.
    ctx.deps.logger.warn("releasing a probe claim failed", {
      host: admission.host,
      error: errorText(error),
    });
  }
}

/** Gives back all an admission took, for a delivery that will not be attempted: its lease and its probe claim. */
export async function withdrawAdmission(
  ctx: BatchContext,
  topic: TopicConfig,
  admission: Admission | undefined,
) {
  await releaseAdmission(ctx, topic, admission);
  await releaseProbe(ctx, topic, admission);
}

/**
 * Feeds one attempt's outcome to its host's circuit. A failure is one write (it counts); a success writes only
 * when this container knows of failures (or probed): the happy path writes nothing. Errors are logged, never
 * fatal: the task's own outcome is already recorded. Answers true for a failed probe whose circuit was closed while
 * it ran (a reset by hand, another delivery's success), so it did not reopen: its group must not wait a cool-down.
 */
export async function noteDestinationOutcome(
  ctx: BatchContext,
  topic: TopicConfig,
  admission: Admission | undefined,
  result: CallbackResult,
): Promise<boolean> {
  if (!admission || topic.circuitFailureThreshold === undefined) return false;
  const failed = hostFailed(result);
  // No verdict on the host (our own policy refused it): a probe's claim goes back for the next delivery.
  if (failed === undefined) {
    await releaseProbe(ctx, topic, admission);
    return false;
  }
  try {
    if (!failed) await circuitSuccess(ctx, topic, admission);
    else if (!(await circuitFailure(ctx, topic, admission, result))) return admission.probe;
  } catch (error) {
    ctx.deps.logger.warn("recording a destination outcome failed", {
      host: admission.host,
      error: errorText(error),
    });
  }
  return false;
}

/** Counts a failure towards the host's circuit, opening or reopening it; answers whether it stands open after. */
async function circuitFailure(
  ctx: BatchContext,
  topic: TopicConfig,
  admission: Admission,
  result: CallbackResult,
): Promise<boolean> {
  const { store, logger, metrics } = ctx.deps;
  const now = ctx.clock();
  const error = result.error ?? "callback failed";
  const record = await store.recordDestinationFailure(topic.name, admission.host, now, error);
  ctx.destinations.remember(topic.name, admission.host, record, now);
  const threshold = topic.circuitFailureThreshold ?? Number.POSITIVE_INFINITY;
  // Open (a failed probe, or a failure seen while open) it stays open for another cool-down; closed, only the
  // threshold opens it — also for a probe whose circuit was closed while it ran (reset by hand, or another
  // delivery's success): that circuit counts its failures afresh.
  if (record.circuit !== "open" && record.failures < threshold) return false;
  const nextProbeAtMs = now + nextProbeSeconds(topic, result, now) * 1000;
  // A failed probe gives up its own claim; a failure of an attempt admitted before the circuit opened (this
  // container's cached read, or a callback that outlasted the opening) must not free the claim of the probe in
  // flight, or a second prober would be elected beside it once the restarted cool-down ends.
  const ownClaim = admission.probe ? admission.probeUntilMs : undefined;
  // Opened only while the count that decided it stands: a reset (or a success) landing after this failure's count
  // zeroed it, and an opening written then put the circuit the reset had just answered `closed` back open.
  const change = await store.openCircuit(
    topic.name,
    admission.host,
    now,
    nextProbeAtMs,
    ownClaim,
    topic.circuitFailureThreshold,
  );
  if (change === "closed") {
    // Closed by a reset or another container's success since it read open (or since this failure was counted):
    // remembered open, its deliveries here would wait a cool-down it no longer has; the next one reads it again.
    ctx.destinations.forget(topic.name, admission.host);
    return false;
  }
  // As the item now is: open until the next probe; a claim only if someone else's stands (opening removes any).
  const { probeUntilMs: claim, ...rest } = record;
  const othersClaim = record.circuit === "open" && claim !== ownClaim ? { probeUntilMs: claim } : {};
  ctx.destinations.remember(
    topic.name,
    admission.host,
    { ...rest, ...othersClaim, circuit: "open", nextProbeAtMs, openedAtMs: record.openedAtMs ?? now },
    now,
  );
  if (change === "opened") {
    metrics.circuitOpened(topic.name);
    logger.warn("circuit opened: deliveries to the host wait without using attempts", {
      topic: topic.name,
      host: admission.host,
      failures: record.failures,
      nextProbeAt: new Date(nextProbeAtMs).toISOString(),
      error,
    });
  } else {
    logger.info("circuit stays open", {
      topic: topic.name,
      host: admission.host,
      probe: admission.probe,
      error,
    });
  }
  return true;
}

async function circuitSuccess(ctx: BatchContext, topic: TopicConfig, admission: Admission) {
  const known = ctx.destinations.peek(topic.name, admission.host);
  if (!admission.probe && !(known && (known.failures > 0 || known.circuit === "open"))) return;
  const now = ctx.clock();
  const before = await ctx.deps.store.closeCircuit(topic.name, admission.host, now);
  ctx.destinations.remember(
    topic.name,
    admission.host,
    before && { ...before, failures: 0, circuit: "closed" },
    now,
  );
  if (before?.circuit === "open") {
    ctx.deps.metrics.circuitClosed(topic.name);
    ctx.deps.logger.info("circuit closed: the host answered", { topic: topic.name, host: admission.host });
  }
}

/** The open circuit's wait for its next probe after `result`: the cool-down, or the receiver's longer Retry-After. */
export function nextProbeSeconds(topic: TopicConfig, result: CallbackResult, nowMs: number): number {
  const asked = parseRetryAfter(result.retryAfter, nowMs);
  return probeCooldownSeconds(topic.circuitCooldownSeconds, topic.retryAfterCapSeconds, asked);
}
