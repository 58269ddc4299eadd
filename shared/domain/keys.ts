import { createHash, getRandomValues } from "node:crypto";
import { monotonicFactory } from "ulid";
import { echoed } from "./echoed.js";
import { notWellFormed } from "./well-formed.js";

/**
 * Task ids carry the task's table key, so a GET or a relay can read a task with a strongly consistent GetItem
 * and a group's tasks can be read in order with a strongly consistent Query (no eventually consistent index
 * anywhere on the ordering path):
 *
 *   <topic>.<group>.<due ms base36>.<ulid>        e.g. demo.k3Jx0aQ9fT2bLw1c.mhx0z8ka.01JD3...
 *
 * `<group>` is 16 base64url chars of SHA-256(topic, group value), or `_` when the task is its own group. The
 * group value itself never appears in the id, so ids leak nothing from the content.
 */
const TASK_ID_PATTERN =
  /^([a-z][a-z0-9-]{0,23})\.([A-Za-z0-9_-]{16}|_)\.([0-9a-z]{1,11})\.([0-9A-HJKMNP-TV-Z]{26})$/;
const DUE_DIGITS = 15;
const ULID_PATTERN = "[0-9A-HJKMNP-TV-Z]{26}";
const SORT_KEY_PATTERN = new RegExp(`^\\d{${DUE_DIGITS}}#${ULID_PATTERN}$`);
const PARTITION_SUFFIX_PATTERN = new RegExp(`^([A-Za-z0-9_-]{16}|_${ULID_PATTERN})$`);

/** Whether `sk` is a task's sort key as makeTaskKey writes it (due digits, `#`, the ULID). */
export function isTaskSortKey(sk: string): boolean {
  return SORT_KEY_PATTERN.test(sk);
}

/** Whether `pk` is a task partition of `topic`: a group's (or a subscriber lane's) hash, or a lone task's ULID. */
export function isTaskPartitionOf(topic: string, pk: string): boolean {
  return pk.startsWith(`${topic}#`) && PARTITION_SUFFIX_PATTERN.test(pk.slice(topic.length + 1));
}

export interface TaskKey {
  readonly taskId: string;
  readonly topic: string;
  /** Partition key and FIFO MessageGroupId: every task of one ordering group shares it. */
  readonly pk: string;
  readonly sk: string;
  readonly dueAtMs: number;
  readonly ulid: string;
}

/**
 * ulid's own PRNG asks the OS for one byte per character (16 calls per id: 3-4 % of a single add's CPU). This one
 * draws the same CSPRNG's bytes 4 KiB at a time and hands them out one per call, as ulid expects: a fraction in
 * [0, 1) with 256 equally likely values, which ulid maps evenly onto its 32 characters.
 */
function pooledRandomFraction(): () => number {
  const pool = new Uint8Array(4096);
  let next = pool.length;
  return () => {
    if (next === pool.length) {
      getRandomValues(pool);
      next = 0;
    }
    return (pool[next++] as number) / 256;
  };
}

/**
 * Made on first use, not at import: a module-scope call is kept by the bundler in every function importing this
 * module (the store does, for the key helpers), and ulid with it, where only the adding ones mint ids.
 */
let nextUlid: ((nowMs: number) => string) | undefined;

/** A new ULID: time-ordered, and strictly increasing within this process even inside one millisecond. */
export function newUlid(nowMs: number): string {
  nextUlid ??= monotonicFactory(pooledRandomFraction());
  return nextUlid(nowMs);
}

export function groupHash(topic: string, groupValue: string): string {
  return createHash("sha256")
    .update(topic)
    .update("\u0000")
    .update(groupValue)
    .digest("base64url")
    .slice(0, 16);
}

export function groupPartitionKey(topic: string, groupValue: string | undefined, ulid: string): string {
  return partitionKeyOf(topic, groupValue === undefined ? undefined : groupHash(topic, groupValue), ulid);
}

/** A task's partition key from its group's hash (none: a group of its own). */
function partitionKeyOf(topic: string, hashOfGroup: string | undefined, ulid: string): string {
  return hashOfGroup === undefined ? `${topic}#_${ulid}` : `${topic}#${hashOfGroup}`;
}

export function sortKey(dueAtMs: number, ulid: string): string {
  return `${String(dueAtMs).padStart(DUE_DIGITS, "0")}#${ulid}`;
}

/** The highest sort key of anything due at or before `dueAtMs`. */
/** Orders items of one group as they must be delivered: by sort key (due time, then acceptance). */
export function bySortKey(a: { readonly sk: string }, b: { readonly sk: string }): number {
  return a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0;
}

export function sortKeyUpperBound(dueAtMs: number): string {
  return `${String(dueAtMs).padStart(DUE_DIGITS, "0")}#~`;
}

export function sortKeyLowerBound(dueAtMs: number): string {
  return `${String(Math.max(0, dueAtMs)).padStart(DUE_DIGITS, "0")}#`;
}

export function makeTaskKey(
  topic: string,
  groupValue: string | undefined,
  dueAtMs: number,
  ulid: string,
): TaskKey {
  // One SHA-256 for both the id and the partition key: this runs for every added task.
  const hashOfGroup = groupValue === undefined ? undefined : groupHash(topic, groupValue);
  return {
    taskId: `${topic}.${hashOfGroup ?? "_"}.${dueAtMs.toString(36)}.${ulid}`,
    topic,
    pk: partitionKeyOf(topic, hashOfGroup, ulid),
    sk: sortKey(dueAtMs, ulid),
    dueAtMs,
    ulid,
  };
}

/** Parses a task id back into its table key; undefined for anything that is not a well-formed id. */
export function parseTaskId(taskId: string): TaskKey | undefined {
  const match = TASK_ID_PATTERN.exec(taskId);
  if (!match) return undefined;
  const [, topic, group, due36, ulid] = match as unknown as [string, string, string, string, string];
  const dueAtMs = Number.parseInt(due36, 36);
  // Only the spelling makeTaskKey writes: `0mhx0z8ka` parses to the same due time, so it would name the same item
  // under another id — read, cancelled and replayed through it, yet "not_found" to a bulk replay, which matches
  // what it reads by the stored id.
  if (!Number.isSafeInteger(dueAtMs) || dueAtMs.toString(36) !== due36) return undefined;
  return {
    taskId,
    topic,
    pk: group === "_" ? `${topic}#_${ulid}` : `${topic}#${group}`,
    sk: sortKey(dueAtMs, ulid),
    dueAtMs,
    ulid,
  };
}

/**
 * The ordering group's value from the task content: strings, numbers and booleans form a group; an absent or
 * null field means the task is its own group. Objects and arrays are refused (returns an error string), and so is
 * a string holding a lone surrogate (well-formed.ts).
 */
export function groupValueOf(
  content: Record<string, unknown>,
  deliverBy: string | undefined,
): { ok: true; value: string | undefined } | { ok: false; error: string } {
  if (!deliverBy) return { ok: true, value: undefined };
  const raw = Object.hasOwn(content, deliverBy) ? content[deliverBy] : undefined;
  if (raw === undefined || raw === null) return { ok: true, value: undefined };
  if (typeof raw === "string" || typeof raw === "number" || typeof raw === "boolean") {
    const value = String(raw);
    if (value.length > 1024)
      return { ok: false, error: `content.${echoed(deliverBy)} must be at most 1024 characters` };
    // The value is stored and hashed (as UTF-8) into the task's key: half a surrogate pair has no UTF-8 form.
    const odd = notWellFormed(value);
    if (odd) return { ok: false, error: `content.${echoed(deliverBy)} ${odd}` };
    return { ok: true, value };
  }
  return {
    ok: false,
    error: `content.${echoed(deliverBy)} must be a string, number or boolean to order tasks by it`,
  };
}

/**
 * EventBridge Scheduler names allow 1–64 chars of [0-9a-zA-Z-_.]; a task id can be longer, so the schedule is
 * named after a hash of it (deterministic, so a retried CreateSchedule is idempotent).
 */
export function scheduleNameFor(taskId: string): string {
  return `t-${createHash("sha256").update(taskId).digest("base64url").slice(0, 40)}`;
}
