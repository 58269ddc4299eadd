import type { DestinationListQuery, DestinationPage, DestinationStore } from "#shared/adapters/task-store.js";
import type { DestinationRecord } from "#shared/domain/destination.js";
import { destinationIdleExpiry, OPEN_CIRCUIT_HOLD_SECONDS } from "#shared/domain/destination-item.js";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The destination half of the task store in memory, with the DynamoDB store's conditional semantics: an atomic
 * per-second counter refused at the rate, lease slots with expiries, one elected prober. And its expiry: every write
 * that uses an item moves it (an open circuit's by its century-long hold), a write at or past it finds a host never
 * met, and so do the reads once `nowSeconds` (the reads' clock, as the table store's) is given; without it, the reads
 * never expire an item.
 */
export class MemoryDestinations implements DestinationStore {
  readonly items = new Map<string, Mutable<DestinationRecord> & { leases: Record<number, number> }>();
  readonly rateCounts = new Map<string, number>();
  /** What was read, in order: `<topic>#<host>` per getDestination, `page:<circuit or all>` per listDestinations. */
  readonly reads: string[] = [];
  /** Each item's expiry (epoch seconds), as the table's `expiresAt`. */
  readonly expiries = new Map<string, number>();

  constructor(private readonly nowSeconds: () => number | undefined = () => undefined) {}

  private expired(key: string, nowSeconds: number | undefined): boolean {
    const expiresAt = this.expiries.get(key);
    return nowSeconds !== undefined && expiresAt !== undefined && expiresAt <= nowSeconds;
  }

  /** The item as the reads see it: none once expired by the reads' clock. */
  private live(key: string) {
    return this.expired(key, this.nowSeconds()) ? undefined : this.items.get(key);
  }

  /** A write's use of the item at `nowMs`: its expiry moves to its idle time, beyond it while the circuit is open. */
  private used(topic: string, host: string, nowMs: number) {
    const item = this.item(topic, host, nowMs);
    const hold = item.circuit === "open" ? OPEN_CIRCUIT_HOLD_SECONDS : 0;
    this.expiries.set(`${topic}#${host}`, destinationIdleExpiry(nowMs) + hold);
    return item;
  }

  /** The item a write at `nowMs` meets: a fresh one where there was none, or where it had expired. */
  private item(topic: string, host: string, nowMs?: number) {
    const key = `${topic}#${host}`;
    let item = this.items.get(key);
    if (!item || (nowMs !== undefined && this.expired(key, Math.floor(nowMs / 1000)))) {
      item = { topic, host, failures: 0, circuit: "closed", leases: {} };
      this.items.set(key, item);
      this.expiries.delete(key);
    }
    return item;
  }

  async getDestination(topic: string, host: string): Promise<DestinationRecord | undefined> {
    this.reads.push(`${topic}#${host}`);
    const item = this.live(`${topic}#${host}`);
    return item && structuredClone(item);
  }

  /**
   * As DynamoDB's Query: key order, `limit` items evaluated after `after`, then the filter; `next` = last evaluated
   * whenever `limit` items were (DynamoDB stops there without looking further, so a page ending on the partition's
   * last item has a `next` too, and the page after it is empty).
   */
  async listDestinations({ limit, after, circuit }: DestinationListQuery): Promise<DestinationPage> {
    this.reads.push(`page:${circuit ?? "all"}`);
    const keys = [...this.items.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const from = after === undefined ? 0 : keys.findIndex((key) => key > String(after.sk));
    const evaluated = from < 0 ? [] : keys.slice(from, from + limit);
    const kept = evaluated.flatMap((key) => {
      const item = this.live(key);
      const open = item?.circuit === "open";
      return item && (circuit === undefined || open === (circuit === "open")) ? [structuredClone(item)] : [];
    });
    const last = evaluated.at(-1);
    return last !== undefined && evaluated.length === limit
      ? { destinations: kept, next: { pk: "destination", sk: last } }
      : { destinations: kept };
  }

  async takeRateToken(topic: string, host: string, second: number, rate: number): Promise<boolean> {
    const key = `${topic}#${host}#${second}`;
    const count = this.rateCounts.get(key) ?? 0;
    if (count >= rate) return false;
    this.rateCounts.set(key, count + 1);
    return true;
  }

  async acquireLease(
    topic: string,
    host: string,
    max: number,
    nowMs: number,
    expiresAtMs: number,
  ): Promise<number | undefined> {
    const item = this.item(topic, host, nowMs);
    for (let slot = 0; slot < max; slot++) {
      if ((item.leases[slot] ?? 0) <= nowMs) {
        this.used(topic, host, nowMs).leases[slot] = expiresAtMs;
        return slot;
      }
    }
    return undefined;
  }

  async releaseLease(topic: string, host: string, slot: number, expiresAtMs: number): Promise<void> {
    const item = this.items.get(`${topic}#${host}`);
    if (item?.leases[slot] === expiresAtMs) delete item.leases[slot];
  }

  async recordDestinationFailure(
    topic: string,
    host: string,
    nowMs: number,
    error: string,
  ): Promise<DestinationRecord> {
    const item = this.used(topic, host, nowMs);
    item.failures += 1;
    item.lastError = error;
    item.lastFailureAtMs = nowMs;
    return structuredClone(item);
  }

  async openCircuit(
    topic: string,
    host: string,
    nowMs: number,
    nextProbeAtMs: number,
    ownProbeUntilMs?: number,
    failuresAtLeast?: number,
  ): Promise<"opened" | "reopened" | "closed"> {
    // A close since the caller's count (a reset, a success) zeroed it: no opening on a count that no longer stands
    // (nor an item written where there was none, as the table's refused write writes nothing).
    const key = `${topic}#${host}`;
    const met = this.expired(key, Math.floor(nowMs / 1000)) ? undefined : this.items.get(key);
    if (met?.circuit !== "open" && failuresAtLeast !== undefined && (met?.failures ?? 0) < failuresAtLeast)
      return "closed";
    const item = this.item(topic, host, nowMs);
    const was = item.circuit;
    if (was !== "open") {
      item.circuit = "open";
      item.openedAtMs = nowMs;
      delete item.probeUntilMs;
    } else if (ownProbeUntilMs !== undefined && item.probeUntilMs === ownProbeUntilMs) {
      delete item.probeUntilMs;
    }
    item.nextProbeAtMs = nextProbeAtMs;
    this.used(topic, host, nowMs);
    return was === "open" ? "reopened" : "opened";
  }

  async claimProbe(topic: string, host: string, nowMs: number, untilMs: number): Promise<boolean> {
    const item = this.items.get(`${topic}#${host}`);
    if (item?.circuit !== "open" || (item.nextProbeAtMs ?? 0) > nowMs) return false;
    if ((item.probeUntilMs ?? 0) > nowMs) return false;
    item.probeUntilMs = untilMs;
    this.used(topic, host, nowMs);
    return true;
  }

  async releaseProbe(topic: string, host: string, untilMs: number): Promise<void> {
    const item = this.items.get(`${topic}#${host}`);
    if (item?.probeUntilMs === untilMs) delete item.probeUntilMs;
  }

  async closeCircuit(topic: string, host: string, nowMs: number): Promise<DestinationRecord | undefined> {
    const key = `${topic}#${host}`;
    const item = this.items.get(key);
    if (!item || this.expired(key, Math.floor(nowMs / 1000))) return undefined;
    const before = structuredClone(item);
    item.failures = 0;
    item.circuit = "closed";
    delete item.openedAtMs;
    delete item.nextProbeAtMs;
    delete item.probeUntilMs;
    this.used(topic, host, nowMs);
    return before;
  }
}
