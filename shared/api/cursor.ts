/**
 * Opaque list cursors: base64url of DynamoDB's LastEvaluatedKey as JSON. A cursor is validated before it goes
 * anywhere near DynamoDB — exact attribute set, types, and the keys must belong to the list being read (the same
 * group partition, the same topic) — so a forged or stale cursor answers 400, never a DynamoDB ValidationException
 * (a 500). It is not signed: it only ever says where to resume inside a list the caller may read anyway. The
 * keys must have the form our tasks' keys have: a key of the right shape but past DynamoDB's key sizes (a sort
 * key over 1,024 bytes) is a ValidationException too.
 */
import { createHash } from "node:crypto";
import type { PageKey } from "#shared/adapters/task-store.js";
import { isTaskPartitionOf, isTaskSortKey } from "#shared/domain/keys.js";
import * as z from "#shared/zod.js";
import { validationFailed } from "./errors.js";
import { CURSOR_PATTERN } from "./schemas/next-cursor.js";

export function encodeCursor(key: PageKey | undefined): string | null {
  return key ? Buffer.from(JSON.stringify(key), "utf8").toString("base64url") : null;
}

const sortKey = z.string().check(z.refine(isTaskSortKey));

/**
 * A destination list's key (shared/services/destinations.ts): the `destination` partition and a `<topic>#<host>`
 * sort key, bound to the list's `state` filter (`all` without one). The host part is any run of printable ASCII
 * without `#`, up to 300 characters: every key the store ever wrote (a host is ASCII, at most DNS's 253 characters
 * and a port) can end a page and so must resume one, and no such key can pass DynamoDB's key limits. A cursor of
 * one filter resumed with another would skip that filter's entries before its position: a 400 like a forged one.
 */
export function destinationCursorSchema(partition: string, state: string) {
  return z.strictObject({
    pk: z.literal(partition),
    sk: z.string().check(z.regex(/^[a-z][a-z0-9-]{0,23}#[!-"$-~]{1,300}$/)),
    state: z.literal(state),
  });
}

/**
 * What a group list's cursors carry besides the key (`of`), since 2026-12-05: the group cancel's cursor schema,
 * strict, refuses a cursor with it. A list cursor is otherwise the shape of a cancel cursor an older release wrote
 * (before `since`), which must still resume its cancel; given to the cancel it would resume after the list's
 * position, leaving the group's tasks before it uncancelled while the last call answers `more: false`.
 */
const GROUP_LIST_MARK = { of: "list" } as const;

/**
 * The shape of a group list's cursor: the table's own keys, in that group's partition, and the list's mark
 * (GROUP_LIST_MARK; absent from the cursors the list gave out before it, still read).
 */
export function groupCursorSchema(pk: string) {
  return z.strictObject({ pk: z.literal(pk), sk: sortKey, of: z.optional(z.literal(GROUP_LIST_MARK.of)) });
}

/** A group list page's cursor: its last key, marked as the list's (GROUP_LIST_MARK). */
export function encodeGroupListCursor(key: PageKey | undefined): string | null {
  return encodeCursor(key && { ...key, ...GROUP_LIST_MARK });
}

/** Where a group list resumes: the cursor's key without the list's mark, which is no attribute of the table. */
export function decodeGroupListCursor(cursor: string | undefined, pk: string): PageKey | undefined {
  const start = decodeCursor(cursor, groupCursorSchema(pk));
  if (!start) return undefined;
  const { of: _mark, ...key } = start;
  return key;
}

/**
 * A group cancel's key: a group list's, and the clock its first call read less a margin (`since`): the moves made
 * since then, whose new ids may sort behind the cursor, are looked at by the calls after it (cancel-group.ts). A
 * cursor without `since` is one an older release gave out (read as a first call's); a list's marked cursor is
 * refused (GROUP_LIST_MARK).
 */
export function groupCancelCursorSchema(pk: string) {
  return z.strictObject({
    pk: z.literal(pk),
    sk: sortKey,
    since: z.optional(z.number().check(z.int(), z.gte(0))),
  });
}

/** The shape of a failed list's key: the index keys (that topic) and the table's keys (a task of that topic). */
export function failedCursorSchema(topic: string) {
  return z.strictObject({
    pk: z.string().check(z.refine((pk) => isTaskPartitionOf(topic, pk))),
    sk: sortKey,
    failedTopic: z.literal(topic),
    failedAtMs: z.number().check(z.int(), z.gte(0)),
  });
}

/**
 * A bulk replay's key: a failed list key bound to the filter that read it (`filter`: filterBinding of it). A
 * filter's cursor only says where that filter stopped: resumed with another filter it would silently skip the
 * other filter's matches before that position, so such a cursor is a 400 like any this list did not give out.
 */
export function replayCursorSchema(topic: string, filter: string, failedFromMs?: number) {
  // `until`: when the run's first call started; the run replays what had failed by then (replay-topic.ts).
  const binding = { filter: z.literal(filter), until: z.number().check(z.int(), z.gte(0)) };
  return z.union([
    z.extend(failedCursorSchema(topic), binding).check(
      // The filter's `failed_after` is the Query's key condition, and DynamoDB refuses a start key outside it
      // (ValidationException): no page of that filter ends there, so such a cursor was not given out.
      z.refine((cursor) => failedFromMs === undefined || cursor.failedAtMs >= failedFromMs),
    ),
    // The run's start again: a first call that left a group's dead letters behind a stop reads them anew. Bound to
    // its topic (given out without it before 2026-12-06, and still read): another topic's was read as that topic's
    // run started then, which passed over every dead letter it had since, answering `next_cursor: null`.
    z.strictObject({ ...binding, topic: z.optional(z.literal(topic)) }),
  ]);
}

/**
 * A short digest of a filter's values (in a fixed order), so binding costs every cursor a few bytes however long
 * the filter's text. Not a secret: a caller who forges a cursor only chooses where its own list resumes.
 */
export function filterBinding(values: readonly (string | number | null)[]): string {
  return createHash("sha256").update(JSON.stringify(values)).digest("base64url").slice(0, 22);
}

export function decodeCursor(
  cursor: string | undefined,
  schema: z.core.$ZodType<PageKey>,
): PageKey | undefined {
  if (cursor === undefined) return undefined;
  const invalid = () =>
    validationFailed([{ path: "cursor", message: "not a cursor this list gave out" }], "invalid cursor");
  if (!CURSOR_PATTERN.test(cursor)) throw invalid();
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  const parsed = z.safeParse(schema, json);
  if (!parsed.success) throw invalid();
  return parsed.data;
}
