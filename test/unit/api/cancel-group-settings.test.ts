import type { APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { StaticTopicSettings } from "#shared/adapters/topic-settings.js";
import { addTask } from "#shared/services/add-task.js";
import { apiEvent } from "../../support/api-event.js";
import { API_FUNCTION_ENV, importWithEnv } from "../../support/function-env.js";
import { fixture, NOW, silentLogger } from "./fakes.js";

/**
 * The group cancel function reads the runtime topic settings like the single cancel does: a cancelled task's
 * retention is the topic's current `retentionDays` (docs/OPERATIONS.md "Topic settings without a deploy"), not the deployed one.
 */
let cancelGroupFunction: typeof import("#functions/cancel-group.js");

beforeAll(async () => {
  cancelGroupFunction = await importWithEnv(API_FUNCTION_ENV, () => import("#functions/cancel-group.js"));
});

afterEach(() => vi.unstubAllEnvs());

const context = {
  functionName: "cancel-group",
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

const cancelEvent = (topic: string, value: string) =>
  apiEvent("POST /v1/topics/{topic}/groups/{value}/cancel", { pathParameters: { topic, value } });

describe("POST /v1/topics/{topic}/groups/{value}/cancel with runtime topic settings", () => {
  it("gives each cancelled task the topic's current retention, as DELETE /v1/tasks/{id} does", async () => {
    // Prepare: the runtime document shortened the topic's retention from the deployed 3 days to 1
    const f = fixture();
    const added = await addTask(f.deps, {
      body: {
        topic: "demo",
        delay_seconds: 60,
        content: { order_id: "o-retention" },
        callback: { url: "https://hooks.example.com/n" },
      },
    });
    const demo = f.config.resolvedTopics.demo;
    if (!demo) throw new Error("the test config declares demo");
    const current = {
      ...f.config,
      resolvedTopics: { ...f.config.resolvedTopics, demo: { ...demo, retentionDays: 1 } },
    };
    const handler = cancelGroupFunction.createHandler({
      ...f.deps,
      logger: silentLogger(),
      settings: new StaticTopicSettings(current),
    });

    // Act
    const answer = (await handler(
      cancelEvent("demo", "o-retention"),
      context,
    )) as APIGatewayProxyStructuredResultV2;

    // Assess
    expect(answer.statusCode, answer.body).toBe(200);
    expect(JSON.parse(answer.body ?? "")).toMatchObject({ cancelled: 1 });
    const stored = await f.store.get(added.body.task_id);
    expect(stored?.status).toBe("cancelled");
    expect(stored?.expiresAt).toBe(Math.ceil(NOW / 1000 + 1 * 86_400));
  });
});

/**
 * A group cancel's page is up to 1,000 tasks, each a conditional write and, on the Scheduler path, a DeleteSchedule
 * (tens of ms, and throttled past the account's DeleteSchedule request rate, 250 a second in most Regions:
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html), a moved task's and a fan-out
 * parent's a few more: 8 at a time, that can outlast the API function's 10 s.
 */
describe("POST /v1/topics/{topic}/groups/{value}/cancel near the function's deadline", () => {
  it("stops starting cancels in time and answers what it cancelled with a cursor after it, which the next call goes on from", async () => {
    // Prepare: 80 tasks of one group, each cancel taking 300 ms; the invocation has 3.2 s left
    const f = fixture();
    for (let i = 0; i < 80; i++) {
      await addTask(f.deps, {
        body: {
          topic: "demo",
          delay_seconds: 60 + i,
          content: { order_id: "o-deadline" },
          callback: { url: "https://hooks.example.com/n" },
        },
      });
    }
    const cancel = f.store.cancel.bind(f.store);
    f.store.cancel = async (...args: Parameters<typeof cancel>) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return cancel(...args);
    };
    const handler = cancelGroupFunction.createHandler({
      ...f.deps,
      logger: silentLogger(),
      settings: new StaticTopicSettings(f.config),
    });
    const deadline = Date.now() + 3_200;
    const nearDeadline = { ...context, getRemainingTimeInMillis: () => deadline - Date.now() } as Context;

    // Act
    const answer = (await handler(
      cancelEvent("demo", "o-deadline"),
      nearDeadline,
    )) as APIGatewayProxyStructuredResultV2;

    // Assess: before, the route's early answer, a bare 503 "retry" whatever had been cancelled
    expect(answer.statusCode).toBe(200);
    const body = JSON.parse(String(answer.body));
    const cancelledNow = [...f.store.tasks.values()].filter((t) => t.status === "cancelled").length;
    expect(body).toMatchObject({ cancelled: cancelledNow, more: true, next_cursor: expect.any(String) });
    expect(cancelledNow).toBeGreaterThan(0);
    expect(cancelledNow).toBeLessThan(80);
    // The next call, with the cursor (and its own time), cancels the rest: none skipped.
    const next = {
      ...cancelEvent("demo", "o-deadline"),
      queryStringParameters: { cursor: body.next_cursor },
    };
    const rest = (await handler(next, context)) as APIGatewayProxyStructuredResultV2;
    expect(JSON.parse(String(rest.body))).toMatchObject({ cancelled: 80 - cancelledNow, more: false });
    expect([...f.store.tasks.values()].every((t) => t.status === "cancelled")).toBe(true);
  }, 20_000);
});
