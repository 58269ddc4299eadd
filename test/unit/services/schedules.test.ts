import { Metrics } from "@aws-lambda-powertools/metrics";
import { parse } from "lossless-json";
import { describe, expect, it, vi } from "vitest";
import type { ScheduleChange } from "#shared/adapters/task-store.js";
import { type HttpError, isHttpError, toHttpError } from "#shared/api/errors.js";
import { parseConfig, type TopicConfig } from "#shared/config/index.js";
import { parseAddTaskRequest } from "#shared/domain/add-task-request.js";
import { occurrenceStop, scheduleToCheck } from "#shared/domain/occurrence-hold.js";
import { successorKey } from "#shared/domain/reschedule.js";
import {
  MATERIALIZE_HORIZON_MS,
  MAX_OCCURRENCES_INLINE,
  makeScheduleKey,
  parseScheduleId,
  SCHEDULE_SHARDS,
  type ScheduleRecord,
  scheduleShardOf,
} from "#shared/domain/schedule.js";
import { INLINE_WRITE_UNITS } from "#shared/domain/schedule-cron.js";
import { addTask } from "#shared/services/add-task.js";
import { addTasksBatch } from "#shared/services/add-tasks-batch.js";
import { rescheduleTask } from "#shared/services/reschedule-task.js";
import { listSchedules } from "#shared/services/schedules/list.js";
import { createSchedule, resumeSchedule, type ScheduleRouteDeps } from "#shared/services/schedules/manage.js";
import {
  materializeSchedule,
  occurrenceBody,
  occurrenceRequest,
} from "#shared/services/schedules/materialize.js";
import { getSchedule } from "#shared/services/schedules/read.js";
import { type MaterializerRunDeps, runMaterializer } from "#shared/services/schedules/run.js";
import { deleteSchedule, pauseSchedule } from "#shared/services/schedules/stop-routes.js";
import { scheduleLogging } from "#shared/services/schedules/wiring.js";
import { ManualClock } from "../../support/clock.js";
import { cronerSearchesOf } from "../../support/croner-searches.js";
import { FakeScheduler } from "../../support/fakes/scheduler.js";
import { FakeTimerQueue } from "../../support/fakes/timer-queue.js";
import { memoryLogger } from "../../support/logger.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { simConfig } from "../../support/pipeline-sim.js";

/** Schedules on the memory store with the real add-task service, on a clock the spec moves. */
function harness(startIso = "2027-01-01T00:00:00.000Z", config = simConfig()) {
  const clock = new ManualClock(Date.parse(startIso));
  const store = new MemoryTaskStore();
  const timerQueue = new FakeTimerQueue(clock.now);
  const scheduler = new FakeScheduler();
  const errors: unknown[] = [];
  const deps: ScheduleRouteDeps & MaterializerRunDeps & { readonly store: MemoryTaskStore } = {
    store,
    timerQueue,
    scheduler,
    config,
    now: clock.now,
    onMaterializeError: (_id, error) => errors.push(error),
    onSkipped: (_id, _occurrenceMs, error) => errors.push(error),
  };
  const tasks = () => [...store.tasks.values()].sort((a, b) => a.dueAtMs - b.dueAtMs);
  const live = () => tasks().filter((t) => t.status === "scheduled");
  const dues = (list = live()) => list.map((t) => new Date(t.dueAtMs).toISOString());
  const schedule = (id: string) => store.schedules.get(id) as ScheduleRecord;
  return { clock, store, timerQueue, scheduler, deps, errors, tasks, live, dues, schedule };
}

/**
 * A run that halts at a store call (after the first `passFirst`) until `release()` (never, to stand for a crash
 * there): before claiming an occurrence's key, or between the claim and the task's write.
 */
function haltingStore(
  store: MemoryTaskStore,
  passFirst = 0,
  at: "claimIdempotencyKey" | "putNew" = "claimIdempotencyKey",
) {
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let calls = 0;
  const halting: MemoryTaskStore = Object.create(store);
  const original = store[at].bind(store) as (...args: unknown[]) => Promise<unknown>;
  Object.assign(halting, {
    [at]: async (...args: unknown[]) => {
      if (++calls > passFirst) await gate;
      return original(...args);
    },
  });
  return { store: halting, release };
}

/** The live (not cancelled, not finished) tasks per occurrence instant: each must be at most one. */
function liveCountsByDue(tasks: readonly { dueAtMs: number; status: string }[]): number[] {
  const counts = new Map<number, number>();
  for (const t of tasks)
    if (t.status === "scheduled") counts.set(t.dueAtMs, (counts.get(t.dueAtMs) ?? 0) + 1);
  return [...new Set(counts.values())];
}

const body = (extra: Record<string, unknown> = {}) =>
  parse(
    JSON.stringify({
      topic: "demo",
      cron: "*/1 * * * *",
      timezone: "UTC",
      content: { order_id: "o-1", note: "tick" },
      callback: { url: "https://receiver.example/hook" },
      ...extra,
    }),
  );

async function refusal(promise: Promise<unknown>) {
  const error = await promise.catch((e: unknown) => e);
  if (!isHttpError(error)) throw new Error(`expected a refusal, got ${String(error)}`);
  return { status: error.status, code: error.code, issues: error.issues };
}

describe("creating a schedule", () => {
  it("answers the schedule with its next occurrences and makes the occurrences within the horizon tasks, each carrying the schedule id and the exact content", async () => {
    // Prepare
    const h = harness("2027-01-01T00:00:30.000Z");
    const exact = '{"order_id":"o-1","amount":12345678901234567890,"ratio":1.50}';

    // Act
    const view = await createSchedule(h.deps, body({ content: exact }));

    // Assess
    expect(view).toMatchObject({ topic: "demo", status: "active", cron: "*/1 * * * *", timezone: "UTC" });
    expect(view.next_occurrences).toEqual([
      "2027-01-01T00:01:00.000Z",
      "2027-01-01T00:02:00.000Z",
      "2027-01-01T00:03:00.000Z",
      "2027-01-01T00:04:00.000Z",
      "2027-01-01T00:05:00.000Z",
    ]);
    // The horizon is 4 minutes: 00:01 … 00:04.
    expect(h.dues()).toEqual([
      "2027-01-01T00:01:00.000Z",
      "2027-01-01T00:02:00.000Z",
      "2027-01-01T00:03:00.000Z",
      "2027-01-01T00:04:00.000Z",
    ]);
    for (const task of h.live()) {
      expect(task.scheduleId).toBe(view.schedule_id);
      expect(task.content).toBe(exact);
      expect(task.callbackUrl).toBe("https://receiver.example/hook");
      expect(task.groupValue).toBe("o-1");
    }
    expect(h.timerQueue.armed.map((a) => a.taskId).sort()).toEqual(
      h
        .live()
        .map((t) => t.taskId)
        .sort(),
    );
    expect(view.materialized_until).toBe(new Date(h.clock.nowMs + MATERIALIZE_HORIZON_MS).toISOString());
    expect(await getSchedule(h.deps, view.schedule_id)).toEqual(view);
  });

  it.each([
    [{ cron: "61 * * * *" }, "cron"],
    [{ cron: "0 0 30 2 *" }, "cron"],
    [{ timezone: "Mars/Olympus" }, "timezone"],
    [{ timezone: "+02:00" }, "timezone"],
    [{ start_at: "2027-02-01T00:00:00Z", end_at: "2027-01-01T00:00:00Z" }, "end_at"],
    [{ content: { order_id: { nested: true } } }, "content.order_id"],
    [{ callback: { url: "http://127.0.0.1/hook" } }, "callback.url"],
    [{ extra: 1 }, "extra"],
    // A lone surrogate (half a pair) has no UTF-8 form, so no DynamoDB string can hold it.
    [{ topic: "demo\ud83d" }, "topic"],
    [{ cron: "*/1 * * * *\ud83d" }, "cron"],
    [{ timezone: "Europe/Berlin\udc00" }, "timezone"],
    [{ deliver_by: "order_id\ud83d" }, "deliver_by"],
    [{ callback: { url: "https://receiver.example/hook\ud83d" } }, "callback.url"],
    [{ content: { order_id: "A-\ud83d" } }, "content.order_id"],
  ])("refuses %j with a 400 at %s and writes nothing", async (extra, path) => {
    const h = harness();

    const refused = await refusal(createSchedule(h.deps, body(extra)));

    expect(refused.status).toBe(400);
    expect(refused.issues?.map((i) => i.path)).toContain(path);
    expect(h.store.schedules.size).toBe(0);
    expect(h.store.tasks.size).toBe(0);
  });

  // A pattern that is not a fixed local time and whose times all fall in a DST gap (every second of 02:xx on
  // Europe/Berlin's spring-forward Sunday) never fires. Croner finds that out by rejecting each second of each
  // year's gap up to the year 3000: about 80 s of CPU, so the create timed out into a 500 "may have been stored".
  it.each([
    ["* * 2 * 3 0L", "Europe/Berlin"],
    ["* * 2 8-14 3 +0", "America/New_York"],
  ])(
    "refuses %j in %s, whose times all fall in DST gaps, with a prompt 400 at cron",
    async (cron, timezone) => {
      const h = harness();
      const searched = await cronerSearchesOf(() =>
        refusal(createSchedule(h.deps, body({ cron, timezone }))),
      );
      const refused = searched.result;

      // Bounded work, not a stopwatch: croner's zone search (~80 s of CPU for this pattern) never started, and
      // each gap is stepped over at once, not second by second: one step to each year's gap for the calendar's
      // 28-year cycle (two gaps in a row are not 'never': test/unit/domain/schedule.test.ts, fourth Sunday)
      expect(searched.zoned).toBe(0);
      expect(searched.all).toBeLessThanOrEqual(30);
      expect(refused.status).toBe(400);
      expect(refused.issues?.map((i) => i.path)).toEqual(["cron"]);
      expect(refused.issues?.[0]?.message).toMatch(/daylight-saving/);
      expect(h.store.schedules.size).toBe(0);
    },
  );

  it("each occurrence carries the epoch it was made in (deliver's check of a held occurrence), a fan-out copy and a resume's occurrences too", async () => {
    // Prepare: a fan-out topic, so each occurrence is a parent and its copies
    const config = parseConfig({
      name: "test",
      system: { allowedCallbackHosts: ["*"] },
      timer: { horizonSeconds: 300, leadSeconds: 120 },
      topics: {
        demo: {
          deliverBy: "order_id",
          subscribers: [{ id: "billing", url: "https://billing.example.com/hook" }],
        },
      },
    });
    const h = harness("2027-01-01T00:00:30.000Z", config);

    // Act: create (epoch 0), pause and resume (epoch 1)
    const view = await createSchedule(h.deps, body({ callback: undefined }));
    const first = h.live();
    await pauseSchedule(h.deps, view.schedule_id);
    h.clock.advance(1_000);
    await resumeSchedule(h.deps, view.schedule_id);
    const second = h.live();

    // Assess: parents and copies alike
    expect(first.length).toBeGreaterThan(0);
    expect(first.some((t) => t.parentTaskId !== undefined)).toBe(true);
    for (const t of first) expect(t).toMatchObject({ scheduleId: view.schedule_id, scheduleEpoch: 0 });
    expect(second.length).toBeGreaterThan(0);
    for (const t of second) expect(t).toMatchObject({ scheduleId: view.schedule_id, scheduleEpoch: 1 });
  });

  it("refuses an unknown topic and a content over the topic's limit like an add", async () => {
    const h = harness();

    const unknown = await refusal(createSchedule(h.deps, body({ topic: "nope" })));
    const large = await refusal(createSchedule(h.deps, body({ content: { order_id: "x".repeat(300_000) } })));

    expect(unknown).toMatchObject({ status: 400, code: "unknown_topic" });
    expect(large).toMatchObject({ status: 413, code: "payload_too_large" });
    expect(h.store.schedules.size).toBe(0);
  });
  it("a frequent schedule with a large content is a 400 at `content`, nothing stored: its first two minutes would write past a partition's seconds in the create", async () => {
    // Prepare: a one-second cron writes 120 occurrences inline, into one ordering group's partition
    const h = harness();
    const big = { order_id: "o-1", blob: "x".repeat(40_000) };
    const fits = { order_id: "o-1", blob: "x".repeat(30_000) };

    // Act
    const refused = await refusal(createSchedule(h.deps, body({ cron: "* * * * * *", content: big })));
    const everyTen = await createSchedule(h.deps, body({ cron: "*/10 * * * * *", content: big }));
    const smaller = await createSchedule(h.deps, body({ cron: "* * * * * *", content: fits }));

    // Assess
    expect(refused).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path: "content" }] });
    expect(refused.issues?.[0]?.message).toBe(
      "the schedule: its occurrences due in the next two minutes are 120 tasks, written at once inside the call into one DynamoDB partition, so it carries at most 32 KB of content; a less frequent pattern, or a start_at over two minutes ahead, takes more",
    );
    expect([everyTen.status, smaller.status]).toEqual(["active", "active"]);
    expect(h.store.schedules.size).toBe(2);
  });

  it("on a fan-out topic the write budget counts each occurrence's parent and copies", async () => {
    // Prepare: three subscribers, so each occurrence writes four tasks carrying the content
    const config = parseConfig({
      name: "test",
      system: { allowedCallbackHosts: ["*"] },
      timer: { horizonSeconds: 300, leadSeconds: 120 },
      topics: {
        demo: {
          deliverBy: "order_id",
          subscribers: [
            { id: "billing", url: "https://billing.example.com/hook" },
            { id: "audit", url: "https://audit.example.com/hook" },
            { id: "search", url: "https://search.example.com/hook" },
          ],
        },
      },
    });
    const h = harness("2027-01-01T00:00:00.000Z", config);
    const content = { order_id: "o-1", blob: "x".repeat(60_000) };

    // Act: a five-second cron has 24 occurrences due in the next two minutes, 96 tasks of ≈ 60 KB (24 alone would fit)
    const refused = await refusal(
      createSchedule(h.deps, body({ cron: "*/5 * * * * *", content, callback: undefined })),
    );

    // Assess
    expect(refused.issues?.[0]?.message).toMatch(/are 96 tasks, written at once .* at most 40 KB/);
    expect(h.store.schedules.size).toBe(0);
  });

  it("a Quartz cron (`?`, a numbered weekday: a day off here) is a 400 at `cron` and stores nothing; `utc` in lower case is UTC", async () => {
    const h = harness();

    const quartz = await refusal(createSchedule(h.deps, body({ cron: "0 0 12 ? * 2" })));
    const lower = await createSchedule(h.deps, body({ cron: "0 12 * * *", timezone: "utc" }));

    expect(quartz).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path: "cron" }] });
    expect(lower).toMatchObject({
      timezone: "utc",
      next_occurrences: [
        "2027-01-01T12:00:00.000Z",
        "2027-01-02T12:00:00.000Z",
        "2027-01-03T12:00:00.000Z",
        "2027-01-04T12:00:00.000Z",
        "2027-01-05T12:00:00.000Z",
      ],
    });
    expect(h.store.schedules.size).toBe(1);
  });

  it.each([
    ["GB", "Europe/London"],
    ["japan", "Asia/Tokyo"],
    ["Singapore", "Asia/Singapore"],
    ["GMT", "UTC"],
  ])(
    "an IANA alias without an area (%j) is a 400 at `timezone` naming the zone it stands for (%s), not 'not an IANA time zone', and stores nothing",
    async (timezone, target) => {
      const h = harness();

      const refused = await refusal(createSchedule(h.deps, body({ timezone })));

      expect(refused).toMatchObject({
        status: 400,
        code: "validation_failed",
        issues: [{ path: "timezone" }],
      });
      expect(refused.issues).toHaveLength(1);
      expect(refused.issues?.[0]?.message).toContain(`send ${target}, the zone it stands for`);
      expect(refused.issues?.[0]?.message).not.toMatch(/not an IANA time zone/);
      expect(h.store.schedules.size).toBe(0);
      expect(h.store.tasks.size).toBe(0);
    },
  );

  it.each(["Mars/Olympus", "CEST", "+02:00", "Mars"])(
    "a name no IANA zone has (%j) is still a 400 saying it is not an IANA time zone",
    async (timezone) => {
      const h = harness();

      const refused = await refusal(createSchedule(h.deps, body({ timezone })));

      expect(refused.issues).toEqual([
        {
          path: "timezone",
          message: "is not an IANA time zone this service knows (e.g. Europe/Berlin, UTC)",
        },
      ]);
      expect(h.store.schedules.size).toBe(0);
    },
  );

  it("a start_at or end_at past what the schedule engine computes (the year 3000 in the schedule's time zone) is a 400 naming that limit at its field, not 'no occurrence'", async () => {
    const h = harness();

    const start = await refusal(createSchedule(h.deps, body({ start_at: "3000-01-01T00:00:00Z" })));
    const end = await refusal(createSchedule(h.deps, body({ end_at: "3100-01-01T00:00:00Z" })));
    // Kiritimati (UTC+14) reaches 3000-01-01 at 2999-12-31T10:00Z
    const kiritimati = await refusal(
      createSchedule(h.deps, body({ timezone: "Pacific/Kiritimati", start_at: "2999-12-31T10:00:00Z" })),
    );
    const endAtLimit = await createSchedule(h.deps, body({ end_at: "3000-01-01T00:00:00Z" }));

    for (const [refused, path] of [
      [start, "start_at"],
      [end, "end_at"],
      [kiritimati, "start_at"],
    ] as const) {
      expect(refused).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path }] });
      expect(refused.issues?.[0]?.message).toMatch(/3000-01-01T00:00:00/);
    }
    expect(endAtLimit).toMatchObject({ end_at: "3000-01-01T00:00:00.000Z" });
    expect(h.store.schedules.size).toBe(1);
  });

  it("a day field stepping from `*` beside a restricted weekday (AND in Vixie cron, OR in croner) is a 400 at `cron` and stores nothing", async () => {
    const h = harness();

    const refused = await refusal(createSchedule(h.deps, body({ cron: "0 9 */2 * MON" })));

    expect(refused).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path: "cron" }] });
    expect(refused.issues?.[0]?.message).toMatch(/Vixie/);
    expect(h.store.schedules.size).toBe(0);
    expect(h.tasks()).toEqual([]);
  });

  it("a store call whose outcome is unknown (a 5xx: the schedule may be stored) is not a 503 'retry', whose retry would store a second schedule; a throttled one, which stored nothing, is", async () => {
    // Prepare
    const h = harness();
    const putSchedule = h.store.putSchedule.bind(h.store);
    const failing = (error: object) => async (schedule: ScheduleRecord) => {
      await putSchedule(schedule);
      throw Object.assign(new Error("failed"), error);
    };

    // Act
    h.store.putSchedule = failing({
      name: "InternalServerError",
      $fault: "server",
      $metadata: { httpStatusCode: 500, attempts: 3 },
    });
    const unknown = await createSchedule(h.deps, body()).catch(toHttpError);
    h.store.putSchedule = async () => {
      throw Object.assign(new Error("throttled"), {
        name: "ThrottlingException",
        $metadata: { httpStatusCode: 400 },
      });
    };
    const throttled = await createSchedule(h.deps, body()).catch(toHttpError);
    h.store.putSchedule = putSchedule;

    // Assess
    expect(h.store.schedules.size).toBe(1);
    expect(unknown).toMatchObject({ status: 500, code: "internal_error" });
    expect((unknown as HttpError).message).toMatch(/may have been stored/);
    expect(throttled).toMatchObject({ status: 503, code: "service_unavailable" });
  });

  it("a create whose last store attempt was throttled after earlier attempts (one may have stored it, its answer lost) is a 500 'may have been stored', not a 503 'retry' that would store a second schedule", async () => {
    // Prepare: the SDK's first attempt stored the schedule (its answer lost: a 5xx or reset), its resend throttled.
    const h = harness();
    const putSchedule = h.store.putSchedule.bind(h.store);
    const throttledAfter = (attempts: number, store: boolean) => async (schedule: ScheduleRecord) => {
      if (store) await putSchedule(schedule);
      throw Object.assign(new Error("throttled"), {
        name: "ProvisionedThroughputExceededException",
        $fault: "client",
        $metadata: { httpStatusCode: 400, attempts },
      });
    };

    // Act
    h.store.putSchedule = throttledAfter(2, true);
    const resent = await createSchedule(h.deps, body()).catch(toHttpError);
    h.store.putSchedule = throttledAfter(1, false);
    const once = await createSchedule(h.deps, body()).catch(toHttpError);

    // Assess
    expect(h.store.schedules.size).toBe(1);
    expect(resent).toMatchObject({ status: 500, code: "internal_error" });
    expect((resent as HttpError).message).toMatch(/may have been stored/);
    expect(once).toMatchObject({ status: 503, code: "service_unavailable" });
  });

  it("a schedule stored before the read-back failed is answered, not refused as a retryable 503 that would store a second one on retry", async () => {
    // Prepare
    const h = harness();
    const getSchedule = h.store.getSchedule.bind(h.store);
    h.store.getSchedule = async () => {
      throw Object.assign(new Error("socket hang up"), {
        name: "InternalServerError",
        $fault: "server",
        $metadata: { httpStatusCode: 500, attempts: 3 },
      });
    };

    // Act
    const outcome = await createSchedule(h.deps, body()).catch((e: unknown) => toHttpError(e));
    h.store.getSchedule = getSchedule;

    // Assess
    expect(isHttpError(outcome)).toBe(false);
    expect([...h.store.schedules.keys()]).toEqual([(outcome as { schedule_id: string }).schedule_id]);
    expect((outcome as { status: string }).status).toBe("active");
  });
});

describe("materializing", () => {
  it("creates each occurrence once however often it runs, and moves the cursor", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    const before = h.tasks().length;

    h.clock.advance(60_000);
    await runMaterializer(h.deps);
    await runMaterializer(h.deps);
    // A retry that read the schedule as it was at creation (its cursor then).
    const stale = { ...h.schedule(id), materializedUntilMs: h.schedule(id).createdAtMs };
    const retry = await materializeSchedule(h.deps, stale, 100);

    expect(before).toBe(4);
    expect(h.dues()).toEqual([
      "2027-01-01T00:01:00.000Z",
      "2027-01-01T00:02:00.000Z",
      "2027-01-01T00:03:00.000Z",
      "2027-01-01T00:04:00.000Z",
      "2027-01-01T00:05:00.000Z",
    ]);
    expect(h.schedule(id).materializedUntilMs).toBe(h.clock.nowMs + MATERIALIZE_HORIZON_MS);
    // The stale run's lease is refused (the cursor moved): it adds nothing at all.
    expect(retry).toEqual({ occurrences: 0, skipped: 0, advanced: false });
  });

  it("two concurrent runs of one schedule create each occurrence once; one of them moves the cursor", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
    h.clock.advance(3 * 60_000);
    const read = h.schedule(id);

    const [a, b] = await Promise.all([
      materializeSchedule(h.deps, read, 150),
      materializeSchedule(h.deps, read, 150),
    ]);

    expect([a.advanced, b.advanced].sort()).toEqual([false, true]);
    const dues = h.dues();
    expect(new Set(dues).size).toBe(dues.length);
    // Every 10 s from 00:00:10 to 00:07:00 (creation's 25 inline, then the run's window up to now + 4 min).
    expect(dues[0]).toBe("2027-01-01T00:00:10.000Z");
    expect(dues.at(-1)).toBe("2027-01-01T00:07:00.000Z");
    expect(dues).toHaveLength(42);
    expect(h.live().filter((t) => t.scheduleId !== id)).toEqual([]);
  });

  it("a run that fails part-way leaves the cursor; the next run completes the window without duplicates", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    const cursor = h.schedule(id).materializedUntilMs;
    h.clock.advance(3 * 60_000);

    h.timerQueue.failNext = 1;
    const failed = await runMaterializer(h.deps);
    const afterFailure = h.schedule(id).materializedUntilMs;
    const retried = await runMaterializer(h.deps);

    expect(failed.failures).toBe(1);
    expect(afterFailure).toBe(cursor);
    expect(retried.failures).toBe(0);
    expect(h.dues()).toEqual([1, 2, 3, 4, 5, 6, 7].map((m) => `2027-01-01T00:0${m}:00.000Z`));
  });

  it("ends a schedule after its last occurrence (end_at exclusive) and drops it from the work list", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(
      h.deps,
      body({ start_at: "2027-01-01T00:02:00Z", end_at: "2027-01-01T00:03:30Z" }),
    );

    expect(h.dues()).toEqual(["2027-01-01T00:02:00.000Z", "2027-01-01T00:03:00.000Z"]);
    expect(h.schedule(id)).toMatchObject({ status: "ended" });
    expect(h.schedule(id).scheduleShard).toBeUndefined();
    expect((await runMaterializer(h.deps)).schedules).toBe(0);
  });

  it("two runs overlapping as the schedule ends: the one whose cursor write finds it `ended` (the other made its last occurrences) cancels none of them", async () => {
    // Prepare: 10-second occurrences until 00:05:30; the inline pass makes 25 of them. Two minutes later, run A
    // leases the rest (up to the end) and halts before its first add; run B reads the schedule after A's lease,
    // leases on it, makes the last occurrences and ends the schedule.
    const h = harness();
    const { schedule_id: id } = await createSchedule(
      h.deps,
      body({ cron: "*/10 * * * * *", end_at: "2027-01-01T00:05:30Z" }),
    );
    h.clock.advance(2 * 60_000);
    const halted = haltingStore(h.store);
    const a = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const b = await materializeSchedule(h.deps, h.schedule(id), 150);

    // Act: A goes on; its cursor write finds the schedule ended by B.
    halted.release();
    const late = await a;

    // Assess: every occurrence from 00:00:10 to 00:05:20 is one live task; the schedule ended.
    expect(b.advanced).toBe(true);
    expect(late.advanced).toBe(false);
    expect(h.schedule(id).status).toBe("ended");
    const every10s = Array.from(
      { length: 32 },
      (_, i) => Date.parse("2027-01-01T00:00:10.000Z") + i * 10_000,
    );
    expect(h.live().map((t) => t.dueAtMs)).toEqual(every10s);
    expect(h.tasks().filter((t) => t.status === "cancelled")).toEqual([]);
  });

  it("a schedule ended by one run while another is under way, then deleted: delete cancels its last occurrences, and the slower run adds nothing after it", async () => {
    // Prepare: as above; B ends the schedule while A is halted after its lease.
    const h = harness();
    const { schedule_id: id } = await createSchedule(
      h.deps,
      body({ cron: "*/10 * * * * *", end_at: "2027-01-01T00:05:30Z" }),
    );
    h.clock.advance(2 * 60_000);
    const halted = haltingStore(h.store);
    const a = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await materializeSchedule(h.deps, h.schedule(id), 150);

    // Act
    const deleted = await deleteSchedule(h.deps, id);
    const answered = new Set(h.tasks().map((t) => t.taskId));
    halted.release();
    await a;

    // Assess
    expect(deleted).toMatchObject({ status: "deleted", cancelled_occurrences: 20 });
    expect(h.tasks().filter((t) => !answered.has(t.taskId))).toEqual([]);
    expect(h.live().filter((t) => t.dueAtMs > h.clock.nowMs)).toEqual([]);
  });

  it("reads start_at and end_at as due_at reads them: RFC 3339's lower-case t and z", async () => {
    const h = harness();
    await createSchedule(h.deps, body({ start_at: "2027-01-01t00:02:00z", end_at: "2027-01-01t00:03:30z" }));

    expect(h.dues()).toEqual(["2027-01-01T00:02:00.000Z", "2027-01-01T00:03:00.000Z"]);
  });

  it("reads a start_at or end_at with a sub-millisecond part as the next whole ms: no occurrence before start_at, none dropped before end_at", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(
      h.deps,
      body({ start_at: "2027-01-01T00:02:00.0005Z", end_at: "2027-01-01T00:04:00.0000001+00:00" }),
    );

    // 00:02:00 is before start_at; 00:04:00 is before end_at, which is exclusive.
    expect(h.dues()).toEqual(["2027-01-01T00:03:00.000Z", "2027-01-01T00:04:00.000Z"]);
    expect(await getSchedule(h.deps, id)).toMatchObject({
      start_at: "2027-01-01T00:02:00.001Z",
      end_at: "2027-01-01T00:04:00.001Z",
    });
  });

  it("a schedule reads ended once its last occurrence is made, still ahead: pause answers 409 and cancels nothing, delete cancels it", async () => {
    // Prepare: ended at creation, its two occurrences made and not yet due.
    const h = harness();
    const { schedule_id: id } = await createSchedule(
      h.deps,
      body({ start_at: "2027-01-01T00:02:00Z", end_at: "2027-01-01T00:03:30Z" }),
    );

    // Act
    const paused = await refusal(pauseSchedule(h.deps, id));
    const liveAfterPause = h.live().length;
    const deleted = await deleteSchedule(h.deps, id);

    // Assess
    expect(paused).toMatchObject({ status: 409, code: "conflict" });
    expect(liveAfterPause).toBe(2);
    expect(deleted).toMatchObject({ status: "deleted", cancelled_occurrences: 2 });
    expect(h.live()).toEqual([]);
  });

  it.each([
    ["2027-01-01T00:02:01.000Z", 120],
    ["2027-01-01T00:02:00.500Z", 120],
    ["2027-01-01T00:02:05.000Z", 124],
    ["2027-01-01T00:00:30.000Z", 29],
  ])(
    "a one-second schedule ending at %s: exactly the occurrences before end_at, ended only once they are made",
    async (end, count) => {
      // Created at 00:00:00.400: the inline pass stops at its cap (120: two minutes) at or just before end_at.
      const h = harness("2027-01-01T00:00:00.400Z");
      const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *", end_at: end }));
      const endedAtCreation = h.schedule(id).status === "ended";

      await runMaterializer(h.deps);

      const occurrences = h.tasks().map((t) => Number(t.idempotencyKey?.split(":").at(-1)));
      expect(occurrences).toEqual(
        Array.from({ length: count }, (_, i) => Date.parse("2027-01-01T00:00:01Z") + i * 1000),
      );
      expect(endedAtCreation).toBe(count <= MAX_OCCURRENCES_INLINE);
      expect(h.schedule(id).status).toBe("ended");
    },
  );

  it("starts no schedule when the invocation is about to run out of time; the next run makes its occurrences", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
    const cursor = h.schedule(id).materializedUntilMs;
    h.clock.advance(60_000);

    const late = await runMaterializer({ ...h.deps, remainingMs: () => 5_000 });
    const unchanged = h.schedule(id).materializedUntilMs;
    const next = await runMaterializer({ ...h.deps, remainingMs: () => 50_000 });

    expect(late).toEqual({ schedules: 1, occurrences: 0, skipped: 0, failures: 0, lagSeconds: 50 });
    expect(unchanged).toBe(cursor);
    expect(next.occurrences).toBeGreaterThan(0);
    expect(h.schedule(id).materializedUntilMs).toBe(h.clock.nowMs + MATERIALIZE_HORIZON_MS);
  });

  it("takes the longest-due schedules first across every shard, so a run short of time starves none of them", async () => {
    // Prepare: one schedule per shard, the highest shard's the longest due.
    const h = harness();
    const byShard = new Map<number, string>();
    while (byShard.size < SCHEDULE_SHARDS) {
      const { schedule_id: id } = await createSchedule(h.deps, body());
      const shard = h.schedule(id).scheduleShard as number;
      if (byShard.has(shard)) h.store.schedules.delete(id);
      else byShard.set(shard, id);
    }
    h.clock.advance(60_000);
    for (const [shard, id] of byShard) {
      h.store.schedules.set(id, { ...h.schedule(id), materializeAtMs: h.clock.nowMs - (shard + 1) * 1_000 });
    }
    const cursors = () => [...byShard.values()].map((id) => h.schedule(id).materializedUntilMs);
    const before = cursors();
    // Time for one schedule only: every later start sees the invocation about to end.
    let starts = 0;

    // Act
    await runMaterializer({ ...h.deps, remainingMs: () => (starts++ === 0 ? 50_000 : 5_000) });

    // Assess: the run took the longest-due (the last shard's), not the first shard's.
    const moved = [...byShard.keys()].filter((_, i) => cursors()[i] !== before[i]);
    expect(moved).toEqual([SCHEDULE_SHARDS - 1]);
  });

  it("materializes no further ahead than the topic's maxDelay, so no occurrence is refused by the add path and skipped", async () => {
    // Prepare: a topic whose maxDelay (2 min) is shorter than the 4-minute horizon.
    const sim = simConfig();
    const demo = { ...(sim.resolvedTopics.demo as TopicConfig), maxDelaySeconds: 120 };
    const h = harness("2027-01-01T00:00:30.000Z", {
      ...sim,
      resolvedTopics: { ...sim.resolvedTopics, demo },
    });

    // Act: create, then the materializer every minute for three minutes.
    const { schedule_id: id } = await createSchedule(h.deps, body());
    const inline = h.dues();
    for (let minute = 0; minute < 3; minute++) {
      h.clock.advance(60_000);
      await runMaterializer(h.deps);
    }

    // Assess: never a task further ahead than maxDelay, every minute's occurrence made, none refused.
    expect(h.errors).toEqual([]);
    expect(inline).toEqual(["2027-01-01T00:01:00.000Z", "2027-01-01T00:02:00.000Z"]);
    expect(h.dues()).toEqual([1, 2, 3, 4, 5].map((m) => `2027-01-01T00:0${m}:00.000Z`));
    expect(h.schedule(id).materializedUntilMs).toBe(h.clock.nowMs + 120_000);
  });

  it("an occurrence the add path now refuses (the callback host left the allow-list) is skipped, and the schedule's view says so instead of reading healthy", async () => {
    // Prepare: a schedule made under today's settings; then its callback host is no longer allowed.
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    const made = h.tasks().length;
    const sim = simConfig();
    const demo = { ...(sim.resolvedTopics.demo as TopicConfig), allowedCallbackHosts: ["hooks.example.com"] };
    Object.assign(h.deps, { config: { ...sim, resolvedTopics: { ...sim.resolvedTopics, demo } } });

    // Act: two runs, a minute apart.
    const runs = [];
    for (let minute = 0; minute < 2; minute++) {
      h.clock.advance(60_000);
      runs.push(await runMaterializer(h.deps));
    }
    const view = await getSchedule(h.deps, id);

    // Assess: nothing new was made, each run counted its skip (the metric), and the view names how many were
    // skipped, the last one and why.
    expect(h.tasks()).toHaveLength(made);
    expect(runs.map((run) => run.skipped)).toEqual([1, 1]);
    expect(view).toMatchObject({
      status: "active",
      skipped_occurrences: 2,
      last_skipped: {
        occurrence: "2027-01-01T00:06:00.000Z",
        at: "2027-01-01T00:02:00.000Z",
        code: "validation_failed",
        message: expect.stringMatching(/callback/),
      },
    });
  });

  it("a schedule resumed after its callback host left the allow-list: the resume's inline pass counts its skips in ScheduleOccurrencesSkipped (per service, as the materializer's runs do), so the skipped-occurrences alarm notifies at the first one", async () => {
    // Prepare: an hourly schedule paused, its host then removed from the allow-list; the routes' wiring, its EMF
    // lines captured.
    const h = harness("2027-01-01T00:00:30.000Z");
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "1 * * * *" }));
    await pauseSchedule(h.deps, id);
    const sim = simConfig();
    const demo = { ...(sim.resolvedTopics.demo as TopicConfig), allowedCallbackHosts: ["hooks.example.com"] };
    Object.assign(h.deps, { config: { ...sim, resolvedTopics: { ...sim.resolvedTopics, demo } } });
    h.clock.set("2027-01-01T01:00:30.000Z");
    const lines: string[] = [];
    const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const counted = new Metrics({ namespace: "Punctual", serviceName: "punctual-test" });
    const wiring = scheduleLogging(memoryLogger(), counted);

    // Act: resumed (its 01:01 occurrence is due before the next materializer run: made inline, and refused)
    let view: Awaited<ReturnType<typeof resumeSchedule>>;
    try {
      view = await resumeSchedule({ ...h.deps, ...wiring }, id);
    } finally {
      stdout.mockRestore();
    }

    // Assess: skipped, and one ScheduleOccurrencesSkipped of 1 under the service dimension alone.
    expect(view).toMatchObject({ status: "active", skipped_occurrences: 1 });
    const emf = lines.filter((l) => l.includes('"CloudWatchMetrics"')).map((l) => JSON.parse(l));
    expect(emf).toEqual([
      expect.objectContaining({
        service: "punctual-test",
        ScheduleOccurrencesSkipped: 1,
        _aws: expect.objectContaining({
          CloudWatchMetrics: [
            expect.objectContaining({
              Namespace: "Punctual",
              Dimensions: [["service"]],
              Metrics: [expect.objectContaining({ Name: "ScheduleOccurrencesSkipped" })],
            }),
          ],
        }),
      }),
    ]);
  });

  it("a caller cannot take an occurrence's idempotency key: `schedule:` keys are refused (body, header, batch item) with nothing stored, and the occurrence is still made", async () => {
    // Prepare: a schedule, and the key its next occurrence (00:05, made by the 00:01 run) will be added with.
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    const next = Date.parse("2027-01-01T00:05:00.000Z");
    const key = `schedule:${id}:${h.schedule(id).epoch}:${next}`;
    const add = {
      topic: "demo",
      due_at: "2027-01-01T00:05:00Z",
      content: { order_id: "mine" },
      callback: { url: "https://receiver.example/mine" },
    };
    const made = h.tasks().length;

    // Act: the caller adds under that key every way it can; then the run.
    const inBody = await refusal(addTask(h.deps, { body: { ...add, idempotency_key: key } }));
    const inHeader = await refusal(addTask(h.deps, { body: add, idempotencyKeyHeader: key }));
    const batch = await addTasksBatch(
      { ...h.deps, store: h.store, timerQueue: h.timerQueue },
      { tasks: [{ ...add, idempotency_key: key }] },
    );
    const storedByCaller = h.tasks().length - made;
    h.clock.advance(60_000);
    const run = await runMaterializer(h.deps);

    // Assess: each a 400 naming the field and the reserved prefix, nothing stored; the occurrence made, not skipped.
    const reserved = expect.stringContaining("schedule:");
    expect(inBody).toMatchObject({ status: 400, code: "validation_failed" });
    expect(inBody.issues).toEqual([{ path: "idempotency_key", message: reserved }]);
    expect(inHeader).toMatchObject({ status: 400, code: "validation_failed" });
    expect(inHeader.issues).toEqual([{ path: "Idempotency-Key", message: reserved }]);
    expect(batch.results[0]).toMatchObject({
      status: 400,
      error: { code: "validation_failed", issues: [{ path: "idempotency_key", message: reserved }] },
    });
    expect(storedByCaller).toBe(0);
    expect(run.skipped).toBe(0);
    expect(h.live().find((t) => t.dueAtMs === next)).toMatchObject({ scheduleId: id, idempotencyKey: key });
  });

  it("a schedule whose topic left the config is paused by the next run, saying why (not skipped every minute for ever); it can still be listed, shown and deleted, and resume refuses it while the topic is gone", async () => {
    // Prepare: a schedule on demo; then demo leaves the environment's config.
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    const sim = simConfig();
    const { demo: _removed, ...others } = sim.resolvedTopics;
    Object.assign(h.deps, { config: { ...sim, resolvedTopics: others } });

    // Act: two runs a minute apart; then what an operator does.
    h.clock.advance(60_000);
    const first = await runMaterializer(h.deps);
    h.clock.advance(60_000);
    const second = await runMaterializer(h.deps);
    const view = await getSchedule(h.deps, id);
    const listed = await listSchedules(h.deps, { topic: "demo" });
    const typo = await refusal(listSchedules(h.deps, { topic: "demoo" }));
    const resumed = await refusal(resumeSchedule(h.deps, id));
    const deleted = await deleteSchedule(h.deps, id);

    // Assess: the first run skipped its occurrence and paused the schedule (out of the work list, so the second run
    // sees nothing); the view says why; listing the removed topic finds it, a topic never known is still a 400.
    expect(first).toMatchObject({ schedules: 1, skipped: 1 });
    expect(second).toMatchObject({ schedules: 0, skipped: 0 });
    expect(view).toMatchObject({
      status: "paused",
      paused_at: "2027-01-01T00:01:00.000Z",
      next_occurrences: [],
      skipped_occurrences: 1,
      last_skipped: {
        occurrence: "2027-01-01T00:05:00.000Z",
        code: "unknown_topic",
        message: expect.stringMatching(/not in this environment's config.*paused/),
      },
    });
    expect(listed.schedules.map((s) => s.schedule_id)).toEqual([id]);
    expect(typo).toMatchObject({ status: 400, code: "unknown_topic" });
    expect(resumed).toMatchObject({ status: 409, code: "conflict" });
    expect(deleted.status).toBe("deleted");
  });

  it.each([
    ["all", 150],
    ["latest", 10],
    ["none", 9],
  ] as const)(
    "catch_up %s: a schedule whose topic left the config during an outage is paused counting that run's occurrences (%i), its backlog dropped with the pause, uncounted (docs/API.md)",
    async (catchUp, counted) => {
      // Prepare: a minute schedule on demo, then three hours without a run, during which demo leaves the config.
      const h = harness();
      const { schedule_id: id } = await createSchedule(
        h.deps,
        body({ cron: "* * * * *", catch_up: catchUp }),
      );
      const sim = simConfig();
      const { demo: _removed, ...others } = sim.resolvedTopics;
      Object.assign(h.deps, { config: { ...sim, resolvedTopics: others } });
      h.clock.set("2027-01-01T03:00:00.000Z");
      const before = h.tasks().length;

      // Act
      const run = await runMaterializer(h.deps);

      // Assess: nothing written; the run's window counted, nothing else.
      expect(run).toMatchObject({ failures: 0, skipped: counted });
      expect(h.tasks()).toHaveLength(before);
      expect(h.schedule(id)).toMatchObject({ status: "paused", skippedOccurrences: counted });
      expect(h.schedule(id).lastSkipped).toMatchObject({ code: "unknown_topic" });
    },
  );

  it("a schedule whose next times all fall in a two-hour DST gap (Antarctica/Troll) stays active and is looked at again after it, not ended", async () => {
    // Prepare: every second of 01:xx and 02:xx local; on 2027-03-28 Troll jumps from 01:00 (+00) to 03:00 (+02).
    const h = harness("2027-03-27T02:58:00.000Z");

    // Act: created two minutes before its last occurrence ahead of the gap.
    const { schedule_id: id } = await createSchedule(
      h.deps,
      body({ cron: "* * 1,2 * * *", timezone: "Antarctica/Troll" }),
    );

    // Assess: its next occurrence after the gap is 2027-03-29 01:00 (+02), 2027-03-28 23:00Z.
    expect(h.schedule(id)).toMatchObject({
      status: "active",
      materializeAtMs: Date.parse("2027-03-28T23:00:00.000Z") - MATERIALIZE_HORIZON_MS,
    });
  });

  it("a schedule whose next times fall in two years' DST gaps in a row but not in the third's (every 15 minutes of 02:xx on March's fourth Sunday, Europe/Berlin) is created active and looked at again before 2030, not refused as never firing", async () => {
    // Prepare: the fourth Sunday of March is the spring-forward day in 2027, 2028 and 2029, not in 2030 (the 24th).
    const h = harness("2027-03-01T00:00:00.000Z");

    // Act
    const { schedule_id: id } = await createSchedule(
      h.deps,
      body({ cron: "*/15 2 * 3 0#4", timezone: "Europe/Berlin" }),
    );

    // Assess: its first occurrence is 2030-03-24 02:00 CET, 01:00Z
    expect(h.schedule(id)).toMatchObject({
      status: "active",
      materializeAtMs: Date.parse("2030-03-24T01:00:00.000Z") - MATERIALIZE_HORIZON_MS,
    });
  });

  it("a schedule none of whose occurrences was refused shows no skip fields", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    h.clock.advance(60_000);
    await runMaterializer(h.deps);

    const view = await getSchedule(h.deps, id);

    expect(view).not.toHaveProperty("skipped_occurrences");
    expect(view).not.toHaveProperty("last_skipped");
  });

  it("caps the occurrences made inline at creation (two minutes of a one-second cron); the scheduled run makes the rest, up to its own cap", async () => {
    const h = harness();
    await createSchedule(h.deps, body({ cron: "* * * * * *" }));
    const inline = h.tasks().length;

    h.clock.advance(60_000);
    await runMaterializer(h.deps);

    expect(MAX_OCCURRENCES_INLINE).toBe(120);
    expect(inline).toBe(MAX_OCCURRENCES_INLINE);
    expect(h.tasks()).toHaveLength(MAX_OCCURRENCES_INLINE + 150);
  });

  it("makes at least 25 occurrences inline for a slower pattern, as far as the horizon", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "*/7 * * * * *" }));

    // 7-second steps within each minute (0, 7, … 56): 9 a minute, 25 within the first 2:50, all within 4 min.
    expect(h.tasks()).toHaveLength(25);
    expect(h.schedule(id).materializedUntilMs).toBe(Date.parse("2027-01-01T00:02:49.000Z"));
  });
});

describe("DST days through the materializer: runs about a minute apart, never on the minute", () => {
  /** Creates the schedule, then runs the materializer every 49–72 s for a day; answers its tasks' due times. */
  async function aDayOfRuns(startIso: string, cron: string, timezone: string) {
    const h = harness(startIso);
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron, timezone }));
    for (let run = 0; run < 1_200; run++) {
      h.clock.advance(49_000 + ((run * 7_919) % 23_000));
      await runMaterializer(h.deps);
    }
    expect(h.errors).toEqual([]);
    return h.dues(h.tasks().filter((t) => t.scheduleId === id));
  }

  it("a fixed local time in the repeated hour (01:30 New York on fall-back) is made once, however the cursor falls in that hour", async () => {
    const dues = await aDayOfRuns("2027-11-06T12:00:00.000Z", "30 1 * * *", "America/New_York");

    // 01:30 EDT (05:30Z) only; 01:30 EST (06:30Z) does not run.
    expect(dues).toEqual(["2027-11-07T05:30:00.000Z"]);
  });

  it("an interval pattern in the repeated hour runs on the real clock, each instant once", async () => {
    const dues = await aDayOfRuns("2027-11-06T12:00:00.000Z", "*/30 1 * * *", "America/New_York");

    expect(dues).toEqual([
      "2027-11-07T05:00:00.000Z",
      "2027-11-07T05:30:00.000Z",
      "2027-11-07T06:00:00.000Z",
      "2027-11-07T06:30:00.000Z",
    ]);
  });

  it("a fixed local time in a 30-minute gap (02:15 Lord Howe on spring-forward) runs once, at the gap's end", async () => {
    const dues = await aDayOfRuns("2027-10-02T00:00:00.000Z", "15 2 * * *", "Australia/Lord_Howe");

    // 02:00 +10:30 jumps to 02:30 +11 (15:30Z): 02:15 runs then; the next day at 02:15 +11.
    expect(dues).toEqual(["2027-10-02T15:30:00.000Z"]);
  });

  it("midnight in a zone that springs forward at midnight (Santiago) runs at 01:00, once", async () => {
    const dues = await aDayOfRuns("2027-09-04T12:00:00.000Z", "0 0 * * *", "America/Santiago");

    expect(dues).toEqual(["2027-09-05T04:00:00.000Z"]);
  });
});

describe("how far behind the materializer is (its lag, in each run's summary)", () => {
  it("a run that runs out of time reports how long the longest-due schedule it left has been due, at its end; the run that catches up reports 0", async () => {
    // Prepare: two one-minute schedules, due to the materializer at 00:01 (next occurrence 00:05, minus the
    // 4-minute horizon); the run comes at 00:02:30 with time to start one of them, and ends 20 s later.
    const h = harness();
    await createSchedule(h.deps, body());
    await createSchedule(h.deps, body());
    h.clock.set("2027-01-01T00:02:30.000Z");
    let starts = 0;
    const remainingMs = () => {
      if (starts++ === 0) return 50_000;
      h.clock.advance(20_000);
      return 5_000;
    };

    // Act
    const short = await runMaterializer({ ...h.deps, remainingMs });
    h.clock.advance(60_000);
    const caughtUp = await runMaterializer({ ...h.deps, remainingMs: () => 50_000 });

    // Assess: the one left has been due since 00:01:00 at the run's end (00:02:50).
    expect(short).toMatchObject({ schedules: 2, failures: 0, lagSeconds: 110 });
    expect(caughtUp).toMatchObject({ schedules: 2, failures: 0, lagSeconds: 0 });
  });

  it("a run that keeps up (every due schedule made to the horizon's end) reports 0", async () => {
    const h = harness();
    await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
    await createSchedule(h.deps, body());
    const lags = [];

    for (let minute = 0; minute < 3; minute++) {
      h.clock.advance(60_000);
      lags.push((await runMaterializer(h.deps)).lagSeconds);
    }

    expect(lags).toEqual([0, 0, 0]);
  });

  it("counts the schedules it could not read: a shard with more due than a run reads (250) leaves its newest", async () => {
    // Prepare: 251 copies of one schedule in shard 0, due between 62.5 s and 60 s ago when the run starts.
    const h = harness();
    const { schedule_id: template } = await createSchedule(h.deps, body());
    const record = h.schedule(template);
    h.store.schedules.delete(template);
    const dueAtMs = Date.parse("2027-01-01T00:01:00.000Z");
    for (let i = 0; i <= 250; i++) {
      const scheduleId = `demo.schedule.01JAAAAAAAAAAAAAAAAAAA${String(i).padStart(4, "0")}`;
      await h.store.putSchedule({
        ...record,
        scheduleId,
        sk: scheduleId,
        scheduleShard: 0,
        materializeAtMs: dueAtMs - (250 - i) * 10,
      });
    }
    h.clock.set("2027-01-01T00:02:00.000Z");

    // Act: all the time it needs.
    const run = await runMaterializer(h.deps);

    // Assess: 250 made (00:05 and 00:06 each); the 251st, due since 00:01:00, was never read.
    expect(run).toMatchObject({ schedules: 250, occurrences: 500, failures: 0, lagSeconds: 60 });
  });

  it("after a three-hour outage a minute schedule's missed occurrences are each made once, late, at most 150 a run, none skipped (docs/API.md: 'never skipped')", async () => {
    // Prepare: made inline up to 00:04 at creation; then no run until 03:00.
    const h = harness();
    await createSchedule(h.deps, body({ cron: "* * * * *" }));
    h.clock.set("2027-01-01T03:00:00.000Z");
    const runs = [];

    // Act: a run a minute, three times.
    for (let minute = 0; minute < 3; minute++) {
      runs.push(await runMaterializer(h.deps));
      h.clock.advance(60_000);
    }

    // Assess: 00:01 … 03:06 (the horizon of the third run at 03:02), one task each: 4 inline, then 00:05 … 02:34
    // (the run's cap), 02:35 … 03:05, 03:06.
    const keys = h.tasks().map((t) => t.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toHaveLength(186);
    expect(runs.map((r) => r.occurrences)).toEqual([150, 31, 1]);
    expect(runs.map((r) => r.skipped)).toEqual([0, 0, 0]);
  });

  it("a schedule still behind after its 150 occurrences of the run counts: a one-second schedule 400 s without a run is caught up 90 s a minute", async () => {
    // Prepare: created at 00:00 (made inline up to 00:02:00); no run until 00:06:40.
    const h = harness();
    await createSchedule(h.deps, body({ cron: "* * * * * *" }));
    h.clock.set("2027-01-01T00:06:40.000Z");
    const lags = [];

    // Act: a run a minute.
    for (let minute = 0; minute < 6; minute++) {
      lags.push((await runMaterializer(h.deps)).lagSeconds);
      h.clock.advance(60_000);
    }

    // Assess: the first run makes 00:02:01 … 00:04:30, so the next one (00:04:31) entered the horizon at 00:00:31,
    // 369 s before the run's end; each run makes 150 s of occurrences in 60 s.
    expect(lags).toEqual([369, 279, 189, 99, 9, 0]);
  });
});

/** The occurrence instants of the tasks made, from their idempotency keys (a late one is due "now"). */
const occurrenceInstants = (h: ReturnType<typeof harness>) =>
  h
    .tasks()
    .map((t) => Number(t.idempotencyKey?.split(":").at(-1)))
    .sort((a, b) => a - b);

describe("catching up after a long outage", () => {
  it("a one-second schedule whose materializer was down a day catches up in bounded steps: each run makes at most 150, the cursor moves on every minute, and two runs overlapping each minute make no occurrence twice and leave none out", async () => {
    // Prepare: made inline up to 00:02:00 at creation; then no run for a day (86,400 occurrences owed).
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *" }));
    h.clock.set("2027-01-02T00:00:00.000Z");
    const cursors = [h.schedule(id).materializedUntilMs];
    const perRun: number[] = [];

    // Act: five minutes of runs, two started side by side each minute (a retried or slow invocation).
    for (let minute = 0; minute < 5; minute++) {
      const runs = await Promise.all([runMaterializer(h.deps), runMaterializer(h.deps)]);
      perRun.push(...runs.map((run) => run.occurrences));
      cursors.push(h.schedule(id).materializedUntilMs);
      h.clock.advance(60_000);
    }

    // Assess: every run did at most its cap, each minute's pair made exactly one cap's worth (150 s further), and
    // the tasks are every second from creation to the cursor, once each.
    const made = occurrenceInstants(h);
    const start = Date.parse("2027-01-01T00:00:00.000Z");
    expect(Math.max(...perRun)).toBeLessThanOrEqual(150);
    expect(cursors.slice(1).map((c, i) => (c - (cursors[i] as number)) / 1000)).toEqual([
      150, 150, 150, 150, 150,
    ]);
    expect(made).toEqual(Array.from({ length: 120 + 5 * 150 }, (_, i) => start + (i + 1) * 1000));
    expect(h.errors).toEqual([]);
  });
});

describe("catch-up policy (`catch_up`): what a run makes of occurrences it missed", () => {
  /** A minute schedule made inline up to 00:04 at creation, then no materializer run until 03:00. */
  async function threeHoursDown(catchUp?: string) {
    const h = harness();
    const { schedule_id: id } = await createSchedule(
      h.deps,
      body({ cron: "* * * * *", ...(catchUp !== undefined ? { catch_up: catchUp } : {}) }),
    );
    h.clock.set("2027-01-01T03:00:00.000Z");
    return { h, id };
  }
  const minutes = (from: string, count: number) =>
    Array.from({ length: count }, (_, i) => Date.parse(from) + i * 60_000);

  it("defaults to `all` (today's behaviour: every missed occurrence made once, late), shown in the view", async () => {
    const { h, id } = await threeHoursDown();

    const run = await runMaterializer(h.deps);

    expect((await getSchedule(h.deps, id)).catch_up).toBe("all");
    expect(run).toMatchObject({ occurrences: 150, skipped: 0 });
  });

  it("`latest` makes only the most recent missed occurrence (due more than 5 minutes before the run), then those since, and counts the others skipped", async () => {
    // Prepare
    const { h, id } = await threeHoursDown("latest");

    // Act
    const run = await runMaterializer(h.deps);
    const view = await getSchedule(h.deps, id);

    // Assess: 00:05 … 02:54 skipped (170); 02:55 (the latest missed), and 02:56 … 03:04 (late by less than the
    // grace, or ahead) made.
    expect(occurrenceInstants(h)).toEqual([
      ...minutes("2027-01-01T00:01:00.000Z", 4),
      ...minutes("2027-01-01T02:55:00.000Z", 10),
    ]);
    expect(run).toMatchObject({ occurrences: 10, skipped: 170 });
    expect(view).toMatchObject({
      catch_up: "latest",
      status: "active",
      skipped_occurrences: 170,
      last_skipped: {
        occurrence: "2027-01-01T02:54:00.000Z",
        at: "2027-01-01T03:00:00.000Z",
        code: "missed",
        message: expect.stringMatching(/catch_up/),
      },
    });
  });

  it("`none` makes no missed occurrence, only those due since the grace began, and counts every missed one skipped", async () => {
    const { h, id } = await threeHoursDown("none");

    const run = await runMaterializer(h.deps);
    h.clock.advance(60_000);
    const next = await runMaterializer(h.deps);

    expect(occurrenceInstants(h)).toEqual([
      ...minutes("2027-01-01T00:01:00.000Z", 4),
      ...minutes("2027-01-01T02:56:00.000Z", 10),
    ]);
    expect(run).toMatchObject({ occurrences: 9, skipped: 171 });
    expect(next).toMatchObject({ occurrences: 1, skipped: 0 });
    expect(await getSchedule(h.deps, id)).toMatchObject({
      catch_up: "none",
      skipped_occurrences: 171,
      last_skipped: { occurrence: "2027-01-01T02:55:00.000Z", code: "missed" },
    });
  });

  it.each(["latest", "none"])(
    "a `%s` run that skips missed occurrences logs one warning per schedule, naming it, how many, the latest skipped and the policy (the materializer's wiring)",
    async (catchUp) => {
      // Prepare: the materializer's own log wiring on the three-hour outage.
      const { h, id } = await threeHoursDown(catchUp);
      const logger = memoryLogger();

      // Act
      await runMaterializer({ ...h.deps, ...scheduleLogging(logger, undefined) });
      h.clock.advance(60_000);
      await runMaterializer({ ...h.deps, ...scheduleLogging(logger, undefined) });

      // Assess: one line for the one skipping run, none for the next (nothing missed then).
      expect(logger.entries).toEqual([
        {
          level: "warn",
          message: expect.stringMatching(/missed occurrences skipped/),
          extra: {
            scheduleId: id,
            catchUp,
            skipped: catchUp === "latest" ? 170 : 171,
            latestSkipped: catchUp === "latest" ? "2027-01-01T02:54:00.000Z" : "2027-01-01T02:55:00.000Z",
          },
        },
      ]);
    },
  );

  it("a one-second `none` schedule down a day skips its backlog in one run, without walking it (the count a floor past 1,000), and is on time again within minutes", async () => {
    // Prepare: made inline up to 00:02:00 at creation; then no run for a day (86,400 occurrences missed).
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *", catch_up: "none" }));
    h.clock.set("2027-01-02T00:00:00.000Z");

    // Act: a run a minute.
    const runs = [];
    for (let minute = 0; minute < 6; minute++) {
      runs.push(await runMaterializer(h.deps));
      h.clock.advance(60_000);
    }

    // Assess: the first run skips up to 23:55:00 and makes 23:55:01 … 23:57:30 (its cap); the next runs make the
    // rest of the grace's five minutes, late, 150 s a minute, and catch up with the horizon, skipping nothing more.
    expect(runs.map((run) => run.skipped)).toEqual([1_000, 0, 0, 0, 0, 0]);
    expect(runs.map((run) => run.lagSeconds)).toEqual([389, 299, 209, 119, 29, 0]);
    expect(h.schedule(id).lastSkipped).toMatchObject({
      occurrenceMs: Date.parse("2027-01-01T23:55:00.000Z"),
      message: expect.stringMatching(/^at least 1000 missed/),
    });
    const made = occurrenceInstants(h).slice(120);
    const first = Date.parse("2027-01-01T23:55:01.000Z");
    expect(made).toEqual(Array.from({ length: made.length }, (_, i) => first + i * 1000));
    expect(made.at(-1)).toBeGreaterThanOrEqual(h.clock.nowMs - 60_000 + MATERIALIZE_HORIZON_MS);
  });

  it.each(["none", "latest"])(
    "`%s`: a healthy run late by a minute or two (a short-maxDelay topic, a tick at the end of its minute, a run that failed) skips nothing",
    async (catchUp) => {
      // Prepare: a topic whose maxDelay (30 s) makes every occurrence late by up to a run; runs 1–2 minutes apart.
      const sim = simConfig();
      const demo = { ...(sim.resolvedTopics.demo as TopicConfig), maxDelaySeconds: 30 };
      const h = harness("2027-01-01T00:00:00.000Z", {
        ...sim,
        resolvedTopics: { ...sim.resolvedTopics, demo },
      });
      const { schedule_id: id } = await createSchedule(
        h.deps,
        body({ cron: "*/10 * * * * *", catch_up: catchUp }),
      );

      // Act
      const runs = [];
      for (const gapMs of [59_000, 61_000, 119_000, 60_000, 121_000, 60_000]) {
        h.clock.advance(gapMs);
        runs.push(await runMaterializer(h.deps));
      }

      // Assess: every 10 s from 00:00:10 to the cursor made, once each; none skipped.
      const made = occurrenceInstants(h);
      const until = h.schedule(id).materializedUntilMs;
      expect(runs.map((run) => run.skipped)).toEqual([0, 0, 0, 0, 0, 0]);
      expect(made).toEqual(
        Array.from(
          { length: Math.floor(until / 10_000) - Date.parse("2027-01-01") / 10_000 },
          (_, i) => Date.parse("2027-01-01T00:00:10.000Z") + i * 10_000,
        ),
      );
      expect(h.schedule(id).skippedOccurrences).toBeUndefined();
    },
  );

  it("an invalid `catch_up` is a 400 naming the field, nothing stored", async () => {
    const h = harness();

    const refused = await Promise.all(
      ["sometimes", "ALL", "", null, 1].map((value) =>
        refusal(createSchedule(h.deps, body({ catch_up: value }))),
      ),
    );

    for (const answer of refused) {
      expect(answer).toMatchObject({ status: 400, code: "validation_failed" });
      expect(answer.issues?.map((issue) => issue.path)).toEqual(["catch_up"]);
    }
    expect(h.store.schedules.size).toBe(0);
  });

  it.each(["none", "latest"])(
    "`%s`: a pause while a run that skips a backlog has leased its window (and crashed) fences only what the run may add, not the skipped backlog",
    async (catchUp) => {
      // Prepare: three hours missed; a run leases its window, then halts for good before its first add.
      const { h, id } = await threeHoursDown(catchUp);
      const halted = haltingStore(h.store);
      void materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
      await new Promise((resolve) => setTimeout(resolve, 10));
      const before = h.tasks().length;

      // Act
      await pauseSchedule(h.deps, id);

      // Assess: the pause wrote a cancelled task only for the occurrences the run would make (02:55 for `latest`,
      // then 02:56 … 03:04), none for the 170 it skips (a one-second cron down a day: 86,400 writes in one pause).
      const written = h.tasks().slice(before);
      const firstMade = Date.parse(
        catchUp === "latest" ? "2027-01-01T02:55:00.000Z" : "2027-01-01T02:56:00.000Z",
      );
      expect(written.length).toBeGreaterThan(0);
      const instants = written.map((t) => Number(t.idempotencyKey?.split(":").at(-1)));
      expect(written.every((t) => t.status === "cancelled")).toBe(true);
      expect(Math.min(...instants)).toBe(firstMade);
    },
  );

  it("`none`: a run that fails after its lease skipped the backlog still counts the skip in its summary (the metric), once", async () => {
    // Prepare: the first add of the run fails (a 5xx-like store error), after the lease.
    const { h, id } = await threeHoursDown("none");
    const failing: MemoryTaskStore = Object.create(h.store);
    Object.assign(failing, {
      claimIdempotencyKey: async () => {
        throw new Error("throttled");
      },
    });

    // Act
    const failed = await runMaterializer({ ...h.deps, store: failing });
    const next = await runMaterializer(h.deps);

    // Assess: counted by the failed run (its lease recorded it), not again by the next.
    expect(failed).toMatchObject({ failures: 1, occurrences: 0, skipped: 171 });
    expect(next).toMatchObject({ failures: 0, occurrences: 9, skipped: 0 });
    expect(h.schedule(id).skippedOccurrences).toBe(171);
    expect(h.errors).toEqual([]);
  });

  it("`latest`: a run that crashed after skipping its backlog, then the next run: the backlog counted once, the latest missed made once", async () => {
    // Prepare: a run leases its window (skipping 00:05 … 02:54), then halts for good before its first add.
    const { h, id } = await threeHoursDown("latest");
    const halted = haltingStore(h.store);
    void materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
    await new Promise((resolve) => setTimeout(resolve, 10));

    // Act
    const next = await runMaterializer(h.deps);

    // Assess
    expect(next).toMatchObject({ occurrences: 10, skipped: 0 });
    expect(h.schedule(id).skippedOccurrences).toBe(170);
    expect(occurrenceInstants(h)).toEqual([
      ...minutes("2027-01-01T00:01:00.000Z", 4),
      ...minutes("2027-01-01T02:55:00.000Z", 10),
    ]);
  });

  it.each([
    ["latest", "* * * * *", 1],
    ["none", "* * * * *", 1],
    ["latest", "* * * * * *", 60],
    ["none", "* * * * * *", 60],
  ] as const)(
    "`%s` (%s): a run that made its window and crashed before moving the cursor, then the next run a minute later: nothing the first made is counted skipped (it was %i over)",
    async (catchUp, cron, _over) => {
      // Prepare: three hours missed; a run skips the backlog in its lease, makes its whole window, then fails at
      // its cursor write.
      const h = harness();
      const { schedule_id: id } = await createSchedule(h.deps, body({ cron, catch_up: catchUp }));
      h.clock.set("2027-01-01T03:00:00.000Z");
      const failingAdvance: MemoryTaskStore = Object.create(h.store);
      let updates = 0;
      Object.assign(failingAdvance, {
        updateSchedule: async (...args: Parameters<MemoryTaskStore["updateSchedule"]>) => {
          if (++updates > 1) throw new Error("the cursor write failed");
          return h.store.updateSchedule(...args);
        },
      });
      const crashed = await runMaterializer({ ...h.deps, store: failingAdvance });
      const countedFirst = h.schedule(id).skippedOccurrences as number;
      const madeFirst = new Set(occurrenceInstants(h));

      // Act
      h.clock.advance(60_000);
      const next = await runMaterializer(h.deps);

      // Assess: the next run skips nothing (its missed ones were the first run's, made); no occurrence is made
      // twice; on the minute cron, where the first run's count is exact, each occurrence up to the cursor is
      // either a task or counted skipped, never both.
      const made = occurrenceInstants(h);
      const cursor = h.schedule(id).materializedUntilMs;
      expect(crashed.failures).toBe(1);
      expect(next).toMatchObject({ failures: 0, skipped: 0 });
      expect(h.schedule(id).skippedOccurrences).toBe(countedFirst);
      expect(new Set(made).size).toBe(made.length);
      expect([...madeFirst].every((ms) => made.includes(ms))).toBe(true);
      if (cron === "* * * * *") {
        const owed = (cursor - Date.parse("2027-01-01T00:00:00.000Z")) / 60_000;
        expect(countedFirst + made.filter((ms) => ms <= cursor).length).toBe(owed);
      }
    },
  );

  it("`none`, one-second cron: a run that crashed part-way through its window, then the next run a minute later: it counts skipped exactly the missed occurrences that have no task (a claimed key whose task was never written is one)", async () => {
    // Prepare: a day missed; a run leases its window (02:55:01 … 02:57:30) and writes 3 tasks, its other adds
    // halted for good between their claims and their task writes.
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *", catch_up: "none" }));
    h.clock.set("2027-01-01T03:00:00.000Z");
    const halted = haltingStore(h.store, 3, "putNew");
    void materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const counted = h.schedule(id).skippedOccurrences as number;
    const made = occurrenceInstants(h).filter((ms) => ms > Date.parse("2027-01-01T02:55:00.000Z"));

    // Act
    h.clock.advance(60_000);
    const next = await runMaterializer(h.deps);

    // Assess: 02:55:01 … 02:56:00 are missed now; 3 of them were made, the other 57 are counted.
    expect(made).toHaveLength(3);
    expect(made.every((ms) => ms <= Date.parse("2027-01-01T02:56:00.000Z"))).toBe(true);
    expect(next).toMatchObject({ failures: 0, skipped: 57 });
    expect(h.schedule(id).skippedOccurrences).toBe(counted + 57);
    expect(h.schedule(id).lastSkipped?.occurrenceMs).toBe(Date.parse("2027-01-01T02:56:00.000Z"));
  });

  it("`none`, one-second cron: a run still under way (stalled after its lease) when the next run skips part of its window, then a pause: nothing is added once the pause has answered, and what the later run counted skipped is never delivered", async () => {
    // Prepare: a day missed; run A leases its window (02:55:01 … 02:57:30) and stalls before its first add. 45 s
    // later (A is still within its 50 s), run B finds 02:55:01 … 02:55:45 missed and skips them.
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *", catch_up: "none" }));
    h.clock.set("2027-01-01T03:00:00.000Z");
    const halted = haltingStore(h.store);
    const a = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const countedByA = h.schedule(id).skippedOccurrences as number;
    h.clock.advance(45_000);
    const b = await runMaterializer(h.deps);

    // Act: a pause answers; then A goes on.
    await pauseSchedule(h.deps, id);
    const answered = new Set(h.tasks().map((t) => t.taskId));
    const armedBefore = h.timerQueue.armed.length;
    const armed = new Set(h.timerQueue.armed.map((arm) => arm.taskId));
    halted.release();
    await a;

    // Assess: no task was added, and none armed that was not armed before (A's repeats of B's tasks re-arm them,
    // as any repeat does), once the pause had answered; B's 45 are counted skipped once.
    expect(b).toMatchObject({ failures: 0, skipped: 45 });
    expect(h.tasks().filter((t) => !answered.has(t.taskId))).toEqual([]);
    expect(h.timerQueue.armed.slice(armedBefore).filter((arm) => !armed.has(arm.taskId))).toEqual([]);
    expect(h.schedule(id).skippedOccurrences).toBe(countedByA + 45);
  });

  it.each(["latest", "none"])(
    "`%s`: two runs overlapping every minute after an outage (one halted after its lease while the other runs, then going on): every occurrence up to the cursor is made once or counted skipped once, never both",
    async (catchUp) => {
      // Prepare: a minute schedule three hours behind.
      const h = harness();
      const { schedule_id: id } = await createSchedule(
        h.deps,
        body({ cron: "* * * * *", catch_up: catchUp }),
      );
      h.clock.set("2027-01-01T03:00:00.000Z");

      // Act: each minute run A leases, adds `minute` occurrences and halts; run B, a minute later, runs whole (its
      // missed ones reach into A's window); then A goes on.
      for (let minute = 0; minute < 6; minute++) {
        const halted = haltingStore(h.store, minute, "putNew");
        const a = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
        await new Promise((resolve) => setTimeout(resolve, 10));
        h.clock.advance(60_000);
        await runMaterializer(h.deps);
        halted.release();
        await a;
      }

      // Assess
      const cursor = h.schedule(id).materializedUntilMs;
      const keys = h.tasks().map((t) => t.idempotencyKey);
      const made = h.tasks().filter((t) => t.status !== "cancelled" && t.dueAtMs <= cursor);
      const owed = (cursor - Date.parse("2027-01-01T00:00:00.000Z")) / 60_000;
      expect(new Set(keys).size).toBe(keys.length);
      expect((h.schedule(id).skippedOccurrences as number) + made.length).toBe(owed);
    },
  );

  it.each(["all", "latest", "none"])(
    "catch_up %s: resume after a three-day pause makes nothing of the pause and counts nothing skipped (the pause's occurrences are not missed); the runs after it make every occurrence from the resume on, once",
    async (catchUp) => {
      const h = harness();
      const { schedule_id: id } = await createSchedule(
        h.deps,
        body({ cron: "* * * * *", catch_up: catchUp }),
      );
      await pauseSchedule(h.deps, id);
      h.clock.set("2027-01-04T00:00:30.000Z");

      await resumeSchedule(h.deps, id);
      const runs = [];
      for (let minute = 0; minute < 3; minute++) {
        h.clock.advance(60_000);
        runs.push(await runMaterializer(h.deps));
      }

      const resumedAt = Date.parse("2027-01-04T00:00:30.000Z");
      const after = h.live().filter((t) => t.acceptedAtMs >= resumedAt);
      const cursor = h.schedule(id).materializedUntilMs;
      expect(runs.map((run) => run.skipped)).toEqual([0, 0, 0]);
      expect(h.schedule(id).skippedOccurrences).toBeUndefined();
      expect(after.map((t) => t.dueAtMs)).toEqual(
        Array.from(
          { length: Math.floor((cursor - resumedAt) / 60_000) },
          (_, i) => Date.parse("2027-01-04T00:01:00.000Z") + i * 60_000,
        ),
      );
    },
  );

  it("`none`, one-second cron: a run that fenced the missed occurrences of an earlier (stalled) run's window and then failed at its lease: the next run counts those skipped, once", async () => {
    // Prepare: a day missed; run A leases its window and stalls before its first add. 45 s later run B writes the
    // 45 it would skip cancelled, then its lease write fails.
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *", catch_up: "none" }));
    h.clock.set("2027-01-01T03:00:00.000Z");
    const halted = haltingStore(h.store);
    void materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const countedByA = h.schedule(id).skippedOccurrences as number;
    h.clock.advance(45_000);
    const failingLease: MemoryTaskStore = Object.create(h.store);
    Object.assign(failingLease, {
      updateSchedule: async () => {
        throw new Error("the lease write failed");
      },
    });
    const failed = await runMaterializer({ ...h.deps, store: failingLease });

    // Act
    const next = await runMaterializer(h.deps);

    // Assess: the 45 (02:55:01 … 02:55:45) were never made; counted once, by the run whose lease held.
    expect(failed).toMatchObject({ failures: 1, skipped: 0 });
    expect(next).toMatchObject({ failures: 0, skipped: 45 });
    expect(h.schedule(id).skippedOccurrences).toBe(countedByA + 45);
  });

  it("pause → resume while catching up: the rest of the backlog is skipped (resume starts from now), whatever the policy", async () => {
    // Prepare: an `all` schedule three hours behind, one run into its catch-up.
    const { h, id } = await threeHoursDown("all");
    await runMaterializer(h.deps);
    const before = occurrenceInstants(h).length;

    // Act
    await pauseSchedule(h.deps, id);
    h.clock.advance(60_000);
    await resumeSchedule(h.deps, id);
    h.clock.advance(60_000);
    await runMaterializer(h.deps);

    // Assess: nothing between the first run's cursor (02:34) and the resume (03:01) was made.
    const after = occurrenceInstants(h).slice(before);
    expect(after.length).toBeGreaterThan(0);
    expect(Math.min(...after)).toBeGreaterThan(Date.parse("2027-01-01T03:01:00.000Z"));
  });
});

/**
 * When each occurrence's task came to exist, against its due time, with the materializer running every minute
 * from `firstRunAfterMs` after `startedAtMs` (the worst case: the schedule was created or resumed just after a run).
 */
async function occurrenceLeads(
  h: ReturnType<typeof harness>,
  startedAtMs: number,
  untilMs: number,
  firstRunAfterMs = 60_000,
) {
  h.clock.set(new Date(startedAtMs + firstRunAfterMs).toISOString());
  while (h.clock.nowMs <= untilMs) {
    await runMaterializer(h.deps);
    h.clock.advance(60_000);
  }
  // The occurrence's instant is in its key: a task added after it is due is due "now", not at the occurrence.
  const made = h
    .live()
    .map((t) => ({ occurrenceMs: Number(t.idempotencyKey?.split(":").at(-1)), acceptedAtMs: t.acceptedAtMs }))
    .filter((t) => t.acceptedAtMs >= startedAtMs && t.occurrenceMs <= untilMs)
    .sort((a, b) => a.occurrenceMs - b.occurrenceMs);
  return {
    occurrences: made.map((t) => t.occurrenceMs),
    late: made
      .filter((t) => t.acceptedAtMs > t.occurrenceMs)
      .map((t) => new Date(t.occurrenceMs).toISOString()),
    /** The shortest time ahead of due among the occurrences not made inline (at creation or resume). */
    leastLeadAfterInline: Math.min(
      ...made.filter((t) => t.acceptedAtMs > startedAtMs).map((t) => t.occurrenceMs - t.acceptedAtMs),
    ),
  };
}

describe("fast schedules: every occurrence made before it is due", () => {
  const everySecond = (from: number, to: number) =>
    Array.from(
      { length: Math.floor(to / 1000) - Math.floor(from / 1000) },
      (_, i) => (Math.floor(from / 1000) + i + 1) * 1000,
    );

  it.each([
    ["every second", "* * * * * *"],
    ["every 2 s", "*/2 * * * * *"],
  ])(
    "a schedule firing %s created just after a materializer run: no occurrence waits for a run that comes after its due time",
    async (_, cron) => {
      // Prepare
      const h = harness("2027-01-01T00:00:00.400Z");
      const created = h.clock.nowMs;

      // Act: create, then the materializer every minute for five minutes.
      await createSchedule(h.deps, body({ cron }));
      const leads = await occurrenceLeads(h, created, created + 5 * 60_000);

      // Assess: every occurrence made once, none after its due time; those not made at creation a run ahead.
      const step = cron.startsWith("*/2") ? 2 : 1;
      expect(leads.occurrences).toEqual(
        everySecond(created, created + 5 * 60_000).filter((ms) => (ms / 1000) % step === 0),
      );
      expect(leads.late).toEqual([]);
      expect(leads.leastLeadAfterInline).toBeGreaterThanOrEqual(60_000);
    },
  );

  it("a one-second schedule resumed just after a run: its occurrences are made before they are due", async () => {
    // Prepare
    const h = harness("2027-01-01T00:00:00.400Z");
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *" }));
    await pauseSchedule(h.deps, id);
    h.clock.set("2027-01-01T00:10:00.400Z");
    const resumed = h.clock.nowMs;

    // Act
    await resumeSchedule(h.deps, id);
    const leads = await occurrenceLeads(h, resumed, resumed + 5 * 60_000);

    // Assess
    expect(leads.occurrences).toEqual(everySecond(resumed, resumed + 5 * 60_000));
    expect(leads.late).toEqual([]);
    expect(leads.leastLeadAfterInline).toBeGreaterThanOrEqual(60_000);
  });

  /** The DynamoDB write units the tasks written since `before` cost: each its content plus 1 KB, in 1 KB units. */
  const unitsWrittenSince = (h: ReturnType<typeof harness>, before: number) =>
    h
      .tasks()
      .filter((t) => t.acceptedAtMs >= before)
      .reduce((sum, t) => sum + Math.ceil(Buffer.byteLength(t.content) / 1024) + 1, 0);

  /** A fast schedule whose content passed the create's write budget only for its later start_at, paused before it. */
  async function pausedLateStarter(cron: string, blobBytes: number) {
    const h = harness("2027-01-01T00:00:00.400Z");
    const content = { order_id: "o-1", blob: "x".repeat(blobBytes) };
    const view = await createSchedule(h.deps, body({ cron, content, start_at: "2027-01-01T00:10:00Z" }));
    await pauseSchedule(h.deps, view.schedule_id);
    h.clock.set("2027-01-01T00:20:00.400Z");
    return { h, id: view.schedule_id };
  }

  /** A create of `cron` at 200 KB a content: what it wrote inline, and the occurrences made until `untilMs`. */
  async function largeCreate(cron: string, startInMs: number, untilMs: number) {
    const h = harness("2027-01-01T00:00:00.400Z");
    const created = h.clock.nowMs;
    const content = { order_id: "o-1", blob: "x".repeat(200_000) };
    const startAt = startInMs ? { start_at: new Date(created + startInMs).toISOString() } : {};
    const view = await createSchedule(h.deps, body({ cron, content, ...startAt }));
    const inlineUnits = unitsWrittenSince(h, created);
    return { h, view, inlineUnits, leads: await occurrenceLeads(h, created, created + untilMs) };
  }

  // A ten-second cron: 24 occurrences in the horizon at 201 units each is 4,824, over the 4,000 a call may write;
  // the 12 due in the next two minutes fit. A one-second cron starting in 115 s: 25 occurrences (the pass's least)
  // at 201 units each is 5,025; the 5 due in the next two minutes fit. Parsing 200 KB of exact JSON for each of
  // ~200 occurrences takes seconds on a loaded machine, hence the longer timeout.
  it.each([
    {
      title: "a ten-second cron of 200 KB",
      cron: "*/10 * * * * *",
      startInMs: 0,
      untilMs: 5 * 60_000,
      made: 30,
    },
    {
      title: "from a near start_at too: a one-second cron of 200 KB starting in 115 s",
      cron: "* * * * * *",
      startInMs: 115_000,
      untilMs: 3 * 60_000,
      made: 65,
    },
  ])(
    "a create writes inline no more than its budget, and the materializer the rest before due: $title",
    async ({ cron, startInMs, untilMs, made }) => {
      // Act
      const { h, view, inlineUnits, leads } = await largeCreate(cron, startInMs, untilMs);

      // Assess
      expect(view.status).toBe("active");
      expect(inlineUnits).toBeGreaterThan(0);
      expect(inlineUnits).toBeLessThanOrEqual(INLINE_WRITE_UNITS);
      expect(leads.occurrences).toHaveLength(made);
      expect(leads.late).toEqual([]);
      expect(leads.leastLeadAfterInline).toBeGreaterThanOrEqual(60_000);
      expect(h.errors).toEqual([]);
    },
    30_000,
  );

  it("a resume writes inline no more than a create may: a ten-second cron of 200 KB, created to start later, makes what fits and the materializer the rest, before due", async () => {
    // Prepare: 24 occurrences in the horizon at 201 units each is 4,824, over the 4,000 a create may write;
    // the 12 due in the next two minutes fit
    const { h, id } = await pausedLateStarter("*/10 * * * * *", 200_000);
    const resumed = h.clock.nowMs;

    // Act
    const view = await resumeSchedule(h.deps, id);
    const inlineUnits = unitsWrittenSince(h, resumed);
    const leads = await occurrenceLeads(h, resumed, resumed + 5 * 60_000);

    // Assess
    expect(view.status).toBe("active");
    expect(inlineUnits).toBeGreaterThan(0);
    expect(inlineUnits).toBeLessThanOrEqual(INLINE_WRITE_UNITS);
    expect(leads.occurrences).toHaveLength(30);
    expect(leads.late).toEqual([]);
    expect(leads.leastLeadAfterInline).toBeGreaterThanOrEqual(60_000);
    expect(h.errors).toEqual([]);
  });

  it("a resume whose next two minutes alone are over the write budget is a 409 that changes nothing: a one-second cron of 100 KB, created to start later", async () => {
    // Prepare: 120 occurrences due in the next two minutes at 101 units each
    const { h, id } = await pausedLateStarter("* * * * * *", 100_000);
    const before = h.schedule(id);
    const tasksBefore = h.tasks().length;

    // Act
    const refused = await refusal(resumeSchedule(h.deps, id));

    // Assess
    expect(refused).toMatchObject({ status: 409, code: "conflict" });
    expect(h.schedule(id)).toEqual(before);
    expect(h.tasks()).toHaveLength(tasksBefore);
  });

  /**
   * The DynamoDB write units the store's writes cost from now on: a task or schedule write its item's content plus
   * 1 KB (an UpdateItem billed on the larger of before and after: the item as it was, its content unchanged), a
   * claim 1.
   */
  function countWriteUnits(store: MemoryTaskStore, only?: readonly ("cancel" | "putNew")[]) {
    const units = (content: string | undefined) => Math.ceil(Buffer.byteLength(content ?? "") / 1024) + 1;
    const counted = { units: 0 };
    const wrap = <K extends "cancel" | "putNew" | "claimIdempotencyKey" | "updateSchedule">(
      method: K,
      cost: (...args: Parameters<MemoryTaskStore[K]>) => number,
    ) => {
      const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
      const counts = !only || (only as readonly string[]).includes(method);
      (store as unknown as Record<string, unknown>)[method] = (...args: Parameters<MemoryTaskStore[K]>) => {
        if (counts) counted.units += cost(...args);
        return original(...args);
      };
    };
    wrap("cancel", (taskId) => units(store.tasks.get(taskId)?.content));
    wrap("putNew", (task) => units(task.content));
    wrap("claimIdempotencyKey", () => 1);
    wrap("updateSchedule", (id) => units(store.schedules.get(id)?.content));
    return counted;
  }

  it.each([
    ["pause", pauseSchedule, "paused"],
    ["delete", deleteSchedule, "deleted"],
  ] as const)(
    "a %s writes inline no more than a create may, and delivery cancels what it leaves: a one-second cron of 30 KB with 240 occurrences made ahead",
    async (_, stop, stopped) => {
      // Prepare: the create makes 120 (31 units each), the run the next 120, to the 4-minute horizon: 240 × 31 =
      // 7,440 units of cancels, over the 4,000 a call may write into the schedule's one partition.
      const h = harness("2027-01-01T00:00:00.400Z");
      const content = { order_id: "o-1", blob: "x".repeat(30_000) };
      const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *", content }));
      await runMaterializer(h.deps);
      const ahead = h.live().filter((t) => t.dueAtMs > h.clock.nowMs);
      expect(ahead).toHaveLength(240);
      const written = countWriteUnits(h.store);

      // Act
      const answer = await stop(h.deps, id);

      // Assess: within the budget, soonest first; every occurrence left is one deliver's check cancels, not calls.
      expect(written.units).toBeLessThanOrEqual(INLINE_WRITE_UNITS);
      const cancelled = h.tasks().filter((t) => t.status === "cancelled");
      expect(answer.cancelled_occurrences).toBe(cancelled.length);
      expect(answer.cancelled_occurrences).toBeGreaterThan(100);
      expect(answer.cancels_deferred).toBe(true);
      const left = h.live();
      expect(left.length + cancelled.length).toBe(240);
      expect(Math.max(...cancelled.map((t) => t.dueAtMs))).toBeLessThan(
        Math.min(...left.map((t) => t.dueAtMs)),
      );
      for (const task of left) {
        expect(scheduleToCheck(task, task.dueAtMs)).toBe(id);
        expect(occurrenceStop(task, h.schedule(id))).toBe(stopped);
      }
    },
  );

  it("a pause during a run whose leased window is over the write budget fences what fits, and the run's adds past it are cancelled, never delivered", async () => {
    // Prepare: a one-second cron of 30 KB; a minute on, a run leases to its horizon (180 occurrences past the
    // cursor) and halts before its first add. The 60 made ahead and the 180 leased cost ~13,000 units to settle.
    const h = harness("2027-01-01T00:00:00.400Z");
    const content = { order_id: "o-1", blob: "x".repeat(30_000) };
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *", content }));
    h.clock.advance(60_000);
    const halted = haltingStore(h.store);
    const run = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 240);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const written = countWriteUnits(h.store);

    // Act: the pause answers, then the run goes on.
    const pausedAtMs = h.clock.nowMs;
    const answer = await pauseSchedule(h.deps, id);
    const units = written.units;
    halted.release();
    await run;

    // Assess: the lease is kept for a repeated stop to fence the rest; the run cancelled its adds on finding the
    // schedule paused (nothing ahead is live), and no occurrence left live (the minute's, due) is delivered.
    expect(units).toBeLessThanOrEqual(INLINE_WRITE_UNITS);
    expect(answer.cancels_deferred).toBe(true);
    expect(h.live().filter((t) => t.dueAtMs > pausedAtMs)).toEqual([]);
    expect(h.schedule(id).leasedUntilMs).toBeGreaterThan(h.schedule(id).materializedUntilMs);
    for (const task of h.live()) {
      expect(scheduleToCheck(task, task.dueAtMs)).toBe(id);
      expect(occurrenceStop(task, h.schedule(id))).toBe("paused");
    }
  });

  it("a resume after a pause that left cancels to delivery writes its tasks inline within one budget, the settle's and the pass's together", async () => {
    // Prepare: the pause left ~110 of the 240 made ahead; the resume's pass makes 120 (3,720 units), so its settle
    // may cancel what the other 280 units hold, and deliver cancels the rest (an epoch older than the schedule's).
    const h = harness("2027-01-01T00:00:00.400Z");
    const content = { order_id: "o-1", blob: "x".repeat(30_000) };
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *", content }));
    await runMaterializer(h.deps);
    expect((await pauseSchedule(h.deps, id)).cancels_deferred).toBe(true);
    const written = countWriteUnits(h.store, ["cancel", "putNew"]);

    // Act
    const view = await resumeSchedule(h.deps, id);

    // Assess
    expect(view.status).toBe("active");
    expect(written.units).toBeLessThanOrEqual(INLINE_WRITE_UNITS);
    const epochOf = (t: { idempotencyKey?: string }) => Number(t.idempotencyKey?.split(":").at(-2));
    const oldLive = h.live().filter((t) => epochOf(t) === 0);
    expect(oldLive.length).toBeGreaterThan(0);
    for (const task of oldLive) expect(occurrenceStop(task, h.schedule(id))).toBe("resumed");
    expect(h.live().filter((t) => epochOf(t) === 1)).toHaveLength(120);
  });

  it("a repeated pause after one that deferred cancels goes on with the occurrences the first left, not the ones it cancelled", async () => {
    // Prepare: 240 occurrences of 30 KB made ahead; the first pause cancels what its budget holds.
    const h = harness("2027-01-01T00:00:00.400Z");
    const content = { order_id: "o-1", blob: "x".repeat(30_000) };
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *", content }));
    await runMaterializer(h.deps);
    const first = await pauseSchedule(h.deps, id);
    expect(first.cancels_deferred).toBe(true);
    const leftBefore = h.live().length;
    const written = countWriteUnits(h.store);

    // Act
    const again = await pauseSchedule(h.deps, id);

    // Assess: within its own budget, it cancels more of those left (none of the budget spent on cancelled ones).
    expect(written.units).toBeLessThanOrEqual(INLINE_WRITE_UNITS);
    expect(again.cancelled_occurrences).toBeGreaterThan(0);
    expect(h.live().length).toBe(leftBefore - again.cancelled_occurrences);
  });

  it("a resume that finds end_at passed (ended) still stops the paused epoch's held occurrences: delivery cancels them, not calls", async () => {
    // Prepare: a minutely schedule ending at 00:10; at 00:02:30 its 00:01 and 00:02 occurrences are due but held
    // (its topic paused), and the schedule is paused; it is resumed at 00:20, past its end.
    const h = harness("2027-01-01T00:00:00.400Z");
    const { schedule_id: id } = await createSchedule(
      h.deps,
      body({ cron: "* * * * *", end_at: "2027-01-01T00:10:00Z" }),
    );
    h.clock.set("2027-01-01T00:02:30.000Z");
    await pauseSchedule(h.deps, id);
    const held = h.live().filter((t) => t.dueAtMs <= h.clock.nowMs);
    expect(held).toHaveLength(2);
    h.clock.set("2027-01-01T00:20:00.000Z");

    // Act
    const view = await resumeSchedule(h.deps, id);

    // Assess: ended, and each occurrence held through the pause is stopped, as after a resume to active.
    expect(view.status).toBe("ended");
    for (const task of held) {
      expect(scheduleToCheck(task, h.clock.nowMs)).toBe(id);
      expect(occurrenceStop(task, h.schedule(id))).toBe("resumed");
    }
  });

  it("a pause of a schedule under budget cancels every occurrence made ahead inside the call", async () => {
    // Prepare
    const h = harness("2027-01-01T00:00:00.400Z");
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *" }));
    await runMaterializer(h.deps);

    // Act
    const answer = await pauseSchedule(h.deps, id);

    // Assess
    expect(answer.cancelled_occurrences).toBe(240);
    expect(answer.cancels_deferred).toBe(false);
    expect(h.live()).toEqual([]);
  });

  it("a first run half a minute later than the cadence still comes before the inline occurrences run out", async () => {
    // Prepare
    const h = harness("2027-01-01T00:00:00.400Z");
    const created = h.clock.nowMs;

    // Act
    await createSchedule(h.deps, body({ cron: "* * * * * *" }));
    const leads = await occurrenceLeads(h, created, created + 5 * 60_000, 90_000);

    // Assess
    expect(leads.occurrences).toEqual(everySecond(created, created + 5 * 60_000));
    expect(leads.late).toEqual([]);
    expect(leads.leastLeadAfterInline).toBeGreaterThanOrEqual(30_000);
  });
});

/**
 * The store's next schedule write that `matches` is applied, and its answer lost: the DynamoDB adapter then sees
 * the SDK's resend refused by its own condition and answers `conflict` with the item as it now is (as the first
 * attempt left it).
 */
function loseAnswerOfNext(store: MemoryTaskStore, matches: (change: ScheduleChange) => boolean) {
  const original = store.updateSchedule.bind(store);
  let lost = 0;
  store.updateSchedule = async (scheduleId, change) => {
    const result = await original(scheduleId, change);
    if (lost > 0 || result.outcome !== "updated" || !matches(change)) return result;
    lost++;
    return { outcome: "conflict", schedule: structuredClone(result.schedule) };
  };
  return { lost: () => lost };
}

describe("fast schedules when a schedule write's answer is lost (executed, its SDK resend refused by its condition)", () => {
  const everySecond = (from: number, to: number) =>
    Array.from(
      { length: Math.floor(to / 1000) - Math.floor(from / 1000) },
      (_, i) => (Math.floor(from / 1000) + i + 1) * 1000,
    );

  it("create: the inline pass's lease executed but answered as a conflict still makes the next two minutes inline", async () => {
    // Prepare
    const h = harness("2027-01-01T00:00:00.400Z");
    const created = h.clock.nowMs;
    const lease = loseAnswerOfNext(h.store, (change) => change.set.leasedUntilMs !== undefined);

    // Act
    await createSchedule(h.deps, body({ cron: "* * * * * *" }));
    const leads = await occurrenceLeads(h, created, created + 3 * 60_000);

    // Assess
    expect(lease.lost()).toBe(1);
    expect(leads.occurrences).toEqual(everySecond(created, created + 3 * 60_000));
    expect(leads.late).toEqual([]);
  });

  it("resume: its write executed but answered as a conflict still makes the next two minutes inline", async () => {
    // Prepare
    const h = harness("2027-01-01T00:00:00.400Z");
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * * *" }));
    await pauseSchedule(h.deps, id);
    h.clock.set("2027-01-01T00:10:00.400Z");
    const resumed = h.clock.nowMs;
    const resume = loseAnswerOfNext(h.store, (change) => change.set.epoch !== undefined);

    // Act
    const view = await resumeSchedule(h.deps, id);
    const leads = await occurrenceLeads(h, resumed, resumed + 3 * 60_000);

    // Assess
    expect(resume.lost()).toBe(1);
    expect(view.status).toBe("active");
    expect(leads.occurrences).toEqual(everySecond(resumed, resumed + 3 * 60_000));
    expect(leads.late).toEqual([]);
  });

  it("a run's cursor write that counted a refused occurrence, executed but answered as a conflict: the run still counts the skip (the metric, its alarm)", async () => {
    // Prepare: a daily schedule (its next skip a day away) whose callback host then left the allow-list; the run's
    // cursor write's answer lost.
    const h = harness("2027-01-01T00:00:00.000Z");
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "0 9 * * *" }));
    const sim = simConfig();
    const demo = { ...(sim.resolvedTopics.demo as TopicConfig), allowedCallbackHosts: ["hooks.example.com"] };
    Object.assign(h.deps, { config: { ...sim, resolvedTopics: { ...sim.resolvedTopics, demo } } });
    const cursor = loseAnswerOfNext(h.store, (change) => change.set.skippedOccurrences !== undefined);

    // Act: the run that makes 09:00.
    h.clock.set("2027-01-01T08:56:30.000Z");
    const run = await runMaterializer(h.deps);

    // Assess
    expect(run).toMatchObject({ schedules: 1, skipped: 1 });
    expect(cursor.lost()).toBe(1);
    expect(h.schedule(id).skippedOccurrences).toBe(1);
  });

  it("a run's pause of a schedule whose topic left the config, executed but answered as a conflict: the run still counts its skip, the one notification that pause gets", async () => {
    // Prepare: demo leaves the config; the run's pause write's answer is lost.
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    const sim = simConfig();
    const { demo: _removed, ...others } = sim.resolvedTopics;
    Object.assign(h.deps, { config: { ...sim, resolvedTopics: others } });
    const pause = loseAnswerOfNext(h.store, (change) => change.set.status === "paused");

    // Act
    h.clock.advance(60_000);
    const run = await runMaterializer(h.deps);

    // Assess: paused, counted once on the schedule and once in the run (the skipped-occurrences alarm's metric).
    expect(pause.lost()).toBe(1);
    expect(h.schedule(id)).toMatchObject({ status: "paused", skippedOccurrences: 1 });
    expect(run).toMatchObject({ schedules: 1, skipped: 1 });
  });

  it("resume past end_at: its write (ended) executed but answered as a conflict answers the schedule ended, not a 409", async () => {
    // Prepare
    const h = harness("2027-01-01T00:00:00.400Z");
    const { schedule_id: id } = await createSchedule(
      h.deps,
      body({ cron: "0 * * * *", end_at: "2027-01-01T05:00:00Z" }),
    );
    await pauseSchedule(h.deps, id);
    h.clock.set("2027-01-01T06:00:00.000Z");
    const resume = loseAnswerOfNext(h.store, (change) => change.set.status === "ended");

    // Act
    const view = await resumeSchedule(h.deps, id).catch((error: unknown) => error);

    // Assess
    expect(resume.lost()).toBe(1);
    expect(view).toMatchObject({ schedule_id: id, status: "ended" });
  });

  // The same one level up: the client retries a resume whose HTTP answer was lost (client/routes.ts, retry "safe"), and
  // a resume that ended the schedule (end_at passed in the pause, or its inline pass made the last occurrences) was
  // answered 409 "the schedule is ended" on that retry: the caller read a failure for a resume that took effect.
  it.each([
    ["end_at passed during the pause", "2027-01-01T06:00:00.000Z"],
    ["its inline pass made the last occurrences", "2027-01-01T04:58:00.000Z"],
  ])(
    "a resume repeated after its answer was lost, the first having ended the schedule (%s), answers it ended, not a 409",
    async (_title, resumeAt) => {
      // Prepare: a resume that ended the schedule, its answer lost on the way to the client.
      const h = harness("2027-01-01T00:00:00.400Z");
      const { schedule_id: id } = await createSchedule(
        h.deps,
        body({ cron: "0 * * * *", end_at: "2027-01-01T05:00:00Z" }),
      );
      await pauseSchedule(h.deps, id);
      h.clock.set(resumeAt);
      await resumeSchedule(h.deps, id);
      expect(h.schedule(id).status).toBe("ended");
      const before = h.schedule(id);

      // Act: the client's retry
      const view = await resumeSchedule(h.deps, id).catch((error: unknown) => error);

      // Assess: the schedule as the first resume left it, nothing written
      expect(view).toMatchObject({ schedule_id: id, status: "ended" });
      expect(h.schedule(id)).toEqual(before);
    },
  );
});

describe("pause, resume, delete", () => {
  it.each([
    ["an object content, its ordering field and callback", body()],
    [
      "a string content: numbers as written, nested, escapes; deliver_by named",
      body({
        content: '{"order_id":"o-2","n":12345678901234567890,"x":{"y":[1.50,"é\\u00e9"]},"z":1e400}',
        deliver_by: "order_id",
      }),
    ],
  ])(
    "a stop writes a leased occurrence under the request the add parses from its body (%s), so the run's claim matches",
    async (_, scheduleBody) => {
      const h = harness();
      const { schedule_id: id } = await createSchedule(h.deps, scheduleBody);
      const occurrenceMs = Date.parse("2027-01-01T00:03:00.000Z");

      const parsed = parseAddTaskRequest(occurrenceBody(h.schedule(id), occurrenceMs), undefined, "schedule");

      expect(parsed.ok).toBe(true);
      expect(occurrenceRequest(h.schedule(id), occurrenceMs)).toEqual(parsed.ok ? parsed.value : undefined);
    },
  );

  it("pause cancels the occurrences made ahead and stops new ones; resume makes occurrences from now, afresh", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    h.clock.set("2027-01-01T00:01:30.000Z");

    const paused = await pauseSchedule(h.deps, id);
    const pausedAgain = await pauseSchedule(h.deps, id);
    h.clock.set("2027-01-01T00:05:30.000Z");
    await runMaterializer(h.deps);
    const whilePaused = h.dues();
    const resumed = await resumeSchedule(h.deps, id);

    expect(paused).toMatchObject({ status: "paused", cancelled_occurrences: 3, next_occurrences: [] });
    expect(pausedAgain).toMatchObject({ status: "paused", cancelled_occurrences: 0 });
    expect(whilePaused).toEqual(["2027-01-01T00:01:00.000Z"]);
    expect(resumed).toMatchObject({ status: "active" });
    expect(h.schedule(id).epoch).toBe(1);
    // 00:02–00:05 fell in the pause: skipped. From 00:06 on, including instants pause had cancelled before.
    expect(h.dues()).toEqual([
      "2027-01-01T00:01:00.000Z",
      "2027-01-01T00:06:00.000Z",
      "2027-01-01T00:07:00.000Z",
      "2027-01-01T00:08:00.000Z",
      "2027-01-01T00:09:00.000Z",
    ]);
  });

  it("a lagging schedule index (a GSI: eventually consistent) still lists a paused and a deleted schedule as due: the run makes nothing of them", async () => {
    // Prepare: the index as it stood before the pause and the delete
    const h = harness();
    const { schedule_id: paused } = await createSchedule(h.deps, body());
    const { schedule_id: deleted } = await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
    const staleIndex = { schedules: new Map(structuredClone([...h.store.schedules])) };
    h.store.listSchedulesDue = (shard, dueByMs, limit) =>
      MemoryTaskStore.prototype.listSchedulesDue.call(staleIndex, shard, dueByMs, limit);
    await pauseSchedule(h.deps, paused);
    await deleteSchedule(h.deps, deleted);
    h.clock.advance(5 * 60_000);

    // Act
    const run = await runMaterializer(h.deps);

    // Assess: both read from the index, neither materialized
    expect(run).toMatchObject({ schedules: 2, occurrences: 0, failures: 0 });
    expect(h.live()).toEqual([]);
  });

  it.each([
    ["before claiming the next keys", "claimIdempotencyKey"],
    ["between claiming keys and writing their tasks", "putNew"],
  ] as const)(
    "a pause while a run has made part of its window (it halts %s for good), then resume: each occurrence instant has at most one live task",
    async (_, at) => {
      // Prepare: the run makes two occurrences of its window, then stops for good (a crash).
      const h = harness();
      const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
      h.clock.advance(60_000);
      const halted = haltingStore(h.store, 2, at);
      void materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
      await new Promise((resolve) => setTimeout(resolve, 10));

      // Act
      await pauseSchedule(h.deps, id);
      h.clock.advance(1_000);
      await resumeSchedule(h.deps, id);
      h.clock.advance(60_000);
      await runMaterializer(h.deps);

      // Assess
      expect(h.schedule(id).epoch).toBe(1);
      expect(liveCountsByDue(h.tasks())).toEqual([1]);
    },
  );

  it.each([
    ["before claiming its keys", "claimIdempotencyKey"],
    ["between claiming its keys and writing their tasks", "putNew"],
  ] as const)(
    "a run of the old epoch that goes on after a pause and a resume (it halted %s): each occurrence instant has at most one live task, and the run fails nothing",
    async (_, at) => {
      // Prepare: a run that has leased its window and halts part-way.
      const h = harness();
      const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
      h.clock.advance(60_000);
      const halted = haltingStore(h.store, 2, at);
      const run = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
      await new Promise((resolve) => setTimeout(resolve, 10));

      // Act: pause, resume (a new epoch, which makes the same instants afresh), then the old run goes on.
      await pauseSchedule(h.deps, id);
      await resumeSchedule(h.deps, id);
      halted.release();
      const outcome = await run.then(
        () => "settled",
        (error: unknown) => error,
      );
      h.clock.advance(60_000);
      await runMaterializer(h.deps);

      // Assess
      expect(outcome).toBe("settled");
      expect(h.errors).toEqual([]);
      expect(h.schedule(id)).toMatchObject({ status: "active", epoch: 1 });
      expect(liveCountsByDue(h.tasks())).toEqual([1]);
    },
  );

  it("resume after a pause of 30 days (past the topic's retention and its claims' expiry): nothing is written for the old epoch, nothing that fell in the pause is made, the next occurrences are made once each, on time", async () => {
    // Prepare: a minute schedule, its first pass made, paused while a run had leased its window and crashed.
    // Claims expire as the table's do (the topic's retention is 3 days).
    const h = harness();
    h.store.nowSeconds = () => Math.floor(h.clock.nowMs / 1000);
    const { schedule_id: id } = await createSchedule(h.deps, body());
    h.clock.advance(60_000);
    const halted = haltingStore(h.store);
    void materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const leased = h.schedule(id);
    await pauseSchedule(h.deps, id);
    const beforeResume = h.tasks().length;

    // Act
    h.clock.advance(30 * 86_400_000);
    const resumedAtMs = h.clock.nowMs;
    const resumed = await resumeSchedule(h.deps, id);
    h.clock.advance(60_000);
    await runMaterializer(h.deps);

    // Assess: the resume wrote nothing for the old epoch (the pause had fenced its leased window, whose claims have
    // expired since); the new epoch's occurrences start after the resume.
    const made = h.tasks().slice(beforeResume);
    const newEpoch = h.tasks().filter((t) => t.idempotencyKey?.includes(`${id}:1:`));
    expect(leased.leasedUntilMs).toBeGreaterThan(leased.materializedUntilMs);
    expect(resumed).toMatchObject({ status: "active" });
    expect(made).toHaveLength(newEpoch.length);
    expect(newEpoch.every((t) => t.dueAtMs > resumedAtMs && t.status === "scheduled")).toBe(true);
    expect(liveCountsByDue(h.tasks())).toEqual([1]);
    expect(h.dues(newEpoch)[0]).toBe(new Date(Math.ceil((resumedAtMs + 1) / 60_000) * 60_000).toISOString());
    expect(h.errors).toEqual([]);
  });

  /** A schedule whose occurrences 00:01–00:04 are made: its third and fourth occurrences' tasks. */
  async function thirdAndFourth() {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    const occurrence = (iso: string) => h.tasks().find((t) => t.dueAtMs === Date.parse(iso));
    const third = occurrence("2027-01-01T00:03:00.000Z");
    const fourth = occurrence("2027-01-01T00:04:00.000Z");
    if (!third || !fourth) throw new Error("occurrences missing");
    return { h, id, third, fourth };
  }

  it("pause cancels an occurrence an operator rescheduled (its task lives on under a new id), and one caught mid-move", async () => {
    // Prepare: occurrences 00:01–00:04 made; 00:03 postponed by 30 s, 00:04's move stopped after its first write.
    const { h, id, third, fourth } = await thirdAndFourth();
    const operator = { ...h.deps, store: h.store };
    const moved = await rescheduleTask(operator, third.taskId, { due_at: "2027-01-01T00:03:30Z" });
    const stranded = successorKey(fourth, Date.parse("2027-01-01T00:04:30.000Z")).taskId;
    await h.store.markRescheduled(fourth.taskId, { to: stranded, atMs: h.clock.now(), expiresAt: 1 });

    // Act: the pause, then the stopped move finished by its retry
    h.clock.set("2027-01-01T00:01:30.000Z");
    const paused = await pauseSchedule(h.deps, id);
    const retried = await rescheduleTask(operator, fourth.taskId, { due_at: "2027-01-01T00:04:30Z" });

    // Assess: nothing of the schedule is left to deliver after 00:01; the moved occurrence still says whose it is.
    expect(moved.schedule_id).toBe(id);
    expect(paused).toMatchObject({ status: "paused", cancelled_occurrences: 3 });
    expect(h.store.tasks.get(moved.task_id)?.status).toBe("cancelled");
    expect(retried).toMatchObject({ task_id: stranded, status: "cancelled" });
    expect(h.dues()).toEqual(["2027-01-01T00:01:00.000Z"]);
  });

  it("pause settles the move of an occurrence caught mid-move, and of one whose successor it cancels: the sweeper never finishes either after the cancelled successor's retention", async () => {
    // Prepare: 00:03's move stopped after its first write (successor not written), 00:04's after arming (not settled).
    const { h, id, third, fourth } = await thirdAndFourth();
    const stranded = successorKey(third, Date.parse("2027-01-01T00:03:30.000Z")).taskId;
    await h.store.markRescheduled(third.taskId, { to: stranded, atMs: h.clock.now(), expiresAt: 1 });
    const settle = h.store.settleRescheduled.bind(h.store);
    h.store.settleRescheduled = async () => {
      h.store.settleRescheduled = settle;
      throw new Error("the function died here"); // 00:04's move: armed, not settled
    };
    const operator = { ...h.deps, store: h.store };
    await rescheduleTask(operator, fourth.taskId, { due_at: "2027-01-01T00:04:30Z" }).catch(() => undefined);

    // Act
    h.clock.set("2027-01-01T00:01:30.000Z");
    await pauseSchedule(h.deps, id);

    // Assess: both old items out of the sweep index (which would finish their moves at their old due times)
    expect(h.store.tasks.get(third.taskId)).toMatchObject({ status: "rescheduled" });
    expect(h.store.tasks.get(third.taskId)?.sweepShard).toBeUndefined();
    expect(h.store.tasks.get(fourth.taskId)).toMatchObject({ status: "rescheduled" });
    expect(h.store.tasks.get(fourth.taskId)?.sweepShard).toBeUndefined();
    expect(h.dues()).toEqual(["2027-01-01T00:01:00.000Z"]);
  });

  it("a pause that stopped part-way through its cancels, then resume: each occurrence instant has at most one live task", async () => {
    // Prepare: the pause's second cancel fails (it answers 503), and the caller resumes instead of repeating it.
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    const cancel = h.store.cancel.bind(h.store);
    let calls = 0;
    h.store.cancel = async (...args) => {
      if (++calls === 2) throw Object.assign(new Error("throttled"), { name: "ThrottlingException" });
      return cancel(...args);
    };
    const failed = await pauseSchedule(h.deps, id).catch((e: unknown) => e);
    h.store.cancel = cancel;

    // Act
    await resumeSchedule(h.deps, id);

    // Assess
    expect(failed).toMatchObject({ name: "ThrottlingException" });
    expect(h.schedule(id)).toMatchObject({ status: "active", epoch: 1 });
    expect(liveCountsByDue(h.tasks())).toEqual([1]);
  });

  it.each(["all", "latest", "none"])(
    "catch_up %s: pause and resume while a run that leased before the pause is halted mid-window, then the run goes on: one live task per occurrence instant from the resume on, none of the paused epoch's added after the pause, and the next run makes the rest",
    async (catchUp) => {
      // Prepare: a 10-second schedule three hours behind; a run leases its window, adds 5, then halts.
      const h = harness();
      const { schedule_id: id } = await createSchedule(
        h.deps,
        body({ cron: "*/10 * * * * *", catch_up: catchUp }),
      );
      h.clock.set("2027-01-01T03:00:00.000Z");
      const halted = haltingStore(h.store, 5, "putNew");
      const run = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
      await new Promise((resolve) => setTimeout(resolve, 10));

      // Act: pause, resume a minute later, then the run goes on; a run a minute after.
      await pauseSchedule(h.deps, id);
      const paused = new Set(h.tasks().map((t) => t.taskId));
      h.clock.advance(60_000);
      await resumeSchedule(h.deps, id);
      halted.release();
      await run;
      h.clock.advance(60_000);
      const next = await runMaterializer(h.deps);

      // Assess: nothing of epoch 0 was added after the pause; from the resume (03:01:00) to the cursor every 10 s
      // is one live task of epoch 1.
      const epochOf = (t: { idempotencyKey?: string }) => Number(t.idempotencyKey?.split(":").at(-2));
      const added = h.tasks().filter((t) => !paused.has(t.taskId));
      expect(next.failures).toBe(0);
      expect(added.filter((t) => epochOf(t) === 0)).toEqual([]);
      expect(liveCountsByDue(h.tasks())).toEqual([1]);
      const resumedAt = Date.parse("2027-01-01T03:01:00.000Z");
      const live = h
        .live()
        .filter((t) => t.dueAtMs > resumedAt)
        .map((t) => t.dueAtMs);
      const cursor = h.schedule(id).materializedUntilMs;
      expect(live).toEqual(
        Array.from({ length: (cursor - resumedAt) / 10_000 }, (_, i) => resumedAt + (i + 1) * 10_000),
      );
    },
  );

  it("a pause that failed part-way through its cancels is finished by its repeat", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    const cancel = h.store.cancel.bind(h.store);
    let calls = 0;
    h.store.cancel = async (...args) => {
      if (++calls === 2) throw Object.assign(new Error("throttled"), { name: "ThrottlingException" });
      return cancel(...args);
    };

    const failed = await pauseSchedule(h.deps, id).catch((e: unknown) => e);
    h.store.cancel = cancel;
    const repeated = await pauseSchedule(h.deps, id);

    expect(failed).toMatchObject({ name: "ThrottlingException" });
    expect(h.schedule(id).status).toBe("paused");
    expect(repeated.cancelled_occurrences).toBeGreaterThan(0);
    expect(h.live()).toEqual([]);
  });

  it("a run that read the schedule before a pause cancels what it made after it", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    h.clock.advance(2 * 60_000);
    const readBeforePause = h.schedule(id);

    await pauseSchedule(h.deps, id);
    const late = await materializeSchedule(h.deps, readBeforePause, 150);

    expect(late.advanced).toBe(false);
    expect(h.live().filter((t) => t.dueAtMs > h.clock.nowMs)).toEqual([]);
  });

  it("once a pause has answered, a run that read the schedule before it adds no occurrence", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
    h.clock.advance(60_000);
    const readBeforePause = h.schedule(id);

    await pauseSchedule(h.deps, id);
    const answered = h.tasks().length;
    await materializeSchedule(h.deps, readBeforePause, 150);

    expect(h.tasks()).toHaveLength(answered);
    expect(h.live().filter((t) => t.dueAtMs > h.clock.nowMs)).toEqual([]);
  });

  it.each([
    ["pause", pauseSchedule],
    ["delete", deleteSchedule],
  ])(
    "once a %s has answered, a run already under way adds no occurrence, not even for a moment",
    async (_, stop) => {
      // Prepare: a run that has read the schedule and halts before its first add.
      const h = harness();
      const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
      h.clock.advance(60_000);
      const halted = haltingStore(h.store);
      const run = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
      await new Promise((resolve) => setTimeout(resolve, 10));

      // Act: the stop answers, then the run goes on.
      await stop(h.deps, id);
      const answered = h.tasks().map((t) => t.taskId);
      const liveAhead = h.live().filter((t) => t.dueAtMs > h.clock.nowMs);
      halted.release();
      await run;

      // Assess
      expect(liveAhead).toEqual([]);
      expect(h.tasks().map((t) => t.taskId)).toEqual(answered);
      expect(h.live().filter((t) => t.dueAtMs > h.clock.nowMs)).toEqual([]);
    },
  );

  it.each([
    ["maxPayloadBytes", { maxPayloadBytes: 16 }],
    ["maxDelaySeconds", { maxDelaySeconds: 30 }],
    ["allowedCallbackHosts", { allowedCallbackHosts: ["elsewhere.example"] }],
  ] satisfies [string, Partial<TopicConfig>][])(
    "once a pause has answered, a run under way with the topic's settings from before a change of %s adds no live occurrence",
    async (_, change) => {
      // Prepare: a run that read the topic's settings and leased its window, halted before its first add; then
      // the topic's settings change (runtime settings, no deploy) so that they refuse the occurrences, and the
      // pause reads the new ones (each invocation reads its own; the run keeps those it read at its start).
      const h = harness();
      const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
      h.clock.advance(60_000);
      const halted = haltingStore(h.store);
      const run = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
      await new Promise((resolve) => setTimeout(resolve, 10));
      const demo = h.deps.config.resolvedTopics.demo as TopicConfig;
      const changed = {
        ...h.deps.config,
        resolvedTopics: { ...h.deps.config.resolvedTopics, demo: { ...demo, ...change } },
      };

      // Act: the pause answers, then the run goes on, and ends before its cursor write (the invocation timed out).
      await pauseSchedule({ ...h.deps, config: changed }, id);
      const answered = h.tasks().map((t) => t.taskId);
      Object.assign(halted.store, {
        updateSchedule: () => Promise.reject(new Error("the invocation ended before its cursor write")),
      });
      halted.release();
      await run.catch(() => undefined);

      // Assess: nothing live ahead of the pause, nothing added after it.
      expect(h.live().filter((t) => t.dueAtMs > h.clock.nowMs)).toEqual([]);
      expect(h.tasks().filter((t) => !answered.includes(t.taskId) && t.status !== "cancelled")).toEqual([]);
    },
  );

  it("a run with a narrower allow-list does not count as skipped the occurrences of its window an earlier run made (it failed before its cursor write)", async () => {
    // Prepare: run A makes its window's occurrences, then fails at its cursor write (lease kept, cursor not moved);
    // the allow-list is narrowed.
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
    h.clock.advance(60_000);
    let writes = 0;
    const failing: MemoryTaskStore = Object.create(h.store);
    Object.assign(failing, {
      updateSchedule: (scheduleId: string, change: ScheduleChange) =>
        ++writes === 1
          ? h.store.updateSchedule(scheduleId, change)
          : Promise.reject(new Error("the invocation ended before its cursor write")),
    });
    await materializeSchedule({ ...h.deps, store: failing }, h.schedule(id), 150).catch(() => undefined);
    const made = h.live().length;
    const demo = h.deps.config.resolvedTopics.demo as TopicConfig;
    const narrowed = {
      ...h.deps.config,
      resolvedTopics: {
        ...h.deps.config.resolvedTopics,
        demo: { ...demo, allowedCallbackHosts: ["elsewhere.example"] },
      },
    };

    // Act
    const runB = await materializeSchedule({ ...h.deps, config: narrowed }, h.schedule(id), 150);

    // Assess: what A made is live, each once; B moved the cursor past it and counted none of it skipped.
    expect(made).toBeGreaterThan(0);
    expect(runB).toMatchObject({ advanced: true, skipped: 0 });
    expect(h.schedule(id).skippedOccurrences).toBeUndefined();
    expect(h.live()).toHaveLength(made);
  });

  it("once a pause has answered, a run under way adds no live occurrence that a later run with a narrower allow-list skipped past", async () => {
    // Prepare: run A (the settings of before a runtime change) leases its window and halts before its first add;
    // the allow-list is narrowed; run B, with the new settings, leases on A's lease, is refused every occurrence
    // of the window, skips them and moves the cursor past them (no claim written for any).
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
    h.clock.advance(60_000);
    const halted = haltingStore(h.store);
    const runA = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const demo = h.deps.config.resolvedTopics.demo as TopicConfig;
    const narrowed = {
      ...h.deps.config,
      resolvedTopics: {
        ...h.deps.config.resolvedTopics,
        demo: { ...demo, allowedCallbackHosts: ["elsewhere.example"] },
      },
    };
    const runB = await materializeSchedule({ ...h.deps, config: narrowed }, h.schedule(id), 150);

    // Act: the pause answers, then run A goes on and ends before its cursor write (the invocation timed out).
    await pauseSchedule({ ...h.deps, config: narrowed }, id);
    const answered = h.tasks().map((t) => t.taskId);
    Object.assign(halted.store, {
      updateSchedule: () => Promise.reject(new Error("the invocation ended before its cursor write")),
    });
    halted.release();
    await runA.catch(() => undefined);

    // Assess: B skipped A's window and moved the cursor; nothing live ahead of the pause, nothing added after it.
    expect(runB).toMatchObject({ advanced: true, occurrences: 6, skipped: 6 });
    expect(h.live().filter((t) => t.dueAtMs > h.clock.nowMs)).toEqual([]);
    expect(h.tasks().filter((t) => !answered.includes(t.taskId) && t.status !== "cancelled")).toEqual([]);
  });

  it.each([
    [
      "its default callback removed (a schedule without a callback of its own)",
      { defaultCallbackUrl: "https://receiver.example/default" },
      { defaultCallbackUrl: undefined },
      { callback: undefined },
    ],
    [
      "its subscribers removed (a fan-out schedule)",
      {
        subscribers: [
          { id: "billing", url: "https://billing.example.com/hook" },
          { id: "audit", url: "https://audit.example.com/hook" },
        ],
      },
      { subscribers: undefined },
      { callback: undefined },
    ],
    [
      "its ordering field moved to one the content holds an object in",
      {},
      { deliverBy: "meta" },
      { content: { order_id: "o-1", meta: { region: "eu" } } },
    ],
  ] satisfies [string, Partial<TopicConfig>, Partial<TopicConfig>, Record<string, unknown>][])(
    "once a pause has answered, a run under way with the topic's settings from before %s adds no live occurrence",
    async (_, before, after, scheduleFields) => {
      // Prepare: a topic whose settings take the schedule's occurrences, a run that read them and leased its window,
      // halted before its first add; then a runtime settings change that refuses them even with the topic's limits
      // lifted (stop.ts, checkedAsSomeSettingsTakeIt), and the pause reads the new settings.
      const demo = simConfig().resolvedTopics.demo as TopicConfig;
      const config = simConfig();
      const withTopic = (topic: TopicConfig) => ({
        ...config,
        resolvedTopics: { ...config.resolvedTopics, demo: topic },
      });
      const h = harness(undefined, withTopic({ ...demo, ...before }));
      // `callback: undefined` leaves the body without one (JSON).
      const scheduleBody = body({ cron: "*/10 * * * * *", ...scheduleFields });
      const { schedule_id: id } = await createSchedule(h.deps, scheduleBody);
      h.clock.advance(60_000);
      const halted = haltingStore(h.store);
      const run = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
      await new Promise((resolve) => setTimeout(resolve, 10));

      // Act: the pause answers, then the run goes on, and ends before its cursor write (the invocation timed out).
      await pauseSchedule({ ...h.deps, config: withTopic({ ...demo, ...before, ...after }) }, id);
      const answered = h.tasks().map((t) => t.taskId);
      Object.assign(halted.store, {
        updateSchedule: () => Promise.reject(new Error("the invocation ended before its cursor write")),
      });
      halted.release();
      await run.catch(() => undefined);

      // Assess: nothing live ahead of the pause, nothing added after it.
      expect(h.live().filter((t) => t.dueAtMs > h.clock.nowMs)).toEqual([]);
      expect(h.tasks().filter((t) => !answered.includes(t.taskId) && t.status !== "cancelled")).toEqual([]);
    },
  );

  it.each([
    ["pause", "its claims of occurrence keys and its parents' writes", pauseSchedule, 0],
    ["delete", "its claims of occurrence keys and its parents' writes", deleteSchedule, 0],
    ["pause", "its first parents' writes and their copies'", pauseSchedule, 4],
  ] as const)(
    "on a fan-out topic, a %s landing between a run's %s leaves each occurrence a cancelled fan-out task, no copy live, and the run ends without an error",
    async (_, _between, stop, writesFirst) => {
      // Prepare: a schedule on a topic with subscribers; a run that has claimed keys and halts at their writes.
      const config = parseConfig({
        name: "test",
        system: { allowedCallbackHosts: ["*"] },
        topics: {
          demo: { deliverBy: "order_id" },
          fan: {
            deliverBy: "order_id",
            subscribers: [
              { id: "billing", url: "https://billing.example.com/hook" },
              { id: "audit", url: "https://audit.example.com/hook" },
            ],
          },
        },
      });
      const h = harness(undefined, config);
      const { callback: _own, ...fanBody } = body({ topic: "fan", cron: "*/30 * * * * *" }) as Record<
        string,
        unknown
      >;
      const { schedule_id: id } = await createSchedule(h.deps, fanBody);
      h.clock.advance(60_000);
      const halted = haltingStore(h.store, writesFirst, "putNew");
      const run = materializeSchedule({ ...h.deps, store: halted.store }, h.schedule(id), 150);
      await new Promise((resolve) => setTimeout(resolve, 10));

      // Act: the stop answers, then the run goes on.
      await stop(h.deps, id);
      halted.release();
      const outcome = await run.then(
        () => "settled",
        (error: unknown) => error,
      );

      // Assess: every task of the schedule made after the first pass is a fan-out parent, cancelled, or a cancelled
      // copy; nothing live ahead; the run neither failed nor reported anything.
      const mine = h
        .tasks()
        .filter((t) => t.scheduleId === id && t.acceptedAtMs > Date.parse("2027-01-01T00:00:00.000Z"));
      expect(outcome).toBe("settled");
      expect(h.errors).toEqual([]);
      expect(mine.length).toBeGreaterThan(0);
      expect(
        mine.filter(
          (t) => t.parentTaskId === undefined && (t.fanOut === undefined || t.status !== "cancelled"),
        ),
      ).toEqual([]);
      // A copy written after the parent's cancel is cancelled in turn, not removed (fan-out/add.ts, cancelledCopy);
      // halted before any parent's write, no copy is written at all.
      const copies = mine.filter((t) => t.parentTaskId !== undefined);
      expect(copies.filter((t) => t.status !== "cancelled")).toEqual([]);
      expect(copies.length === 0).toBe(writesFirst === 0);
      expect(h.live().filter((t) => t.dueAtMs > h.clock.nowMs)).toEqual([]);
    },
  );

  it("delete cancels what is ahead, reads as deleted, is idempotent, and resume refuses it", async () => {
    const h = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());

    const deleted = await deleteSchedule(h.deps, id);
    const again = await deleteSchedule(h.deps, id);
    const resumed = await refusal(resumeSchedule(h.deps, id));
    const missing = await refusal(deleteSchedule(h.deps, "demo.schedule.01JD3AAAAAAAAAAAAAAAAAAAAA"));

    expect(deleted).toMatchObject({ status: "deleted", cancelled_occurrences: 4 });
    expect(again).toMatchObject({ status: "deleted", cancelled_occurrences: 0 });
    expect(resumed).toMatchObject({ status: 409, code: "conflict" });
    expect(missing).toMatchObject({ status: 404 });
    expect(h.live()).toEqual([]);
    expect(h.schedule(id).expiresAt).toBeGreaterThan(h.clock.nowMs / 1000);
  });

  it("refuses a list limit not in plain decimal digits (0x10, 1e2, ' 5', +5, 05) with a 400 naming it", async () => {
    // Prepare
    const h = harness();
    await createSchedule(h.deps, body());

    for (const limit of ["0x10", "1e2", " 5", "+5", "05"]) {
      // Act
      const error = await refusal(listSchedules(h.deps, { topic: "demo", limit }));

      // Assess
      expect(error, limit).toMatchObject({
        status: 400,
        code: "validation_failed",
        issues: [{ path: "limit", message: expect.stringContaining("plain decimal digits") }],
      });
    }
  });

  it("lists a topic's schedules page by page with a cursor only that list accepts", async () => {
    const h = harness();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await createSchedule(h.deps, body())).schedule_id);

    const first = await listSchedules(h.deps, { topic: "demo", limit: "2" });
    const second = await listSchedules(h.deps, {
      topic: "demo",
      limit: "2",
      cursor: first.next_cursor ?? "",
    });
    const forged = await refusal(listSchedules(h.deps, { topic: "demo", cursor: "e30" }));

    expect([...first.schedules, ...second.schedules].map((s) => s.schedule_id)).toEqual(ids);
    expect(second.next_cursor).toBeNull();
    expect(forged).toMatchObject({ status: 400 });
  });

  it("a cursor does not make a topic known: with or without one, a topic neither in the config nor with schedules is a 400 unknown_topic; one a deploy removed lists what it keeps, its empty last page a 200", async () => {
    // Prepare: two schedules on demo, then demo leaves the config; "ghost" never was a topic. A cursor is the
    // base64url JSON of a schedule's key, as the list gives it out (DynamoDB gives one after a page that ended on
    // the partition's last item, whose next page is empty).
    const h = harness();
    const ids = [];
    for (let i = 0; i < 2; i++) ids.push((await createSchedule(h.deps, body())).schedule_id);
    const sim = simConfig();
    const { demo: _removed, ...others } = sim.resolvedTopics;
    Object.assign(h.deps, { config: { ...sim, resolvedTopics: others } });
    const cursorAt = (id: string) =>
      Buffer.from(JSON.stringify({ pk: parseScheduleId(id)?.pk, sk: id })).toString("base64url");
    const ghostId = makeScheduleKey("ghost", "01JD3ZZZZZZZZZZZZZZZZZZZZZ").scheduleId;

    // Act
    const ghost = await refusal(listSchedules(h.deps, { topic: "ghost" }));
    const ghostPaged = await refusal(listSchedules(h.deps, { topic: "ghost", cursor: cursorAt(ghostId) }));
    const rest = await listSchedules(h.deps, { topic: "demo", cursor: cursorAt(ids[0] as string) });
    const lastPage = await listSchedules(h.deps, { topic: "demo", cursor: cursorAt(ids[1] as string) });

    // Assess
    expect(ghost).toMatchObject({ status: 400, code: "unknown_topic" });
    expect(ghostPaged).toMatchObject({ status: 400, code: "unknown_topic" });
    expect(rest.schedules.map((s) => s.schedule_id)).toEqual([ids[1]]);
    expect(lastPage).toEqual({ schedules: [], next_cursor: null });
  });

  it("a known topic's cursor past its last schedule, or into a list with none, is an empty page (200)", async () => {
    // Prepare: one schedule on demo; in another environment, demo has none.
    const h = harness();
    const empty = harness();
    const { schedule_id: id } = await createSchedule(h.deps, body());
    const cursorAt = (scheduleId: string) =>
      Buffer.from(JSON.stringify({ pk: parseScheduleId(scheduleId)?.pk, sk: scheduleId })).toString(
        "base64url",
      );

    // Act
    const past = await listSchedules(h.deps, { topic: "demo", cursor: cursorAt(id) });
    const none = await listSchedules(empty.deps, { topic: "demo", cursor: cursorAt(id) });

    // Assess
    expect(past).toEqual({ schedules: [], next_cursor: null });
    expect(none).toEqual({ schedules: [], next_cursor: null });
  });

  it.each([
    ["a task's sort key", "000001795000000000#01JD3ZZZZZZZZZZZZZZZZZZZZZ"],
    ["another topic's schedule id", "small.schedule.01JD3ZZZZZZZZZZZZZZZZZZZZZ"],
    ["text", "zzz"],
  ])(
    "a cursor in the topic's partition whose key is not one of its schedule ids (%s) is a 400",
    async (_name, sk) => {
      // A position outside the topic's schedule ids is outside the Query's key range: DynamoDB refuses it (a 500).
      const h = harness();
      await createSchedule(h.deps, body());
      const cursor = Buffer.from(JSON.stringify({ pk: "schedules#demo", sk })).toString("base64url");

      const error = await refusal(listSchedules(h.deps, { topic: "demo", cursor }));

      expect(error).toMatchObject({
        status: 400,
        issues: [{ path: "cursor", message: "not a cursor this list gave out" }],
      });
    },
  );
});

describe("a stored schedule this release cannot compute (written by an older release or by hand, a zone ICU dropped)", () => {
  /** An active, due schedule as stored, with a cron or time zone the create route would refuse today. */
  async function storedByHand(h: ReturnType<typeof harness>, fields: Partial<ScheduleRecord>, ulid: string) {
    const key = makeScheduleKey("demo", ulid);
    await h.store.putSchedule({
      ...key,
      topic: "demo",
      cron: "*/1 * * * *",
      timezone: "UTC",
      content: '{"order_id":"o-1"}',
      callbackUrl: "https://receiver.example/hook",
      status: "active",
      createdAtMs: h.clock.nowMs,
      updatedAtMs: h.clock.nowMs,
      materializedUntilMs: h.clock.nowMs,
      epoch: 0,
      scheduleShard: scheduleShardOf(key.scheduleId),
      materializeAtMs: h.clock.nowMs,
      ...fields,
    });
    return key.scheduleId;
  }

  it.each([
    ["an ISO date as cron (croner's run-once job)", { cron: "0000-01-01T00:00:00Z" }],
    ["a cron croner refuses", { cron: "61 * * * *" }],
    ["a time zone the runtime does not know", { timezone: "Mars/Olympus" }],
  ])(
    "%s: the others go on, the next run pauses it saying why (not a failure every minute), and its view, its topic's list, pause, resume and delete answer without a 500",
    async (_name, fields) => {
      // Prepare: a healthy schedule and a poison one on the same topic.
      const h = harness();
      const { schedule_id: good } = await createSchedule(h.deps, body());
      const poison = await storedByHand(h, fields, "01JD3PPPPPPPPPPPPPPPPPPPPP");
      const failures: unknown[] = [];
      const deps = { ...h.deps, onScheduleError: (_id: string, error: unknown) => failures.push(error) };

      // Act
      const activeView = await getSchedule(deps, poison);
      const activeList = await listSchedules(deps, { topic: "demo" });
      h.clock.advance(60_000);
      const first = await runMaterializer(deps);
      h.clock.advance(60_000);
      const second = await runMaterializer(deps);
      const view = await getSchedule(deps, poison);
      const listed = await listSchedules(deps, { topic: "demo" });
      const resumed = await refusal(resumeSchedule(deps, poison));
      const paused = await pauseSchedule(deps, poison);
      // A release that can compute it again (a rollback; here its stored fields as they were).
      h.store.schedules.set(poison, { ...h.schedule(poison), cron: "*/1 * * * *", timezone: "UTC" });
      const resumedLater = await resumeSchedule(deps, poison);
      const deleted = await deleteSchedule(deps, poison);

      // Assess: the healthy schedule is made to the horizon each run; the poison one is paused once, with a reason.
      expect(activeView).toMatchObject({ status: "active", next_occurrences: [] });
      expect(activeList.schedules.map((s) => s.schedule_id).sort()).toEqual([good, poison].sort());
      expect(first).toMatchObject({ schedules: 2, failures: 0, skipped: 1 });
      expect(second).toMatchObject({ schedules: 1, failures: 0, skipped: 0 });
      expect(failures).toEqual([]);
      expect(
        h
          .live()
          .filter((t) => t.scheduleId === good)
          .at(-1)?.dueAtMs,
      ).toBe(Date.parse("2027-01-01T00:06:00.000Z"));
      expect(view).toMatchObject({
        status: "paused",
        next_occurrences: [],
        last_skipped: { code: "invalid_schedule", message: expect.stringMatching(/paused.*delete it/) },
      });
      expect(listed.schedules).toHaveLength(2);
      expect(resumed).toMatchObject({ status: 409, code: "conflict" });
      expect(paused).toMatchObject({ status: "paused", cancelled_occurrences: 0 });
      expect(resumedLater.status).toBe("active");
      expect(deleted.status).toBe("deleted");
      expect(deleted.cancelled_occurrences).toBeGreaterThan(0);
      expect(deleted.cancelled_occurrences).toBe(h.tasks().filter((t) => t.scheduleId === poison).length);
      expect(h.live().filter((t) => t.scheduleId === poison)).toEqual([]);
    },
  );

  it.each([
    ["a time zone the runtime's ICU dropped", "*/1 * * * *", { timezone: "Mars/Olympus" }, "pause"],
    ["a cron croner now refuses", "*/1 * * * *", { cron: "61 * * * *" }, "delete"],
    ["a cron croner now refuses (seconds)", "*/7 * * * * *", { cron: "61 * * * *" }, "pause"],
    [
      "a time zone the runtime's ICU dropped (seconds)",
      "*/7 * * * * *",
      { timezone: "Mars/Olympus" },
      "delete",
    ],
  ] as const)(
    "%s after an older release made occurrences ahead (%s): pause and delete still cancel them, found by their keys (occurrences fall on whole seconds, at most the horizon ahead)",
    async (_name, cron, poisoned, stop) => {
      // Prepare: a schedule an older release could compute made its occurrences ahead; then this release cannot.
      const h = harness();
      const { schedule_id: id } = await createSchedule(h.deps, body({ cron }));
      h.clock.advance(1_500);
      const ahead = h.live().filter((t) => t.scheduleId === id && t.dueAtMs > h.clock.nowMs);
      h.store.schedules.set(id, { ...h.schedule(id), ...poisoned });

      // Act
      const stopped = stop === "pause" ? await pauseSchedule(h.deps, id) : await deleteSchedule(h.deps, id);
      const again = stop === "pause" ? await pauseSchedule(h.deps, id) : await deleteSchedule(h.deps, id);

      // Assess: every occurrence made ahead is cancelled and counted once; nothing else was written.
      expect(ahead.length).toBeGreaterThan(3);
      expect(stopped.cancelled_occurrences).toBe(ahead.length);
      expect(again.cancelled_occurrences).toBe(0);
      expect(h.live().filter((t) => t.scheduleId === id && t.dueAtMs > h.clock.nowMs)).toEqual([]);
      expect(h.tasks().filter((t) => t.scheduleId === id && t.status === "cancelled")).toHaveLength(
        ahead.length,
      );
    },
  );

  it.each([
    ["a time zone the runtime's ICU dropped", "*/1 * * * *", { timezone: "Mars/Olympus" }],
    ["a cron croner now refuses (seconds)", "*/7 * * * * *", { cron: "61 * * * *" }],
  ] as const)(
    "%s after an older release made occurrences ahead (%s): the materializer's own pause cancels them as a user's pause would, and a repeated run finds nothing more to do",
    async (_name, cron, poisoned) => {
      // Prepare: an older release made the schedule's occurrences ahead (its runs included); then this one cannot.
      const h = harness();
      const { schedule_id: id } = await createSchedule(h.deps, body({ cron }));
      h.clock.advance(60_000);
      await runMaterializer(h.deps);
      h.clock.advance(1_500);
      const ahead = h.live().filter((t) => t.scheduleId === id && t.dueAtMs > h.clock.nowMs);
      // Its next run is due now (the schedule index as the run reads it).
      h.store.schedules.set(id, { ...h.schedule(id), ...poisoned, materializeAtMs: h.clock.nowMs });

      // Act
      const run = await runMaterializer(h.deps);
      const again = await runMaterializer(h.deps);

      // Assess: paused once, every occurrence made ahead cancelled; nothing else written, nothing failed.
      expect(ahead.length).toBeGreaterThan(3);
      expect(run).toMatchObject({ failures: 0, skipped: 1 });
      expect(again).toMatchObject({ schedules: 0, failures: 0 });
      expect(h.schedule(id).status).toBe("paused");
      expect(h.live().filter((t) => t.scheduleId === id && t.dueAtMs > h.clock.nowMs)).toEqual([]);
      expect(h.tasks().filter((t) => t.scheduleId === id && t.status === "cancelled")).toHaveLength(
        ahead.length,
      );
      expect(h.errors.filter((e) => !isHttpError(e) || e.status >= 500)).toEqual([]);
    },
  );
});
