import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { StaticTopicSettings } from "#shared/adapters/topic-settings.js";
import { addTask } from "#shared/services/add-task.js";
import { fixture, NOW, silentLogger } from "./fakes.js";

/**
 * The group cancel function reads the runtime topic settings like the single cancel does: a cancelled task's
 * retention is the topic's current `retentionDays` (docs/OPERATIONS.md "Topic settings without a deploy"), not the deployed one.
 */
let cancelGroupFunction: typeof import("#functions/cancel-group.js");

beforeAll(async () => {
  for (const [name, value] of Object.entries({
    PUNCTUAL_ENV: "local",
    TABLE_NAME: "punctual-local-tasks",
    SCHEDULE_GROUP_NAME: "punctual-local",
    AWS_REGION: "us-east-1",
    POWERTOOLS_LOG_LEVEL: "SILENT",
  })) {
    vi.stubEnv(name, value);
  }
  cancelGroupFunction = await import("#functions/cancel-group.js");
  vi.unstubAllEnvs();
});

afterEach(() => vi.unstubAllEnvs());

const context = {
  functionName: "cancel-group",
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

function cancelEvent(topic: string, value: string): APIGatewayProxyEventV2 {
  const path = `/v1/topics/${topic}/groups/${value}/cancel`;
  return {
    version: "2.0",
    routeKey: "POST /v1/topics/{topic}/groups/{value}/cancel",
    rawPath: path,
    rawQueryString: "",
    headers: {},
    pathParameters: { topic, value },
    requestContext: {
      http: { method: "POST", path, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "vitest" },
      requestId: "r-1",
    },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

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
