import { refuseUncheckedFauxqs } from "./fauxqs-fifo.js";

/**
 * fauxqs's FIFO deduplication, scoped as the queue's `DeduplicationScope` says. SQS deduplicates within a message
 * group when it is `messageGroup` (the topic queues' setting, for high-throughput FIFO) and across the queue when
 * it is `queue`, the default (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
 * fauxqs 1.9 keeps one cache per queue whatever the scope, so locally an id sent again in another group was
 * accepted and dropped where SQS delivers it: a defect that counted on deduplication across groups could not show.
 *
 * fauxqs checks an id before it knows the message (`checkDeduplication(id)`), then records it and enqueues the
 * message it made; the group is known only then. So for a `messageGroup` queue the check passes, the record notes
 * which message is being sent, and `enqueue` drops that message if its group saw the id within 5 minutes: the
 * sender's answer is a success, as SQS's is for a duplicate (it names the new message id, where SQS may name the
 * first one's). A message moved by fauxqs (to a dead-letter queue) was never recorded, so it is never dropped.
 */
interface DedupQueue {
  readonly attributes: Record<string, string>;
}

interface Message {
  readonly messageId: string;
  readonly messageGroupId?: string;
}

type Method = (this: DedupQueue, ...args: never[]) => unknown;
interface Prototype {
  checkDeduplication: Method;
  recordDeduplication: Method;
  enqueue: Method;
}

/** SQS's deduplication interval. */
const DEDUP_WINDOW_MS = 5 * 60 * 1000;
/** At most as many ids per queue as fauxqs's own cache keeps (a bench run sends far more within 5 minutes). */
const MAX_REMEMBERED = 10_000;

let patched = false;

/** Replaces fauxqs's deduplication for `messageGroup` queues (process-wide, once, before any queue is made). */
export async function deduplicateWithinGroupsAsSqsDoes(): Promise<void> {
  if (patched) return;
  refuseUncheckedFauxqs();
  const storeUrl = new URL("./sqs/sqsStore.js", import.meta.resolve("fauxqs"));
  const { SqsQueue } = (await import(storeUrl.href)) as { SqsQueue: { prototype: Prototype } };
  const proto = SqsQueue.prototype;
  const { checkDeduplication, recordDeduplication, enqueue } = proto;
  if (![checkDeduplication, recordDeduplication, enqueue].every((f) => typeof f === "function"))
    throw new Error(
      "fauxqs changed: its deduplication methods are gone; local/aws/fauxqs-dedup.ts needs a look",
    );
  const sending = new WeakMap<DedupQueue, { dedupId: string; messageId: string }>();
  const seen = new WeakMap<DedupQueue, Map<string, number>>();
  proto.checkDeduplication = function (this: DedupQueue, ...args: never[]) {
    return byGroup(this) ? { isDuplicate: false } : checkDeduplication.apply(this, args);
  };
  proto.recordDeduplication = function (this: DedupQueue, ...args: never[]) {
    if (!byGroup(this)) return recordDeduplication.apply(this, args);
    const [dedupId, messageId] = args as unknown as [string, string];
    sending.set(this, { dedupId, messageId });
    return undefined;
  };
  proto.enqueue = function (this: DedupQueue, ...args: never[]) {
    const [message] = args as unknown as [Message];
    const send = sending.get(this);
    if (send?.messageId === message.messageId) {
      sending.delete(this);
      if (repeated(seen, this, `${message.messageGroupId ?? ""}\u0000${send.dedupId}`)) return undefined;
    }
    return enqueue.apply(this, args);
  };
  patched = true;
}

function byGroup(queue: DedupQueue): boolean {
  return queue.attributes.DeduplicationScope === "messageGroup";
}

/**
 * Whether `key` was sent within the interval; records it when not. Expired keys are forgotten as it goes, and the
 * oldest past MAX_REMEMBERED, as fauxqs forgets them.
 */
function repeated(seen: WeakMap<DedupQueue, Map<string, number>>, queue: DedupQueue, key: string): boolean {
  const now = Date.now();
  let sent = seen.get(queue);
  if (!sent) {
    sent = new Map();
    seen.set(queue, sent);
  }
  for (const [old, at] of sent) {
    // Kept in order of sending: the rest are younger.
    if (at + DEDUP_WINDOW_MS > now && sent.size < MAX_REMEMBERED) break;
    sent.delete(old);
  }
  const at = sent.get(key);
  if (at !== undefined && at + DEDUP_WINDOW_MS > now) return true;
  sent.delete(key); // an expired one goes to the end, keeping the order of sending
  sent.set(key, now);
  return false;
}
