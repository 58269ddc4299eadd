import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import type * as z from "zod/mini";
import { createScheduleBodySchema } from "#shared/api/schemas/schedules.js";
import { ROUTES } from "../../../client/routes.js";
import { OLDER_SCHEDULE_ID, olderGroupCancel, olderScheduleChange } from "../../support/older-answers.js";
import { scriptedFetch, taskId, taskViewAnswer } from "./fakes.js";

/**
 * Clients and deployments are upgraded independently (one deployment per environment), so a client reads answers
 * of older and newer releases of the API: a field a later release added is read as what the older answer means,
 * and a field the client does not know yet passes through.
 */
const API = "http://127.0.0.1:3000";

/** A client whose API answers these bodies (200) in order; one attempt per call, so each body is one call's. */
function clientAnswering(...bodies: unknown[]) {
  const { fetch } = scriptedFetch(...bodies.map((body) => ({ status: 200, body })));
  return new PunctualClient({ apiUrl: API, fetch, retry: { maxAttempts: 1 } });
}

describe("a newer client against an older deployment: a field added later reads as its default", () => {
  it("pauseSchedule and deleteSchedule: an answer without cancels_deferred reads cancels_deferred: false", async () => {
    // Prepare
    const client = clientAnswering(olderScheduleChange("paused"), olderScheduleChange("deleted"));

    // Act
    const paused = await client.pauseSchedule(OLDER_SCHEDULE_ID);
    const deleted = await client.deleteSchedule(OLDER_SCHEDULE_ID);

    // Assess
    expect(paused).toMatchObject({ status: "paused", cancelled_occurrences: 2, cancels_deferred: false });
    expect(deleted).toMatchObject({ status: "deleted", cancelled_occurrences: 2, cancels_deferred: false });
  });

  it("cancelGroup: an answer without cancel_requested reads cancel_requested: []", async () => {
    // Prepare
    const client = clientAnswering(olderGroupCancel);

    // Act
    const answer = await client.cancelGroup("orders", "A-1");

    // Assess
    expect(answer).toEqual({ ...olderGroupCancel, cancel_requested: [] });
  });

  it("the fields as a current deployment sends them are read as sent, not as the default", async () => {
    // Prepare
    const requested = [{ task_id: taskId("orders") }];
    const client = clientAnswering(
      { ...olderScheduleChange("paused"), cancels_deferred: true },
      { ...olderGroupCancel, cancel_requested: requested },
    );

    // Act
    const paused = await client.pauseSchedule(OLDER_SCHEDULE_ID);
    const cancelled = await client.cancelGroup("orders", "A-1");

    // Assess
    expect(paused.cancels_deferred).toBe(true);
    expect(cancelled.cancel_requested).toEqual(requested);
  });

  it("a field present with a wrong type is still an invalid_response (only an absent one is defaulted)", async () => {
    // Prepare
    const client = clientAnswering({ ...olderScheduleChange("paused"), cancels_deferred: "no" });

    // Act
    const error = await client.pauseSchedule(OLDER_SCHEDULE_ID).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response" });
  });
});

describe("an older client against a newer deployment: fields it does not know are no error", () => {
  it("a task view with a field added after this client is read, the field passed through", async () => {
    // Prepare
    const id = taskId();
    const client = clientAnswering(
      taskViewAnswer(id, {
        a_later_field: { nested: true },
        attempt_log: [
          { started_at: "2026-11-23T12:01:30.000Z", duration_ms: 5, status: 200, a_later_detail: 1 },
        ],
      }),
    );

    // Act
    const task = await client.getTask(id);

    // Assess
    expect(task).toMatchObject({ task_id: id, a_later_field: { nested: true } });
    expect(task.attempt_log[0]).toMatchObject({ a_later_detail: 1 });
  });

  it("no response schema the client reads refuses an unknown field (no strict object anywhere in them)", () => {
    // Act
    const strict = Object.entries(ROUTES).flatMap(([name, route]) =>
      strictObjectsIn(route.response).map((path) => `${name}: ${path || "(answer)"}`),
    );

    // Assess: none; and the walk does find one where there is one (a request body, strict on purpose)
    expect(strict).toEqual([]);
    expect(strictObjectsIn(createScheduleBodySchema)).toEqual(["", ".callback"]);
  });
});

/** Where in `schema` an object refuses keys it does not name (`z.strictObject`: its catchall is `never`). */
function strictObjectsIn(schema: z.ZodMiniType, path = "", seen = new Set<unknown>()): string[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  const inner = (value: unknown, at = path) => strictObjectsIn(value as z.ZodMiniType, at, seen);
  switch (def.type) {
    case "object": {
      const catchall = def.catchall as z.ZodMiniType | undefined;
      const own = catchall?._zod.def.type === "never" ? [path] : [];
      const shape = def.shape as Record<string, unknown>;
      return [...own, ...Object.entries(shape).flatMap(([key, value]) => inner(value, `${path}.${key}`))];
    }
    case "array":
      return inner(def.element, `${path}[]`);
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
    case "nonoptional":
    case "catch":
      return inner(def.innerType);
    case "union":
      return (def.options as unknown[]).flatMap((option) => inner(option));
    case "intersection":
      return [...inner(def.left), ...inner(def.right)];
    case "pipe":
      return [...inner(def.in), ...inner(def.out)];
    case "record":
      return inner(def.valueType, `${path}[*]`);
    default:
      return [];
  }
}
