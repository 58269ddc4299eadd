import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { monotonicFactory } from "ulid";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type HttpError, toHttpError } from "#shared/api/errors.js";
import { fanOutTaskView } from "#shared/api/fan-out-view.js";
import { parseConfig, type TopicConfig } from "#shared/config/index.js";
import { applyRuntimeSettings } from "#shared/config/runtime-settings.js";
import { aggregateStatus, deliveryKey, expandFanOut, laneHash } from "#shared/domain/fan-out.js";
import { groupHash, parseTaskId } from "#shared/domain/keys.js";
import { scheduledGraceMs, stalledAfterMs, sweepShardOf } from "#shared/domain/sweep.js";
import { finishedExpiry, retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { CallbackSigner, subscriberSigningKey } from "#shared/security/signing.js";
import { addTask, claimExpiry } from "#shared/services/add-task.js";
import { addTasksBatch } from "#shared/services/add-tasks-batch.js";
import { cancelGroup } from "#shared/services/cancel-group.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { deadLetterTask } from "#shared/services/dead-letter.js";
import { callbackRequest } from "#shared/services/deliver/callback-request.js";
import { getTask } from "#shared/services/get-task.js";
import { listTasks } from "#shared/services/list-tasks.js";
import { type RelayDeps, relayTimerMessages } from "#shared/services/relay.js";
import { replayTask } from "#shared/services/replay-task.js";
import { replayTopic } from "#shared/services/replay-topic.js";
import { rescheduleTask, runTask } from "#shared/services/reschedule-task.js";
import { parseCreateSchedule } from "#shared/services/schedules/request.js";
import { sweep } from "#shared/services/sweeper/index.js";
import type { SweeperDeps } from "#shared/services/sweeper/types.js";
import { ManualClock } from "../../support/clock.js";
import { makeTask, timerMessage } from "../../support/factories.js";
import { FakeTimerQueue as RelayTimer } from "../../support/fakes/timer-queue.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { afterRoundTrip, hangs, invocation } from "../../support/invocation.js";
import { memoryLogger } from "../../support/logger.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { refusal } from "../../support/refusal.js";
import { FakeScheduler, FakeTimerQueue, NOW } from "../api/fakes.js";

const SUBSCRIBERS = [
  { id: "billing", url: "https://billing.example.com/hook" },
  { id: "audit", url: "https://audit.example.com/hook" },
  { id: "search", url: "https://search.example.com/hook" },
];
const QUEUE = "https://sqs.test/orders.fifo";
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

function setup(options: { readonly sweeper?: { readonly indexNearTermTasks: boolean } } = {}) {
  const config = parseConfig({
    name: "test",
    system: { allowedCallbackHosts: ["*"] },
    topics: { orders: { deliverBy: "order_id", subscribers: SUBSCRIBERS }, demo: { deliverBy: "order_id" } },
    ...(options.sweeper && { sweeper: options.sweeper }),
  });
  const store = new MemoryTaskStore();
  const timerQueue = new FakeTimerQueue();
  const scheduler = new FakeScheduler();
  const topicQueue = new FakeTopicQueue(() => NOW);
  const deps = { store, timerQueue, scheduler, config, now: () => NOW, newUlid: monotonicFactory() };
  const replayDeps = { store, topicQueue, topicQueues: { orders: QUEUE, demo: QUEUE }, now: () => NOW };
  return { config, store, timerQueue, scheduler, topicQueue, deps, replayDeps };
}

const orderBody = (extra: Record<string, unknown> = {}) => ({
  topic: "orders",
  delay_seconds: 10,
  content: { order_id: "o-1", total: 1.0 },
  ...extra,
});

/** Adds one fan-out task and answers the parent and its copies as stored. */
async function addOrder(f: ReturnType<typeof setup>, extra: Record<string, unknown> = {}) {
  const result = await addTask(f.deps, { body: orderBody(extra) });
  const parent = (await f.store.get(result.body.task_id)) as TaskRecord;
  const copies = await Promise.all(
    (parent.fanOut ?? []).map(async (l) => (await f.store.get(l.taskId)) as TaskRecord),
  );
  return { result, parent, copies };
}

/** A copy as written before copies were kept to their parent's TTL (withParentFloor). */
function withoutFloor(copy: TaskRecord): TaskRecord {
  const { expiresAtFloor: _floor, ...legacy } = copy;
  return legacy;
}

/** Dead-letters one copy as deliver would after its last attempt. */
async function deadLetter(f: ReturnType<typeof setup>, copy: TaskRecord) {
  const started = await f.store.startAttempt(copy.taskId, NOW + 10_000);
  await deadLetterTask(
    { store: f.store, topicQueue: f.topicQueue },
    { dlqUrl: "https://sqs.test/orders-dlq.fifo", retentionDays: 1 },
    started ?? copy,
    "HTTP 500",
    () => NOW + 10_100,
  );
}

async function deliver(f: ReturnType<typeof setup>, copy: TaskRecord) {
  await f.store.startAttempt(copy.taskId, NOW + 10_000);
  await f.store.markDelivered(copy.taskId, {
    atMs: NOW + 10_050,
    latenessMs: 0,
    deliveryLatencyMs: 50,
    expiresAt: retentionExpiry(NOW + 10_050, 1),
  });
}

/** Delivers one copy as deliver does: its TTL the retention from then, no shorter than its floor (the parent's). */
async function deliverKept(f: ReturnType<typeof setup>, copy: TaskRecord) {
  await f.store.startAttempt(copy.taskId, NOW + 10_000);
  await f.store.markDelivered(copy.taskId, {
    atMs: NOW + 10_050,
    latenessMs: 0,
    deliveryLatencyMs: 50,
    expiresAt: finishedExpiry(copy, NOW + 10_050, 1),
  });
}

/** The relay over the fixture's store and topic queue, its clock at `atMs`. */
function relayAt(f: ReturnType<typeof setup>, atMs: number): RelayDeps {
  const clock = new ManualClock(atMs);
  return {
    store: f.store,
    topicQueue: f.topicQueue,
    timer: new RelayTimer(),
    topicQueueUrls: { orders: QUEUE },
    logger: memoryLogger(),
    clock: clock.now,
    sleep: clock.sleep,
  };
}

/** The sweeper over the fixture's store and topic queue for `config`'s `orders`, its clock at `atMs`. */
function sweeperAt(
  f: ReturnType<typeof setup>,
  config: ReturnType<typeof parseConfig>,
  atMs: number,
): SweeperDeps {
  const topic = config.resolvedTopics.orders as TopicConfig;
  return {
    store: f.store,
    topicQueue: f.topicQueue,
    timer: new RelayTimer(),
    topics: {
      orders: {
        config: topic,
        queueUrl: QUEUE,
        dlqUrl: "https://sqs.test/orders-dlq.fifo",
        stalledAfterMs: stalledAfterMs(topic, config.sweeper, {
          timeoutSeconds: 30,
          visibilityTimeoutSeconds: 180,
        }),
      },
    },
    scheduledGraceMs: (kind) => scheduledGraceMs(config, kind),
    logger: memoryLogger(),
    clock: () => atMs,
  };
}

describe("fan-out expansion", () => {
  it("gives each subscriber a task of its own: own id and lane, the parent's due time, ULID and content", () => {
    // Prepare
    const task = makeTask({
      topic: "orders",
      group: "o-1",
      dueAtMs: NOW + 10_000,
      acceptedAtMs: NOW,
      callbackUrl: "",
    });

    // Act
    const { parent, deliveries } = expandFanOut(task, SUBSCRIBERS);

    // Assess
    const parentKey = parseTaskId(task.taskId);
    const keys = deliveries.map((d) => parseTaskId(d.taskId));
    expect(new Set(deliveries.map((d) => d.pk)).size).toBe(3);
    expect(deliveries.map((d) => d.pk)).not.toContain(task.pk);
    expect(keys.map((k) => [k?.dueAtMs, k?.ulid])).toEqual(
      SUBSCRIBERS.map(() => [parentKey?.dueAtMs, parentKey?.ulid]),
    );
    expect(deliveries.map((d) => d.pk)).toEqual(
      SUBSCRIBERS.map((s) => `orders#${laneHash("orders", s.id, "o-1", "")}`),
    );
    expect(
      deliveries.map((d) => [d.subscriber, d.callbackUrl, d.parentTaskId, d.content, d.groupValue]),
    ).toEqual(SUBSCRIBERS.map((s) => [s.id, s.url, task.taskId, task.content, "o-1"]));
    expect(parent).toMatchObject({ taskId: task.taskId, callbackUrl: "", status: "scheduled" });
    expect(parent.fanOut).toEqual(
      deliveries.map((d) => ({ subscriber: d.subscriber, taskId: d.taskId, url: d.callbackUrl })),
    );
  });

  it("keeps the group per subscriber: two tasks of one group share each subscriber's lane, in acceptance order", () => {
    // Prepare
    const first = makeTask({ topic: "orders", group: "o-9", dueAtMs: NOW, acceptedAtMs: NOW });
    const second = makeTask({ topic: "orders", group: "o-9", dueAtMs: NOW, acceptedAtMs: NOW });

    // Act
    const a = expandFanOut(first, SUBSCRIBERS).deliveries;
    const b = expandFanOut(second, SUBSCRIBERS).deliveries;

    // Assess
    expect(a.map((d) => d.pk)).toEqual(b.map((d) => d.pk));
    expect(a.map((d, i) => d.sk < (b[i]?.sk ?? ""))).toEqual([true, true, true]);
  });

  it("gives a task without a group a lane of its own per subscriber, and no caller's group value names a lane", () => {
    // Prepare
    const own = makeTask({ topic: "orders", dueAtMs: NOW, acceptedAtMs: NOW });
    const parentKey = parseTaskId(own.taskId);
    if (!parentKey) throw new Error("bad key");

    // Act
    const lanes = SUBSCRIBERS.map((s) => deliveryKey(parentKey, undefined, s.id).pk);
    const crafted = `orders#${groupHash("orders", JSON.stringify(["fan-out", "orders", "billing", "group", "o-1"]))}`;

    // Assess
    expect(new Set(lanes).size).toBe(3);
    expect(lanes).not.toContain(own.pk);
    expect(crafted).not.toBe(`orders#${laneHash("orders", "billing", "o-1", parentKey.ulid)}`);
  });

  it("signs each copy with its subscriber's key, and names parent and subscriber in the signed body", () => {
    // Prepare
    const task = makeTask({ topic: "orders", group: "o-1", dueAtMs: NOW, acceptedAtMs: NOW });
    const [copy] = expandFanOut(task, SUBSCRIBERS).deliveries;
    if (!copy) throw new Error("no copy");
    const topicSigner = new CallbackSigner([SECRET]);

    // Act
    const request = callbackRequest(
      { started: { ...copy, attempts: 1 }, signer: topicSigner, startedAt: NOW },
      5_000,
    );

    // Assess
    const expected = new CallbackSigner([subscriberSigningKey(SECRET, "billing")]).sign(
      copy.taskId,
      new Date(NOW),
      request.body,
    );
    expect(request.headers["webhook-signature"]).toBe(expected["webhook-signature"]);
    expect(request.headers["webhook-id"]).toBe(copy.taskId);
    expect(request.headers["webhook-signature"]).not.toBe(
      topicSigner.sign(copy.taskId, new Date(NOW), request.body)["webhook-signature"],
    );
    expect(JSON.parse(request.body)).toMatchObject({
      task_id: copy.taskId,
      parent_task_id: task.taskId,
      subscriber: "billing",
    });
    expect(subscriberSigningKey(SECRET, "audit")).not.toBe(subscriberSigningKey(SECRET, "billing"));
  });
});

describe("fan-out add", () => {
  it("writes the parent and its near-term copies out of the sweep index, one armed copy per subscriber, and answers the parent", async () => {
    // Prepare
    const f = setup();

    // Act
    const { result, parent, copies } = await addOrder(f);

    // Assess
    expect(result).toMatchObject({ statusCode: 201, body: { task_id: parent.taskId, status: "scheduled" } });
    expect(result.body.subscribers).toEqual(copies.map((c) => ({ id: c.subscriber, task_id: c.taskId })));
    expect(parent.sweepShard).toBeUndefined();
    expect(parent.expiresAt).toBe(claimExpiry(parent.dueAtMs, f.config.resolvedTopics.orders as TopicConfig));
    expect(copies.map((c) => c.expiresAt)).toEqual([undefined, undefined, undefined]);
    // Issue 13.2: a near-term copy's timer message carries it, as a plain near-term task's does.
    expect(copies.map((c) => c.sweepShard)).toEqual([undefined, undefined, undefined]);
    expect(f.timerQueue.armed.map((a) => a.taskId)).toEqual(copies.map((c) => c.taskId));
    expect(f.timerQueue.armed.map((a) => a.taskId)).not.toContain(parent.taskId);
  });

  it("arms each copy with the time left until its due time when its timer is sent, not the time left at the add's start", async () => {
    // Prepare: the clock moves on a second with every write (the parent, then each copy)
    const f = setup();
    let clock = NOW;
    const putNew = f.store.putNew.bind(f.store);
    f.store.putNew = async (...args: Parameters<typeof putNew>) => {
      clock += 1_000;
      return putNew(...args);
    };
    const deps = { ...f.deps, now: () => clock };

    // Act
    const result = await addTask(deps, { body: orderBody({ delay_seconds: 30 }) });

    // Assess: four writes took four seconds, so 26 of the 30 are left when the timers go out
    expect(result.statusCode).toBe(201);
    expect(f.timerQueue.armed.map((a) => a.delaySeconds)).toEqual([26, 26, 26]);
  });

  it("refuses a task with its own callback on a fan-out topic (fan_out_callback) and writes nothing", async () => {
    // Prepare
    const f = setup();

    // Act
    const error = await refusal(
      addTask(f.deps, { body: orderBody({ callback: { url: "https://x.example.com/" } }) }),
    );

    // Assess
    expect(error).toMatchObject({ status: 400, code: "fan_out_callback" });
    expect(f.store.tasks.size).toBe(0);
    expect(f.timerQueue.armed).toEqual([]);
  });

  it("removes everything written when a timer cannot be armed (no idempotency key), and answers 503", async () => {
    // Prepare
    const f = setup();
    f.timerQueue.failNext = 1;

    // Act
    const error = await refusal(addTask(f.deps, { body: orderBody() }));

    // Assess
    expect(error).toMatchObject({ status: 503 });
    expect(f.store.tasks.size).toBe(0);
  });

  it("gives up a timer call that hangs into the function's deadline and cleans up as for a failed one: 503, nothing left without a key, unarmed copies indexed with one", async () => {
    // Prepare: audit's timer call never answers (a dropped connection); the invocation has 2.3 s left
    const f = setup();
    const arm = f.timerQueue.arm.bind(f.timerQueue);
    f.timerQueue.arm = (taskId, delay) =>
      f.store.tasks.get(taskId)?.subscriber === "audit"
        ? new Promise<void>(() => undefined)
        : arm(taskId, delay);
    const nearDeadline = () => {
      const deadline = Date.now() + 2_300;
      return { ...f.deps, timeLeftMs: () => deadline - Date.now() };
    };

    // Act
    const keyless = await refusal(addTask(nearDeadline(), { body: orderBody() }));
    const leftByKeyless = f.store.tasks.size;
    const keyed = await refusal(addTask(nearDeadline(), { body: orderBody({ idempotency_key: "k-hung" }) }));

    // Assess
    expect(keyless.status).toBe(503);
    expect(leftByKeyless).toBe(0);
    expect(keyed.status).toBe(503);
    const audit = [...f.store.tasks.values()].find((t) => t.subscriber === "audit");
    expect(audit).toMatchObject({ status: "scheduled", sweepShard: sweepShardOf(audit?.taskId as string) });
  });

  it("without a key, a copy relayed before the clean-up keeps its parent, and the 503 names the task and that subscriber", async () => {
    // Prepare: billing's timer cannot be armed; audit's is, and the relay forwards it at once (it is due now).
    const f = setup();
    f.timerQueue.failNext = 1;
    const arm = f.timerQueue.arm.bind(f.timerQueue);
    f.timerQueue.arm = async (taskId, delaySeconds) => {
      await arm(taskId, delaySeconds);
      if ((await f.store.get(taskId))?.subscriber === "audit") await f.store.markQueued(taskId, NOW);
    };

    // Act
    const error = await refusal(addTask(f.deps, { body: orderBody({ delay_seconds: 0 }) }));

    // Assess: the parent stays to show the copy that is on its way; the copies still scheduled are gone.
    const parentId = String(error.details?.task_id);
    expect(error).toMatchObject({ status: 503, details: { subscribers_delivering: "audit" } });
    expect(error.message).toContain("audit");
    const view = await getTask(f.deps, parentId);
    expect(view.subscribers?.map((s) => [s.id, s.status])).toEqual([
      ["billing", "missing"],
      ["audit", "queued"],
      ["search", "missing"],
    ]);
    expect(f.store.tasks.size).toBe(2);
  });

  it("without a key, answers 201 when a timer call's answer was lost but every copy's timer went out and each is on its way", async () => {
    // Prepare: every timer message is sent and relayed at once (due now); the first call's answer is lost
    const f = setup();
    const arm = f.timerQueue.arm.bind(f.timerQueue);
    let lost = 1;
    f.timerQueue.arm = async (taskId, delaySeconds) => {
      await arm(taskId, delaySeconds);
      await f.store.markQueued(taskId, NOW);
      if (lost-- > 0) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
    };

    // Act
    const added = await addTask(f.deps, { body: orderBody({ delay_seconds: 0 }) });

    // Assess: the task reaches every subscriber, so it was accepted: a 503 would have the client add it again,
    // every subscriber's callback twice (as for a plain task whose message went out, add-task.ts `removeUnarmed`)
    expect(added.statusCode).toBe(201);
    const view = await getTask(f.deps, added.body.task_id);
    expect(view.subscribers?.map((s) => [s.id, s.status])).toEqual([
      ["billing", "queued"],
      ["audit", "queued"],
      ["search", "queued"],
    ]);
    // ...and answered with the status its copies give it, as a read of it shows, not `scheduled`
    expect(added.body.status).toBe("queued");
    expect(view.status).toBe("queued");
  });

  it("without a key, a copy the clean-up cannot read back keeps its parent: it may be on its way", async () => {
    // Prepare: billing's timer cannot be armed; audit's is and is relayed at once (due now); then reading audit's
    // copy back fails, so the clean-up cannot tell whether its removal took it or it has gone on.
    const f = setup();
    f.timerQueue.failNext = 1;
    const arm = f.timerQueue.arm.bind(f.timerQueue);
    const get = f.store.get.bind(f.store);
    let audit: string | undefined;
    f.timerQueue.arm = async (taskId, delaySeconds) => {
      await arm(taskId, delaySeconds);
      if (f.store.tasks.get(taskId)?.subscriber !== "audit") return;
      audit = taskId;
      await f.store.markQueued(taskId, NOW);
    };
    f.store.get = async (taskId) => {
      if (taskId === audit) throw new Error("DynamoDB unavailable");
      return get(taskId);
    };

    // Act
    const error = await refusal(addTask(f.deps, { body: orderBody({ delay_seconds: 0 }) }));

    // Assess: audit's copy goes on to delivery, so the parent that shows it stays, as when its removal fails.
    expect(error.status).toBe(503);
    const copy = f.store.tasks.get(audit ?? "");
    expect(copy?.status).toBe("queued");
    expect([...f.store.tasks.values()].find((t) => t.fanOut)?.taskId).toBe(copy?.parentTaskId);
  });

  it("with an idempotency key, a retry after a failed arm completes every copy: the same ids, all armed", async () => {
    // Prepare
    const f = setup();
    f.timerQueue.failNext = 2;
    const body = orderBody({ idempotency_key: "k-1" });
    await refusal(addTask(f.deps, { body }));
    const kept = f.store.tasks.size;

    // Act
    const retried = await addTask(f.deps, { body });

    // Assess
    const parent = (await f.store.get(retried.body.task_id)) as TaskRecord;
    expect(kept).toBe(4);
    expect(retried.statusCode).toBe(200);
    expect(f.store.tasks.size).toBe(4);
    for (const link of parent.fanOut ?? [])
      expect(f.timerQueue.armed.map((a) => a.taskId)).toContain(link.taskId);
  });

  it("with an idempotency key, a retry after a delivered copy's retention ran out does not deliver it again", async () => {
    // Prepare: billing's copy was delivered and its item expired (TTL); the parent and its claim live longer. Copies
    // written before they were kept to their parent's TTL (withParentFloor): only such a copy expires before it.
    const f = setup();
    const body = orderBody({ idempotency_key: "k-expired" });
    const { parent, copies } = await addOrder(f, { idempotency_key: "k-expired" });
    for (const copy of copies) f.store.tasks.set(copy.taskId, withoutFloor(copy));
    const billing = copies[0] as TaskRecord;
    await deliver(f, billing);
    f.store.tasks.delete(billing.taskId);
    const retentionMs = (f.config.resolvedTopics.orders?.retentionDays ?? 0) * 86_400_000;
    const later = NOW + 10_000 + retentionMs;
    const armedBefore = f.timerQueue.armed.length;

    // Act
    const retried = await addTask({ ...f.deps, now: () => later }, { body });

    // Assess: the same task, billing's copy not recreated nor armed (only the others, still scheduled, re-armed).
    expect(retried).toMatchObject({ statusCode: 200, body: { task_id: parent.taskId } });
    expect(await f.store.get(billing.taskId)).toBeUndefined();
    expect(f.timerQueue.armed.slice(armedBefore).map((a) => a.taskId)).not.toContain(billing.taskId);
  });

  it("with an idempotency key, a retry after every copy's retention ran out is the plain task's 409, not a 200 `scheduled`", async () => {
    // Prepare: every copy delivered and expired (TTL); the parent and its claim live a day and more longer
    const f = setup();
    const body = orderBody({ idempotency_key: "k-all-expired" });
    const { copies } = await addOrder(f, { idempotency_key: "k-all-expired" });
    for (const copy of copies) {
      await deliver(f, copy);
      f.store.tasks.delete(copy.taskId);
    }
    const retentionMs = (f.config.resolvedTopics.orders?.retentionDays ?? 0) * 86_400_000;
    const armedBefore = f.timerQueue.armed.length;

    // Act
    const error = await refusal(addTask({ ...f.deps, now: () => NOW + 10_000 + retentionMs }, { body }));

    // Assess: as a plain task's repeat once it is gone; nothing recreated or armed
    expect(error.toBody().error).toMatchObject({
      code: "idempotency_conflict",
      message: expect.stringContaining("completed and expired"),
    });
    for (const copy of copies) expect(await f.store.get(copy.taskId)).toBeUndefined();
    expect(f.timerQueue.armed.length).toBe(armedBefore);
  });

  it("with an idempotency key, a retry after the retention but before the task is due recreates its unwritten copies: none can have finished and expired", async () => {
    // Prepare: a keyed task due in 10 days whose add stopped after the parent (no copy written, the caller told
    // 503 "retry with the same key"); the retry comes 4 days later, past the topic's 3-day retention. A copy is
    // finished at the earliest when due (a cancel of the parent stops the retry recreating it), so none has expired.
    const f = setup();
    const DAY_MS = 86_400_000;
    const body = orderBody({ idempotency_key: "k-far", delay_seconds: 10 * 86_400 });
    const { parent, copies } = await addOrder(f, { idempotency_key: "k-far", delay_seconds: 10 * 86_400 });
    for (const copy of copies) f.store.tasks.delete(copy.taskId);
    const later = NOW + 4 * DAY_MS;
    expect(later - NOW).toBeGreaterThan((f.config.resolvedTopics.orders?.retentionDays ?? 0) * DAY_MS);
    const deps = { ...f.deps, now: () => later };

    // Act
    const retried = await addTask(deps, { body });
    const view = await getTask(deps, parent.taskId);

    // Assess: the same task, every copy written again and scheduled, not "completed and expired"
    expect(retried).toMatchObject({ statusCode: 200, body: { task_id: parent.taskId, status: "scheduled" } });
    for (const copy of copies) expect(await f.store.get(copy.taskId)).toMatchObject({ status: "scheduled" });
    expect(view.subscribers?.map((s) => s.status)).toEqual(["scheduled", "scheduled", "scheduled"]);
  });

  it("a parent not yet due whose copies are not written is no task that completed and expired, past the retention after its acceptance", async () => {
    // Prepare: due in 10 days, its add stopped before the copies; read 4 days later (retention 3 days)
    const f = setup();
    const { parent, copies } = await addOrder(f, {
      content: { order_id: "g-far" },
      delay_seconds: 10 * 86_400,
    });
    for (const copy of copies) f.store.tasks.delete(copy.taskId);
    const deps = { ...f.deps, now: () => NOW + 4 * 86_400_000 };

    // Act
    const view = await getTask(deps, parent.taskId);
    const listed = await listTasks(deps, { topic: "orders", group: "g-far" });

    // Assess: still to come (its add's retry writes the copies), not a 404
    expect(view).toMatchObject({ task_id: parent.taskId, status: "scheduled" });
    expect(listed.tasks.map((t) => t.task_id)).toEqual([parent.taskId]);
  });

  it("with an idempotency key, a retry recreates a copy that is missing, exactly as it was", async () => {
    // Prepare
    const f = setup();
    const body = orderBody({ idempotency_key: "k-2" });
    const { parent, copies } = await addOrder(f, { idempotency_key: "k-2" });
    const lost = copies[1] as TaskRecord;
    await f.store.removeScheduled(lost.taskId);

    // Act
    const retried = await addTask(f.deps, { body });

    // Assess
    expect(retried.body.task_id).toBe(parent.taskId);
    expect(await f.store.get(lost.taskId)).toMatchObject({
      taskId: lost.taskId,
      callbackUrl: lost.callbackUrl,
      content: lost.content,
      subscriber: "audit",
      status: "scheduled",
    });
    // Exactly: nothing of the parent's own (its TTL above all: a copy waiting on a paused topic must not expire)
    expect(await f.store.get(lost.taskId)).toEqual(lost);
  });

  it("a repeat that lost the claim and read no parent yet goes on with the stored one: its answer, only its missing copies", async () => {
    // Prepare: the repeat read the claim's parent before the first add wrote it; by the time it goes on, that add
    // has answered, billing's copy is delivering, audit's is lost, and arming billing's copy again would fail.
    const f = setup();
    const body = orderBody({ idempotency_key: "k-repeat" });
    const { parent, copies } = await addOrder(f, { idempotency_key: "k-repeat" });
    await f.store.startAttempt(copies[0]?.taskId ?? "", NOW);
    await f.store.removeScheduled(copies[1]?.taskId ?? "");
    const get = f.store.get.bind(f.store);
    let readsBeforeTheWrite = 1;
    f.store.get = async (taskId) =>
      taskId === parent.taskId && readsBeforeTheWrite-- > 0 ? undefined : get(taskId);
    const armedBefore = f.timerQueue.armed.length;
    const arm = f.timerQueue.arm.bind(f.timerQueue);
    f.timerQueue.arm = async (taskId, delaySeconds) => {
      if (taskId === copies[0]?.taskId) throw new Error("SQS is down");
      return arm(taskId, delaySeconds);
    };

    // Act
    const lost = await addTask(f.deps, { body }).catch((error: unknown) => error);
    const retried = await addTask(f.deps, { body });

    // Assess: the repeat that lost the claim is the stored task (never a 503 for copies already on their way),
    // recreating audit's copy only; nothing else is added.
    expect(lost).toMatchObject({ statusCode: 200, body: { task_id: parent.taskId, status: "delivering" } });
    expect(retried).toMatchObject({
      statusCode: 200,
      body: { task_id: parent.taskId, status: "delivering" },
    });
    expect(f.store.tasks.size).toBe(4);
    expect(await f.store.get(parent.taskId)).toEqual(parent);
    expect(await f.store.get(copies[1]?.taskId ?? "")).toEqual(copies[1]);
    expect(f.timerQueue.armed.slice(armedBefore).map((a) => a.taskId)).not.toContain(copies[0]?.taskId);
  });

  it("a retry recreating a missing copy while the parent is cancelled leaves no copy the cancel did not see", async () => {
    // Prepare: audit's copy is missing; the parent's DELETE runs (and answers 200) just before the retry's put.
    const f = setup();
    const body = orderBody({ idempotency_key: "k-race" });
    const { parent, copies } = await addOrder(f, { idempotency_key: "k-race" });
    const lost = copies[1] as TaskRecord;
    await f.store.removeScheduled(lost.taskId);
    const putNew = f.store.putNew.bind(f.store);
    let cancelled: Awaited<ReturnType<typeof cancelTask>> | undefined;
    f.store.putNew = async (task) => {
      if (task.taskId === lost.taskId)
        cancelled = await cancelTask({ ...f.deps, store: f.store }, parent.taskId);
      return putNew(task);
    };
    const armedBefore = f.timerQueue.armed.length;

    // Act
    await addTask(f.deps, { body });

    // Assess: the cancel answered 200, so audit's copy must never be delivered: not left scheduled, not armed.
    expect(cancelled?.status).toBe("cancelled");
    expect((await f.store.get(lost.taskId))?.status ?? "missing").not.toBe("scheduled");
    expect(f.timerQueue.armed.slice(armedBefore).map((a) => a.taskId)).not.toContain(lost.taskId);
  });
});

describe("fan-out add: its clean-up hangs", () => {
  const TIME_LEFT_MS = 10_000;
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** The fixture with audit's timer call never answering (given up near the deadline), the add's reports collected. */
  function auditArmHangs() {
    const f = setup();
    // Each read and sweep index entry takes a round trip, as DynamoDB's do: a fake that answers at once answered
    // even a clean-up call made at the very deadline it was given up at, which no real table does.
    f.store.get = afterRoundTrip(f.store.get.bind(f.store), (_taskId, options) => options?.signal);
    f.store.enterSweepIndex = afterRoundTrip(
      f.store.enterSweepIndex.bind(f.store),
      (_taskId, options) => options?.signal,
    );
    const arm = f.timerQueue.arm.bind(f.timerQueue);
    f.timerQueue.arm = (taskId, delay) =>
      f.store.tasks.get(taskId)?.subscriber === "audit" ? hangs() : arm(taskId, delay);
    const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
    const errors: string[] = [];
    const deps = {
      ...f.deps,
      timeLeftMs,
      onError: (message: string) => errors.push(message),
    };
    return { f, deps, earlyAnswer, errors };
  }

  const subscriberOf = (f: ReturnType<typeof setup>, taskId: string) => f.store.tasks.get(taskId)?.subscriber;

  it("answers its own 503 before the route's early answer when the removal of a copy hangs, and aborts it", async () => {
    // Prepare: audit's conditional delete never answers either (the degraded table)
    const { f, deps, earlyAnswer, errors } = auditArmHangs();
    let removal: AbortSignal | undefined;
    const removeScheduled = f.store.removeScheduled.bind(f.store);
    f.store.removeScheduled = (taskId, options) => {
      if (subscriberOf(f, taskId) !== "audit") return removeScheduled(taskId, options);
      removal = options?.signal;
      return hangs();
    };

    // Act
    const answer = Promise.race([refusal(addTask(deps, { body: orderBody() })), earlyAnswer]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: the add's own 503, as when the removal fails; the removal given up as a failed one, and aborted
    const outcome = await answer;
    expect(outcome).not.toBe("early answer");
    expect(outcome).toMatchObject({
      status: 503,
      message: "could not arm the task's timers; the task was not accepted, retry the request",
    });
    expect(errors).toContain("removing part of a refused fan-out task failed");
    expect(removal?.aborted).toBe(true);
    const audit = [...f.store.tasks.values()].find((t) => t.subscriber === "audit");
    expect(audit).toMatchObject({ status: "scheduled", sweepShard: sweepShardOf(audit?.taskId as string) });
  });

  it("answers its own 503 before the route's early answer when the read back of a removed copy hangs, and aborts it", async () => {
    // Prepare: reading audit's copy back after its removal never answers
    const { f, deps, earlyAnswer, errors } = auditArmHangs();
    let audit: string | undefined;
    let read: AbortSignal | undefined;
    const removeScheduled = f.store.removeScheduled.bind(f.store);
    f.store.removeScheduled = (taskId, options) => {
      if (subscriberOf(f, taskId) === "audit") audit = taskId;
      return removeScheduled(taskId, options);
    };
    const get = f.store.get.bind(f.store);
    f.store.get = (taskId, options) => {
      if (taskId !== audit) return get(taskId, options);
      read = options?.signal;
      return hangs();
    };

    // Act
    const answer = Promise.race([refusal(addTask(deps, { body: orderBody() })), earlyAnswer]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: as when the read fails: the copy may be on its way, so its parent stays to show it
    const outcome = await answer;
    expect(outcome).not.toBe("early answer");
    expect(outcome).toMatchObject({
      status: 503,
      message: "could not arm the task's timers; the task was not accepted, retry the request",
    });
    expect(errors).toContain("reading back part of a refused fan-out task failed");
    expect(read?.aborted).toBe(true);
    expect([...f.store.tasks.values()].filter((t) => t.fanOut)).toHaveLength(1);
  });

  it("answers 201 before the route's early answer when every copy went on and one's removal hangs", async () => {
    // Prepare: every timer message is sent and relayed at once (due now), but audit's call never answers; billing's
    // conditional delete then never answers
    const { f, deps, earlyAnswer, errors } = auditArmHangs();
    const arm = FakeTimerQueue.prototype.arm.bind(f.timerQueue);
    f.timerQueue.arm = async (taskId, delay) => {
      const subscriber = subscriberOf(f, taskId);
      await arm(taskId, delay);
      await f.store.markQueued(taskId, NOW);
      if (subscriber === "audit") await hangs();
    };
    let removal: AbortSignal | undefined;
    const removeScheduled = f.store.removeScheduled.bind(f.store);
    f.store.removeScheduled = (taskId, options) => {
      if (subscriberOf(f, taskId) !== "billing") return removeScheduled(taskId, options);
      removal = options?.signal;
      return hangs();
    };

    // Act
    const answer = Promise.race([addTask(deps, { body: orderBody({ delay_seconds: 0 }) }), earlyAnswer]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: accepted, as when the removal fails: a 503 "retry" would deliver it to every subscriber twice
    const outcome = await answer;
    expect(outcome).not.toBe("early answer");
    expect(outcome).toMatchObject({ statusCode: 201, body: { status: "queued" } });
    expect(errors).toContain("removing part of a refused fan-out task failed");
    expect(removal?.aborted).toBe(true);
  });

  it("answers before the route's early answer when the read of its parent after the copies' writes hangs, and removes what was written", async () => {
    // Prepare: the parent's read back after the copies' writes (a cancel meanwhile?) never answers
    const f = setup();
    const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
    const get = f.store.get.bind(f.store);
    let read: AbortSignal | undefined;
    f.store.get = (taskId, options) => {
      if (!f.store.tasks.get(taskId)?.fanOut) return get(taskId, options);
      read = options?.signal;
      return hangs();
    };
    const deps = { ...f.deps, timeLeftMs };

    // Act
    const added = addTask(deps, { body: orderBody() }).catch((error: unknown) => error);
    const answer = Promise.race([added, earlyAnswer]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: given up as a failed step (the route answers its 503 "retry", now true): nothing armed, everything
    // written removed, before the route's early answer
    const outcome = await answer;
    expect(outcome).not.toBe("early answer");
    expect(outcome).toMatchObject({ name: "TimeoutError" });
    expect(read?.aborted).toBe(true);
    expect(f.store.tasks.size).toBe(0);
    expect(f.timerQueue.armed).toEqual([]);
  });

  it("with a key, answers before the route's early answer when the read of its parent before indexing its unarmed copies hangs", async () => {
    // Prepare: audit's copy write never answers (given up); the parent's read that decides whether the copies go
    // to the sweep index or are taken back never answers either
    const f = setup();
    const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
    const putNew = f.store.putNew.bind(f.store);
    f.store.putNew = (task, options) => (task.subscriber === "audit" ? hangs() : putNew(task, options));
    const get = f.store.get.bind(f.store);
    let read: AbortSignal | undefined;
    f.store.get = (taskId, options) => {
      if (!f.store.tasks.get(taskId)?.fanOut) return get(taskId, options);
      read = options?.signal;
      return hangs();
    };
    const errors: string[] = [];
    const deps = {
      ...f.deps,
      timeLeftMs,
      onError: (message: string) => errors.push(message),
    };

    // Act
    const added = addTask(deps, { body: orderBody({ idempotency_key: "k-hung-read" }) }).catch(
      (e: unknown) => e,
    );
    const answer = Promise.race([added, earlyAnswer]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: as when the read fails: reported, the copies left for the retry, the add's own failure
    const outcome = await answer;
    expect(outcome).not.toBe("early answer");
    expect(outcome).toMatchObject({ name: "TimeoutError" });
    expect(errors).toContain("reading a fan-out parent before indexing its unarmed copies failed");
    expect(read?.aborted).toBe(true);
  });
  it.each([
    { kind: "without a key", extra: {} },
    { kind: "with a key", extra: { idempotency_key: "k-cancelled-hung-removal" } },
  ])(
    "$kind, takes back a cancelled parent's copy whose first removal hung, in the time kept for the calls after it",
    async ({ extra }) => {
      // Prepare: the parent's DELETE runs right after its write (it finds no copy and answers 200); the add's
      // read after the copies' writes sees it, and its removal of audit's copy hangs once (a dropped connection);
      // every other call takes a round trip, as DynamoDB's do
      const f = setup();
      const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
      const putNew = f.store.putNew.bind(f.store);
      let cancelled: Awaited<ReturnType<typeof cancelTask>> | undefined;
      f.store.putNew = async (task, options) => {
        const created = await putNew(task, options);
        if (task.fanOut) cancelled = await cancelTask({ ...f.deps, store: f.store }, task.taskId);
        return created;
      };
      f.store.get = afterRoundTrip(f.store.get.bind(f.store), (_taskId, options) => options?.signal);
      const removeScheduled = afterRoundTrip(
        f.store.removeScheduled.bind(f.store),
        (_taskId, options) => options?.signal,
      );
      let hung = false;
      f.store.removeScheduled = (taskId, options) => {
        if (hung || subscriberOf(f, taskId) !== "audit") return removeScheduled(taskId, options);
        hung = true;
        return hangs();
      };
      const deps = { ...f.deps, timeLeftMs };

      // Act
      const added = addTask(deps, { body: orderBody(extra) }).catch((error: unknown) => error);
      const answer = Promise.race([added, earlyAnswer]);
      await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

      // Assess: the DELETE answered 200, so no copy may stay `scheduled` (a later task of its lane has the relay
      // forward it): audit's removal is made again, or its copy taken back, after the hung one is given up
      const outcome = await answer;
      expect(outcome).not.toBe("early answer");
      expect(cancelled?.status).toBe("cancelled");
      expect(hung).toBe(true);
      expect([...f.store.tasks.values()].filter((t) => t.status === "scheduled")).toEqual([]);
      expect(f.timerQueue.armed).toEqual([]);
    },
  );
});

describe("fan-out copies and the sweep index (issue 13.2)", () => {
  /** Faults of one add, by subscriber; `delayPut`'s write lands a macrotask after the others (still in flight). */
  interface CopyFaults {
    readonly put?: { readonly subscriber: string; readonly written: boolean };
    readonly delayPut?: string;
    readonly arm?: readonly string[];
    readonly remove?: readonly string[];
  }

  /**
   * Installs the faults on the fake store and timer queue; answers each subscriber's copy id as the add wrote it,
   * the delayed write's landing, and `heal` to take the faults away again (for a retry).
   */
  function withFaults(f: ReturnType<typeof setup>, faults: CopyFaults) {
    const ids = new Map<string, string>();
    const { putNew, removeScheduled } = { putNew: f.store.putNew, removeScheduled: f.store.removeScheduled };
    const arm = f.timerQueue.arm;
    let landed: Promise<unknown> = Promise.resolve();
    const subscriberOf = (taskId: string) => f.store.tasks.get(taskId)?.subscriber ?? "";
    f.store.putNew = async (task, options) => {
      if (task.subscriber) ids.set(task.subscriber, task.taskId);
      if (task.subscriber === faults.delayPut) {
        landed = new Promise((r) => setImmediate(r)).then(() => putNew.call(f.store, task, options));
        return (await landed) as "created";
      }
      const { put } = faults;
      if (put === undefined || task.subscriber !== put.subscriber) return putNew.call(f.store, task, options);
      if (put.written) await putNew.call(f.store, task, options);
      throw new Error("DynamoDB unavailable");
    };
    f.timerQueue.arm = async (taskId, delaySeconds) => {
      if (faults.arm?.includes(subscriberOf(taskId))) throw new Error("SQS unavailable");
      return arm.call(f.timerQueue, taskId, delaySeconds);
    };
    f.store.removeScheduled = async (taskId) => {
      if (faults.remove?.includes(subscriberOf(taskId))) throw new Error("DynamoDB unavailable");
      return removeScheduled.call(f.store, taskId);
    };
    const heal = () => {
      Object.assign(f.store, { putNew, removeScheduled });
      f.timerQueue.arm = arm;
    };
    return { ids, landed: () => landed, heal };
  }

  /** Per subscriber: whether its copy is in the sweep index ("gone" when the copy is not stored). */
  function indexState(f: ReturnType<typeof setup>, ids: ReadonlyMap<string, string>) {
    return Object.fromEntries(
      [...ids].map(([subscriber, id]) => {
        const copy = f.store.tasks.get(id);
        return [subscriber, copy ? copy.sweepShard === sweepShardOf(id) : "gone"];
      }),
    );
  }

  const armedIds = (f: ReturnType<typeof setup>) => f.timerQueue.armed.map((a) => a.taskId);
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (e: unknown) => e,
    );
  const storedParent = (f: ReturnType<typeof setup>) => [...f.store.tasks.values()].find((t) => t.fanOut);

  it.each([
    ["a schedule timer (due beyond the horizon)", { delay_seconds: 3_600 }, undefined],
    ["sweeper.indexNearTermTasks", {}, { indexNearTermTasks: true }],
  ])("a copy is in the sweep index from its write with %s", async (_, extra, sweeper) => {
    // Prepare
    const f = setup({ sweeper });

    // Act
    const { parent, copies } = await addOrder(f, extra);

    // Assess
    expect(copies.map((c) => c.sweepShard)).toEqual(copies.map((c) => sweepShardOf(c.taskId)));
    expect(parent.sweepShard).toBeUndefined();
  });

  it("with a key, a copy whose timer could not be armed is left in the sweep index; the armed ones stay out", async () => {
    // Prepare
    const f = setup();
    const { ids } = withFaults(f, { arm: ["audit"] });

    // Act
    const error = await refusal(addTask(f.deps, { body: orderBody({ idempotency_key: "k-arm" }) }));

    // Assess: a retry may never come; the sweeper then delivers audit's copy once past due.
    expect(error.status).toBe(503);
    expect(indexState(f, ids)).toEqual({ billing: false, audit: true, search: false });
    expect(armedIds(f)).toEqual([ids.get("billing"), ids.get("search")]);
  });

  it("with a key, copies kept after a failed write are all left in the sweep index (none is armed)", async () => {
    // Prepare: audit's Put is written but its answer lost.
    const f = setup();
    const { ids } = withFaults(f, { put: { subscriber: "audit", written: true } });

    // Act
    const error = await failure(addTask(f.deps, { body: orderBody({ idempotency_key: "k-put" }) }));

    // Assess
    expect(error).toBeInstanceOf(Error);
    expect(indexState(f, ids)).toEqual({ billing: true, audit: true, search: true });
    expect(armedIds(f)).toEqual([]);
  });

  it.each([
    ["its timer could not be armed", { arm: ["audit"], remove: ["audit"] }],
    ["its write's answer was lost", { put: { subscriber: "audit", written: true }, remove: ["audit"] }],
  ])(
    "without a key, a copy whose removal fails after %s is left in the sweep index, under its parent",
    async (_, faults) => {
      // Prepare
      const f = setup();
      const { ids } = withFaults(f, faults);

      // Act
      await failure(addTask(f.deps, { body: orderBody() }));

      // Assess: the copies removed are gone; the one that stays is delivered by the sweeper and shows its parent.
      expect(indexState(f, ids)).toEqual({ billing: "gone", audit: true, search: "gone" });
      expect(f.store.tasks.get(ids.get("audit") ?? "")?.status).toBe("scheduled");
      expect(armedIds(f)).not.toContain(ids.get("audit"));
      expect(storedParent(f)?.taskId).toBe(f.store.tasks.get(ids.get("audit") ?? "")?.parentTaskId);
    },
  );

  it.each([
    ["with a key (kept: in the sweep index)", { idempotency_key: "k-flight" }, true],
    ["without a key (removed)", {}, "gone"],
  ])("the clean-up after a failed write waits for the writes still in flight, %s", async (_, extra, want) => {
    // Prepare: billing's Put fails at once; search's is still on its way when it does.
    const f = setup();
    const { ids, landed } = withFaults(f, {
      put: { subscriber: "billing", written: false },
      delayPut: "search",
    });

    // Act
    await failure(addTask(f.deps, { body: orderBody(extra) }));
    await landed();

    // Assess
    expect(indexState(f, ids).search).toBe(want);
    expect(armedIds(f)).toEqual([]);
  });

  it("with a key, copies kept after a failed write are taken back when a cancel answered meanwhile", async () => {
    // Prepare: the parent's DELETE runs right after the parent's write (it finds no copy); then audit's Put fails.
    const f = setup();
    const { ids } = withFaults(f, { put: { subscriber: "audit", written: true } });
    const putNew = f.store.putNew;
    let cancelled: Awaited<ReturnType<typeof cancelTask>> | undefined;
    f.store.putNew = async (task, options) => {
      const created = await putNew(task, options);
      if (task.fanOut) cancelled = await cancelTask({ ...f.deps, store: f.store }, task.taskId);
      return created;
    };

    // Act
    await failure(addTask(f.deps, { body: orderBody({ idempotency_key: "k-cancel" }) }));

    // Assess: the cancel answered 200, so no copy may be delivered: none armed, none for the sweeper, and none left
    // `scheduled` for a later task's relay sweep of its lane.
    expect(cancelled?.status).toBe("cancelled");
    expect(indexState(f, ids)).toEqual({ billing: "gone", audit: "gone", search: "gone" });
    expect(armedIds(f)).toEqual([]);
  });

  /**
   * A keyed add whose parent's DELETE runs right after the parent's write (it finds no copy and answers 200), and
   * whose audit Put then fails with its item written: every copy is in the table, none armed. Answers the copies'
   * ids and the DELETE's answer.
   */
  async function keyedAddCancelledMidway(f: ReturnType<typeof setup>, extra: Record<string, unknown>) {
    const { ids, heal } = withFaults(f, { put: { subscriber: "audit", written: true } });
    const putNew = f.store.putNew;
    let cancelled: Awaited<ReturnType<typeof cancelTask>> | undefined;
    f.store.putNew = async (task, options) => {
      const created = await putNew(task, options);
      if (task.fanOut) cancelled = await cancelTask({ ...f.deps, store: f.store }, task.taskId);
      return created;
    };
    await failure(addTask(f.deps, { body: orderBody(extra) }));
    heal();
    return { ids, cancelled };
  }

  it("with a key, near-term copies left after a failed write under a cancelled parent are not swept along by a later task of their lanes", async () => {
    // Prepare: the cancelled task's copies, then a later task of the same group (so of the same three lanes).
    const f = setup();
    const { ids, cancelled } = await keyedAddCancelledMidway(f, { idempotency_key: "k-lane" });
    const later = await addOrder(f, { delay_seconds: 20 });

    // Act: the later task's timers fire; the relay forwards each lane's due, still-scheduled tasks in order.
    const result = await relayTimerMessages(
      relayAt(f, NOW + 20_000),
      later.copies.map((c) => timerMessage(c.taskId)),
    );

    // Assess: the DELETE answered 200, so only the later task's copies go.
    expect(cancelled?.status).toBe("cancelled");
    expect(result.failedMessageIds).toEqual([]);
    expect(f.topicQueue.enqueued.map((m) => m.taskId).sort()).toEqual(
      later.copies.map((c) => c.taskId).sort(),
    );
    expect([...ids.values()].map((id) => f.store.tasks.get(id)?.status ?? "missing")).not.toContain(
      "scheduled",
    );
  });

  it("with a key, schedule-timer copies left after a failed write under a cancelled parent are not delivered by the sweeper", async () => {
    // Prepare: copies due in an hour ride a schedule, so each is in the sweep index from its write.
    const f = setup();
    const { ids, cancelled } = await keyedAddCancelledMidway(f, {
      idempotency_key: "k-sched",
      delay_seconds: 3_600,
    });
    const pastGrace = NOW + 3_600_000 + scheduledGraceMs(f.config, "schedule") + 60_000;

    // Act
    const report = await sweep(sweeperAt(f, f.config, pastGrace));

    // Assess: the DELETE answered 200, so the sweeper finds nothing of the task to forward.
    expect(cancelled?.status).toBe("cancelled");
    expect(report.failures).toBe(0);
    expect(f.topicQueue.enqueued).toEqual([]);
    expect(indexState(f, ids)).toEqual({ billing: "gone", audit: "gone", search: "gone" });
  });

  it("a retry under a config that now indexes near-term tasks still indexes a copy written outside the index that it cannot arm", async () => {
    // Prepare: the copies were written out of the sweep index (as a crash before their arms leaves them); a deploy
    // then turned on `sweeper.indexNearTermTasks`, and audit's timer fails on the retry.
    const f = setup();
    const body = orderBody({ idempotency_key: "k-deploy" });
    const { copies } = await addOrder(f, { idempotency_key: "k-deploy" });
    const audit = copies[1] as TaskRecord;
    const redeployed = {
      ...f.deps,
      config: { ...f.config, sweeper: { ...f.config.sweeper, indexNearTermTasks: true } },
    };
    withFaults(f, { arm: ["audit"] });

    // Act
    const error = await refusal(addTask(redeployed, { body }));

    // Assess: what decides is whether the copy is in the index, not whether today's config would have put it there.
    expect(error.status).toBe(503);
    expect(audit.sweepShard).toBeUndefined();
    expect(f.store.tasks.get(audit.taskId)?.sweepShard).toBe(sweepShardOf(audit.taskId));
  });

  it.each([
    ["near-term: outside", 10, false],
    ["a schedule timer: inside", 3_600, true],
  ])(
    "a copy taken back after a cancel but not removable stays unarmed (%s the sweep index), and a keyed retry cancels it",
    async (_, delay, indexed) => {
      // Prepare: the parent's DELETE runs right after the parent's write; audit's copy cannot be removed.
      const f = setup();
      const body = orderBody({ idempotency_key: `k-stray-${delay}`, delay_seconds: delay });
      const { ids, heal } = withFaults(f, { remove: ["audit"] });
      const putNew = f.store.putNew;
      f.store.putNew = async (task, options) => {
        const created = await putNew(task, options);
        if (task.fanOut) await cancelTask({ ...f.deps, store: f.store }, task.taskId);
        return created;
      };
      await failure(addTask(f.deps, { body }));
      heal();
      const stray = indexState(f, ids);

      // Act
      await failure(addTask(f.deps, { body }));

      // Assess: a `scheduled` copy of a cancelled parent would be delivered by the relay's sweep of its lane, or by
      // the sweeper once indexed; the retry, which finds the parent cancelled, cancels it (out of the index: a
      // DELETE still on its way to the copies finds it cancelled, not gone).
      expect(stray).toEqual({ billing: "gone", audit: indexed, search: "gone" });
      expect(indexState(f, ids)).toEqual({ billing: "gone", audit: false, search: "gone" });
      expect(f.store.tasks.get(ids.get("audit") ?? "")?.status).toBe("cancelled");
      expect(armedIds(f)).toEqual([]);
    },
  );

  it("a keyed retry under a cancelled parent cancels a copy the sweeper has marked queued, as the parent's DELETE does", async () => {
    // Prepare: the parent's DELETE stopped after its own write (before its copies); audit's copy, held in its FIFO
    // queue past the grace (a paused topic), was sent again by the sweeper and marked `queued`: no attempt started.
    const f = setup();
    const extra = { idempotency_key: "k-queued-copy" };
    const { parent, copies } = await addOrder(f, extra);
    const audit = copies[1] as TaskRecord;
    await f.store.cancel(parent.taskId, NOW + 1, retentionExpiry(NOW + 1, 1));
    await f.store.markQueued(audit.taskId, NOW + 2);

    // Act
    await addTask(f.deps, { body: orderBody(extra) });

    // Assess: every copy of the cancelled parent is cancelled; a `queued` one would otherwise be delivered.
    expect(copies.map((c) => f.store.tasks.get(c.taskId)?.status)).toEqual([
      "cancelled",
      "cancelled",
      "cancelled",
    ]);
  });

  it.each([
    ["near-term: out of", 10, false],
    ["a schedule timer: in", 3_600, true],
  ])(
    "a retry recreates a missing copy as the add made it (%s the sweep index)",
    async (_, delay, indexed) => {
      // Prepare
      const f = setup();
      const extra = { idempotency_key: `k-recreate-${delay}`, delay_seconds: delay };
      const { copies } = await addOrder(f, extra);
      const lost = copies[1] as TaskRecord;
      await f.store.removeScheduled(lost.taskId);

      // Act
      await addTask(f.deps, { body: orderBody(extra) });

      // Assess
      const recreated = f.store.tasks.get(lost.taskId);
      expect(recreated?.sweepShard).toBe(indexed ? sweepShardOf(lost.taskId) : undefined);
      expect(recreated?.sweepShard).toBe(lost.sweepShard);
    },
  );

  it.each([
    ["it recreates", true],
    ["it re-arms", false],
  ])(
    "a retry whose timer for a copy %s cannot be armed leaves that copy in the sweep index",
    async (_, lose) => {
      // Prepare: audit's copy missing (or still scheduled, its first arm lost); its timer fails on the retry.
      const f = setup();
      const body = orderBody({ idempotency_key: `k-retry-${lose}` });
      const { copies } = await addOrder(f, { idempotency_key: `k-retry-${lose}` });
      const audit = copies[1] as TaskRecord;
      if (lose) await f.store.removeScheduled(audit.taskId);
      withFaults(f, { arm: ["audit"] });

      // Act
      const error = await refusal(addTask(f.deps, { body }));

      // Assess
      expect(error.status).toBe(503);
      expect(f.store.tasks.get(audit.taskId)).toMatchObject({
        status: "scheduled",
        sweepShard: sweepShardOf(audit.taskId),
      });
      expect(copies.map((c) => f.store.tasks.get(c.taskId)?.sweepShard)).toEqual([
        undefined,
        sweepShardOf(audit.taskId),
        undefined,
      ]);
    },
  );
});

describe("fan-out against a hostile caller", () => {
  it("a subscriber id that is a prefix of another gets its own key and lane: neither verifies nor reaches the other", () => {
    // Prepare
    const task = makeTask({
      topic: "orders",
      group: "o-1",
      dueAtMs: NOW,
      acceptedAtMs: NOW,
      callbackUrl: "",
    });
    const [bill, billing] = expandFanOut(task, [
      { id: "bill", url: "https://a.example.com/" },
      { id: "billing", url: "https://b.example.com/" },
    ]).deliveries;
    if (!bill || !billing) throw new Error("no copies");

    // Act
    const signed = callbackRequest(
      // Signed now: a verifier refuses an old timestamp whatever the key, which would prove nothing here.
      { started: { ...bill, attempts: 1 }, signer: new CallbackSigner([SECRET]), startedAt: Date.now() },
      5_000,
    );

    // Assess
    expect(bill.pk).not.toBe(billing.pk);
    const verifier = (key: string) => () => new Webhook(key).verify(signed.body, signed.headers);
    expect(verifier(subscriberSigningKey(SECRET, "bill"))).not.toThrow();
    expect(verifier(subscriberSigningKey(SECRET, "billing"))).toThrow(WebhookVerificationError);
    expect(verifier(SECRET)).toThrow(WebhookVerificationError);
  });

  it("an idempotency key used again with another body is a 409 that adds nothing, on a fan-out topic", async () => {
    // Prepare
    const f = setup();
    await addOrder(f, { idempotency_key: "k-body" });
    const size = f.store.tasks.size;
    const armed = f.timerQueue.armed.length;

    // Act
    const error = await refusal(
      addTask(f.deps, { body: orderBody({ idempotency_key: "k-body", content: { order_id: "o-2" } }) }),
    );

    // Assess
    expect(error).toMatchObject({ status: 409, code: "idempotency_conflict" });
    expect(f.store.tasks.size).toBe(size);
    expect(f.timerQueue.armed.length).toBe(armed);
  });
});

describe("fan-out through the other ways in", () => {
  it("a batch add fans out each item on a fan-out topic; a `callback` there is that item's 400", async () => {
    // Prepare
    const f = setup();

    // Act
    const answer = await addTasksBatch(f.deps, {
      tasks: [orderBody(), orderBody({ callback: { url: "https://x.example.com/" } })],
    });

    // Assess: the item names each subscriber's copy, as a single add's answer does
    expect(answer.results.map((r) => r.status)).toEqual([201, 400]);
    expect(f.store.tasks.size).toBe(4);
    const parent = (await f.store.get(String(answer.results[0]?.task_id))) as TaskRecord;
    expect(answer.results[0]?.subscribers).toEqual(
      parent.fanOut?.map((l) => ({ id: l.subscriber, task_id: l.taskId })),
    );
    // The batch has no fan-out write path of its own: its copies are the single add's, near-term ones unindexed.
    expect(parent.fanOut?.map((l) => f.store.tasks.get(l.taskId)?.sweepShard)).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("a schedule on a fan-out topic is accepted without a callback and refused with one", () => {
    const f = setup();
    const schedule = {
      topic: "orders",
      cron: "0 * * * *",
      timezone: "UTC",
      content: { order_id: "nightly" },
    };
    expect(parseCreateSchedule(f.config, schedule, NOW).topic).toBe("orders");
    expect(() =>
      parseCreateSchedule(f.config, { ...schedule, callback: { url: "https://x.example.com/" } }, NOW),
    ).toThrow(expect.objectContaining({ code: "fan_out_callback" }));
  });

  it("refuses a `subscriber` field in an add body (the body is strict), writing nothing", async () => {
    const f = setup();
    const error = await refusal(addTask(f.deps, { body: orderBody({ subscriber: "billing" }) }));
    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(f.store.tasks.size).toBe(0);
  });
});

describe("fan-out view", () => {
  it("aggregates: moving copies first, then failed, delivered, cancelled; missing counts as nothing", () => {
    expect(aggregateStatus(["delivered", "delivering", "failed"], "scheduled")).toBe("delivering");
    expect(aggregateStatus(["delivered", "queued", "scheduled"], "scheduled")).toBe("queued");
    expect(aggregateStatus(["delivered", "failed", "cancelled"], "scheduled")).toBe("failed");
    expect(aggregateStatus(["delivered", "cancelled", "missing"], "scheduled")).toBe("delivered");
    expect(aggregateStatus(["cancelled", "cancelled"], "scheduled")).toBe("cancelled");
    expect(aggregateStatus(["missing"], "scheduled")).toBe("scheduled");
  });

  it("GET shows one row per subscriber with its copy's status, attempts and last error", async () => {
    // Prepare
    const f = setup();
    const { parent, copies } = await addOrder(f);
    await deliver(f, copies[0] as TaskRecord);
    await deadLetter(f, copies[1] as TaskRecord);

    // Act
    const view = await getTask(f.deps, parent.taskId);

    // Assess
    expect(view).toMatchObject({
      task_id: parent.taskId,
      status: "scheduled",
      attempts: 2,
      callback_url: "",
    });
    expect(view.subscribers).toEqual([
      expect.objectContaining({
        id: "billing",
        task_id: copies[0]?.taskId,
        status: "delivered",
        attempts: 1,
      }),
      expect.objectContaining({ id: "audit", status: "failed", attempts: 1, last_error: "HTTP 500" }),
      expect.objectContaining({
        id: "search",
        status: "scheduled",
        attempts: 0,
        callback_url: SUBSCRIBERS[2]?.url,
      }),
    ]);
    expect(await getTask(f.deps, copies[1]?.taskId)).toMatchObject({
      parent_task_id: parent.taskId,
      subscriber: "audit",
      status: "failed",
    });
  });

  it("shows a copy whose item is gone as missing", () => {
    const parent = expandFanOut(
      makeTask({ topic: "orders", dueAtMs: NOW, acceptedAtMs: NOW }),
      SUBSCRIBERS,
    ).parent;
    const view = fanOutTaskView(parent, [undefined, undefined, undefined]);
    expect(view.subscribers?.map((s) => s.status)).toEqual(["missing", "missing", "missing"]);
  });
});

describe("fan-out replay", () => {
  it.each([
    ["one subscriber's copy", { subscriber: "audit" }],
    ["every copy", {}],
  ])(
    "%s refused by another replay's mark undone before the refusal was read: marked again and replayed, not a 409 reading failed",
    async (_name, query) => {
      // Prepare: audit's copy dead-lettered; another replay of it marks it as this one's write arrives (refused), then
      // undoes its mark (its send failed) before this one reads why
      const f = setup();
      const { parent, copies } = await addOrder(f);
      const copy = copies[1] as TaskRecord;
      await deadLetter(f, copy);
      const before = await f.store.get(copy.taskId);
      const mark = f.store.markReplayed.bind(f.store);
      let interfered = false;
      f.store.markReplayed = async (...args) => {
        if (interfered || args[0] !== copy.taskId) return mark(...args);
        interfered = true;
        await mark(copy.taskId, NOW + 20_000);
        const refused = await mark(...args);
        await f.store.revertReplay(copy.taskId, {
          replays: 1,
          attempts: before?.attempts ?? 0,
          expiresAt: before?.expiresAt ?? 0,
          status: "failed",
        });
        expect(refused.outcome).toBe("conflict");
        const now = await f.store.get(copy.taskId);
        return now ? { outcome: "conflict", task: now } : { outcome: "not-found" };
      };
      f.topicQueue.calls.length = 0;

      // Act
      const view = await replayTask(f.replayDeps, parent.taskId, query);

      // Assess
      expect(f.topicQueue.calls).toEqual([{ queueUrl: QUEUE, groupId: copy.pk, taskIds: [copy.taskId] }]);
      expect(view.subscribers?.find((s) => s.id === "audit")?.status).toBe("queued");
    },
  );

  it("replays only the subscriber asked for: its copy queued again on its own lane, the others untouched", async () => {
    // Prepare
    const f = setup();
    const { parent, copies } = await addOrder(f);
    await deliver(f, copies[0] as TaskRecord);
    await deadLetter(f, copies[1] as TaskRecord);
    await deliver(f, copies[2] as TaskRecord);
    f.topicQueue.calls.length = 0;

    // Act
    const view = await replayTask(f.replayDeps, parent.taskId, { subscriber: "audit" });

    // Assess
    expect(f.topicQueue.calls).toEqual([
      { queueUrl: QUEUE, groupId: copies[1]?.pk, taskIds: [copies[1]?.taskId] },
    ]);
    expect(view.subscribers?.map((s) => [s.id, s.status])).toEqual([
      ["billing", "delivered"],
      ["audit", "queued"],
      ["search", "delivered"],
    ]);
  });

  it("a copy past its retention that TTL has not removed yet is not replayed: its subscriber's replay is a 409 saying so, and a replay of every copy skips it", async () => {
    // Prepare: two copies dead-lettered; replayed a second after their retention (1 day) ended. Copies written before
    // they were kept to their parent's TTL (withParentFloor): only such a copy's retention ends before its parent's.
    const f = setup();
    const { parent, copies } = await addOrder(f);
    for (const copy of copies.slice(0, 2)) f.store.tasks.set(copy.taskId, withoutFloor(copy));
    await deadLetter(f, copies[0] as TaskRecord);
    await deadLetter(f, copies[1] as TaskRecord);
    const endedAt = (await f.store.get(copies[0]?.taskId as string))?.expiresAt as number;
    f.topicQueue.calls.length = 0;
    const later = { ...f.replayDeps, now: () => endedAt * 1000 + 1_000 };

    // Act
    const one = await refusal(replayTask(later, parent.taskId, { subscriber: "billing" }));
    const every = await refusal(replayTask(later, parent.taskId));

    // Assess
    expect(one).toMatchObject({ status: 409, details: { subscriber: "billing", task_status: "failed" } });
    expect(one.message).toMatch(/retention ended/);
    expect(every).toMatchObject({ status: 409 });
    expect(f.topicQueue.calls).toEqual([]);
    expect((await f.store.get(copies[0]?.taskId as string))?.status).toBe("failed");
  });

  it("a replay of every copy that finds every copy past its retention is the single task's retention 409, not the generic one", async () => {
    // Prepare: every copy finished (two dead-lettered, one delivered); replayed after the last retention ended
    const f = setup();
    const { parent, copies } = await addOrder(f);
    await deadLetter(f, copies[0] as TaskRecord);
    await deliver(f, copies[1] as TaskRecord);
    await deadLetter(f, copies[2] as TaskRecord);
    const read = await Promise.all(copies.map((c) => f.store.get(c?.taskId as string)));
    const endedAt = Math.max(...read.map((c) => c?.expiresAt as number));
    f.topicQueue.calls.length = 0;
    const later = { ...f.replayDeps, now: () => endedAt * 1000 + 1_000 };

    // Act
    const every = await refusal(replayTask(later, parent.taskId));

    // Assess
    expect(every).toMatchObject({
      status: 409,
      details: { retention_ended_at: new Date(endedAt * 1000).toISOString() },
    });
    expect(every.message).toMatch(/retention ended/);
    expect(f.topicQueue.calls).toEqual([]);
  });

  it("a copy's mark whose answer was lost (the SDK's retry then finds it queued) still has the copy sent", async () => {
    const f = setup();
    const { parent, copies } = await addOrder(f);
    await deadLetter(f, copies[1] as TaskRecord);
    f.topicQueue.calls.length = 0;
    const markReplayed = f.store.markReplayed.bind(f.store);
    f.store.markReplayed = async (id, ...rest) => {
      if (id === copies[1]?.taskId) await markReplayed(id, ...rest);
      return markReplayed(id, ...rest);
    };

    const error = await refusal(replayTask(f.replayDeps, parent.taskId, { subscriber: "audit" }));

    expect(error).toMatchObject({ status: 409, details: { task_status: "queued" } });
    expect(f.topicQueue.calls).toEqual([
      { queueUrl: QUEUE, groupId: copies[1]?.pk, taskIds: [copies[1]?.taskId] },
    ]);
  });

  it("without a subscriber replays every finished copy; 409 when none is finished", async () => {
    // Prepare
    const f = setup();
    const { parent, copies } = await addOrder(f);
    const fresh = await addOrder(f, { content: { order_id: "o-2" } });
    await deadLetter(f, copies[0] as TaskRecord);
    await deliver(f, copies[1] as TaskRecord);

    // Act
    const view = await replayTask(f.replayDeps, parent.taskId);
    const none = await refusal(replayTask(f.replayDeps, fresh.parent.taskId));

    // Assess
    expect(view.subscribers?.map((s) => s.status)).toEqual(["queued", "queued", "scheduled"]);
    expect(none).toMatchObject({ status: 409, code: "conflict" });
  });

  it("a copy whose replay's send fails is undone as a task's is: its subscriber's replay is a 503, a replay of every copy counts only those sent", async () => {
    // Prepare: two copies dead-lettered, one delivered
    const f = setup();
    const { parent, copies } = await addOrder(f);
    await deadLetter(f, copies[0] as TaskRecord);
    await deadLetter(f, copies[1] as TaskRecord);
    await deliver(f, copies[2] as TaskRecord);
    f.topicQueue.failSends = true;

    // Act
    const one = await refusal(replayTask(f.replayDeps, parent.taskId, { subscriber: "audit" }));
    const every = await refusal(replayTask(f.replayDeps, parent.taskId));
    const sent = f.topicQueue.sendReplay.bind(f.topicQueue);
    f.topicQueue.failSends = false;
    // Only billing's copy fails to go: the others are replayed, billing's left as it was.
    f.topicQueue.sendReplay = async (queueUrl, groupId, taskId, dedupId) => {
      if (taskId === copies[0]?.taskId) throw new Error("socket hang up");
      return sent(queueUrl, groupId, taskId, dedupId);
    };
    const some = await replayTask(f.replayDeps, parent.taskId);

    // Assess
    expect(one).toMatchObject({ status: 503, details: { subscriber: "audit" } });
    expect(every).toMatchObject({ status: 503 });
    expect(some.subscribers?.map((s) => s.status)).toEqual(["failed", "queued", "queued"]);
    const stored = await Promise.all(copies.map((c) => f.store.get(c?.taskId ?? "")));
    expect(stored.map((c) => c?.status)).toEqual(["failed", "queued", "queued"]);
    expect(stored[0]?.failedTopic).toBe(copies[0]?.topic);
  });

  it.each([
    ["its subscriber's replay", "subscriber"],
    ["a replay of every copy", "every"],
    ["a replay of the copy's own id", "copy"],
    ["a bulk replay naming the task", "bulk-ids"],
    ["a bulk replay by filter", "bulk-filter"],
  ] as const)(
    "a copy replayed near the end of its parent's TTL keeps the parent at least as long as the copy's new life (%s): the task stays replayable and readable through its id",
    async (_name, how) => {
      // Prepare: billing's copy dead-lettered (kept to its parent's TTL, withParentFloor); replayed a minute before
      // the parent's TTL, and dead-lettered again an hour later, retained the topic's retention from then.
      const f = setup();
      const { parent, copies } = await addOrder(f);
      const billing = copies[0] as TaskRecord;
      await deadLetter(f, billing);
      const replayAt = (parent.expiresAt as number) * 1000 - 60_000;
      const deps = { ...f.replayDeps, config: f.config, now: () => replayAt };
      if (how === "subscriber") await replayTask(deps, parent.taskId, { subscriber: "billing" });
      if (how === "every") await replayTask(deps, parent.taskId);
      if (how === "copy") await replayTask(deps, billing.taskId);
      if (how === "bulk-ids") await replayTopic(deps, "orders", { task_ids: [parent.taskId] });
      if (how === "bulk-filter") await replayTopic(deps, "orders", {});
      expect((await f.store.get(billing.taskId))?.status).toBe("queued");
      const failedAgainAt = replayAt + 3_600_000;
      const started = await f.store.startAttempt(billing.taskId, failedAgainAt - 1_000);
      const retentionDays = f.config.resolvedTopics.orders?.retentionDays as number;
      await deadLetterTask(
        { store: f.store, topicQueue: f.topicQueue },
        { dlqUrl: "https://sqs.test/orders-dlq.fifo", retentionDays },
        started as TaskRecord,
        "HTTP 500",
        () => failedAgainAt,
      );
      const copyEnds = (await f.store.get(billing.taskId))?.expiresAt as number;

      // Act: a day after the parent's first TTL, within the copy's retention
      const later = { ...deps, now: () => failedAgainAt + 86_400_000 };
      const view = await replayTask(later, parent.taskId, { subscriber: "billing" });

      // Assess: DynamoDB's TTL would have removed the parent under its live copy; kept, its replay works
      expect((await f.store.get(parent.taskId))?.expiresAt).toBeGreaterThanOrEqual(copyEnds);
      expect(view.subscribers?.find((s) => s.id === "billing")?.status).toBe("queued");
    },
  );

  it("a bulk replay by ids replays a named fan-out task's dead-lettered copies, as the single replay does, each once", async () => {
    // Prepare: one copy dead-lettered, one delivered, one scheduled; another fan-out task with none finished
    const f = setup();
    const { parent, copies } = await addOrder(f);
    const fresh = await addOrder(f, { content: { order_id: "o-2" } });
    await deadLetter(f, copies[0] as TaskRecord);
    await deliver(f, copies[1] as TaskRecord);
    f.topicQueue.calls.length = 0;
    const deps = { ...f.replayDeps, config: f.config };

    // Act: the parent, and its dead-lettered copy named again
    const dry = await replayTopic(deps, "orders", { task_ids: [parent.taskId], dry_run: true });
    const answer = await replayTopic(deps, "orders", {
      task_ids: [parent.taskId, fresh.parent.taskId, copies[0]?.taskId],
    });

    // Assess: the dead-lettered copy replayed once; the delivered one left (bulk replays dead letters only)
    expect(dry).toEqual({ matched: 1, replayed: 0, failed: [], next_cursor: null });
    expect(answer).toEqual({
      matched: 1,
      replayed: 1,
      failed: [{ task_id: fresh.parent.taskId, reason: "fan-out task: no subscriber's copy is failed" }],
      next_cursor: null,
    });
    expect(f.topicQueue.calls).toEqual([
      { queueUrl: QUEUE, groupId: copies[0]?.pk, taskIds: [copies[0]?.taskId] },
    ]);
    expect((await f.store.get(copies[1]?.taskId ?? ""))?.status).toBe("delivered");
  });

  it("a copy replayed before a storage call failed is not answered a retryable 503: a retry after its delivery would call the subscriber again", async () => {
    // Prepare
    const f = setup();
    const { parent, copies } = await addOrder(f);
    await deadLetter(f, copies[0] as TaskRecord);
    await deadLetter(f, copies[1] as TaskRecord);
    const get = f.store.get.bind(f.store);
    const markReplayed = f.store.markReplayed.bind(f.store);
    const serverError = () =>
      Object.assign(new Error("internal server error"), {
        name: "InternalServerError",
        $fault: "server",
        $metadata: { httpStatusCode: 500, attempts: 3 },
      });
    // The parent's read and the copy's read before its mark pass; the view's reads after the mark fail (a failed
    // read before the mark wrote nothing: a 503, replay-task.test.ts).
    let reads = 0;
    f.store.get = async (id) => {
      if (++reads > 2) throw serverError();
      return get(id);
    };
    let marks = 0;

    // Act
    const subscriber = await replayTask(f.replayDeps, parent.taskId, { subscriber: "billing" }).catch(
      toHttpError,
    );
    f.store.get = get;
    const billingAfterSubscriber = (await get(copies[0]?.taskId as string))?.status;
    f.store.markReplayed = async (...args) => {
      if (++marks > 3) throw serverError(); // the parent, billing (queued), audit (replayed), then search
      return markReplayed(...args);
    };
    const every = await replayTask(f.replayDeps, parent.taskId).catch(toHttpError);
    f.store.markReplayed = markReplayed;

    // Assess
    expect(billingAfterSubscriber).toBe("queued");
    expect((await get(copies[0]?.taskId as string))?.status).toBe("queued");
    expect((await get(copies[1]?.taskId as string))?.status).toBe("queued");
    expect(subscriber).toMatchObject({ status: 500, code: "internal_error" });
    expect(every).toMatchObject({ status: 500, code: "internal_error" });
    expect((subscriber as HttpError).message).toMatch(/replayed/);
    expect((every as HttpError).message).toMatch(/replayed/);
  });

  it("a replay of every copy whose copy read fails before any copy was replayed wrote nothing: a 503 'retry', not the 500 'may have been replayed'", async () => {
    // Prepare: two copies dead-lettered; the read of the first copy fails past the SDK's retries
    const f = setup();
    const { parent, copies } = await addOrder(f);
    await deadLetter(f, copies[0] as TaskRecord);
    await deadLetter(f, copies[1] as TaskRecord);
    const get = f.store.get.bind(f.store);
    f.store.get = async (id) => {
      if (id === copies[0]?.taskId) {
        throw Object.assign(new Error("internal server error"), {
          name: "InternalServerError",
          $fault: "server",
          $metadata: { httpStatusCode: 500, attempts: 3 },
        });
      }
      return get(id);
    };
    f.topicQueue.calls.length = 0;

    // Act
    const every = await replayTask(f.replayDeps, parent.taskId).catch(toHttpError);
    f.store.get = get;

    // Assess
    expect(every).toMatchObject({ status: 503, code: "service_unavailable" });
    expect((await get(copies[0]?.taskId as string))?.status).toBe("failed");
    expect((await get(copies[1]?.taskId as string))?.status).toBe("failed");
    expect(f.topicQueue.calls).toEqual([]);
  });

  it("refuses a subscriber on a plain task (not_fan_out) and an unknown one (unknown_subscriber), changing nothing", async () => {
    // Prepare
    const f = setup();
    const { parent, copies } = await addOrder(f);
    await deadLetter(f, copies[0] as TaskRecord);
    const plain = await addTask(f.deps, {
      body: {
        topic: "demo",
        delay_seconds: 0,
        content: { order_id: "p" },
        callback: { url: "https://h.example.com/" },
      },
    });
    const before = structuredClone([
      ...(await Promise.all([parent, ...copies].map((t) => f.store.get(t.taskId)))),
    ]);

    // Act
    const notFanOut = await refusal(replayTask(f.replayDeps, plain.body.task_id, { subscriber: "billing" }));
    const unknown = await refusal(replayTask(f.replayDeps, parent.taskId, { subscriber: "nobody" }));

    // Assess
    expect(notFanOut).toMatchObject({ status: 400, code: "not_fan_out" });
    expect(unknown.toBody().error).toMatchObject({
      code: "unknown_subscriber",
      issues: [{ path: "subscriber", message: "must be one of: billing, audit, search" }],
    });
    expect(await Promise.all([parent, ...copies].map((t) => f.store.get(t.taskId)))).toEqual(before);
    expect(f.topicQueue.calls).toEqual([]);
  });
});

describe("fan-out cancel and moves", () => {
  it("DELETE of the parent cancels every copy not yet handed to delivery; the rest go on", async () => {
    // Prepare
    const f = setup();
    const { parent, copies } = await addOrder(f);
    await f.store.startAttempt(copies[0]?.taskId ?? "", NOW);

    // Act
    const view = await cancelTask({ ...f.deps, store: f.store }, parent.taskId);

    // Assess
    expect(view.subscribers?.map((s) => s.status)).toEqual(["delivering", "cancelled", "cancelled"]);
    expect(view.status).toBe("delivering");
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
  });

  it("DELETE of the parent also cancels a copy waiting for its retry (its failed attempt recorded); one whose callback is in flight gets a cancel request", async () => {
    // Prepare: billing's copy failed once and waits for its retry; audit's and search's callbacks are in flight
    const f = setup();
    const { parent, copies } = await addOrder(f);
    const [waiting, ...inFlight] = copies.map((c) => c.taskId);
    const started = await f.store.startAttempt(waiting ?? "", NOW);
    const seq = started?.attemptSeq ?? 0;
    await f.store.recordAttemptFailure(waiting ?? "", {
      error: "HTTP 500",
      atMs: NOW + 1,
      attemptSeq: seq,
      attempt: { seq, startedAtMs: NOW, durationMs: 1, status: 500, error: "HTTP 500" },
    });
    for (const id of inFlight) await f.store.startAttempt(id, NOW);

    // Act
    const view = await cancelTask({ ...f.deps, store: f.store }, parent.taskId);

    // Assess: the in-flight copies end after their attempt (view: cancel_requested; the route answers 202)
    expect(view.subscribers?.map((s) => s.status)).toEqual(["cancelled", "delivering", "delivering"]);
    expect(view.subscribers?.map((s) => s.cancel_requested)).toEqual([undefined, true, true]);
    expect(view.cancel_requested).toBe(true);
    expect((await f.store.get(waiting ?? ""))?.status).toBe("cancelled");
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
  });

  it("DELETE of a parent whose copies' callbacks are all in flight stands: each copy ends cancelled after a failed attempt, delivered after a 2xx, and is never started again", async () => {
    // Prepare: every copy's callback in flight
    const f = setup();
    const { parent, copies } = await addOrder(f);
    const started = [];
    for (const copy of copies) started.push(await f.store.startAttempt(copy.taskId, NOW));

    // Act: the DELETE; then billing's attempt fails, audit's succeeds, search's outcome is lost and its message
    // comes back
    const view = await cancelTask({ ...f.deps, store: f.store }, parent.taskId);
    const failure = (seq: number) => ({
      error: "HTTP 500",
      atMs: NOW + 5,
      attemptSeq: seq,
      attempt: { seq, startedAtMs: NOW, durationMs: 5, status: 500, error: "HTTP 500" },
    });
    const billing = await f.store.recordAttemptFailure(
      copies[0]?.taskId ?? "",
      failure(started[0]?.attemptSeq ?? 0),
    );
    await f.store.markDelivered(copies[1]?.taskId ?? "", {
      atMs: NOW + 5,
      latenessMs: 0,
      deliveryLatencyMs: 5,
      expiresAt: 1,
      attemptSeq: started[1]?.attemptSeq ?? 0,
    });
    const restarted = await f.store.startAttempt(copies[2]?.taskId ?? "", NOW + 60_000);

    // Assess
    expect(view.cancel_requested).toBe(true);
    expect(view.subscribers?.map((s) => s.cancel_requested)).toEqual([true, true, true]);
    expect(billing).toBe("cancelled");
    expect(restarted).toBeUndefined();
    const statuses = await Promise.all(copies.map(async (c) => (await f.store.get(c.taskId))?.status));
    expect(statuses).toEqual(["cancelled", "delivered", "cancelled"]);
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
  });

  it("DELETE of a parent whose copies are all dead-lettered discards them, as DELETE of a dead-lettered task does: 200, and a bulk replay of the topic replays none", async () => {
    // Prepare: every subscriber's copy failed (dead-lettered)
    const f = setup();
    const { parent, copies } = await addOrder(f);
    for (const copy of copies) await deadLetter(f, copy);
    f.topicQueue.calls.length = 0;
    const replayDeps = { ...f.replayDeps, config: f.config };

    // Act: the DELETE, its repeat, then a bulk replay of every dead letter of the topic and one naming the task
    const view = await cancelTask({ ...f.deps, store: f.store }, parent.taskId);
    const again = await cancelTask({ ...f.deps, store: f.store }, parent.taskId);
    const all = await replayTopic(replayDeps, "orders", {});
    const named = await replayTopic(replayDeps, "orders", { task_ids: [parent.taskId] });

    // Assess: each copy discarded as its own DELETE would (cancelled, out of the dead-letter list, its TTL the
    // retention from now, no shorter than its floor); nothing of the task is replayed
    expect(view).toMatchObject({ status: "cancelled" });
    expect(view.subscribers?.map((s) => s.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
    expect(again.subscribers?.map((s) => s.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
    for (const copy of copies) {
      const stored = (await f.store.get(copy.taskId)) as TaskRecord;
      expect(stored).toMatchObject({ status: "cancelled", cancelledAtMs: NOW, failedAtMs: NOW + 10_100 });
      expect(stored.failedTopic).toBeUndefined();
      expect(stored.expiresAt).toBe(
        finishedExpiry(copy, NOW, f.config.resolvedTopics.orders?.retentionDays ?? 0),
      );
    }
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
    expect(all).toMatchObject({ matched: 0, replayed: 0 });
    expect(named).toMatchObject({ matched: 0, replayed: 0 });
    expect(f.topicQueue.calls).toEqual([]);
  });

  it("DELETE of a parent discards its dead-lettered copy along with cancelling the pending ones; a delivered copy goes on as it is", async () => {
    // Prepare: billing's copy dead-lettered, audit's delivered, search's still scheduled
    const f = setup();
    const { parent, copies } = await addOrder(f);
    await deadLetter(f, copies[0] as TaskRecord);
    await deliver(f, copies[1] as TaskRecord);
    f.topicQueue.calls.length = 0;

    // Act
    const view = await cancelTask({ ...f.deps, store: f.store }, parent.taskId);
    const replayed = await replayTopic({ ...f.replayDeps, config: f.config }, "orders", {});

    // Assess
    expect(view.subscribers?.map((s) => s.status)).toEqual(["cancelled", "delivered", "cancelled"]);
    expect(replayed).toMatchObject({ matched: 0, replayed: 0 });
    expect(f.topicQueue.calls).toEqual([]);
  });

  it("a group cancel still leaves a fan-out task's dead-lettered copy failed, as it leaves a dead-lettered task: only DELETE discards", async () => {
    // Prepare: billing's copy dead-lettered, the others scheduled
    const f = setup();
    const { copies } = await addOrder(f);
    await deadLetter(f, copies[0] as TaskRecord);

    // Act
    await cancelGroup({ ...f.deps, store: f.store }, { topic: "orders", value: "o-1" }, {});

    // Assess
    const statuses = await Promise.all(copies.map(async (c) => (await f.store.get(c.taskId))?.status));
    expect(statuses).toEqual(["failed", "cancelled", "cancelled"]);
  });

  it("a DELETE whose discard of a dead-lettered copy loses to that copy's replay cancels the replayed copy instead: its attempt has not started, and nothing is delivered", async () => {
    // Prepare: every copy dead-lettered; billing's is replayed (marked queued, sent) between the cancel's write to
    // it, which found it failed, and the discard
    const f = setup();
    const { parent, copies } = await addOrder(f);
    for (const copy of copies) await deadLetter(f, copy);
    const billing = copies[0] as TaskRecord;
    const discard = f.store.discardFailed.bind(f.store);
    f.store.discardFailed = async (taskId, ...rest) => {
      if (taskId === billing.taskId) await replayTask(f.replayDeps, billing.taskId);
      return discard(taskId, ...rest);
    };

    // Act
    const view = await cancelTask({ ...f.deps, store: f.store }, parent.taskId);

    // Assess: the replay won the copy (the discard's condition failed), and the DELETE then cancelled it as a
    // repeated DELETE would: its message, when delivered, finds it cancelled
    expect(view.subscribers?.map((s) => s.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
    expect((await f.store.get(billing.taskId))?.status).toBe("cancelled");
    expect(await f.store.startAttempt(billing.taskId, NOW + 20_000)).toBeUndefined();
  });

  it("DELETE of a parent whose copies have all finished is a 409 with their status, and no retry re-adds a copy", async () => {
    // Prepare: every copy delivered (one whose callback is in flight would get a cancel request instead)
    const f = setup();
    const body = orderBody({ idempotency_key: "k-gone" });
    const { parent, copies } = await addOrder(f, { idempotency_key: "k-gone" });
    for (const copy of copies) await deliver(f, copy);

    // Act
    const error = await refusal(cancelTask({ ...f.deps, store: f.store }, parent.taskId));
    const again = await refusal(cancelTask({ ...f.deps, store: f.store }, parent.taskId));
    const retried = await addTask(f.deps, { body });

    // Assess
    expect(error.toBody().error).toMatchObject({ code: "conflict", task_status: "delivered" });
    expect(again.toBody().error).toMatchObject({ code: "conflict", task_status: "delivered" });
    expect(retried).toMatchObject({
      statusCode: 200,
      body: { task_id: parent.taskId, status: "delivered" },
    });
  });

  it("a keyed retry of the add during a DELETE leaves no copy lost: the cancel's answer holds for every subscriber", async () => {
    // Prepare: billing and audit got their copies; search's is still scheduled (its lane waits). The DELETE marks
    // the parent cancelled, and a keyed retry of the add runs before the DELETE reaches the copies.
    const f = setup();
    const body = orderBody({ idempotency_key: "k-cancel-race" });
    const { parent, copies } = await addOrder(f, { idempotency_key: "k-cancel-race" });
    for (const copy of copies.slice(0, 2)) await deliver(f, copy);
    const waiting = copies[2] as TaskRecord;
    const cancel = f.store.cancel.bind(f.store);
    f.store.cancel = async (taskId, nowMs, expiresAt) => {
      const outcome = await cancel(taskId, nowMs, expiresAt);
      if (taskId === parent.taskId) await addTask(f.deps, { body });
      return outcome;
    };

    // Act
    const answer = await cancelTask({ ...f.deps, store: f.store }, parent.taskId).then(
      () => 200,
      (error: { status?: number }) => error.status,
    );

    // Assess: a 200 means search's copy is never delivered; a 409 that it still is. Neither loses it unseen.
    const left = (await f.store.get(waiting.taskId))?.status ?? "missing";
    expect({ answer, left }).toEqual({ answer: 200, left: "cancelled" });
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
  });

  it("a DELETE racing a keyed retry that recreates a missing copy loses no copy: the copy the retry takes back is one the cancel answered for", async () => {
    // Prepare: billing's and audit's copies delivered; search's never written (its write failed: 503). A keyed retry
    // reads the parent (scheduled) and recreates search's copy; a DELETE marks the parent and looks for search's copy
    // before that write (not there), then finds the others delivered; the retry's read after its write sees the mark
    // and takes the copy back before the DELETE, which cancelled no copy, puts the parent back.
    const f = setup();
    const body = orderBody({ idempotency_key: "k-recreate-race" });
    const { parent, copies } = await addOrder(f, { idempotency_key: "k-recreate-race" });
    for (const copy of copies.slice(0, 2)) await deliver(f, copy);
    const search = copies[2] as TaskRecord;
    f.store.tasks.delete(search.taskId);
    const deferred = () => {
      let resolve = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      return { promise, resolve };
    };
    const atRestore = deferred();
    const retryDone = deferred();
    let answer: number | undefined;
    let deleting: Promise<void> | undefined;
    const restore = f.store.restoreFanOutParent.bind(f.store);
    f.store.restoreFanOutParent = async (...args) => {
      atRestore.resolve();
      await retryDone.promise;
      return restore(...args);
    };
    const putNew = f.store.putNew.bind(f.store);
    f.store.putNew = async (task, options) => {
      if (task.taskId === search.taskId && deleting === undefined) {
        deleting = cancelTask({ ...f.deps, store: f.store }, parent.taskId).then(
          () => {
            answer = 200;
          },
          (error: { status?: number }) => {
            answer = error.status;
          },
        );
        // The DELETE's cancels run to its restore (or its answer) before this write lands.
        await Promise.race([atRestore.promise, deleting]);
      }
      return putNew(task, options);
    };

    // Act
    await addTask(f.deps, { body }).catch(() => undefined);
    retryDone.resolve();
    await deleting;

    // Assess: the copy the retry took back was one the cancel stopped: 200, and the parent stays cancelled (a 409
    // said the task goes on, for search too, whose copy was gone)
    const left = (await f.store.get(search.taskId))?.status ?? "missing";
    expect({ answer, left }).toEqual({ answer: 200, left: "missing" });
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
  });

  it("a DELETE answered 409 leaves the parent as it was: its view, a later replay and a later cancel as before (which reaches the replayed copy: its attempt has not started)", async () => {
    // Prepare: every copy finished (delivered: a dead-lettered one the DELETE would discard).
    const f = setup();
    const { parent, copies } = await addOrder(f);
    for (const copy of copies) await deliver(f, copy);
    const before = await getTask(f.deps, parent.taskId);

    // Act
    const error = await refusal(cancelTask({ ...f.deps, store: f.store }, parent.taskId));
    const stored = await f.store.get(parent.taskId);
    const view = await getTask(f.deps, parent.taskId);
    const replayed = await replayTask(f.replayDeps, parent.taskId, { subscriber: "audit" });
    const again = await cancelTask({ ...f.deps, store: f.store }, parent.taskId);

    // Assess
    expect(error).toMatchObject({ status: 409 });
    expect(stored).toEqual(parent);
    expect(view).toEqual(before);
    expect(view.cancelled_at).toBeUndefined();
    expect(replayed.subscribers?.map((s) => s.status)).toEqual(["delivered", "queued", "delivered"]);
    expect(again.subscribers?.map((s) => s.status)).toEqual(["delivered", "cancelled", "delivered"]);
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
  });

  it("a DELETE answered 409 puts back the TTL a copy's replay gave its parent, not its add's: DynamoDB's TTL would remove the parent (its id a 404) under its live copy", async () => {
    // Prepare: billing's copy dead-lettered, replayed a minute before its parent's TTL (which keeps the parent as
    // long as the copy's new life) and delivered again; the other copies delivered. A DELETE of the parent is a 409.
    const f = setup();
    const { parent, copies } = await addOrder(f);
    const billing = copies[0] as TaskRecord;
    await deadLetter(f, billing);
    for (const copy of copies.slice(1)) await deliver(f, copy);
    const replayAt = (parent.expiresAt as number) * 1000 - 60_000;
    const deps = { ...f.replayDeps, config: f.config, now: () => replayAt };
    await replayTask(deps, parent.taskId, { subscriber: "billing" });
    const kept = (await f.store.get(parent.taskId))?.expiresAt as number;
    await deliver(f, billing);

    // Act
    const cancelAt = { ...f.deps, store: f.store, now: () => replayAt + 2_000 };
    const error = await refusal(cancelTask(cancelAt, parent.taskId));

    // Assess: put back as it was, its TTL the one the replay gave it, not its add's (past before the copy's end)
    expect(error).toMatchObject({ status: 409 });
    expect(kept).toBeGreaterThan(parent.expiresAt as number);
    expect(await f.store.get(parent.taskId)).toMatchObject({ status: "scheduled", expiresAt: kept });
  });

  it("a DELETE answered 409 does not lower the TTL a copy's replay gave its parent just before the cancel's write", async () => {
    // Prepare: every copy delivered (a dead-lettered one the DELETE would discard); billing's replay, started a
    // minute before the DELETE, kept the parent (keepFanOutParent) before the cancel's write and marks the copy only
    // after the DELETE read it delivered: the cancel's TTL, higher, took the keep's place, and the undoing meets no
    // replay it can count.
    const f = setup();
    const { parent, copies } = await addOrder(f);
    for (const copy of copies) await deliverKept(f, copy);
    const cancelAt = (parent.expiresAt as number) * 1000 - 120_000;
    const replayAt = cancelAt - 60_000;
    const topic = f.config.resolvedTopics.orders as TopicConfig;
    const cancel = f.store.cancel.bind(f.store);
    f.store.cancel = async (...args) => {
      if (args[0] === parent.taskId)
        await f.store.keepFanOutParent(parent.taskId, claimExpiry(replayAt, topic));
      return cancel(...args);
    };
    const replayDeps = { ...f.replayDeps, config: f.config, now: () => replayAt };
    const restore = f.store.restoreFanOutParent.bind(f.store);
    f.store.restoreFanOutParent = async (...args) => {
      await replayTask(replayDeps, parent.taskId, { subscriber: "billing" });
      return restore(...args);
    };

    // Act
    const error = await refusal(
      cancelTask({ ...f.deps, store: f.store, now: () => cancelAt }, parent.taskId),
    );

    // Assess: put back scheduled, kept at least as long as the replayed copy's new life
    expect(error).toMatchObject({ status: 409 });
    const restored = await f.store.get(parent.taskId);
    expect(restored?.status).toBe("scheduled");
    expect(restored?.expiresAt).toBeGreaterThanOrEqual(claimExpiry(replayAt, topic));
  });

  it("a DELETE answered 409 does not lower the TTL a copy's replay gave its parent between the cancel and its undoing", async () => {
    // Prepare: every copy delivered (a dead-lettered one the DELETE would discard); billing is replayed (near its
    // parent's TTL) while the DELETE, which found it delivered, is about to put the parent back.
    const f = setup();
    const { parent, copies } = await addOrder(f);
    for (const copy of copies) await deliverKept(f, copy);
    const cancelAt = (parent.expiresAt as number) * 1000 - 120_000;
    const replayDeps = { ...f.replayDeps, config: f.config, now: () => cancelAt + 60_000 };
    const restore = f.store.restoreFanOutParent.bind(f.store);
    f.store.restoreFanOutParent = async (...args) => {
      await replayTask(replayDeps, parent.taskId, { subscriber: "billing" });
      return restore(...args);
    };

    // Act
    const error = await refusal(
      cancelTask({ ...f.deps, store: f.store, now: () => cancelAt }, parent.taskId),
    );

    // Assess: put back scheduled, kept as long as the replayed copy's new life
    expect(error).toMatchObject({ status: 409 });
    const kept = claimExpiry(cancelAt + 60_000, f.config.resolvedTopics.orders as TopicConfig);
    expect(await f.store.get(parent.taskId)).toMatchObject({ status: "scheduled", expiresAt: kept });
  });

  it.each([
    ["its first attempt", false],
    ["a replay near the end of its parent's TTL", true],
  ] as const)(
    "a DELETE answered 200 keeps the parent as long as a copy it could not stop (delivering: %s) may live: the parent's id no 404 while that copy is dead-lettered",
    async (_name, replayed) => {
      // Prepare: billing's copy delivering when the DELETE cancels the other two (200)
      const f = setup();
      const { parent, copies } = await addOrder(f);
      const billing = copies[0] as TaskRecord;
      let startAt = NOW + 10_000;
      if (replayed) {
        await deadLetter(f, billing);
        startAt = (parent.expiresAt as number) * 1000 - 60_000;
        await replayTask({ ...f.replayDeps, config: f.config, now: () => startAt }, parent.taskId);
      }
      const started = (await f.store.startAttempt(billing.taskId, startAt)) as TaskRecord;

      // Act: the DELETE; billing's attempts run out an hour later, it is dead-lettered, kept the retention from then
      const cancelled = await cancelTask(
        { ...f.deps, store: f.store, now: () => startAt + 1_000 },
        parent.taskId,
      );
      const failedAt = startAt + 3_600_000;
      const retentionDays = f.config.resolvedTopics.orders?.retentionDays as number;
      await deadLetterTask(
        { store: f.store, topicQueue: f.topicQueue },
        { dlqUrl: "https://sqs.test/orders-dlq.fifo", retentionDays },
        started,
        "HTTP 500",
        () => failedAt,
      );

      // Assess
      expect(cancelled.subscribers?.map((s) => s.status)).toEqual(["delivering", "cancelled", "cancelled"]);
      const copyEnds = (await f.store.get(billing.taskId))?.expiresAt as number;
      expect((await f.store.get(parent.taskId))?.expiresAt).toBeGreaterThanOrEqual(copyEnds);
    },
  );

  it("a group cancel on a fan-out topic cancels each parent's copies still scheduled", async () => {
    // Prepare
    const f = setup();
    const first = await addOrder(f, { content: { order_id: "g-1", n: 1 } });
    const second = await addOrder(f, { content: { order_id: "g-1", n: 2 } });

    // Act
    const result = await cancelGroup({ ...f.deps, store: f.store }, { topic: "orders", value: "g-1" }, {});

    // Assess
    expect(result).toMatchObject({ cancelled: 2, not_cancelled: [] });
    const statuses = await Promise.all(
      [...first.copies, ...second.copies].map(async (c) => (await f.store.get(c.taskId))?.status),
    );
    expect(statuses).toEqual(Array.from({ length: 6 }, () => "cancelled"));
  });

  it("a group cancel lists no parent whose copies have all finished, as it lists no finished task, and leaves it as it was", async () => {
    // Prepare: the group's first parent is done (two copies delivered, one dead-lettered), its second waits. A
    // parent item itself stays `scheduled` (it is never delivered), so the group's page reads both.
    const f = setup();
    const done = await addOrder(f, { content: { order_id: "g-9", n: 1 } });
    const [billing, audit, search] = done.copies as [TaskRecord, TaskRecord, TaskRecord];
    await deliver(f, billing);
    await deliver(f, audit);
    await deadLetter(f, search);
    const waiting = await addOrder(f, { content: { order_id: "g-9", n: 2 } });
    const before = await f.store.get(done.parent.taskId);

    // Act
    const result = await cancelGroup({ ...f.deps, store: f.store }, { topic: "orders", value: "g-9" }, {});

    // Assess: only the waiting parent counts; the finished one is neither cancelled nor listed, and reads as before.
    expect(result).toEqual({
      cancelled: 1,
      not_cancelled: [],
      cancel_requested: [],
      more: false,
      next_cursor: null,
    });
    expect(await f.store.get(done.parent.taskId)).toEqual(before);
    const copies = await Promise.all(done.copies.map(async (c) => (await f.store.get(c.taskId))?.status));
    expect(copies).toEqual(["delivered", "delivered", "failed"]);
    const waitingCopies = await Promise.all(
      waiting.copies.map(async (c) => (await f.store.get(c.taskId))?.status),
    );
    expect(waitingCopies).toEqual(["cancelled", "cancelled", "cancelled"]);
  });

  it("a group cancel neither counts nor marks cancelled a parent whose copies all finished and expired (TTL), while it is still retained", async () => {
    // Prepare: the group's first parent was delivered to every subscriber and its copies' items expired; the parent
    // lives a day and more longer (its claim's TTL). Its second parent still waits.
    const f = setup();
    const done = await addOrder(f, { content: { order_id: "g-11", n: 1 } });
    for (const copy of done.copies) {
      await deliver(f, copy);
      f.store.tasks.delete(copy.taskId);
    }
    const later = NOW + 10_000 + (f.config.resolvedTopics.orders?.retentionDays ?? 0) * 86_400_000;
    const waiting = await addOrder(f, { content: { order_id: "g-11", n: 2 } });
    const before = await f.store.get(done.parent.taskId);

    // Act
    const result = await cancelGroup(
      { ...f.deps, store: f.store, now: () => later },
      { topic: "orders", value: "g-11" },
      {},
    );

    // Assess: only the waiting parent was cancelled; the finished one reads as before (not `cancelled`).
    expect(result).toEqual({
      cancelled: 1,
      not_cancelled: [],
      cancel_requested: [],
      more: false,
      next_cursor: null,
    });
    expect(await f.store.get(done.parent.taskId)).toEqual(before);
    const waitingCopies = await Promise.all(
      waiting.copies.map(async (c) => (await f.store.get(c.taskId))?.status),
    );
    expect(waitingCopies).toEqual(["cancelled", "cancelled", "cancelled"]);
  });

  it("a parent whose copies all finished and expired (TTL) is a task that completed and expired: GET, DELETE and a replay answer 404 and write nothing, the group's list leaves it out", async () => {
    // Prepare: the parent was delivered to every subscriber and its copies' items expired; the parent lives a day and
    // more longer (its claim's TTL), its own item still `scheduled`. Another parent of the group still waits.
    const f = setup();
    const done = await addOrder(f, { content: { order_id: "g-12", n: 1 } });
    for (const copy of done.copies) {
      await deliver(f, copy);
      f.store.tasks.delete(copy.taskId);
    }
    const later = NOW + 10_000 + (f.config.resolvedTopics.orders?.retentionDays ?? 0) * 86_400_000;
    const waiting = await addOrder(f, { content: { order_id: "g-12", n: 2 } });
    const before = await f.store.get(done.parent.taskId);
    const deps = { ...f.deps, now: () => later };

    // Act
    const got = await refusal(getTask(deps, done.parent.taskId));
    const cancelled = await refusal(cancelTask(deps, done.parent.taskId));
    const replayed = await refusal(
      replayTask({ ...f.replayDeps, config: f.config, now: () => later }, done.parent.taskId),
    );
    const listed = await listTasks(deps, { topic: "orders", group: "g-12" });
    const bulk = await replayTopic({ ...f.replayDeps, config: f.config, now: () => later }, "orders", {
      task_ids: [done.parent.taskId],
    });

    // Assess: the view and the DELETE agree (no such task), and the parent reads as before (not `cancelled`).
    expect(got).toMatchObject({ status: 404, code: "not_found" });
    expect(cancelled).toMatchObject({ status: 404, code: "not_found" });
    expect(replayed).toMatchObject({ status: 404, code: "not_found" });
    expect(listed.tasks.map((t) => t.task_id)).toEqual([waiting.parent.taskId]);
    expect(bulk).toMatchObject({
      matched: 0,
      failed: [{ task_id: done.parent.taskId, reason: "not_found" }],
    });
    expect(await f.store.get(done.parent.taskId)).toEqual(before);
    expect(f.topicQueue.calls).toEqual([]);
  });

  it("a replay of one subscriber's copy of a parent that completed and expired is a 404 as every other route answers it, whichever subscriber is named", async () => {
    // Prepare: delivered to every subscriber and its copies' items expired (TTL); the parent lives on for its claim.
    const f = setup();
    const done = await addOrder(f, { content: { order_id: "g-14" } });
    for (const copy of done.copies) {
      await deliver(f, copy);
      f.store.tasks.delete(copy.taskId);
    }
    const later = NOW + 10_000 + (f.config.resolvedTopics.orders?.retentionDays ?? 0) * 86_400_000;
    const before = await f.store.get(done.parent.taskId);
    const deps = { ...f.replayDeps, config: f.config, now: () => later };

    // Act
    const copy = await refusal(replayTask(deps, done.parent.taskId, { subscriber: "audit" }));
    const unknown = await refusal(replayTask(deps, done.parent.taskId, { subscriber: "nobody" }));

    // Assess: no such task (GET's 404), not a 409 about a copy nor a 400 about a subscriber of a task that is gone
    expect(copy).toMatchObject({ status: 404, code: "not_found" });
    expect(copy.message).toMatch(/completed and its subscribers' copies have expired/);
    expect(unknown).toMatchObject({ status: 404, code: "not_found" });
    expect(await f.store.get(done.parent.taskId)).toEqual(before);
    expect(f.store.tasks.size).toBe(1);
    expect(f.topicQueue.calls).toEqual([]);
  });

  it("a replay of one subscriber's missing copy is still a 409 while the parent has not completed and expired: a young parent's add may write it, and a sibling copy still there keeps the task", async () => {
    // Prepare: a young parent whose copies are not written yet; an older one whose audit copy alone expired.
    const f = setup();
    const young = await addOrder(f, { content: { order_id: "g-15" } });
    for (const copy of young.copies) f.store.tasks.delete(copy.taskId);
    const old = await addOrder(f, { content: { order_id: "g-16" } });
    for (const copy of old.copies) await deliver(f, copy);
    f.store.tasks.delete(old.copies[1]?.taskId as string);
    const later = NOW + 10_000 + (f.config.resolvedTopics.orders?.retentionDays ?? 0) * 86_400_000;
    const deps = { ...f.replayDeps, config: f.config };

    // Act
    const notYet = await refusal(replayTask(deps, young.parent.taskId, { subscriber: "audit" }));
    const gone = await refusal(
      replayTask({ ...deps, now: () => later }, old.parent.taskId, { subscriber: "audit" }),
    );
    const unknown = await refusal(replayTask(deps, young.parent.taskId, { subscriber: "nobody" }));

    // Assess
    expect(notYet).toMatchObject({ status: 409, code: "conflict", details: { subscriber: "audit" } });
    expect(gone).toMatchObject({ status: 409, code: "conflict", details: { subscriber: "audit" } });
    expect(unknown).toMatchObject({ status: 400, code: "unknown_subscriber" });
    expect(f.topicQueue.calls).toEqual([]);
  });

  it("a young parent whose copies are not written yet is still cancelled (200): its add may write them", async () => {
    // Prepare: the add stopped before writing the copies; the cancel must reach the parent first.
    const f = setup();
    const { parent, copies } = await addOrder(f, { content: { order_id: "g-13" } });
    for (const copy of copies) f.store.tasks.delete(copy.taskId);

    // Act
    const view = await cancelTask(f.deps, parent.taskId);

    // Assess
    expect(view).toMatchObject({ task_id: parent.taskId, status: "cancelled" });
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
  });

  it("a DELETE whose copy is written by its add after the cancel missed it answers the task cancelled, not scheduled: that copy is cancelled too", async () => {
    // Prepare: the add has written its parent; its copies' writes land while the DELETE runs, each just after the
    // cancel's write to it found nothing (the add then reads the cancel and takes them back, after this answer).
    const f = setup();
    const { parent, copies } = await addOrder(f, { content: { order_id: "g-14" } });
    for (const copy of copies) f.store.tasks.delete(copy.taskId);
    const cancel = f.store.cancel.bind(f.store);
    f.store.cancel = async (taskId, ...rest) => {
      const outcome = await cancel(taskId, ...rest);
      const copy = copies.find((c) => c.taskId === taskId);
      if (copy) await f.store.putNew(copy);
      return outcome;
    };

    // Act
    const view = await cancelTask(f.deps, parent.taskId);

    // Assess: the 200 says what the DELETE did, and no copy is left for the relay to forward
    expect(view).toMatchObject({ task_id: parent.taskId, status: "cancelled" });
    expect(view.subscribers?.map((s) => s.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
    for (const copy of copies) expect((await f.store.get(copy.taskId))?.status).toBe("cancelled");
  });

  it("a group cancel lists a parent whose copies' callbacks are in flight in cancel_requested: its cancel stands and each copy ends after its attempt", async () => {
    // Prepare
    const f = setup();
    const { parent, copies } = await addOrder(f, { content: { order_id: "g-10", n: 1 } });
    for (const copy of copies) await f.store.startAttempt(copy.taskId, NOW + 10_000);

    // Act
    const result = await cancelGroup({ ...f.deps, store: f.store }, { topic: "orders", value: "g-10" }, {});

    // Assess
    expect(result).toMatchObject({
      cancelled: 1,
      not_cancelled: [],
      cancel_requested: [{ task_id: parent.taskId }],
    });
    expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
    for (const copy of copies) {
      expect(await f.store.get(copy.taskId)).toMatchObject({
        status: "delivering",
        cancelRequestedAtMs: NOW,
      });
    }
  });

  it("a repeated group cancel finishes the copies of a parent the first one cancelled but stopped part-way through", async () => {
    // Prepare: the first group cancel marks the parent cancelled, then fails on audit's copy (a throttled write).
    const f = setup();
    const { copies } = await addOrder(f, { content: { order_id: "g-2", n: 1 } });
    const cancel = f.store.cancel.bind(f.store);
    f.store.cancel = async (taskId, nowMs, expiresAt) => {
      if (taskId === copies[1]?.taskId) throw new Error("ThrottlingException");
      return cancel(taskId, nowMs, expiresAt);
    };
    const first = await cancelGroup(
      { ...f.deps, store: f.store },
      { topic: "orders", value: "g-2" },
      {},
    ).catch((error: unknown) => error);
    f.store.cancel = cancel;

    // Act
    const again = await cancelGroup({ ...f.deps, store: f.store }, { topic: "orders", value: "g-2" }, {});
    const third = await cancelGroup({ ...f.deps, store: f.store }, { topic: "orders", value: "g-2" }, {});

    // Assess: the repeat cancels what was left (and counts the parent it finished), then has nothing left to do.
    expect(first).toMatchObject({ message: "ThrottlingException" });
    const statuses = await Promise.all(copies.map(async (c) => (await f.store.get(c.taskId))?.status));
    expect(statuses).toEqual(["cancelled", "cancelled", "cancelled"]);
    expect(again).toMatchObject({ cancelled: 1, not_cancelled: [] });
    expect(third).toMatchObject({ cancelled: 0, not_cancelled: [] });
  });

  it("a repeated group cancel finishes a part-way cancelled parent's copy the sweeper has marked queued since", async () => {
    // Prepare: the parent's own cancel write landed, its copies' did not; audit's copy was then sent again by the
    // sweeper (held past its grace in a paused topic), so it is `queued`: no attempt started.
    const f = setup();
    const { parent, copies } = await addOrder(f, { content: { order_id: "g-3", n: 1 } });
    await f.store.cancel(parent.taskId, NOW + 1, retentionExpiry(NOW + 1, 1));
    await f.store.markQueued(copies[1]?.taskId ?? "", NOW + 2);

    // Act
    const again = await cancelGroup({ ...f.deps, store: f.store }, { topic: "orders", value: "g-3" }, {});

    // Assess
    const statuses = await Promise.all(copies.map(async (c) => (await f.store.get(c.taskId))?.status));
    expect(statuses).toEqual(["cancelled", "cancelled", "cancelled"]);
    expect(again).toMatchObject({ cancelled: 1, not_cancelled: [] });
  });

  it("a group cancel that finds a parent before its copies are written leaves none of them deliverable", async () => {
    // Prepare: the group cancel runs (and counts the parent cancelled) right after the add wrote the parent.
    const f = setup();
    const putNew = f.store.putNew.bind(f.store);
    let groupCancel: Awaited<ReturnType<typeof cancelGroup>> | undefined;
    f.store.putNew = async (task) => {
      const created = await putNew(task);
      if (task.fanOut) {
        groupCancel = await cancelGroup({ ...f.deps, store: f.store }, { topic: "orders", value: "o-1" }, {});
      }
      return created;
    };

    // Act
    const added = await addTask(f.deps, { body: orderBody() });

    // Assess
    expect(groupCancel).toMatchObject({ cancelled: 1 });
    const copies = await Promise.all(
      (added.body.subscribers ?? []).map(async (s) => (await f.store.get(s.task_id))?.status ?? "missing"),
    );
    expect(copies).not.toContain("scheduled");
    expect(f.timerQueue.armed).toEqual([]);
  });

  it("refuses to reschedule or run early a parent or a copy (fan_out_unsupported)", async () => {
    // Prepare
    const f = setup();
    const { parent, copies } = await addOrder(f);

    // Act
    const moved = await refusal(rescheduleTask(f.deps, parent.taskId, { delay_seconds: 60 }));
    const ran = await refusal(runTask(f.deps, copies[0]?.taskId));

    // Assess
    expect(moved).toMatchObject({ status: 409, code: "fan_out_unsupported" });
    expect(ran).toMatchObject({ status: 409, code: "fan_out_unsupported" });
    expect(f.store.tasks.size).toBe(4);
  });
});

describe("fan-out lists", () => {
  it("a group's list shows each fan-out task with its subscribers; `subscriber` lists that subscriber's lane in order", async () => {
    // Prepare
    const f = setup();
    const first = await addOrder(f, { content: { order_id: "g-7", n: 1 } });
    const second = await addOrder(f, { content: { order_id: "g-7", n: 2 } });
    await deliver(f, first.copies[1] as TaskRecord);

    // Act
    const parents = await listTasks(f.deps, { topic: "orders", group: "g-7" });
    const lane = await listTasks(f.deps, { topic: "orders", group: "g-7", subscriber: "audit" });

    // Assess
    expect(parents.tasks.map((t) => [t.task_id, t.subscribers?.map((s) => s.status)])).toEqual([
      [first.parent.taskId, ["scheduled", "delivered", "scheduled"]],
      [second.parent.taskId, ["scheduled", "scheduled", "scheduled"]],
    ]);
    expect(lane.tasks.map((t) => [t.task_id, t.subscriber, t.status])).toEqual([
      [first.copies[1]?.taskId, "audit", "delivered"],
      [second.copies[1]?.taskId, "audit", "scheduled"],
    ]);
  });

  it("refuses `subscriber` on a plain topic (not_fan_out), an unknown one, and one without a group", async () => {
    const f = setup();
    const plain = await refusal(listTasks(f.deps, { topic: "demo", group: "g", subscriber: "audit" }));
    const unknown = await refusal(listTasks(f.deps, { topic: "orders", group: "g", subscriber: "nobody" }));
    const noGroup = await refusal(
      listTasks(f.deps, { topic: "orders", status: "failed", subscriber: "audit" }),
    );
    expect([plain.code, unknown.code, noGroup.code]).toEqual([
      "not_fan_out",
      "unknown_subscriber",
      "validation_failed",
    ]);
  });
});

describe("fan-out after a topic's retention changes (runtime settings or a deploy)", () => {
  const DAY_MS = 86_400_000;

  /** The fixture's config with `orders` kept `retentionDays`, as a runtime document (or a deploy) sets it. */
  function withRetention(f: ReturnType<typeof setup>, retentionDays: number) {
    const changed = applyRuntimeSettings(f.config, { topics: { orders: { retentionDays } } });
    if (!changed.ok) throw new Error(changed.problems.join("; "));
    return changed.config;
  }

  /** Delivers a copy as deliver's outcome does: its TTL from its finish, kept to its floor (finishedExpiry). */
  async function deliverUnder(f: ReturnType<typeof setup>, copy: TaskRecord, retentionDays: number) {
    const started = (await f.store.startAttempt(copy.taskId, NOW + 10_000)) ?? copy;
    await f.store.markDelivered(copy.taskId, {
      atMs: NOW + 10_050,
      latenessMs: 0,
      deliveryLatencyMs: 50,
      expiresAt: finishedExpiry(started, NOW + 10_050, retentionDays),
    });
  }

  /** DynamoDB's TTL at `atMs`: every item whose expiresAt has passed is removed. */
  function expireItems(f: ReturnType<typeof setup>, atMs: number) {
    for (const [id, task] of f.store.tasks) {
      if (task.expiresAt !== undefined && task.expiresAt * 1000 < atMs) f.store.tasks.delete(id);
    }
  }

  it("a keyed retry after the retention was raised does not deliver a delivered copy again: a copy outlives its parent's claim", async () => {
    // Prepare: added and delivered to billing under a 1-day retention; two days later the retention is 7 days, and
    // TTL has removed what had expired by then. The parent and its claim live on (due + attempts + retention + a day).
    const f = setup();
    const oneDay = { ...f.deps, config: withRetention(f, 1) };
    const body = orderBody({ idempotency_key: "k-raised" });
    const first = await addTask(oneDay, { body });
    const parent = (await f.store.get(first.body.task_id)) as TaskRecord;
    const billing = (await f.store.get(parent.fanOut?.[0]?.taskId ?? "")) as TaskRecord;
    await deliverUnder(f, billing, 1);
    const later = NOW + 2 * DAY_MS;
    expireItems(f, later);
    const armedBefore = f.timerQueue.armed.length;

    // Act
    const retried = await addTask({ ...f.deps, config: withRetention(f, 7), now: () => later }, { body });

    // Assess: the same task; billing's copy still there, delivered, and not armed again
    expect(retried).toMatchObject({ statusCode: 200, body: { task_id: parent.taskId } });
    expect(await f.store.get(billing.taskId)).toMatchObject({ status: "delivered" });
    expect(f.timerQueue.armed.slice(armedBefore).map((a) => a.taskId)).not.toContain(billing.taskId);
  });

  it("a keyed retry past the retention after the due time recreates a copy never written while its siblings, written with the parent's floor, are still kept", async () => {
    // Prepare: a topic retained 0.1 day (2.4 h). The keyed add wrote billing's and audit's copies but not search's
    // (503, "retry with the same key"); the sweeper delivered the two. The retry comes 3 hours after the due time:
    // the delivered copies are kept to their floor (the parent's TTL, a day and more away), so search's copy,
    // written by the same add, would be too: it was never written.
    const f = setup();
    const short = { ...f.deps, config: withRetention(f, 0.1) };
    const body = orderBody({ idempotency_key: "k-short" });
    const first = await addTask(short, { body });
    const parent = (await f.store.get(first.body.task_id)) as TaskRecord;
    const [billing, audit, search] = await Promise.all(
      (parent.fanOut ?? []).map(async (l) => (await f.store.get(l.taskId)) as TaskRecord),
    );
    f.store.tasks.delete(search?.taskId as string);
    for (const copy of [billing, audit]) await deliverUnder(f, copy as TaskRecord, 0.1);
    const later = NOW + 10_000 + 3 * 3_600_000;
    expireItems(f, later);

    // Act
    const retried = await addTask({ ...short, now: () => later }, { body });

    // Assess: search's copy written and armed; billing's and audit's untouched
    expect(retried).toMatchObject({ statusCode: 200, body: { task_id: parent.taskId, status: "scheduled" } });
    expect(await f.store.get(search?.taskId as string)).toMatchObject({
      status: "scheduled",
      subscriber: "search",
    });
    expect(f.timerQueue.armed.map((a) => a.taskId)).toContain(search?.taskId);
    expect(await f.store.get(billing?.taskId as string)).toMatchObject({ status: "delivered" });
  });

  it("a cancel answered 200 stays answered: the cancelled parent is kept as long as its key's claim, so a keyed retry recreates nothing", async () => {
    // Prepare: a keyed add due in 10 days on a topic retained 3 days, whose copy writes failed (503 "retry with the
    // same key"); the parent's DELETE answers 200. Four days later TTL has removed what had expired by then; the
    // key's claim lives on (due + attempts + retention + a day).
    const f = setup();
    const threeDays = { ...f.deps, config: withRetention(f, 3) };
    const body = orderBody({ idempotency_key: "k-cancelled", delay_seconds: 10 * 86_400 });
    const putNew = f.store.putNew.bind(f.store);
    f.store.putNew = async (task, options) => {
      if (task.parentTaskId !== undefined) throw new Error("copy write failed");
      return putNew(task, options);
    };
    const first = await addTask(threeDays, { body }).catch((error: unknown) => error);
    f.store.putNew = putNew;
    const parentId = [...f.store.tasks.values()].find((t) => t.fanOut)?.taskId as string;
    const cancelled = await cancelTask(threeDays, parentId);
    const later = NOW + 4 * DAY_MS;
    expireItems(f, later);
    const armedBefore = f.timerQueue.armed.length;

    // Act
    const retried = await addTask({ ...threeDays, now: () => later }, { body });

    // Assess: no copy written or armed, the task still answered cancelled
    expect(first).toBeInstanceOf(Error);
    expect(cancelled.status).toBe("cancelled");
    expect(retried.body).toMatchObject({ task_id: parentId, status: "cancelled" });
    expect([...f.store.tasks.values()].filter((t) => t.parentTaskId === parentId)).toEqual([]);
    expect(f.timerQueue.armed.slice(armedBefore)).toEqual([]);
  });

  it("a parent read past its own TTL (DynamoDB removes lazily) whose copies are gone is a task that completed and expired, whatever the retention now", async () => {
    // Prepare: every copy delivered and expired with the parent under a 1-day retention; the retention is now 30 days
    const f = setup();
    const { parent, copies } = await addOrder(f);
    for (const copy of copies) await deliverUnder(f, copy, 1);
    const pastParent = ((parent.expiresAt ?? 0) + 1) * 1000;
    for (const copy of copies) f.store.tasks.delete(copy.taskId);
    const deps = { ...f.deps, config: withRetention(f, 30), now: () => pastParent };

    // Act
    const got = await refusal(getTask(deps, parent.taskId));

    // Assess: no `scheduled` task with every subscriber missing, a task still to come that never will
    expect(got).toMatchObject({ status: 404, code: "not_found" });
  });
});

describe("fan-out after a topic's subscribers change (runtime settings or a deploy)", () => {
  /** The same store and ports, with `orders` as a plain topic (its subscribers removed). */
  function plainOrders(f: ReturnType<typeof setup>, sweeper?: { readonly indexNearTermTasks: boolean }) {
    const config = parseConfig({
      name: "test",
      system: { allowedCallbackHosts: ["*"] },
      topics: { orders: { deliverBy: "order_id", defaultCallbackUrl: "https://orders.example.com/hook" } },
      ...(sweeper && { sweeper }),
    });
    return { ...f.deps, config };
  }

  /** A plain task of `demo` with its own callback. */
  const plainBody = {
    topic: "demo",
    delay_seconds: 10,
    content: { order_id: "o-1" },
    callback: { url: "https://receiver.example.com/hook" },
  };

  /** The fixture's config after a runtime document gives `demo` the subscribers. */
  function withSubscribersOnDemo(f: ReturnType<typeof setup>) {
    const fanOut = applyRuntimeSettings(f.config, { topics: { demo: { subscribers: SUBSCRIBERS } } });
    if (!fanOut.ok) throw new Error(fanOut.problems.join("; "));
    return fanOut.config;
  }

  it("a keyed retry after the topic turned plain answers its fan-out task (200), not a 400 for the missing callback", async () => {
    // Prepare: a keyed fan-out task accepted (its answer lost), then the runtime document removes the subscribers
    const f = setup();
    const body = orderBody({ idempotency_key: "k-switch" });
    const { parent } = await addOrder(f, { idempotency_key: "k-switch" });
    const plain = applyRuntimeSettings(f.config, { topics: { orders: { subscribers: null } } });
    if (!plain.ok) throw new Error(plain.problems.join("; "));
    const items = f.store.tasks.size;

    // Act
    const retried = await addTask({ ...f.deps, config: plain.config }, { body });

    // Assess: the task it made, as any repeat; nothing new written
    expect(retried).toMatchObject({ statusCode: 200, body: { task_id: parent.taskId, status: "scheduled" } });
    expect(retried.body.subscribers?.map((s) => s.id)).toEqual(["billing", "audit", "search"]);
    expect(f.store.tasks.size).toBe(items);
  });

  it("a keyed retry after the topic turned fan-out answers its plain task (200), not a 400 fan_out_callback", async () => {
    // Prepare: a keyed plain task with its callback accepted, then the runtime document gives the topic subscribers
    const f = setup();
    const body = { ...plainBody, idempotency_key: "k-plain" };
    const first = await addTask(f.deps, { body });
    const deps = { ...f.deps, config: withSubscribersOnDemo(f) };
    const items = f.store.tasks.size;

    // Act
    const retried = await addTask(deps, { body });
    const inBatch = await addTasksBatch(deps, { tasks: [body] });

    // Assess: as a single add and as a batch item
    expect(retried).toMatchObject({
      statusCode: 200,
      body: { task_id: first.body.task_id, status: "scheduled" },
    });
    expect(inBatch.results).toEqual([
      expect.objectContaining({ status: 200, task_id: first.body.task_id, task_status: "scheduled" }),
    ]);
    expect(f.store.tasks.size).toBe(items);
  });

  it("a retry whose request today's settings refuse still gets that 400 when its key made no task, or with another body", async () => {
    // Prepare: a keyed plain task; the topic turns fan-out
    const f = setup();
    const body = plainBody;
    await addTask(f.deps, { body: { ...body, idempotency_key: "k-made" } });
    const deps = { ...f.deps, config: withSubscribersOnDemo(f) };

    // Act
    const unknownKey = await refusal(addTask(deps, { body: { ...body, idempotency_key: "k-new" } }));
    const otherBody = await refusal(
      addTask(deps, { body: { ...body, content: { order_id: "o-2" }, idempotency_key: "k-made" } }),
    );

    // Assess: today's refusal, as before
    expect(unknownKey.toBody().error.code).toBe("fan_out_callback");
    expect(otherBody.toBody().error.code).toBe("fan_out_callback");
  });

  it.each([
    ["a DELETE", false],
    ["a group cancel", true],
  ] as const)(
    "%s after the topic turned plain keeps a parent it cancelled as long as a copy it could not stop (delivering) may live",
    async (_name, group) => {
      // Prepare: billing's copy delivering; then the runtime document removes the topic's subscribers
      const f = setup();
      const { parent, copies } = await addOrder(f);
      const billing = copies[0] as TaskRecord;
      const startAt = NOW + 10_000;
      const started = (await f.store.startAttempt(billing.taskId, startAt)) as TaskRecord;
      const plain = { ...plainOrders(f), now: () => startAt + 1_000 };

      // Act: the cancel (on today's settings); billing's attempts run out an hour later and it is dead-lettered
      if (group) {
        const answer = await cancelGroup(plain, { topic: "orders", value: "o-1" }, {});
        expect(answer.cancelled).toBe(1);
      } else {
        const answer = await cancelTask(plain, parent.taskId);
        expect(answer.subscribers?.map((s) => s.status)).toEqual(["delivering", "cancelled", "cancelled"]);
      }
      const retentionDays = plain.config.resolvedTopics.orders?.retentionDays as number;
      await deadLetterTask(
        { store: f.store, topicQueue: f.topicQueue },
        { dlqUrl: "https://sqs.test/orders-dlq.fifo", retentionDays },
        started,
        "HTTP 500",
        () => startAt + 3_600_000,
      );

      // Assess: the parent's id outlives its dead-lettered copy (no 404 over it), as on a fan-out topic
      expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
      const copyEnds = (await f.store.get(billing.taskId))?.expiresAt as number;
      expect((await f.store.get(parent.taskId))?.expiresAt).toBeGreaterThanOrEqual(copyEnds);
    },
  );

  it.each([
    ["a DELETE", false],
    ["a group cancel", true],
  ] as const)(
    "%s after the topic turned plain, repeated after its first call failed past the cancel's write, still keeps the parent as long as a copy it could not stop may live",
    async (_name, group) => {
      // Prepare: billing's copy delivering; the topic turned plain; the first call's keep fails (a throttle, the
      // function timing out) after its cancel's write, so the client repeats the call (both routes retry as safe)
      const f = setup();
      const { parent, copies } = await addOrder(f);
      const billing = copies[0] as TaskRecord;
      const startAt = NOW + 10_000;
      const started = (await f.store.startAttempt(billing.taskId, startAt)) as TaskRecord;
      const plain = { ...plainOrders(f), now: () => startAt + 1_000 };
      const keep = f.store.keepFanOutParent.bind(f.store);
      let failNext = true;
      f.store.keepFanOutParent = async (taskId, expiresAt) => {
        if (!failNext) return keep(taskId, expiresAt);
        failNext = false;
        throw new Error("ProvisionedThroughputExceededException");
      };
      const call = () =>
        group ? cancelGroup(plain, { topic: "orders", value: "o-1" }, {}) : cancelTask(plain, parent.taskId);
      await expect(call()).rejects.toThrow("ProvisionedThroughputExceededException");

      // Act: the repeat; billing's attempts run out an hour later and it is dead-lettered
      await call();
      const retentionDays = plain.config.resolvedTopics.orders?.retentionDays as number;
      await deadLetterTask(
        { store: f.store, topicQueue: f.topicQueue },
        { dlqUrl: "https://sqs.test/orders-dlq.fifo", retentionDays },
        started,
        "HTTP 500",
        () => startAt + 3_600_000,
      );

      // Assess: the parent's id outlives its dead-lettered copy, as after a first call that went through
      expect((await f.store.get(parent.taskId))?.status).toBe("cancelled");
      const copyEnds = (await f.store.get(billing.taskId))?.expiresAt as number;
      expect((await f.store.get(parent.taskId))?.expiresAt).toBeGreaterThanOrEqual(copyEnds);
    },
  );

  it("a DELETE of a parent whose copies all completed and expired, after the topic turned plain, answers 404 and leaves the parent as it was (no longer TTL kept for it)", async () => {
    // Prepare: every copy delivered and its item expired (TTL), the parent's own item still `scheduled`; the
    // topic's subscribers removed since
    const f = setup();
    const { parent, copies } = await addOrder(f);
    for (const copy of copies) {
      await deliver(f, copy);
      f.store.tasks.delete(copy.taskId);
    }
    const later = NOW + 10_000 + (f.config.resolvedTopics.orders?.retentionDays ?? 0) * 86_400_000;
    const before = await f.store.get(parent.taskId);
    const plain = { ...plainOrders(f), now: () => later };

    // Act
    const cancelled = await refusal(cancelTask(plain, parent.taskId));

    // Assess: the DELETE and the stored item agree with GET's 404: nothing is kept longer for a task that is gone
    expect(cancelled).toMatchObject({ status: 404, code: "not_found" });
    expect(await f.store.get(parent.taskId)).toEqual(before);
  });

  it("the relay forwards a plain task of a group without the fan-out parent that shares its partition", async () => {
    // Prepare: a fan-out task of group o-1, then (subscribers removed) a plain task of the same group.
    const f = setup();
    const { parent } = await addOrder(f);
    const plain = await addTask(plainOrders(f), { body: orderBody({ delay_seconds: 20 }) });
    expect(parseTaskId(plain.body.task_id)?.pk).toBe(parent.pk);
    const relayDeps = relayAt(f, NOW + 20_000);

    // Act
    const result = await relayTimerMessages(relayDeps, [timerMessage(plain.body.task_id)]);

    // Assess: only the plain task goes; the parent is never handed to delivery, so it can still be cancelled.
    expect(result.failedMessageIds).toEqual([]);
    expect(f.topicQueue.enqueued.map((m) => m.taskId)).toEqual([plain.body.task_id]);
    expect((await f.store.get(parent.taskId))?.status).toBe("scheduled");
    const cancelled = await cancelTask({ ...f.deps, store: f.store }, parent.taskId);
    expect(cancelled.subscribers?.map((s) => s.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
  });

  it("the sweeper repairs a plain task of a group without forwarding the fan-out parent behind it", async () => {
    // Prepare: a plain task of group o-1 whose timer message is lost, then (subscribers added) a fan-out task.
    // A near-term task is in the sweep index only with `indexNearTermTasks` (by default its durable timer message
    // is what carries it, and a lost one is not repaired): the repair is what this spec is about.
    const f = setup();
    const plainDeps = plainOrders(f, { indexNearTermTasks: true });
    const plain = await addTask(plainDeps, { body: orderBody({ delay_seconds: 5 }) });
    const { parent } = await addOrder(f);
    const sweeperDeps = sweeperAt(
      f,
      plainDeps.config,
      NOW + 10_000 + scheduledGraceMs(plainDeps.config, "queue") + 60_000,
    );

    // Act
    const report = await sweep(sweeperDeps);

    // Assess: the plain task is forwarded, the parent never is (it stays cancellable).
    const lane = f.topicQueue.enqueued.filter((m) => m.groupId === parent.pk).map((m) => m.taskId);
    expect(report.failures).toBe(0);
    expect(lane).toEqual([plain.body.task_id]);
    expect((await f.store.get(parent.taskId))?.status).toBe("scheduled");
  });
});
