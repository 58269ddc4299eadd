import type { APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { StaticTopicSettings } from "#shared/adapters/topic-settings.js";
import { addTask } from "#shared/services/add-task.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { apiEvent } from "../../support/api-event.js";
import { API_FUNCTION_ENV, importWithEnv } from "../../support/function-env.js";
import { fixture, NOW, silentLogger } from "./fakes.js";
import { DAY_MS, parentWithoutCopies, raisedRetention } from "./runtime-retention.js";

/**
 * GET /v1/tasks/{id} decides from the topic's retention whether a fan-out task whose copies are all missing
 * completed and expired (404) or is still to have them written (its view): it must read the same settings as
 * DELETE, the list and the add (the runtime document, docs/OPERATIONS.md "Topic settings without a deploy").
 */
let getTaskFunction: typeof import("#functions/get-task.js");

beforeAll(async () => {
  getTaskFunction = await importWithEnv(API_FUNCTION_ENV, () => import("#functions/get-task.js"));
});

afterEach(() => vi.unstubAllEnvs());

const context = { functionName: "get-task", getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

const getEvent = (id: string) => apiEvent("GET /v1/tasks/{id}", { pathParameters: { id } });

describe("GET /v1/tasks/{id} with runtime topic settings", () => {
  it("answers a fan-out task whose copies are not written yet as DELETE does when the runtime retention is longer than the deployed one, not 404 'completed and expired'", async () => {
    // Prepare: deployed with a 1-day retention, raised to 30 days by the runtime document. A keyed add (under the
    // runtime settings) wrote its parent but none of its copies (503 "retry with the same key"); 3 days after the
    // due time a retry would still write and deliver them.
    const f = raisedRetention();
    const parentId = await parentWithoutCopies(f, "k-get-settings");
    const later = NOW + 10_000 + 3 * DAY_MS;
    const handler = getTaskFunction.createHandler({
      store: f.store,
      config: f.deployed,
      now: () => later,
      logger: silentLogger(),
      settings: new StaticTopicSettings(f.runtime),
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
    const cancelled = await cancelTask({ ...f.addDeps, now: () => later }, parentId);
    expect(cancelled.status).toBe("cancelled");
  });
  it("reads the settings only for a fan-out task: a plain task's GET never waits on them", async () => {
    // Prepare: a plain task, and a settings source that never answers
    const f = fixture();
    const added = await addTask(f.deps, {
      body: {
        topic: "demo",
        delay_seconds: 10,
        content: {},
        callback: { url: "https://hooks.example.com/n" },
      },
    });
    const handler = getTaskFunction.createHandler({
      store: f.store,
      config: f.config,
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
