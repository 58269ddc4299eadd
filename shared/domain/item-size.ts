import { SWEEP_SHARD_ATTRIBUTE } from "./sweep.js";
import type { TaskRecord } from "./task.js";

/** DynamoDB's item size limit: 400 KB, counted as 400 × 1024 bytes of attribute names and values. */
export const MAX_ITEM_BYTES = 400 * 1024;

/**
 * Room kept for what a task item gains after it is written: timestamps, counters, `expiresAt`, `lastError` (a
 * short status or network error; a blocked destination names its host, bounded by the URL cap), and, moved, its
 * successor's `rescheduledFrom` and `expiresAtFloor` (about 150 bytes) — well under 8 KiB.
 */
export const ITEM_GROWTH_BYTES = 8 * 1024;

/**
 * A number's size per AWS's documented rule is (1 byte per two significant digits) + 1, "approximately"; with at
 * most 38 significant digits that is 20 bytes, rounded up here to stay an upper bound.
 */
const MAX_NUMBER_BYTES = 21;

/**
 * An upper bound of the size DynamoDB counts for a task item as the store writes it (the task's attributes plus
 * the sweep index attribute), per "DynamoDB item sizes and formats": each attribute costs its name's UTF-8 bytes
 * plus its value's (a string's UTF-8 bytes, a number at most 21, a boolean or null 1).
 */
export function taskItemSizeBound(task: TaskRecord): number {
  let size = utf8(SWEEP_SHARD_ATTRIBUTE) + MAX_NUMBER_BYTES;
  for (const [name, value] of Object.entries(task)) {
    if (value === undefined) continue;
    size += utf8(name) + attributeValueBound(value);
  }
  return size;
}

function attributeValueBound(value: unknown): number {
  if (typeof value === "string") return utf8(value);
  if (typeof value === "number") return MAX_NUMBER_BYTES;
  if (typeof value === "boolean" || value === null) return 1;
  // A TaskRecord holds only scalars; anything else is sized by its JSON text, a generous bound.
  return utf8(JSON.stringify(value) ?? "");
}

function utf8(text: string): number {
  return Buffer.byteLength(text, "utf8");
}
