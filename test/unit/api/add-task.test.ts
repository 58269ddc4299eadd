import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { toHttpError } from "#shared/api/errors.js";
import { groupPartitionKey, parseTaskId, scheduleNameFor } from "#shared/domain/keys.js";
import { sweepShardOf } from "#shared/domain/sweep.js";
import { finishedExpiry, type TaskRecord } from "#shared/domain/task.js";
import { addTask, CLEAN_UP_RESERVE_MS, canonicalJson } from "#shared/services/add-task.js";
import { recordCleanUpCalls } from "../../support/clean-up-calls.js";
import { hungWrite } from "../../support/hung-write.js";
import { afterRoundTrip, hangs, invocation } from "../../support/invocation.js";
import { refusal } from "../../support/refusal.js";
import { fixture, NOW } from "./fakes.js";

const CALLBACK = { url: "https://hooks.example.com/notify" };

/** `config` with `demo` kept `retentionDays`, as a runtime settings document (or a deploy) sets it. */
function withRetention(config: ReturnType<typeof fixture>["config"], retentionDays: number) {
  const demo = config.resolvedTopics.demo;
  if (!demo) throw new Error("the fixture has a demo topic");
  return { ...config, resolvedTopics: { ...config.resolvedTopics, demo: { ...demo, retentionDays } } };
}
const body = (extra: Record<string, unknown> = {}) => ({
  topic: "demo",
  delay_seconds: 10,
  content: { order_id: "o-1", amount: 5 },
  callback: CALLBACK,
  ...extra,
});

describe("addTask: the sweep index (issue 13.2)", () => {
  it("writes a near-term task outside the sweep index, a Scheduler-path task in it", async () => {
    // Prepare
    const f = fixture();

    // Act
    const near = await addTask(f.deps, { body: body({ delay_seconds: 10 }) });
    const far = await addTask(f.deps, { body: body({ delay_seconds: 3600, content: { order_id: "o-2" } }) });

    // Assess
    expect(f.store.tasks.get(near.body.task_id)?.sweepShard).toBeUndefined();
    expect(f.store.tasks.get(far.body.task_id)?.sweepShard).toBe(sweepShardOf(far.body.task_id));
  });

  it("indexes near-term tasks too when the environment asks for the full index", async () => {
    const f = fixture();
    const deps = {
      ...f.deps,
      config: { ...f.config, sweeper: { ...f.config.sweeper, indexNearTermTasks: true } },
    };
    const near = await addTask(deps, { body: body({ delay_seconds: 10 }) });
    expect(f.store.tasks.get(near.body.task_id)?.sweepShard).toBe(sweepShardOf(near.body.task_id));
  });

  it("a task kept unarmed for a retry with its idempotency key goes into the index", async () => {
    // Prepare: arming fails
    const f = fixture();
    f.timerQueue.failNext = 1;

    // Act
    const refused = await refusal(addTask(f.deps, { body: body({ idempotency_key: "k-index" }) }));

    // Assess
    expect(refused.status).toBe(503);
    const [kept] = [...f.store.tasks.values()];
    expect(kept).toMatchObject({ status: "scheduled", sweepShard: sweepShardOf(kept?.taskId as string) });
  });
});

describe("addTask: timing", () => {
  it("arms a near task on the timer queue with the delay rounded down", async () => {
    const f = fixture();
    const result = await addTask(f.deps, { body: body({ delay_seconds: 10.7 }) });
    expect(result.statusCode).toBe(201);
    expect(result.body).toEqual({
      task_id: expect.stringMatching(/^demo\./),
      topic: "demo",
      status: "scheduled",
      due_at: new Date(NOW + 10_700).toISOString(),
    });
    expect(f.timerQueue.armed).toEqual([{ taskId: result.body.task_id, delaySeconds: 10 }]);
    expect(f.scheduler.created).toEqual([]);
    const task = await f.store.get(result.body.task_id);
    expect(task).toMatchObject({
      status: "scheduled",
      timer: "queue",
      dueAtMs: NOW + 10_700,
      acceptedAtMs: NOW,
      attempts: 0,
      groupValue: "o-1",
      content: JSON.stringify({ order_id: "o-1", amount: 5 }),
      callbackUrl: "https://hooks.example.com/notify",
    });
    expect(task?.scheduleName).toBeUndefined();
  });

  it("uses the queue up to the horizon inclusive", async () => {
    const f = fixture();
    await addTask(f.deps, { body: body({ delay_seconds: 300 }) });
    expect(f.timerQueue.armed[0]?.delaySeconds).toBe(300);
  });

  it("creates a schedule lead seconds ahead for a far task", async () => {
    const f = fixture();
    const result = await addTask(f.deps, { body: body({ delay_seconds: 3600 }) });
    const taskId = result.body.task_id;
    expect(f.timerQueue.armed).toEqual([]);
    expect(f.scheduler.created).toEqual([
      {
        taskId,
        name: scheduleNameFor(taskId),
        expression: `at(${new Date(NOW + 3_480_000).toISOString().slice(0, 19)})`,
      },
    ]);
    expect(await f.store.get(taskId)).toMatchObject({
      timer: "schedule",
      scheduleName: scheduleNameFor(taskId),
    });
  });

  it("treats a past due time as now", async () => {
    const f = fixture();
    const result = await addTask(f.deps, { body: body({ delay_seconds: undefined, timing_moment: 1_000 }) });
    expect(result.body.due_at).toBe(new Date(NOW).toISOString());
    expect(f.timerQueue.armed[0]?.delaySeconds).toBe(0);
  });

  it("honours due_at with an offset", async () => {
    const f = fixture();
    const result = await addTask(f.deps, {
      body: body({ delay_seconds: undefined, due_at: "2026-11-23T13:00:30.250+01:00" }),
    });
    expect(result.body.due_at).toBe("2026-11-23T12:00:30.250Z");
    expect(f.timerQueue.armed[0]?.delaySeconds).toBe(30);
  });

  it("accepts exactly maxDelay and refuses one second more", async () => {
    const f = fixture();
    await expect(
      addTask(f.deps, { body: body({ topic: "small", delay_seconds: 3600 }) }),
    ).resolves.toBeDefined();
    const error = await refusal(addTask(f.deps, { body: body({ topic: "small", delay_seconds: 3601 }) }));
    expect(error.status).toBe(400);
    expect(error.code).toBe("validation_failed");
    expect(error.issues?.[0]?.path).toBe("delay_seconds");
  });

  it("rounds a due time with a sub-millisecond part up to the next whole ms: stored, in the id, answered as due_at", async () => {
    const f = fixture();
    const asked = "2026-11-23T12:00:30.0009Z";

    const added = await addTask(f.deps, { body: body({ delay_seconds: undefined, due_at: asked }) });

    const dueAtMs = Date.UTC(2026, 10, 23, 12, 0, 30, 1);
    expect(added.body.due_at).toBe("2026-11-23T12:00:30.001Z");
    expect(await f.store.get(added.body.task_id)).toMatchObject({ dueAtMs });
    expect(parseTaskId(added.body.task_id)?.dueAtMs).toBe(dueAtMs);
  });

  it("keeps comparing idempotent repeats on the due time as written: another spelling of the same whole ms is another request", async () => {
    const f = fixture();
    const asked = body({
      delay_seconds: undefined,
      due_at: "2026-11-23T12:00:30.0009Z",
      idempotency_key: "k-sub",
    });
    const first = await addTask(f.deps, { body: asked });

    const again = await addTask(f.deps, { body: { ...asked } });
    const spelledAsStored = await refusal(
      addTask(f.deps, { body: { ...asked, due_at: "2026-11-23T12:00:30.001Z" } }),
    );

    expect(again).toEqual({ statusCode: 200, body: first.body });
    expect(spelledAsStored).toMatchObject({ status: 409, code: "idempotency_conflict" });
  });

  it.each([
    ["delay_seconds", 3600, true],
    ["delay_seconds", 3600.0001, false],
    ["timing_moment", (NOW + 3_600_000) / 1000, true],
    ["timing_moment", (NOW + 3_600_000) / 1000 + 0.0004, false],
    ["due_at", new Date(NOW + 3_600_000).toISOString(), true],
    ["due_at", new Date(NOW + 3_600_000).toISOString().replace("Z", "0001Z"), false],
    ["due_at", new Date(NOW + 3_599_999).toISOString().replace("Z", "9Z"), true],
  ])(
    "judges maxDelay on the instant asked, not one rounded either way: %s %s accepted: %s",
    async (field, value, accepted) => {
      const f = fixture();
      const added = addTask(f.deps, {
        body: body({ topic: "small", delay_seconds: undefined, [field]: value }),
      });

      if (accepted) expect((await added).body.due_at).toBe(new Date(NOW + 3_600_000).toISOString());
      else expect(await refusal(added)).toMatchObject({ status: 400, issues: [{ path: field }] });
    },
  );

  it("hints at milliseconds when timing_moment looks like them", async () => {
    const f = fixture();
    const error = await refusal(
      addTask(f.deps, { body: body({ delay_seconds: undefined, timing_moment: NOW + 60_000 }) }),
    );
    expect(error.issues?.[0]).toMatchObject({
      path: "timing_moment",
      message: expect.stringContaining("milliseconds"),
    });
  });
});

describe("addTask: refusals write nothing", () => {
  it("answers 400 validation_failed for a bad body", async () => {
    const f = fixture();
    const error = await refusal(addTask(f.deps, { body: { topic: "demo" } }));
    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(f.store.tasks.size).toBe(0);
  });

  it("answers 400 unknown_topic", async () => {
    const f = fixture();
    for (const topic of ["nope", "constructor", "__proto__"]) {
      const error = await refusal(addTask(f.deps, { body: body({ topic }) }));
      expect(error).toMatchObject({ status: 400, code: "unknown_topic" });
    }
  });

  it("measures the content in UTF-8 bytes against the topic limit (413)", async () => {
    const f = fixture();
    // {"v":"…"} is 8 bytes of framing; the limit is 100.
    await expect(
      addTask(f.deps, { body: body({ topic: "small", content: { v: "a".repeat(92) } }) }),
    ).resolves.toBeDefined();
    const error = await refusal(
      addTask(f.deps, { body: body({ topic: "small", content: { v: "é".repeat(47) } }) }),
    );
    expect(error).toMatchObject({ status: 413, code: "payload_too_large" });
    expect(error.issues?.[0]?.path).toBe("content");
    expect(f.store.tasks.size).toBe(1);
  });

  it("refuses a group field that is an object", async () => {
    const f = fixture();
    const error = await refusal(addTask(f.deps, { body: body({ content: { order_id: { a: 1 } } }) }));
    expect(error.issues?.[0]?.path).toBe("content.order_id");
  });

  it("refuses a private callback (SSRF) at the field that named it", async () => {
    const f = fixture();
    const error = await refusal(
      addTask(f.deps, { body: body({ callback: { url: "https://169.254.169.254/" } }) }),
    );
    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(error.issues?.[0]?.path).toBe("callback.url");
    const viaService = await refusal(
      addTask(f.deps, {
        body: body({ callback: undefined, content: { sn: "billing", url: "../../admin" } }),
      }),
    );
    expect(viaService.issues?.[0]?.path).toBe("content.url");
    expect(f.store.tasks.size).toBe(0);
  });

  it("refuses a callback host DNS cannot hold (a wildcard allow-list admits any length): 400, nothing stored", async () => {
    const f = fixture();
    // A 1,500-character name: WHATWG URL parses it, no resolver can look it up, and a protected topic would key its
    // destination items by it, past DynamoDB's 1,024-byte sort key.
    const host = `${Array.from({ length: 23 }, () => "a".repeat(63)).join(".")}.example.com`;
    const error = await refusal(addTask(f.deps, { body: body({ callback: { url: `https://${host}/x` } }) }));
    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(error.issues?.[0]).toMatchObject({
      path: "callback.url",
      message: expect.stringContaining("is not a valid host name: at most 253 characters"),
    });
    expect(f.store.tasks.size).toBe(0);
  });

  it("refuses a callback host ending in two dots (an empty label no resolver can look up): 400, nothing stored", async () => {
    const f = fixture();
    const error = await refusal(
      addTask(f.deps, { body: body({ callback: { url: "https://hooks.example.com../x" } }) }),
    );
    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(error.issues?.[0]).toMatchObject({
      path: "callback.url",
      message: expect.stringContaining('host "hooks.example.com.." is not a valid host'),
    });
    expect(f.store.tasks.size).toBe(0);
  });

  it("refuses a task with no callback", async () => {
    const f = fixture();
    const error = await refusal(addTask(f.deps, { body: body({ callback: undefined }) }));
    expect(error.issues?.[0]?.path).toBe("callback");
  });

  it("applies the topic's own allow-list", async () => {
    const f = fixture();
    await expect(
      addTask(f.deps, { body: body({ topic: "strict", callback: { url: "https://hooks.example.com/x" } }) }),
    ).resolves.toBeDefined();
    const error = await refusal(
      addTask(f.deps, { body: body({ topic: "strict", callback: { url: "https://other.example.com/x" } }) }),
    );
    expect(error.issues?.[0]?.message).toContain("not in the topic's allowed callback hosts");
  });
});

describe("addTask: groups and callbacks", () => {
  it("puts equal deliverBy values in one partition and others apart", async () => {
    const f = fixture();
    const a = await addTask(f.deps, { body: body() });
    const b = await addTask(f.deps, { body: body({ delay_seconds: 5 }) });
    const c = await addTask(f.deps, { body: body({ content: { order_id: "o-2" } }) });
    const [ka, kb, kc] = [a, b, c].map((r) => parseTaskId(r.body.task_id));
    expect(ka?.pk).toBe(kb?.pk);
    expect(ka?.pk).not.toBe(kc?.pk);
  });

  it("lets deliver_by override the topic's field, and makes a task without it its own group", async () => {
    const f = fixture();
    const r = await addTask(f.deps, { body: body({ deliver_by: "user", content: { user: 42 } }) });
    expect(await f.store.get(r.body.task_id)).toMatchObject({ groupValue: "42" });
    const alone = await addTask(f.deps, { body: body({ content: { x: 1 } }) });
    const key = parseTaskId(alone.body.task_id);
    expect(key?.pk).toBe(groupPartitionKey("demo", undefined, key?.ulid ?? ""));
  });

  it("resolves seed-style service callbacks and topic defaults", async () => {
    const f = fixture();
    const s = await addTask(f.deps, {
      body: body({ callback: undefined, content: { sn: "billing", url: "/paid" } }),
    });
    expect((await f.store.get(s.body.task_id))?.callbackUrl).toBe("https://billing.example.com/api/v1/paid");
    const d = await addTask(f.deps, { body: body({ topic: "fallback", callback: undefined }) });
    expect((await f.store.get(d.body.task_id))?.callbackUrl).toBe("https://default.example.com/hook");
  });
});

describe("addTask: lone surrogates (DynamoDB strings are UTF-8, which has no form for half a pair)", () => {
  const WELL_FORMED = "must be well-formed Unicode";

  it.each([
    ["the topic's ordering field", { content: { order_id: "A-\ud83d" } }, "content.order_id"],
    ["a deliver_by field", { deliver_by: "user", content: { user: "\udc00u-1" } }, "content.user"],
    [
      "the seed-style content.url",
      { callback: undefined, content: { sn: "billing", url: "/paid/\ud83d" } },
      "content.url",
    ],
    ["callback.url", { callback: { url: "https://hooks.example.com/\ud83d" } }, "callback.url"],
    ["the topic", { topic: "demo\ud83d" }, "topic"],
  ])("refuses one in %s with a 400 naming it, and stores nothing", async (_name, extra, path) => {
    const f = fixture();
    const error = await refusal(addTask(f.deps, { body: body(extra), idempotencyKeyHeader: "k-lone" }));
    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(error.issues).toEqual([{ path, message: expect.stringContaining(WELL_FORMED) }]);
    expect(f.store.tasks.size).toBe(0);
    expect(f.store.idempotency.size).toBe(0);
    expect(f.timerQueue.armed).toEqual([]);
  });

  it("orders by a whole pair (an emoji) and keeps it; two lone halves would have been one group", async () => {
    const f = fixture();
    const a = await addTask(f.deps, { body: body({ content: { order_id: "A-\ud83d\ude00" } }) });
    expect(await f.store.get(a.body.task_id)).toMatchObject({ groupValue: "A-\ud83d\ude00" });
  });

  it("accepts a lone surrogate in content outside the ordering field, stored as its JSON escape", async () => {
    const f = fixture();
    const r = await addTask(f.deps, { body: body({ content: { order_id: "o-1", half: "A-\ud83d" } }) });
    expect(r.statusCode).toBe(201);
    expect((await f.store.get(r.body.task_id))?.content).toBe('{"order_id":"o-1","half":"A-\\ud83d"}');
  });
});

describe("addTask: arming failures", () => {
  it("removes the task and answers 503 when the timer queue fails", async () => {
    const f = fixture();
    f.timerQueue.failNext = 1;
    const errors: string[] = [];
    const error = await refusal(addTask({ ...f.deps, onError: (m) => errors.push(m) }, { body: body() }));
    expect(error).toMatchObject({ status: 503, code: "service_unavailable", expose: true });
    expect(JSON.stringify(error.toBody())).not.toContain("arn:aws");
    expect(f.store.tasks.size).toBe(0);
    expect(errors).toHaveLength(1);
  });

  it("answers 201 for a task without a key whose timer message was sent though its answer was lost, and fired before the removal", async () => {
    // Prepare: SQS took the message, its answer never came back (past the SDK's retries, or given up near the
    // deadline), and meanwhile the relay and deliver started the task (delay 0)
    const f = fixture();
    f.timerQueue.arm = async (taskId) => {
      const task = f.store.tasks.get(taskId);
      if (task) f.store.tasks.set(taskId, { ...task, status: "delivering", attempts: 1 });
      throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
    };

    // Act
    const added = await addTask(f.deps, { body: body({ delay_seconds: 0 }) });

    // Assess: the task is on its way, so it was accepted: a 503 ("not accepted, retry") would have the client add
    // it again, delivered twice
    expect(added.statusCode).toBe(201);
    expect(f.store.tasks.get(added.body.task_id)?.status).toBe("delivering");
    // ...and answered with the status it really has, not `scheduled`
    expect(added.body.status).toBe("delivering");
  });

  it("removes the task and answers 503 when the scheduler fails", async () => {
    const f = fixture();
    f.scheduler.failCreate = true;
    const error = await refusal(addTask(f.deps, { body: body({ delay_seconds: 7200 }) }));
    expect(error.status).toBe(503);
    expect(f.store.tasks.size).toBe(0);
  });
});

describe("addTask: idempotency", () => {
  it("returns the same task with 200 for the same body, and re-arms it while scheduled", async () => {
    const f = fixture();
    const first = await addTask(f.deps, { body: body({ idempotency_key: "k-1" }) });
    f.clock.now += 2_000;
    const again = await addTask(f.deps, { body: body({ idempotency_key: "k-1" }) });
    expect(first.statusCode).toBe(201);
    expect(again).toEqual({ statusCode: 200, body: first.body });
    expect(f.store.tasks.size).toBe(1);
    // The original due time stands (delay_seconds counts from the first request); the re-arm aims at it.
    expect(f.timerQueue.armed.map((a) => a.delaySeconds)).toEqual([10, 8]);
  });

  it("treats the header key like the body key", async () => {
    const f = fixture();
    const first = await addTask(f.deps, { body: body(), idempotencyKeyHeader: "h-1" });
    const again = await addTask(f.deps, { body: body({ idempotency_key: "h-1" }) });
    expect(again.body.task_id).toBe(first.body.task_id);
  });

  it("treats a string content and the same object as one request", async () => {
    const f = fixture();
    const first = await addTask(f.deps, {
      body: body({ idempotency_key: "k", content: { b: 1, a: [1, { d: 2, c: 3 }] } }),
    });
    const again = await addTask(f.deps, {
      body: body({ idempotency_key: "k", content: '{"a":[1,{"c":3,"d":2}],"b":1}' }),
    });
    expect(again.body.task_id).toBe(first.body.task_id);
  });

  it("answers 409 idempotency_conflict for the same key with a different body", async () => {
    const f = fixture();
    await addTask(f.deps, { body: body({ idempotency_key: "k-2" }) });
    for (const changed of [
      body({ idempotency_key: "k-2", delay_seconds: 11 }),
      body({ idempotency_key: "k-2", content: { order_id: "o-1", amount: 6 } }),
      body({ idempotency_key: "k-2", callback: { url: "https://hooks.example.com/other" } }),
      body({ idempotency_key: "k-2", deliver_by: "amount" }),
    ]) {
      const error = await refusal(addTask(f.deps, { body: changed }));
      expect(error).toMatchObject({ status: 409, code: "idempotency_conflict" });
    }
    expect(f.store.tasks.size).toBe(1);
  });

  it("a key sent as the Idempotency-Key header is named so in its conflicts (the client sends its keys so)", async () => {
    // Prepare: a keyed add, its key in the header only; a second task whose retention may have run out
    const f = fixture();
    await addTask(f.deps, { body: body(), idempotencyKeyHeader: "k-h" });
    const expired = await addTask(f.deps, { body: body(), idempotencyKeyHeader: "k-h2" });
    f.store.tasks.delete(expired.body.task_id);

    // Act: another body under the first key; the second key after its task's due time and retention
    const changed = await refusal(
      addTask(f.deps, { body: body({ delay_seconds: 11 }), idempotencyKeyHeader: "k-h" }),
    );
    f.clock.now += 10_000 + 3 * 86_400_000;
    const gone = await refusal(addTask(f.deps, { body: body(), idempotencyKeyHeader: "k-h2" }));
    const inBody = await refusal(
      addTask(f.deps, { body: body({ idempotency_key: "k-h", delay_seconds: 12 }) }),
    );

    // Assess: each names the field the key came in (it said `idempotency_key`, a field the caller never sent)
    expect(changed).toMatchObject({ status: 409, code: "idempotency_conflict" });
    expect(changed.issues).toEqual([{ path: "Idempotency-Key", message: changed.message }]);
    expect(gone).toMatchObject({ status: 409, code: "idempotency_conflict" });
    expect(gone.issues).toEqual([{ path: "Idempotency-Key", message: gone.message }]);
    expect(inBody.issues).toEqual([{ path: "idempotency_key", message: inBody.message }]);
  });

  it("does not re-arm a task that has moved on", async () => {
    const f = fixture();
    const first = await addTask(f.deps, { body: body({ idempotency_key: "k-3" }) });
    await f.store.markQueued(first.body.task_id, NOW + 10_000);
    const again = await addTask(f.deps, { body: body({ idempotency_key: "k-3" }) });
    expect(again.body.status).toBe("queued");
    expect(f.timerQueue.armed).toHaveLength(1);
  });

  it("keeps an idempotent task whose arming failed, and arms it on the retry", async () => {
    const f = fixture();
    f.timerQueue.failNext = 1;
    const failed = await refusal(addTask(f.deps, { body: body({ idempotency_key: "k-4" }) }));
    expect(failed.status).toBe(503);
    // Not removed: a concurrent copy of the request may already have acknowledged this very task.
    expect(f.store.tasks.size).toBe(1);
    const claimedTaskId = f.store.idempotency.get("demo#k-4")?.taskId ?? "";

    f.clock.now += 3_000;
    const retry = await addTask(f.deps, { body: body({ idempotency_key: "k-4" }) });
    expect(retry.statusCode).toBe(200);
    expect(retry.body.task_id).toBe(claimedTaskId);
    expect(retry.body.due_at).toBe(new Date(NOW + 10_000).toISOString());
    expect(await f.store.get(claimedTaskId)).toMatchObject({
      status: "scheduled",
      acceptedAtMs: NOW,
      dueAtMs: NOW + 10_000,
    });
    expect(f.timerQueue.armed).toEqual([{ taskId: claimedTaskId, delaySeconds: 7 }]);
  });

  it("recreates the task after a crash between the claim and the task write", async () => {
    const f = fixture();
    const first = await addTask(f.deps, { body: body({ idempotency_key: "k-5", delay_seconds: 3600 }) });
    f.store.tasks.delete(first.body.task_id); // as if the put had never happened
    const retry = await addTask(f.deps, { body: body({ idempotency_key: "k-5", delay_seconds: 3600 }) });
    expect(retry.body.task_id).toBe(first.body.task_id);
    expect(await f.store.get(first.body.task_id)).toMatchObject({ timer: "schedule" });
    expect(f.scheduler.created).toHaveLength(2);
  });

  it("refuses to resurrect a task whose retention may have run out", async () => {
    const f = fixture();
    const first = await addTask(f.deps, { body: body({ idempotency_key: "k-6" }) });
    f.store.tasks.delete(first.body.task_id);
    f.clock.now += 10_000 + 3 * 86_400_000; // its due time (10 s on), then the topic's retention
    const error = await refusal(addTask(f.deps, { body: body({ idempotency_key: "k-6" }) }));
    expect(error).toMatchObject({ status: 409, code: "idempotency_conflict" });
    expect(f.store.tasks.size).toBe(0);
  });

  it("recreates a task not yet due whose write failed, a retention after its acceptance: it cannot have finished", async () => {
    // Prepare: due in 10 days on a topic retained 3; the keyed add's task write failed (a 503 "retry with the key")
    const f = fixture();
    const putNew = f.store.putNew.bind(f.store);
    f.store.putNew = async () => {
      throw Object.assign(new Error("throttled"), { name: "ThrottlingException", $metadata: {} });
    };
    const request = { body: body({ idempotency_key: "k-far", delay_seconds: 10 * 86_400 }) };
    await addTask(f.deps, request).catch(() => undefined);
    f.store.putNew = putNew;
    f.clock.now += 4 * 86_400_000;

    // Act: the retry, on day 4
    const retry = await addTask(f.deps, request);

    // Assess: the task, still to come (not "completed and expired": nothing was ever delivered)
    expect(retry).toMatchObject({ statusCode: 200, body: { status: "scheduled" } });
    expect(await f.store.get(retry.body.task_id)).toMatchObject({ status: "scheduled" });
  });

  it("a retry after the topic's retention was raised does not deliver a delivered task again: it is kept while its key is claimed", async () => {
    // Prepare: added and delivered under a 1-day retention (deliver's TTL: finishedExpiry); two days later a runtime
    // document (or a deploy) has made it 7 days, and TTL has removed what had expired by then. The claim lives on.
    const f = fixture();
    const oneDay = withRetention(f.config, 1);
    const first = await addTask(
      { ...f.deps, config: oneDay },
      { body: body({ idempotency_key: "k-raised" }) },
    );
    const started = (await f.store.startAttempt(first.body.task_id, NOW + 10_000)) as TaskRecord;
    await f.store.markDelivered(first.body.task_id, {
      atMs: NOW + 10_050,
      latenessMs: 0,
      deliveryLatencyMs: 50,
      expiresAt: finishedExpiry(started, NOW + 10_050, 1),
    });
    f.clock.now = NOW + 2 * 86_400_000;
    for (const [id, task] of f.store.tasks)
      if ((task.expiresAt ?? Number.POSITIVE_INFINITY) * 1000 < f.clock.now) f.store.tasks.delete(id);
    const armedBefore = f.timerQueue.armed.length;

    // Act
    const retry = await addTask(
      { ...f.deps, config: withRetention(f.config, 7) },
      { body: body({ idempotency_key: "k-raised" }) },
    );

    // Assess: the task as it is, delivered; no second timer
    expect(retry).toMatchObject({
      statusCode: 200,
      body: { task_id: first.body.task_id, status: "delivered" },
    });
    expect(f.timerQueue.armed.length).toBe(armedBefore);
  });

  it("gives the claim an expiry beyond the task's life", async () => {
    const f = fixture();
    await addTask(f.deps, { body: body({ idempotency_key: "k-7" }) });
    const claim = f.store.idempotency.get("demo#k-7");
    expect(claim?.expiresAt).toBeGreaterThan(NOW / 1000 + 3 * 86_400);
  });
});

/**
 * Found by `npm run chaos` (fault injection over the wire): a PutItem executed but whose answer was lost is
 * retried by the SDK and then fails its condition, so the store says "exists" for the task this very request
 * wrote; and concurrent copies of one idempotent request share one task, so one copy's failure must not undo
 * another copy's acknowledgement.
 */
/**
 * A task write that hangs (a dead connection) is given up near the function's deadline, and the add removes its
 * task and answers 503 "not accepted, retry". The SDK's call goes on, though: once its socket times out it sends
 * the PutItem again (a timeout is retryable), in this invocation or, after a freeze, in a later one. Landing after
 * the clean-up, it left a task without a key nobody knows about: a Scheduler-path one in the sweep index, which the
 * sweeper delivers, while the client's retry added it again (two tasks, two webhook-ids).
 */
describe("addTask: a task write given up near the deadline", () => {
  it("aborts the write it gave up, so it is not sent again after the clean-up (no task without a key left)", async () => {
    // Prepare: the write hangs; the SDK would send it again later unless its request is aborted
    const f = fixture();
    const write = hungWrite(f.store.putNew.bind(f.store));
    f.store.putNew = write.hung;
    const deps = { ...f.deps, timeLeftMs: () => 2_050 };

    // Act
    const refused = toHttpError(
      await addTask(deps, { body: body({ delay_seconds: 3_600 }) }).catch((error: unknown) => error),
    );
    await write.sentAgain();

    // Assess: the 503 left nothing behind, as docs/API.md says of a 503 without a key
    expect(refused).toMatchObject({ status: 503 });
    expect(f.store.tasks.size).toBe(0);
  });

  it.each([
    ["without a key", {}],
    ["with a key", { idempotency_key: "k-never-sent" }],
  ])("cleans nothing up %s when the write was due past its deadline and never sent", async (_, extra) => {
    // Prepare: the invocation is already at the write's deadline (the steps before it ran late)
    const f = fixture();
    const calls = recordCleanUpCalls(f.store);
    const deps = { ...f.deps, timeLeftMs: () => CLEAN_UP_RESERVE_MS };

    // Act
    const refused = toHttpError(
      await addTask(deps, { body: body({ delay_seconds: 3_600, ...extra }) }).catch(
        (error: unknown) => error,
      ),
    );

    // Assess: a 503, and no clean-up call for a write that never left (each a call to the degraded table)
    expect(refused).toMatchObject({ status: 503 });
    expect(f.store.tasks.size).toBe(0);
    expect(calls).toEqual([]);
  });
});

/**
 * The single add's clean-up after a call it gave up on shares the batch's bound (`cleanUpCall`): a removal that hangs
 * too (the degraded table) is given up before the route's early answer, so the add's own 503 — with its clean-up
 * failure logged and the task left to the sweeper — is the answer, not the route's "the request timed out".
 */
describe("addTask: its clean-up hangs", () => {
  const TIME_LEFT_MS = 10_000;
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    ["its timer message", 10, (f: ReturnType<typeof fixture>) => (f.timerQueue.arm = () => hangs())],
    [
      "its schedule",
      3_600,
      (f: ReturnType<typeof fixture>) => (f.scheduler.createTaskSchedule = () => hangs()),
    ],
    ["its task write", 3_600, (f: ReturnType<typeof fixture>) => (f.store.putNew = () => hangs())],
  ])(
    "answers its own 503 before the route's early answer when %s and then its removal hang",
    async (_call, delaySeconds, hang) => {
      // Prepare: a task without a key; the call hangs until given up, and so does the conditional delete after it;
      // the sweep index entry after that takes a round trip, as DynamoDB's does
      const f = fixture();
      hang(f);
      let removal: AbortSignal | undefined;
      f.store.removeScheduled = (_taskId, options) => {
        removal = options?.signal;
        return hangs();
      };
      f.store.enterSweepIndex = afterRoundTrip(
        f.store.enterSweepIndex.bind(f.store),
        (_taskId, options) => options?.signal,
      );
      const errors: string[] = [];
      const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
      const deps = { ...f.deps, timeLeftMs, onError: (message: string) => errors.push(message) };

      // Act
      const answer = Promise.race([
        addTask(deps, { body: body({ delay_seconds: delaySeconds }) }).catch((error: unknown) =>
          toHttpError(error),
        ),
        earlyAnswer,
      ]);
      await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

      // Assess: the add's own 503, its removal given up as a failed one (logged) and aborted, with time left for
      // the task's sweep index entry (README: a 503 whose clean-up failed leaves the task to the sweeper)
      const outcome = await answer;
      expect(outcome).not.toBe("early answer");
      expect(outcome).toMatchObject({ status: 503 });
      expect(errors.some((message) => message.startsWith("removing"))).toBe(true);
      expect(removal?.aborted).toBe(true);
      expect(errors).not.toContain("indexing an unarmed task for the sweeper failed");
    },
  );
});

describe("addTask: lost answers and concurrent copies", () => {
  /** A store whose Put succeeds but reports "exists", as an SDK retry after a lost answer makes it look. */
  function lostPutAnswers(f: ReturnType<typeof fixture>) {
    const putNew = f.store.putNew.bind(f.store);
    f.store.putNew = async (task) => {
      await putNew(task);
      return "exists";
    };
  }

  it("arms a new task even when its write reports that it already exists", async () => {
    const f = fixture();
    lostPutAnswers(f);
    const added = await addTask(f.deps, { body: body() });
    expect(added.statusCode).toBe(201);
    expect(f.timerQueue.armed).toEqual([{ taskId: added.body.task_id, delaySeconds: 10 }]);
  });

  it("arms a recreated idempotent task even when its write reports that it already exists", async () => {
    const f = fixture();
    const first = await addTask(f.deps, { body: body({ idempotency_key: "lost-1" }) });
    f.store.tasks.delete(first.body.task_id); // the first write never happened
    lostPutAnswers(f);
    const retry = await addTask(f.deps, { body: body({ idempotency_key: "lost-1" }) });
    expect(retry.body.task_id).toBe(first.body.task_id);
    expect(f.timerQueue.armed.map((a) => a.taskId)).toEqual([first.body.task_id, first.body.task_id]);
  });

  it("never removes a task another copy of the request has acknowledged", async () => {
    const f = fixture();
    // Copy A claims the key and writes the task, then its arming fails…
    let releaseArm: () => void = () => undefined;
    const armGate = new Promise<void>((resolve) => {
      releaseArm = resolve;
    });
    const arm = f.timerQueue.arm.bind(f.timerQueue);
    let calls = 0;
    f.timerQueue.arm = async (taskId, delay) => {
      if (calls++ === 0) {
        await armGate;
        throw new Error("SQS is down");
      }
      return arm(taskId, delay);
    };
    const copyA = refusal(addTask(f.deps, { body: body({ idempotency_key: "dup-1" }) }));
    await new Promise((r) => setTimeout(r, 0));
    // …while copy B finds the task, arms it and is answered 200.
    const copyB = await addTask(f.deps, { body: body({ idempotency_key: "dup-1" }) });
    releaseArm();
    expect((await copyA).status).toBe(503);
    expect(copyB.statusCode).toBe(200);
    expect(await f.store.get(copyB.body.task_id)).toMatchObject({ status: "scheduled" });
    expect(f.timerQueue.armed.map((a) => a.taskId)).toEqual([copyB.body.task_id]);
  });

  it("removes a task without an idempotency key whose write failed after it happened, and answers a retryable 503", async () => {
    const f = fixture();
    const putNew = f.store.putNew.bind(f.store);
    const hangUp = Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
    f.store.putNew = async (task) => {
      await putNew(task);
      throw hangUp;
    };
    const keyless = await addTask(f.deps, { body: body() }).catch((e: unknown) => e);
    expect(keyless).toBe(hangUp);
    expect(toHttpError(keyless)).toMatchObject({ status: 503, code: "service_unavailable" });
    expect(f.store.tasks.size).toBe(0);
    // With a key it stays: the retry finds it and arms it.
    const keyed = await addTask(f.deps, { body: body({ idempotency_key: "w-1" }) }).catch((e: unknown) => e);
    expect(keyed).toBe(hangUp);
    expect(toHttpError(keyed)).toMatchObject({ status: 503, code: "service_unavailable" });
    expect(f.store.tasks.size).toBe(1);
    f.store.putNew = putNew;
    const retry = await addTask(f.deps, { body: body({ idempotency_key: "w-1" }) });
    expect(retry.statusCode).toBe(200);
    expect(f.timerQueue.armed.map((a) => a.taskId)).toEqual([retry.body.task_id]);
  });

  it("answers a retryable 503 when the idempotency claim or the replay's read fails past the SDK's retries, and the retry then succeeds", async () => {
    // Prepare: a server error on the claim, then one on the read of the task the key holds
    const f = fixture();
    const serverError = Object.assign(new Error("We encountered an internal error"), {
      name: "InternalServerError",
      $fault: "server",
      $metadata: { httpStatusCode: 500, attempts: 3 },
    });
    const claim = f.store.claimIdempotencyKey.bind(f.store);
    f.store.claimIdempotencyKey = async () => {
      throw serverError;
    };
    const keyed = body({ idempotency_key: `c-${randomUUID()}` });

    // Act
    const claimFailed = await addTask(f.deps, { body: keyed }).catch((e: unknown) => e);
    f.store.claimIdempotencyKey = claim;
    const first = await addTask(f.deps, { body: keyed });
    const get = f.store.get.bind(f.store);
    f.store.get = async () => {
      throw serverError;
    };
    const readFailed = await addTask(f.deps, { body: keyed }).catch((e: unknown) => e);
    f.store.get = get;
    const again = await addTask(f.deps, { body: keyed });

    // Assess
    expect(toHttpError(claimFailed)).toMatchObject({ status: 503, code: "service_unavailable" });
    expect(toHttpError(readFailed)).toMatchObject({ status: 503, code: "service_unavailable" });
    expect(first.statusCode).toBe(201);
    expect(again).toMatchObject({ statusCode: 200, body: { task_id: first.body.task_id } });
    expect(f.store.tasks.size).toBe(1);
  });

  it("answers a throttled write (the SDK's retries spent) with a retryable 503 and leaves nothing behind", async () => {
    // Prepare: a provisioned table past its capacity and burst refuses the Put; DynamoDB writes nothing
    const f = fixture();
    const throttled = Object.assign(new Error("Throughput exceeds the current capacity of your table"), {
      name: "ProvisionedThroughputExceededException",
      $metadata: { httpStatusCode: 400, attempts: 3 },
    });
    f.store.putNew = async () => {
      throw throttled;
    };

    // Act
    const thrown = await addTask(f.deps, { body: body() }).catch((e: unknown) => e);
    const keyed = await addTask(f.deps, { body: body({ idempotency_key: "t-1" }) }).catch((e: unknown) => e);

    // Assess: what the error responder answers; no task stored, no timer armed
    expect(toHttpError(thrown)).toMatchObject({ status: 503, code: "service_unavailable" });
    expect(toHttpError(keyed)).toMatchObject({ status: 503, code: "service_unavailable" });
    expect(f.store.tasks.size).toBe(0);
    expect(f.timerQueue.armed).toEqual([]);
  });

  it("hands a repeat's recreated task to the sweeper when its write failed after it happened: delivered even if nobody retries again", async () => {
    // Prepare: the first copy stopped after its claim (no task); the repeat's Put is written, its answer lost
    // past the SDK's retries
    const f = fixture();
    const first = await addTask(f.deps, { body: body({ idempotency_key: "r-1" }) });
    f.store.tasks.delete(first.body.task_id);
    const putNew = f.store.putNew.bind(f.store);
    const hangUp = Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
    f.store.putNew = async (task, options) => {
      await putNew(task, options);
      throw hangUp;
    };
    f.timerQueue.armed.length = 0;

    // Act
    const repeat = await addTask(f.deps, { body: body({ idempotency_key: "r-1" }) }).catch((e: unknown) => e);

    // Assess: a 503, and the task, unarmed, is in the sweep index (docs/API.md: kept and handed to the sweeper)
    expect(toHttpError(repeat)).toMatchObject({ status: 503, code: "service_unavailable" });
    expect(f.timerQueue.armed).toEqual([]);
    expect(f.store.tasks.get(first.body.task_id)).toMatchObject({
      status: "scheduled",
      sweepShard: sweepShardOf(first.body.task_id),
    });
  });

  it("still removes a task without an idempotency key whose arming failed", async () => {
    const f = fixture();
    lostPutAnswers(f);
    f.timerQueue.failNext = 1;
    expect((await refusal(addTask(f.deps, { body: body() }))).status).toBe(503);
    expect(f.store.tasks.size).toBe(0);
  });
});

describe("canonicalJson", () => {
  it("sorts keys at every depth and keeps array order", () => {
    expect(canonicalJson({ b: [2, { y: 1, x: 2 }], a: null })).toBe('{"a":null,"b":[2,{"x":2,"y":1}]}');
  });
});

describe("addTask: a first request whose write finds the task a concurrent repeat already wrote", () => {
  it("answers the status the task has moved on to, not the `scheduled` it would have written", async () => {
    // Prepare: the first request claims its key and stalls before its write; a repeat with the same key and body
    // meanwhile finds the claim without its task, writes and arms it (200), and the task moves on (its timer fired,
    // the relay queued it) before the first request's write goes out and finds it there
    const f = fixture();
    const request = { body: body({ idempotency_key: "k-race-status" }) };
    const putNew = f.store.putNew.bind(f.store);
    let repeat: Awaited<ReturnType<typeof addTask>> | undefined;
    f.store.putNew = async (task, options) => {
      if (repeat === undefined) {
        f.store.putNew = putNew;
        repeat = await addTask(f.deps, request);
        await f.store.markQueued(repeat.body.task_id, NOW + 10_000);
      }
      return putNew(task, options);
    };

    // Act
    const first = await addTask(f.deps, request);

    // Assess: one task, answered by both with its id; the first says where the task is, as a GET would
    expect(repeat).toMatchObject({ statusCode: 200, body: { status: "scheduled" } });
    expect(first.statusCode).toBe(201);
    expect(first.body.task_id).toBe(repeat?.body.task_id);
    expect(first.body.status).toBe("queued");
  });
});
