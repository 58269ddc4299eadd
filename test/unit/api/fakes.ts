import { Logger } from "@aws-lambda-powertools/logger";
import { monotonicFactory } from "ulid";
import type { TaskScheduleRequest, TaskScheduler } from "#shared/adapters/task-scheduler.js";
import type { TimerArm, TimerQueue } from "#shared/adapters/timer-queue.js";
import { type PunctualConfig, parseConfig, type TopicOverrides } from "#shared/config/index.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";

/** A fixed instant well inside the ULID/time range, on a whole second so delay maths is easy to read. */
export const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

export class FakeTimerQueue implements TimerQueue {
  readonly armed: TimerArm[] = [];
  failNext = 0;
  async arm(taskId: string, delaySeconds: number): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw Object.assign(new Error("SQS is down (arn:aws:sqs:eu-west-1:123456789012:timer)"), {
        name: "ServiceUnavailable",
      });
    }
    this.armed.push({ taskId, delaySeconds });
  }
  /** Per-entry results, as SendMessageBatch's: an entry that fails is reported by id, the others are sent. */
  async armMany(items: readonly TimerArm[]): Promise<string[]> {
    this.armManyCalls++;
    const failed: string[] = [];
    for (const item of items) {
      await this.arm(item.taskId, item.delaySeconds).catch(() => failed.push(item.taskId));
    }
    return failed;
  }
  armManyCalls = 0;
}

export class FakeScheduler implements TaskScheduler {
  readonly created: TaskScheduleRequest[] = [];
  readonly deleted: string[] = [];
  failCreate = false;
  failDelete = false;
  async createTaskSchedule(request: TaskScheduleRequest): Promise<void> {
    if (this.failCreate) throw Object.assign(new Error("throttled"), { name: "ThrottlingException" });
    this.created.push(request);
  }
  async deleteTaskSchedule(name: string): Promise<void> {
    if (this.failDelete) throw new Error("scheduler unavailable");
    this.deleted.push(name);
  }
}

/** The unit tests' configuration; `extraTopics` adds topics a test needs besides these (a fan-out one, say). */
export function testConfig(extraTopics: Readonly<Record<string, TopicOverrides>> = {}): PunctualConfig {
  return parseConfig({
    name: "test",
    system: { allowedCallbackHosts: ["*", "127.0.0.1"], allowHttpCallbacks: false },
    timer: { horizonSeconds: 300, leadSeconds: 120 },
    topics: {
      demo: { deliverBy: "order_id" },
      small: { maxPayloadBytes: 100, maxDelaySeconds: 3600 },
      fallback: { defaultCallbackUrl: "https://default.example.com/hook" },
      strict: { allowedCallbackHosts: ["hooks.example.com"] },
      ...extraTopics,
    },
    services: { billing: "https://billing.example.com/api/v1" },
  });
}

export function silentLogger(): Logger {
  return new Logger({ serviceName: "punctual-test", logLevel: "SILENT" });
}

export function fixture(now = NOW) {
  const clock = { now };
  const store = new MemoryTaskStore();
  const timerQueue = new FakeTimerQueue();
  const scheduler = new FakeScheduler();
  const config = testConfig();
  return {
    clock,
    store,
    timerQueue,
    scheduler,
    config,
    // A fresh monotonic factory per fixture: ULID times then equal the fake clock, as they do in production.
    deps: { store, timerQueue, scheduler, config, now: () => clock.now, newUlid: monotonicFactory() },
  };
}
