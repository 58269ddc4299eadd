import { monotonicFactory } from "ulid";
import { parseConfig } from "#shared/config/index.js";
import { applyRuntimeSettings } from "#shared/config/runtime-settings.js";
import { addTask } from "#shared/services/add-task.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { FakeScheduler, FakeTimerQueue, NOW } from "./fakes.js";

export const DAY_MS = 86_400_000;

/**
 * A fan-out topic `orders` (two subscribers) and a plain topic `demo`, both deployed with a 1-day retention that the
 * runtime document raised to 30 days: what the routes that read runtime settings are tested against. `addDeps`
 * adds under the runtime settings, as the add routes do.
 */
export function raisedRetention() {
  const deployed = parseConfig({
    name: "test",
    system: { allowedCallbackHosts: ["*"] },
    topics: {
      orders: {
        deliverBy: "order_id",
        retentionDays: 1,
        subscribers: [
          { id: "billing", url: "https://billing.example.com/hook" },
          { id: "audit", url: "https://audit.example.com/hook" },
        ],
      },
      demo: { deliverBy: "order_id", retentionDays: 1 },
    },
  });
  const raised = applyRuntimeSettings(deployed, {
    topics: { orders: { retentionDays: 30 }, demo: { retentionDays: 30 } },
  });
  if (!raised.ok) throw new Error(raised.problems.join("; "));
  const store = new MemoryTaskStore();
  const addDeps = {
    store,
    timerQueue: new FakeTimerQueue(),
    scheduler: new FakeScheduler(),
    config: raised.config,
    now: () => NOW,
    newUlid: monotonicFactory(),
  };
  return { deployed, runtime: raised.config, store, addDeps };
}

/**
 * A keyed fan-out add that wrote its parent but none of its copies (the add answered 503 "retry with the same key"):
 * the task is still to be delivered, though none of its copies exists. Returns the parent's id.
 */
export async function parentWithoutCopies(
  f: ReturnType<typeof raisedRetention>,
  idempotencyKey: string,
): Promise<string> {
  const putNew = f.store.putNew.bind(f.store);
  f.store.putNew = async (task, options) => {
    if (task.parentTaskId !== undefined) throw new Error("copy write failed");
    return putNew(task, options);
  };
  const body = {
    topic: "orders",
    delay_seconds: 10,
    idempotency_key: idempotencyKey,
    content: { order_id: "o-1" },
  };
  await addTask(f.addDeps, { body }).catch(() => undefined);
  f.store.putNew = putNew;
  const parent = [...f.store.tasks.values()].find((t) => t.fanOut);
  if (!parent) throw new Error("the add wrote no fan-out parent");
  return parent.taskId;
}
