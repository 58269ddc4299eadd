import { monotonicFactory } from "ulid";
import { describe, expect, it } from "vitest";
import { MAX_PAYLOAD_BYTES } from "#shared/config/schema.js";
import { MAX_CALLBACK_URL_LENGTH } from "#shared/domain/add-task-request.js";
import { ITEM_GROWTH_BYTES, MAX_ITEM_BYTES, taskItemSizeBound } from "#shared/domain/item-size.js";
import { addTask } from "#shared/services/add-task.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { FakeScheduler, FakeTimerQueue, NOW, testConfig } from "./fakes.js";

/** The longest topic name the configuration allows (TOPIC_NAME_PATTERN: 24 characters). */
const LONGEST_TOPIC = "abcdefghijklmnopqrstuvwx";
/** The longest group value (1,024 UTF-16 units), in the character with the most UTF-8 bytes per unit (3). */
const WIDEST_GROUP_VALUE = "€".repeat(1024);

/** Content of exactly `bytes` UTF-8 bytes as stored, its ordering field `g` holding the widest group value. */
function contentOf(bytes: number): Record<string, string> {
  const overhead = Buffer.byteLength(JSON.stringify({ g: WIDEST_GROUP_VALUE, p: "" }), "utf8");
  return { g: WIDEST_GROUP_VALUE, p: "x".repeat(bytes - overhead) };
}

describe("addTask: the item size check after the idempotency claim", () => {
  it("accepts the largest request every earlier check lets through: the 413 after the claim cannot leave a claim behind", async () => {
    // Prepare: every field the task item stores at the longest the request checks allow, on a Scheduler-path task
    // (which also stores its schedule's name)
    const config = testConfig({
      [LONGEST_TOPIC]: { maxPayloadBytes: MAX_PAYLOAD_BYTES, deliverBy: "g", maxDelaySeconds: 86_400 },
    });
    const store = new MemoryTaskStore();
    const deps = {
      store,
      timerQueue: new FakeTimerQueue(),
      scheduler: new FakeScheduler(),
      config,
      now: () => NOW,
      newUlid: monotonicFactory(),
    };
    const base = "https://hooks.example.com/";
    const url = `${base}${"a".repeat(MAX_CALLBACK_URL_LENGTH - base.length)}`;
    const key = "k".repeat(255);
    const content = contentOf(MAX_PAYLOAD_BYTES);
    expect(Buffer.byteLength(JSON.stringify(content), "utf8")).toBe(MAX_PAYLOAD_BYTES);

    // Act
    const added = await addTask(deps, {
      body: { topic: LONGEST_TOPIC, delay_seconds: 3600, content, callback: { url }, idempotency_key: key },
    });

    // Assess: accepted, and the stored task fits the room `checkItemSize` allows, so no accepted request reaches its
    // 413 once its key is claimed
    expect(added.statusCode).toBe(201);
    const stored = await store.get(added.body.task_id);
    if (!stored) throw new Error("the accepted task was not stored");
    expect(stored).toMatchObject({ callbackUrl: url, groupValue: WIDEST_GROUP_VALUE, timer: "schedule" });
    expect(taskItemSizeBound(stored)).toBeLessThanOrEqual(MAX_ITEM_BYTES - ITEM_GROWTH_BYTES);
  });

  it("accepts the largest request on a fan-out topic of ten subscribers with the longest URLs: parent and copies fit", async () => {
    // Prepare: the parent also stores each subscriber's link (id, copy id, URL)
    const base = "https://hooks.example.com/";
    const subscribers = Array.from({ length: 10 }, (_, i) => ({
      id: `s${i}-${"x".repeat(29)}`,
      url: `${base}${i}${"a".repeat(MAX_CALLBACK_URL_LENGTH - base.length - 1)}`,
    }));
    const config = testConfig({
      [LONGEST_TOPIC]: {
        maxPayloadBytes: MAX_PAYLOAD_BYTES,
        deliverBy: "g",
        maxDelaySeconds: 86_400,
        subscribers,
      },
    });
    const store = new MemoryTaskStore();
    const deps = {
      store,
      timerQueue: new FakeTimerQueue(),
      scheduler: new FakeScheduler(),
      config,
      now: () => NOW,
      newUlid: monotonicFactory(),
    };

    // Act
    const added = await addTask(deps, {
      body: {
        topic: LONGEST_TOPIC,
        delay_seconds: 3600,
        content: contentOf(MAX_PAYLOAD_BYTES),
        idempotency_key: "k".repeat(255),
      },
    });

    // Assess
    expect(added.statusCode).toBe(201);
    expect(added.body.subscribers).toHaveLength(10);
    const parent = await store.get(added.body.task_id);
    if (!parent) throw new Error("the accepted parent was not stored");
    expect(taskItemSizeBound(parent)).toBeLessThanOrEqual(MAX_ITEM_BYTES - ITEM_GROWTH_BYTES);
  });
});
