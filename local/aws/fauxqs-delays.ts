/**
 * fauxqs's delayed messages on a standard queue, released without scanning every one of them on every tick.
 * fauxqs 1.9 keeps a standard queue's delayed messages in one array in send order and, on every receive and every
 * 20 ms while a long poll waits, walks the whole array and copies the ones still delayed into a new one. The timer
 * queue holds every near-term task until its due time (shared/adapters/timer-queue.ts), so a run that adds tens of
 * thousands of tasks a few minutes ahead spent the emulator thread re-reading them all 50 times a second: 9 % of that
 * thread in the bench's batch adds (~90,000 delayed), and growing with the backlog. Here the array is kept in due-time
 * order (a stable sort, so messages due at the same moment keep their send order) and each tick takes only the due
 * prefix; fauxqs's own `processTimers` then moves those, and the in-flight messages whose visibility ran out, exactly
 * as before. What a receiver sees changes only in the order of messages that fell due between two ticks: due-time
 * order, where fauxqs gave send order (a standard queue promises no order: "Standard queues provide best-effort
 * ordering", https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues.html).
 * FIFO queues (no per-message delay; local/aws/fauxqs-fifo.ts) are left to fauxqs.
 */
import { refuseUncheckedFauxqs } from "./fauxqs-fifo.js";

interface DelayedMessage {
  readonly delayUntil?: number;
}

interface StandardQueue {
  delayedMessages: DelayedMessage[];
  isFifo(): boolean;
}

/** How much of a queue's delayed array (this very array) is known to be in due-time order. */
const sortedPrefix = new WeakMap<StandardQueue, { readonly array: DelayedMessage[]; length: number }>();
let patched = false;

/** Replaces fauxqs's standard-queue timer pass (process-wide, once, before any queue is made). */
export async function releaseDelayedMessagesByDueTime(): Promise<void> {
  if (patched) return;
  refuseUncheckedFauxqs();
  const storeUrl = new URL("./sqs/sqsStore.js", import.meta.resolve("fauxqs"));
  const { SqsQueue } = (await import(storeUrl.href)) as { SqsQueue: { prototype: Record<string, unknown> } };
  const processTimers = SqsQueue?.prototype?.processTimers;
  if (typeof processTimers !== "function")
    throw new Error(
      "fauxqs changed: SqsQueue.processTimers is gone; local/aws/fauxqs-delays.ts needs a look",
    );
  SqsQueue.prototype.processTimers = function (this: StandardQueue) {
    if (this.isFifo()) return processTimers.call(this);
    const waiting = this.delayedMessages;
    // fauxqs's pass sees only the due ones (it moves them, and sets its array to those it kept), then gets the rest.
    this.delayedMessages = takeDue(this, waiting, Date.now());
    try {
      return processTimers.call(this);
    } finally {
      this.delayedMessages = withKeptBack(this.delayedMessages, waiting);
    }
  };
  patched = true;
}

/**
 * The delayed messages after fauxqs's pass: the rest, behind whatever of the due prefix that pass kept. It reads
 * the clock again, and Date.now is the wall clock, which can step back (an NTP correction) between our read and its
 * own: a message due by ours but not by its read stays in the array fauxqs was handed, and would be lost with it.
 * The same if the pass threw before moving all of them: one moved and also kept comes twice, as a standard queue
 * may deliver ("at-least-once message delivery",
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues.html), where lost it
 * would never come. The kept ones were due before any of the rest, so the order holds; the array is a new one,
 * which `inDueOrder` checks from the start once.
 */
function withKeptBack(kept: DelayedMessage[], rest: DelayedMessage[]): DelayedMessage[] {
  return kept.length === 0 ? rest : kept.concat(rest);
}

/** fauxqs treats a message without a delay as due. */
function dueOf(message: DelayedMessage): number {
  return message.delayUntil || 0;
}

/** Removes and returns the prefix of `waiting` that is due at `now`, keeping the rest in due-time order. */
function takeDue(queue: StandardQueue, waiting: DelayedMessage[], now: number): DelayedMessage[] {
  inDueOrder(queue, waiting);
  let low = 0;
  let high = waiting.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (dueOf(waiting[middle] as DelayedMessage) <= now) low = middle + 1;
    else high = middle;
  }
  const due = waiting.splice(0, low);
  (sortedPrefix.get(queue) as { length: number }).length -= low;
  return due;
}

/** Sorts what was sent since the last pass into place: nothing to do when it came in due order (the usual case). */
function inDueOrder(queue: StandardQueue, waiting: DelayedMessage[]): void {
  let known = sortedPrefix.get(queue);
  if (known?.array !== waiting) {
    // fauxqs replaced the array (a purge): nothing of it is known yet.
    known = { array: waiting, length: 0 };
    sortedPrefix.set(queue, known);
  }
  for (let i = Math.max(known.length, 1); i < waiting.length; i++) {
    if (dueOf(waiting[i] as DelayedMessage) < dueOf(waiting[i - 1] as DelayedMessage)) {
      // Array.prototype.sort is stable (ES2019): messages due together keep their send order.
      waiting.sort((a, b) => dueOf(a) - dueOf(b));
      break;
    }
  }
  known.length = waiting.length;
}
