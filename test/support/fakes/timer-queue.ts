import {
  RELAY_TIMEOUT_SECONDS,
  TIMER_QUEUE_MAX_RECEIVE_COUNT,
  visibilityTimeoutSeconds,
} from "#cdk/lib/sizing.js";
import type { TimerArm, TimerQueue } from "#shared/adapters/timer-queue.js";
import type { VisibilityChange } from "#shared/adapters/visibility.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import type { TimerRearm } from "#shared/services/relay.js";
import type { FakePointerQueue } from "./dead-letter-source.js";

/** The deployed visibility timeout (6 × the relay's timeout: 180 s). */
const TIMER_VISIBILITY_MS = visibilityTimeoutSeconds(RELAY_TIMEOUT_SECONDS) * 1000;
/** The deployed redrive (cdk/lib/sizing.ts). */
const TIMER_MAX_RECEIVES = TIMER_QUEUE_MAX_RECEIVE_COUNT;

export interface TimerQueueMessage {
  readonly id: number;
  readonly taskId: string;
  visibleAtMs: number;
  receives: number;
  /** The handle of its latest receive (a message never received has none). */
  receiptHandle?: string;
}

/**
 * The standard timer queue (the TimerQueue port, and the relay's TimerRearm view of it): per-message delay,
 * redelivery after the visibility timeout (or sooner: `retryAfter`, the relay's backoff), redrive to its DLQ after
 * too many receives. Hooks make an arm fail (`failNext`, `failTaskIds`) or be answered but never land (`dropNext`).
 */
export class FakeTimerQueue implements TimerQueue, TimerRearm {
  /** Messages in the queue (a received one stays, hidden, until removed). */
  readonly messages: TimerQueueMessage[] = [];
  /** Every arm that landed, in order. */
  readonly armed: TimerArm[] = [];
  /** Crash-point hook: this many sends fail (SQS error). */
  failNext = 0;
  /** Crash-point hook: this many sends are answered 200 but never land. */
  dropNext = 0;
  /** Partial-failure hook: a batch arm reports these tasks as failed. */
  readonly failTaskIds = new Set<string>();
  /** Every visibility change asked for (`retryAfter`), in order. */
  readonly visibilityChanges: VisibilityChange[] = [];
  private next = 0;

  constructor(
    private readonly now: () => number = () => 0,
    private readonly dlq?: FakePointerQueue,
  ) {}

  async arm(taskId: string, delaySeconds: number): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw Object.assign(new Error("SQS is down"), { name: "ServiceUnavailable" });
    }
    if (this.dropNext > 0) {
      this.dropNext--;
      return;
    }
    this.armed.push({ taskId, delaySeconds });
    this.messages.push({
      id: ++this.next,
      taskId,
      visibleAtMs: this.now() + delaySeconds * 1000,
      receives: 0,
    });
  }

  async armMany(items: readonly TimerArm[]): Promise<string[]> {
    const failed: string[] = [];
    for (const item of items) {
      if (this.failTaskIds.has(item.taskId)) failed.push(item.taskId);
      else await this.arm(item.taskId, item.delaySeconds);
    }
    return failed;
  }

  async rearm(entries: readonly TimerArm[]): Promise<{ failedTaskIds: string[] }> {
    return { failedTaskIds: await this.armMany(entries) };
  }

  /**
   * ChangeMessageVisibility by receipt handle, from now. Only an in-flight message's latest handle is honoured: one
   * from an earlier receive (a relay that outlived its hold), of a message visible again or since removed changes
   * nothing and is reported, as SQS's MessageNotInflight / ReceiptHandleIsInvalid entries are. (What SQS does with
   * an earlier receive's handle is not documented; the deployed relay cannot send one, its 30 s timeout ending well
   * inside its 180 s hold, and refusing it is the answer that changes nothing.)
   */
  async retryAfter(changes: readonly VisibilityChange[]): Promise<{ failed: string[] }> {
    this.visibilityChanges.push(...changes);
    const failed: string[] = [];
    for (const change of changes) {
      const message = this.messages.find(
        (m) => m.receiptHandle === change.receiptHandle && m.visibleAtMs > this.now(),
      );
      if (message) message.visibleAtMs = this.now() + change.seconds * 1000;
      else failed.push(change.receiptHandle);
    }
    return { failed };
  }

  /** Messages visible now, marked received (hidden for the visibility timeout); over-received ones redrive. */
  receive(): TimerQueueMessage[] {
    const visible = this.messages.filter((m) => m.visibleAtMs <= this.now());
    for (const m of visible) {
      m.receives++;
      m.visibleAtMs = this.now() + TIMER_VISIBILITY_MS;
      m.receiptHandle = `${m.id}#${m.receives}`;
    }
    for (const m of visible.filter((v) => v.receives > TIMER_MAX_RECEIVES)) {
      this.remove(m.id);
      this.dlq?.put(taskMessageBody(m.taskId));
    }
    return visible.filter((m) => m.receives <= TIMER_MAX_RECEIVES);
  }

  remove(id: number): void {
    const index = this.messages.findIndex((m) => m.id === id);
    if (index >= 0) this.messages.splice(index, 1);
  }

  lose(taskId?: string): void {
    for (const m of [...this.messages]) if (!taskId || m.taskId === taskId) this.remove(m.id);
  }
}
