import { createHash } from "node:crypto";
import { RESERVED_KEY_PREFIX } from "./reserved-keys.js";

/**
 * Recurring schedules (issue 14, point 4). A schedule is one item in the task table; each occurrence becomes an
 * ordinary task, created a little ahead of time by the materializer (shared/services/schedules/materialize.ts).
 *
 * Storage (why the task table, not a new one): a schedule is read and written by the same functions that add
 * tasks, with the same encryption, backup and retention settings; a second table would need its own grants,
 * alarms and local provisioning for a handful of items per topic.
 *
 * - The schedule item: pk `schedules#<topic>`, sk `<schedule id>`. One partition per topic makes
 *   `GET /v1/schedules?topic=` one Query. A topic may be named `schedules`, and then its tasks' partitions
 *   (`schedules#<group hash>`) can be the schedule partition of a topic named like a hash: the list reads only sort
 *   keys starting with the topic's schedule id prefix (scheduleIdPrefix), which a task's (`<due>#<ULID>`) never
 *   does. The id carries the topic (`<topic>.schedule.<ULID>`), so GET by id is a GetItem.
 * - The materializer's work list: a sparse index (SCHEDULE_INDEX_NAME) keyed by `scheduleShard` (only an active
 *   schedule carries it) and `materializeAtMs` (when the schedule's next occurrence enters the horizon). A run
 *   Queries each shard for `materializeAtMs <= now`: it reads only the schedules that have work, never the
 *   paused or ended ones, and never the contents (keys-only projection).
 */
export const SCHEDULE_INDEX_NAME = "active-schedules-by-next";
export const SCHEDULE_SHARD_ATTRIBUTE = "scheduleShard";
export const SCHEDULE_SORT_ATTRIBUTE = "materializeAtMs";
/** A few shards keep one index partition from taking every schedule's writes; the materializer reads all. */
export const SCHEDULE_SHARDS = 4;

/**
 * How far ahead occurrences become tasks. Longer than the materializer's one-minute period plus its run time,
 * so a late or failed run costs no occurrence its due time; within the timer horizon (config timer.horizonSeconds,
 * 300 s by default), so every occurrence is armed on the timer queue (no per-task EventBridge schedule). Pause
 * cancels what lies ahead.
 */
export const MATERIALIZE_HORIZON_MS = 4 * 60_000;

/**
 * How far one function's clock may read ahead of another's, on another Lambda host, in what a resume reads of the
 * occurrences made ahead (called-ahead.ts): the materializer and an earlier resume made and carried them up to the
 * horizon from their own clocks. Hosts keep to Amazon Time Sync within a millisecond or so; a second is far past any
 * synced clock, and costs a resume at most one more claim read (a cron's finest step is a second).
 */
export const CLOCK_SKEW_MARGIN_MS = 1_000;

/**
 * A topic's horizon: never further ahead than its maxDelay, which the add path refuses (a refused occurrence is
 * skipped, i.e. lost). A maxDelay under about two minutes (the materializer's period plus its run time) makes
 * occurrences late, never lost: each is then made on the run after it entered the horizon.
 */
export function materializeHorizonMs(maxDelaySeconds: number): number {
  return Math.min(MATERIALIZE_HORIZON_MS, maxDelaySeconds * 1000);
}
/** At most this many occurrences per schedule per scheduled run: a one-second cron needs 60 a minute. */
export const MAX_OCCURRENCES_PER_RUN = 150;
/** How often the materializer runs (its EventBridge rule's rate, cdk/lib/sizing.ts, is derived from this). */
export const MATERIALIZER_PERIOD_MS = 60_000;
/**
 * What the pass at creation and resume (inside the API call) must cover: every occurrence due before the next
 * scheduled run can have made it. That run comes within one period; the second period absorbs a late tick
 * (EventBridge fires a rate rule somewhere within its minute, not on its 0th second) and leaves the run's
 * occurrences a lead of their own. With a fixed 25 instead, a one-second cron's occurrences from the 26th second
 * on waited for that run and were delivered up to ~35 s late.
 */
export const INLINE_COVER_MS = 2 * MATERIALIZER_PERIOD_MS;
/** The inline pass makes at least this many occurrences (within the horizon), whatever their pace. */
export const MIN_OCCURRENCES_INLINE = 25;
/**
 * The most the inline pass can make: a cron's finest step is a second, so the INLINE_COVER_MS after any instant
 * hold at most one occurrence per second. This bounds the create and resume calls whatever the pattern.
 */
export const MAX_OCCURRENCES_INLINE = INLINE_COVER_MS / 1000;

/**
 * What a run makes of occurrences it missed (`catch_up`, docs/API.md "Recurring schedules"): `all` makes each, late
 * (the default: what every schedule did before the field existed); `latest` only the most recent; `none` none.
 */
export const CATCH_UP_POLICIES = ["all", "latest", "none"] as const;
export type CatchUpPolicy = (typeof CATCH_UP_POLICIES)[number];
/**
 * How late an occurrence may be and still not count as missed. A healthy materializer makes some occurrences late:
 * a topic whose maxDelay is under two minutes has each made on the run after it entered its horizon, EventBridge
 * fires a rate rule anywhere within its minute, and a failed run is retried by the next. Five periods cover all
 * of these together; only an outage (or a backlog past the run's cap) leaves an occurrence later than this.
 * Changing it: the `catch_up` description (shared/api/schemas/schedules.ts), the skip's message (materialize.ts,
 * missedMessage) and docs/API.md say "5 min" in words, which keeps the functions' bundles from computing it.
 */
export const MISSED_AFTER_MS = 5 * MATERIALIZER_PERIOD_MS;
/**
 * The missed occurrences a run counts one by one for `skipped_occurrences` and the metric, per schedule: each
 * costs croner ~0.1 ms, so a one-second cron down a day (86,400) would cost the run ~10 s of CPU. Past it, the
 * count is a floor (this many), while the skip itself is whole.
 */
export const MAX_MISSED_COUNTED = 1_000;

/** How many next occurrences a schedule view lists. */
export const VIEW_NEXT_OCCURRENCES = 5;

export const SCHEDULE_STATUSES = ["active", "paused", "ended", "deleted"] as const;
export type ScheduleStatus = (typeof SCHEDULE_STATUSES)[number];

/** The schedule as stored. Times are epoch milliseconds. */
export interface ScheduleRecord {
  readonly pk: string;
  readonly sk: string;
  readonly scheduleId: string;
  readonly topic: string;
  readonly cron: string;
  readonly timezone: string;
  /** The occurrences' content as JSON text, exactly as each task will carry it. */
  readonly content: string;
  readonly callbackUrl?: string;
  readonly deliverBy?: string;
  /** Absent: `all` (schedules stored before the field existed, and creates that do not name it). */
  readonly catchUp?: CatchUpPolicy;
  readonly startAtMs?: number;
  readonly endAtMs?: number;
  readonly status: ScheduleStatus;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
  /** Every occurrence at or before this instant has been made a task (in this epoch). */
  readonly materializedUntilMs: number;
  /**
   * Bumped by every resume; part of each occurrence's idempotency key. Pause cancels the occurrences ahead, and
   * their keys still name the cancelled tasks: a resume must be able to create those occurrences afresh.
   */
  readonly epoch: number;
  /**
   * How far a run under way (or one that stopped) may be making occurrences tasks, beyond the cursor: written by
   * the run, on condition the schedule is still active at the cursor and epoch it read, before its first add. A
   * pause or delete, which the same write's condition orders before or after it, makes every occurrence up to here
   * a cancelled task, so a run that goes on afterwards adds nothing (its adds find those tasks). Only grows within
   * an epoch; resume sets it to the new cursor.
   */
  readonly leasedUntilMs?: number;
  readonly pausedAtMs?: number;
  readonly deletedAtMs?: number;
  /** Occurrences the add path refused (4xx) and that were skipped, e.g. once the callback host left the allow-list. */
  readonly skippedOccurrences?: number;
  /** The latest of those, and why: what the view shows, so a schedule that makes nothing does not read healthy. */
  readonly lastSkipped?: SkippedOccurrence;
  /** Present only while active: the sparse index's keys. */
  readonly scheduleShard?: number;
  readonly materializeAtMs?: number;
  /** TTL, set on delete. */
  readonly expiresAt?: number;
}

/** An occurrence the add-task checks refused: when it was due, when it was refused, and the add's error. */
export interface SkippedOccurrence {
  readonly occurrenceMs: number;
  readonly atMs: number;
  readonly code: string;
  readonly message: string;
}

const SCHEDULE_ID_PATTERN = /^([a-z][a-z0-9-]{0,23})\.schedule\.([0-9A-HJKMNP-TV-Z]{26})$/;

export function schedulePartitionKey(topic: string): string {
  return `schedules#${topic}`;
}

/** What every schedule id of `topic` starts with: the sort keys a list of its schedules reads. */
export function scheduleIdPrefix(topic: string): string {
  return `${topic}.schedule.`;
}

export function makeScheduleKey(topic: string, ulid: string): { scheduleId: string; pk: string; sk: string } {
  const scheduleId = `${scheduleIdPrefix(topic)}${ulid}`;
  return { scheduleId, pk: schedulePartitionKey(topic), sk: scheduleId };
}

/** The table key of a schedule id; undefined for anything that is not one. */
export function parseScheduleId(id: string): { topic: string; pk: string; sk: string } | undefined {
  const match = SCHEDULE_ID_PATTERN.exec(id);
  if (!match) return undefined;
  const topic = match[1] as string;
  return { topic, pk: schedulePartitionKey(topic), sk: id };
}

/** The shard of a schedule in the sparse index: stable, uniform (first bytes of SHA-256 of its id). */
export function scheduleShardOf(scheduleId: string): number {
  return createHash("sha256").update(scheduleId).digest().readUInt32BE(0) % SCHEDULE_SHARDS;
}

/**
 * The idempotency key of one occurrence's task (scoped per topic by the add-task service): schedule id, epoch and
 * the occurrence's instant, so retries and concurrent runs create each occurrence once. Its prefix is reserved:
 * no caller's key can hold it, so no caller's add can take an occurrence's key.
 */
export function occurrenceIdempotencyKey(scheduleId: string, epoch: number, occurrenceMs: number): string {
  return `${RESERVED_KEY_PREFIX}${scheduleId}:${epoch}:${occurrenceMs}`;
}

/**
 * An IANA time zone name the runtime knows (`Europe/Berlin`, `UTC`). Offsets (`+02:00`) and abbreviations are
 * refused: an offset has no DST rules, and abbreviations are ambiguous (`IST`).
 */
export function isKnownTimeZone(timezone: string): boolean {
  // Any letter case, as Intl takes it (docs/API.md, "Recurring schedules"): `utc` as much as `europe/berlin`.
  if (!/^(?:UTC|[A-Z][A-Z0-9_+-]*(?:\/[A-Z0-9_+-]+)+)$/i.test(timezone)) return false;
  return intlZoneOf(timezone) !== undefined;
}

/** The zone Intl resolves a name to (its link target: `GB` → Europe/London), undefined when Intl knows none. */
function intlZoneOf(timezone: string): string | undefined {
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: timezone }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/**
 * Why a schedule's time zone is refused, or undefined when it is taken. IANA's names without an area (`GB`,
 * `Japan`, `GMT`, `EST`, `CET`) are links Intl knows, refused by isKnownTimeZone with the abbreviations they look
 * like (`EST` is UTC−05:00 all year, not New York's time): saying "not an IANA time zone" of them was untrue, so the
 * answer names the zone the alias stands for, which the caller can send instead.
 */
export function timeZoneProblem(timezone: string): string | undefined {
  if (isKnownTimeZone(timezone)) return undefined;
  const target = /^[A-Z][A-Z0-9_+-]*$/i.test(timezone) ? intlZoneOf(timezone) : undefined;
  if (target === undefined) return "is not an IANA time zone this service knows (e.g. Europe/Berlin, UTC)";
  // Within the API's issue clip (MAX_ISSUE_TEXT, 200), the remedy first: the reason is in docs/API.md.
  return `is an IANA alias without an area, not taken here (it reads as an abbreviation): send ${target}, the zone it stands for, or the Area/City zone whose local time you mean`;
}
