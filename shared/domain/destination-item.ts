/**
 * Where a destination item (docs/CALLBACKS.md "Protecting receivers") lives in the task table, and when it leaves by its TTL. Apart from
 * destination.ts, and importing nothing: the task store writes these values, and every function that bundles the
 * store (the add routes too) would otherwise evaluate destination.ts's module-level patterns (http-date.ts), ~0.5 KB
 * of a bundle budget they sit at.
 */

/**
 * How long a destination item outlives its last use (a lease, a failure, a probe, a circuit opened or closed)
 * before the table's TTL removes it — closed circuits only (OPEN_CIRCUIT_HOLD_SECONDS). A closed circuit holds
 * nothing back: its expiry can only forget a count of consecutive failures below the threshold (a lease lasts
 * minutes), and a month keeps that count, and `last_error` for an operator, across any shorter pause. A removed
 * item is what a host never met reads as: closed, no failures, no leases.
 */
export const DESTINATION_IDLE_SECONDS = 30 * 86_400;

/**
 * What an open circuit adds to its item's expiry: a century, so the TTL sweep never reaches it while it holds
 * deliveries back. Kept on the item (`ttlHoldSeconds`) by the writes that open it, removed by the one that closes
 * it, so every other write sets `expiresAt = hold + its idle expiry` in its one UpdateItem without knowing the
 * circuit's state.
 */
export const OPEN_CIRCUIT_HOLD_SECONDS = 100 * 366 * 86_400;

/** The expiry (epoch seconds, the table's TTL attribute) of a closed destination item used at `nowMs`. */
export function destinationIdleExpiry(nowMs: number): number {
  return Math.floor(nowMs / 1000) + DESTINATION_IDLE_SECONDS;
}

/** The task table's partition holding one item per topic and callback host (shared/adapters/dynamo-task-store.ts). */
export const DESTINATION_PARTITION = "destination";
