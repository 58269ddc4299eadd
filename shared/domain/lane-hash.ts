import { createHash } from "node:crypto";

/**
 * The lane hash of one subscriber's copy of a group: 16 base64url chars like a group hash, but over a JSON array
 * starting with "fan-out". A group hash is over `<topic>\0<value>`, and a topic name starts with a letter, never
 * `[`: no group value a caller writes can name a subscriber's lane (that would put a parent, or another lane's
 * task, into the partition a relay reads for that lane). A task without a group gets a lane of its own per
 * subscriber, keyed by the parent's ULID.
 */
export function laneHash(
  topic: string,
  subscriber: string,
  groupValue: string | undefined,
  ulid: string,
): string {
  const lane =
    groupValue === undefined
      ? ["fan-out", topic, subscriber, "own", ulid]
      : ["fan-out", topic, subscriber, "group", groupValue];
  return createHash("sha256").update(JSON.stringify(lane)).digest("base64url").slice(0, 16);
}

/**
 * How every copy's task id in one subscriber's lane begins: `<topic>.<lane hash>.`, then its due time and ULID
 * (fan-out.ts `deliveryKey`). The client checks a lane cancel's answer by it.
 */
export function laneTaskIdPrefix(
  topic: string,
  subscriber: string,
  groupValue: string | undefined,
  ulid: string,
): string {
  return `${topic}.${laneHash(topic, subscriber, groupValue, ulid)}.`;
}
