import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { monotonicFactory } from "ulid";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { StaticTopicSettings } from "#shared/adapters/topic-settings.js";
import { parseConfig } from "#shared/config/index.js";
import { applyRuntimeSettings } from "#shared/config/runtime-settings.js";
import { addTask } from "#shared/services/add-task.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { FakeScheduler, FakeTimerQueue, NOW, silentLogger } from "./fakes.js";

/**
 * GET /v1/tasks/{id} decides from the topic's retention whether a fan-out task whose copies are all missing
 * completed and expired (404) or is still to have them written (its view): it must read the same settings as
 * DELETE, the list and the add (the runtime document, docs/OPERATIONS.md "Topic settings without a deploy").
 */
let getTaskFunction: typeof import("#functions/get-task.js");

beforeAll(async () => {
  for (const [name, value] of Object.entries({
    PUNCTUAL_ENV: "local",
    TABLE_NAME: "punctual-local-tasks",
    AWS_REGION: "us-east-1",
    POWERTOOLS_LOG_LEVEL: "SILENT",
  })) {
    vi.stubEnv(name, value);
  }
  getTaskFunction = await import("#functions/get-task.js");
  vi.unstubAllEnvs();
});

afterEach(() => vi.unstubAllEnvs());

const DAY_MS = 86_400_000;
const context = { functionName: "get-task", getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

function getEvent(taskId: string): APIGatewayProxyEventV2 {
  const path = `/v1/tasks/${taskId}`;
  return {
    version: "2.0",
    routeKey: "GET /v1/tasks/{id}",
    rawPath: path,
    rawQueryString: "",
    headers: {},
    pathParameters: { id: taskId },
    requestContext: {
      http: { method: "GET", path, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "vitest" },
      requestId: "r-1",
    },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

describe("GET /v1/tasks/{id} with runtime topic settings", () => {
  it("answers a fan-out task whose copies are not written yet as DELETE does when the runtime retention is longer than the deployed one, not 404 'completed and expired'", async () => {
    // Prepare: deployed with a 1-day retention, raised to 30 days by the runtime document. A keyed add (under the
    // runtime settings) wrote its parent but none of its copies (503 "retry with the same key"); 3 days after the
    // due time a retry would still write and deliver them.
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
      },
    });
    const raised = applyRuntimeSettings(deployed, { topics: { orders: { retentionDays: 30 } } });
    if (!raised.ok) throw new Error(raised.problems.join("; "));
    const store = new MemoryTaskStore();
    const deps = {
      store,
      timerQueue: new FakeTimerQueue(),
      scheduler: new FakeScheduler(),
      config: raised.config,
      now: () => NOW,
      newUlid: monotonicFactory(),
    };
    const putNew = store.putNew.bind(store);
    store.putNew = async (task, options) => {
      if (task.parentTaskId !== undefined) throw new Error("copy write failed");
      return putNew(task, options);
    };
    const body = {
      topic: "orders",
      delay_seconds: 10,
      idempotency_key: "k-get-settings",
      content: { order_id: "o-1" },
    };
    await addTask(deps, { body }).catch(() => undefined);
    store.putNew = putNew;
    const parentId = [...store.tasks.values()].find((t) => t.fanOut)?.taskId as string;
    const later = NOW + 10_000 + 3 * DAY_MS;
    const handler = getTaskFunction.createHandler({
      store,
      config: deployed,
      now: () => later,
      logger: silentLogger(),
      settings: new StaticTopicSettings(raised.config),
    });

    // Act
    const answer = (await handler(getEvent(parentId), context)) as APIGatewayProxyStructuredResultV2;

    // Assess: the task as it is (its copies still to be written), as DELETE reads it under the same settings
    expect(answer.statusCode, answer.body).toBe(200);
    expect(JSON.parse(String(answer.body))).toMatchObject({
      task_id: parentId,
      status: "scheduled",
      subscribers: [{ status: "missing" }, { status: "missing" }],
    });
    const cancelled = await cancelTask({ ...deps, now: () => later }, parentId);
    expect(cancelled.status).toBe("cancelled");
  });
  it("reads the settings only for a fan-out task: a plain task's GET never waits on them", async () => {
    // Prepare: a plain task, and a settings source that never answers
    const store = new MemoryTaskStore();
    const config = parseConfig({
      name: "test",
      system: { allowedCallbackHosts: ["*"] },
      topics: { demo: {} },
    });
    const deps = {
      store,
      timerQueue: new FakeTimerQueue(),
      scheduler: new FakeScheduler(),
      config,
      now: () => NOW,
      newUlid: monotonicFactory(),
    };
    const added = await addTask(deps, {
      body: {
        topic: "demo",
        delay_seconds: 10,
        content: {},
        callback: { url: "https://hooks.example.com/n" },
      },
    });
    const handler = getTaskFunction.createHandler({
      store,
      config,
      now: () => NOW,
      logger: silentLogger(),
      settings: { current: () => new Promise(() => undefined) },
    });

    // Act
    const answer = (await handler(
      getEvent(added.body.task_id),
      context,
    )) as APIGatewayProxyStructuredResultV2;

    // Assess
    expect(answer.statusCode, answer.body).toBe(200);
    expect(JSON.parse(String(answer.body))).toMatchObject({
      task_id: added.body.task_id,
      status: "scheduled",
    });
  });
});
