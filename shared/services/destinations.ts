import type { DestinationStore } from "#shared/adapters/task-store.js";
import { decodeCursor, destinationCursorSchema, encodeCursor } from "#shared/api/cursor.js";
import { notFound, validationFailed } from "#shared/api/errors.js";
import type { DestinationResetResponse, DestinationView } from "#shared/api/schemas/destinations.js";
import {
  destinationResetQuerySchema,
  listDestinationsQuerySchema,
} from "#shared/api/schemas/destinations.js";
import type { PunctualConfig } from "#shared/config/index.js";
import { TOPIC_NAME_PATTERN } from "#shared/config/schema.js";
import {
  circuitState,
  type DestinationRecord,
  destinationHostOf,
  formerDestinationHostOf,
} from "#shared/domain/destination.js";
import { DESTINATION_PARTITION } from "#shared/domain/destination-item.js";
import { echoed } from "#shared/domain/echoed.js";
import { toIssues } from "#shared/domain/request-issues.js";
import { forEachBounded } from "#shared/runtime/async.js";

/** `GET /v1/destinations` (issue 14): every topic's circuits, a page at a time. */
export interface DestinationDeps {
  readonly store: Pick<DestinationStore, "listDestinations">;
  readonly now: () => number;
}

/**
 * `POST /v1/destinations/{host}/reset` (issue 14): a manual close, by key. The deployed topics are the only ones a
 * destination item can hold deliveries back for: the deliver function keys it by its delivery's topic (a fan-out
 * copy's is its parent's), and a runtime settings document cannot add a topic.
 */
export interface DestinationResetDeps {
  readonly store: Pick<DestinationStore, "getDestination" | "closeCircuit">;
  readonly config: Pick<PunctualConfig, "resolvedTopics">;
  readonly now: () => number;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function destinationView(record: DestinationRecord, nowMs: number): DestinationView {
  const state = circuitState(record, nowMs);
  return {
    topic: record.topic,
    host: record.host,
    state,
    failures: record.failures,
    opened_at: state === "closed" ? null : iso(record.openedAtMs),
    next_probe_at: state === "closed" ? null : iso(record.nextProbeAtMs),
    last_error: record.lastError ?? null,
    last_failure_at: iso(record.lastFailureAtMs),
    in_flight: Object.values(record.leases ?? {}).filter((expiresAt) => expiresAt > nowMs).length,
  };
}

/**
 * One page of every topic's hosts, in topic and host order (the partition's key order), `?state=open` only the
 * circuits that hold deliveries back. One Query of at most `limit` items (≤ 100) a page, whatever the partition
 * holds, and every destination reachable by following `next_cursor`. A page is far within Lambda's 6 MB answer:
 * a view is at most about 4 KB escaped (a host of DNS's 253 characters and a port, an error of 512 characters of
 * at most 7 bytes each once escaped twice), 400 KB for 100.
 */
export async function listDestinations(
  deps: DestinationDeps,
  rawQuery: Readonly<Record<string, string | undefined>> | undefined,
): Promise<{ destinations: DestinationView[]; next_cursor: string | null; truncated?: true }> {
  const raw = rawQuery ?? {};
  const parsed = listDestinationsQuerySchema.safeParse(raw);
  if (!parsed.success) throw validationFailed(toIssues(parsed.error.issues, raw));
  const { limit, cursor, state } = parsed.data;
  const binding = state ?? "all";
  const start = decodeCursor(cursor, destinationCursorSchema(DESTINATION_PARTITION, binding));
  const after = start && { pk: start.pk as string, sk: start.sk as string };
  const page = await deps.store.listDestinations({
    limit,
    ...(after && { after }),
    ...(state && { circuit: state }),
  });
  const now = deps.now();
  const next =
    page.next && encodeCursor({ pk: String(page.next.pk), sk: String(page.next.sk), state: binding });
  return {
    destinations: page.destinations.map((record) => destinationView(record, now)),
    next_cursor: next ?? null,
    // What clients written before pages read as "more exist": kept while they are still about.
    ...(next && { truncated: true as const }),
  };
}

/** GetItems in flight at once for a reset of every topic (a deployment has tens of topics, not thousands). */
const RESET_READS_IN_FLIGHT = 10;

/**
 * Closes the host's circuit on every topic (or on `topic`) and clears its failure count: its deliveries go at their
 * next receive (deliver functions see the change within their 2-second cache) — for a group already told to wait,
 * when that wait (the cool-down's time left) ends: only its receiver can change a message's visibility. 404 when no
 * topic has the host, or when `topic` (deployed or not) has no entry for it.
 *
 * Reads the host's key on each deployed topic (one GetItem each), not the destination partition: that holds every
 * host used in the last 30 days. A removed topic's item is left as it is unless `topic` names it (nothing delivers
 * on it any more; but a circuit it left open never expires, so closing it is how its entry is let go).
 */
export async function resetDestination(
  deps: DestinationResetDeps,
  rawHost: string | undefined,
  rawQuery: Readonly<Record<string, string | undefined>> = {},
): Promise<DestinationResetResponse> {
  // The query first, as on every route (the others' query guard runs before their handler looks at the path):
  // a 400 naming an unknown parameter whatever the host.
  const query = destinationResetQuerySchema.safeParse(rawQuery);
  if (!query.success) throw validationFailed(toIssues(query.error.issues, rawQuery));
  // As destinationHost keys it (`Hooks.Example.com.:8443`, `[::ffff:1.2.3.4]`): every host the list shows names itself,
  // and a NAT64 spelling its former key's item too (written before it was its IPv4 address's: formerDestinationHostOf).
  const host = destinationHostOf(rawHost ?? "");
  if (host === undefined) throw notFound("no such destination");
  const topic = query.data.topic;
  const topics = resetTopics(deps.config, topic);
  const former = formerDestinationHostOf(rawHost ?? "");
  const targets = [
    ...(await recordsOf(deps, host, topics)),
    ...(former ? await recordsOf(deps, former, topics) : []),
  ];
  if (targets.length === 0) throw noneFound(deps, topic);
  const destinations = await closeEach(deps, targets);
  if (destinations.length === 0) throw noneFound(deps, topic);
  return { host, destinations };
}

/**
 * Closes each entry read, and answers the ones it closed. An entry that expired between its read and its close
 * (closeCircuit finds none) is a host never met on that topic, as a read after would say: left out, not listed as
 * closed, and a reset that closed nothing is a 404 like one that read nothing. The view is of the entry as the
 * close met it (its last error, its leases), not as it was read.
 */
async function closeEach(
  deps: DestinationResetDeps,
  targets: readonly DestinationRecord[],
): Promise<DestinationView[]> {
  const now = deps.now();
  const destinations: DestinationView[] = [];
  for (const record of targets) {
    const before = await deps.store.closeCircuit(record.topic, record.host, now);
    if (before) destinations.push(destinationView({ ...before, failures: 0, circuit: "closed" }, now));
  }
  return destinations;
}

const noneFound = (deps: DestinationResetDeps, topic: string | undefined) =>
  topic !== undefined && !Object.hasOwn(deps.config.resolvedTopics, topic)
    ? notDeployed(topic)
    : notFound("no such destination");

/**
 * The topics a reset covers, in the order of their keys (`<topic>#<host>`, as the partition read listed them):
 * topic names are `[a-z0-9-]`, every one above `#`, so sorting the names sorts the keys. Without `topic`, the
 * deployed ones. With it, that topic, deployed or not: a topic removed from the configuration may have left a
 * circuit open, and an open circuit's entry never expires (docs/CALLBACKS.md "Protecting receivers"), so naming it is how that
 * entry is closed and left to expire. A name no topic can have is no destination (and reads nothing).
 */
function resetTopics(config: DestinationResetDeps["config"], topic: string | undefined): string[] {
  if (topic === undefined) return Object.keys(config.resolvedTopics).sort();
  if (!Object.hasOwn(config.resolvedTopics, topic) && !TOPIC_NAME_PATTERN.test(topic))
    throw notDeployed(topic);
  return [topic];
}

const notDeployed = (topic: string) =>
  notFound(`no such destination: topic "${echoed(topic)}" is not deployed, and has no entry for this host`);

/** The host's item on each topic that has one, in the topics' order. */
async function recordsOf(
  deps: DestinationResetDeps,
  host: string,
  topics: readonly string[],
): Promise<DestinationRecord[]> {
  const found = new Map<string, DestinationRecord>();
  await forEachBounded(topics, RESET_READS_IN_FLIGHT, async (topic) => {
    const record = await deps.store.getDestination(topic, host);
    if (record) found.set(topic, record);
  });
  return topics.flatMap((topic) => found.get(topic) ?? []);
}
