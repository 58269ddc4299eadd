import {
  GetEventSourceMappingCommand,
  type LambdaClient,
  ResourceInUseException,
  TooManyRequestsException,
} from "@aws-sdk/client-lambda";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { StaticTopicSettings } from "#shared/adapters/topic-settings.js";
import { LambdaTopicSwitch } from "#shared/adapters/topic-switch.js";
import { SWEEP_SHARDS, sweepShardOf } from "#shared/domain/sweep.js";
import { TOPIC_READ_CONCURRENCY } from "#shared/services/topics.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueueStats, FakeTopicSwitch, topicMapping } from "../../support/fakes/topic-switch.js";
import { API_FUNCTION_ENV, importWithEnv } from "../../support/function-env.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { NOW, silentLogger, testConfig } from "./fakes.js";

/**
 * The topic handlers (pause-topic, resume-topic, get-topic, list-topics) through their `createHandler` with the
 * ports faked: path validation, the structured 404, and what each route reads or changes.
 */
type Modules = {
  pause: typeof import("#functions/pause-topic.js");
  resume: typeof import("#functions/resume-topic.js");
  get: typeof import("#functions/get-topic.js");
  list: typeof import("#functions/list-topics.js");
};
let fns: Modules;

beforeAll(async () => {
  // The modules read these at import (cold start); the handlers under test get their ports from createHandler.
  const topology = { topicMappings: { demo: topicMapping("demo") } };
  fns = await importWithEnv(
    { ...API_FUNCTION_ENV, PUNCTUAL_TOPOLOGY: JSON.stringify(topology) },
    async () => ({
      pause: await import("#functions/pause-topic.js"),
      resume: await import("#functions/resume-topic.js"),
      get: await import("#functions/get-topic.js"),
      list: await import("#functions/list-topics.js"),
    }),
  );
});

afterEach(() => vi.unstubAllEnvs());

const context = {
  functionName: "punctual-test",
  awsRequestId: "req-1",
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

function event(
  method: string,
  path: string,
  topic?: string,
  query?: Record<string, string>,
): APIGatewayProxyEventV2 {
  const routeKey = `${method} ${path.replace(topic ?? "\0", "{topic}")}`;
  return {
    version: "2.0",
    routeKey,
    rawPath: path,
    rawQueryString: new URLSearchParams(query ?? {}).toString(),
    ...(query ? { queryStringParameters: query } : {}),
    headers: {},
    ...(topic !== undefined ? { pathParameters: { topic } } : {}),
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: "localhost",
      domainPrefix: "local",
      http: { method, path, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "vitest" },
      requestId: "r-1",
      routeKey,
      stage: "$default",
      time: new Date(NOW).toISOString(),
      timeEpoch: NOW,
    },
    isBase64Encoded: false,
  };
}

function deps() {
  const config = testConfig();
  const mappings = Object.fromEntries(Object.keys(config.resolvedTopics).map((t) => [t, topicMapping(t)]));
  const store = new MemoryTaskStore();
  const topicSwitch = new FakeTopicSwitch();
  const queues = new FakeTopicQueueStats();
  const listed: number[] = [];
  const countingStore = {
    listUnfinishedDueBy: (shard: number, dueByMs: number, limit: number) => {
      listed.push(shard);
      return store.listUnfinishedDueBy(shard, dueByMs, limit);
    },
  };
  return {
    store,
    topicSwitch,
    queues,
    listed,
    mappings,
    deps: {
      config,
      mappings,
      topicSwitch,
      queues,
      store: countingStore,
      now: () => NOW,
      logger: silentLogger(),
    },
  };
}

async function call(
  handler: (e: APIGatewayProxyEventV2, c: Context) => Promise<unknown>,
  e: APIGatewayProxyEventV2,
): Promise<{ statusCode: number; body: Record<string, unknown> }> {
  const out = (await handler(e, context)) as APIGatewayProxyStructuredResultV2;
  return { statusCode: out.statusCode ?? 0, body: JSON.parse(String(out.body)) };
}

const BAD_TOPICS = ["no-such-topic", "NOT_A_TOPIC", "demo/../x", "a".repeat(200), " demo"];

describe("POST /v1/topics/{topic}/pause and /resume", () => {
  it("disable and enable exactly the topic's deliver mapping, answering the state asked for", async () => {
    const f = deps();
    const pause = fns.pause.createHandler(f.deps);
    const resume = fns.resume.createHandler(f.deps);

    const paused = await call(pause, event("POST", "/v1/topics/demo/pause", "demo"));
    const pausedAgain = await call(pause, event("POST", "/v1/topics/demo/pause", "demo"));
    const resumed = await call(resume, event("POST", "/v1/topics/demo/resume", "demo"));

    expect(paused).toEqual({ statusCode: 200, body: { topic: "demo", paused: true } });
    expect(pausedAgain).toEqual({ statusCode: 200, body: { topic: "demo", paused: true } });
    expect(resumed).toEqual({ statusCode: 200, body: { topic: "demo", paused: false } });
    const uuid = f.mappings.demo?.mappingUuid;
    expect(f.topicSwitch.changes).toEqual([
      { mappingUuid: uuid, paused: true },
      { mappingUuid: uuid, paused: true },
      { mappingUuid: uuid, paused: false },
    ]);
  });

  it("answer 400 for a query parameter (a pause of one group is not a thing) and switch nothing", async () => {
    const f = deps();
    const query = { group: "A-1001" };

    const pause = await call(
      fns.pause.createHandler(f.deps),
      event("POST", "/v1/topics/demo/pause", "demo", query),
    );
    const resume = await call(
      fns.resume.createHandler(f.deps),
      event("POST", "/v1/topics/demo/resume", "demo", query),
    );

    for (const out of [pause, resume]) {
      expect(out.statusCode).toBe(400);
      expect(out.body).toMatchObject({
        error: { code: "validation_failed", issues: [{ path: "group", message: "unknown parameter" }] },
      });
    }
    expect(f.topicSwitch.changes).toEqual([]);
  });

  it("resume answers 409 naming the settings document while it holds the topic paused, and switches nothing", async () => {
    const f = deps();
    const deployed = f.deps.config;
    const demo = deployed.resolvedTopics.demo;
    if (!demo) throw new Error("the test config declares demo");
    // The runtime settings document (AppConfig) says `paused: true`: the next sweep would pause it again.
    const held = {
      ...deployed,
      resolvedTopics: { ...deployed.resolvedTopics, demo: { ...demo, paused: true } },
    };
    f.topicSwitch.paused.set(String(f.mappings.demo?.mappingUuid), true);

    const out = await call(
      fns.resume.createHandler({ ...f.deps, settings: new StaticTopicSettings(held) }),
      event("POST", "/v1/topics/demo/resume", "demo"),
    );

    expect(out.statusCode).toBe(409);
    expect(out.body).toEqual({
      error: {
        code: "conflict",
        message: expect.stringMatching(/runtime settings document.*paused: true/),
        reason: "paused_by_settings",
      },
    });
    expect(f.topicSwitch.changes).toEqual([]);
  });

  it("resume's 409 says how long an edit of the settings document takes to reach it (an operator who just set false)", async () => {
    const f = deps();
    const deployed = f.deps.config;
    const demo = deployed.resolvedTopics.demo;
    if (!demo) throw new Error("the test config declares demo");
    // The operator has just set `paused: false`; this function's copy (a rollout step behind, or cached) says true.
    const stale = {
      ...deployed,
      resolvedTopics: { ...deployed.resolvedTopics, demo: { ...demo, paused: true } },
    };

    const out = await call(
      fns.resume.createHandler({
        ...f.deps,
        settings: new StaticTopicSettings(stale),
        settingsPropagationSeconds: 166,
      }),
      event("POST", "/v1/topics/demo/resume", "demo"),
    );

    expect(out.statusCode).toBe(409);
    expect(out.body).toMatchObject({
      error: { reason: "paused_by_settings", message: expect.stringMatching(/up to 166 s/) },
    });
    expect(f.topicSwitch.changes).toEqual([]);
  });

  it("answer a mapping still being updated (Lambda's ResourceInUseException) as a 503 with Retry-After", async () => {
    const f = deps();
    const inUse = new ResourceInUseException({ message: "The resource is in use", $metadata: {} });
    const lambda = { send: () => Promise.reject(inUse) } as unknown as LambdaClient;
    const topicSwitch = new LambdaTopicSwitch(lambda);

    for (const [handler, path] of [
      [fns.pause.createHandler({ ...f.deps, topicSwitch }), "/v1/topics/demo/pause"],
      [fns.resume.createHandler({ ...f.deps, topicSwitch }), "/v1/topics/demo/resume"],
    ] as const) {
      const out = (await handler(event("POST", path, "demo"), context)) as APIGatewayProxyStructuredResultV2;

      expect(out.statusCode, path).toBe(503);
      expect(out.headers?.["retry-after"], path).toBe("5");
      expect(JSON.parse(String(out.body)), path).toEqual({
        error: { code: "service_unavailable", message: expect.stringContaining("still being updated") },
      });
    }
  });

  it("answer 200 to a pause or resume refused only because the mapping is already going where it asks (two operators, a double click)", async () => {
    const f = deps();
    const inUse = new ResourceInUseException({ message: "The resource is in use", $metadata: {} });
    // Lambda refuses any update while the previous one is applied; the mapping reads Disabling, then Enabling.
    const lambdaIn = (state: string) =>
      ({
        send: (command: unknown) =>
          command instanceof GetEventSourceMappingCommand
            ? Promise.resolve({ State: state })
            : Promise.reject(inUse),
      }) as unknown as LambdaClient;
    const handlers = (state: string) => {
      const topicSwitch = new LambdaTopicSwitch(lambdaIn(state));
      return {
        pause: fns.pause.createHandler({ ...f.deps, topicSwitch }),
        resume: fns.resume.createHandler({ ...f.deps, topicSwitch }),
      };
    };
    const pausePath = event("POST", "/v1/topics/demo/pause", "demo");
    const resumePath = event("POST", "/v1/topics/demo/resume", "demo");

    const disabling = handlers("Disabling");
    const enabling = handlers("Enabling");

    expect(await call(disabling.pause, pausePath)).toEqual({
      statusCode: 200,
      body: { topic: "demo", paused: true },
    });
    expect((await call(disabling.resume, resumePath)).statusCode).toBe(503);
    expect(await call(enabling.resume, resumePath)).toEqual({
      statusCode: 200,
      body: { topic: "demo", paused: false },
    });
    expect((await call(enabling.pause, pausePath)).statusCode).toBe(503);
  });

  it.each(BAD_TOPICS)("answer 404 not_found for topic %j and switch nothing", async (topic) => {
    const f = deps();

    const pause = await call(fns.pause.createHandler(f.deps), event("POST", `/v1/topics/x/pause`, topic));
    const resume = await call(fns.resume.createHandler(f.deps), event("POST", `/v1/topics/x/resume`, topic));

    for (const out of [pause, resume]) {
      expect(out.statusCode).toBe(404);
      expect(out.body).toEqual({
        error: { code: "not_found", message: expect.stringContaining("no such topic") },
      });
    }
    expect(f.topicSwitch.changes).toEqual([]);
  });
});

describe("GET /v1/topics/{topic} and GET /v1/topics", () => {
  it("shows settings, paused, backlog and dead letters; an empty queue reads no index", async () => {
    const f = deps();
    f.topicSwitch.paused.set(String(f.mappings.demo?.mappingUuid), true);
    f.queues.depthsByQueue.set(String(f.mappings.demo?.queueUrl), {
      visible: 0,
      inFlight: 0,
      deadLettered: 4,
    });

    const out = await call(fns.get.createHandler(f.deps), event("GET", "/v1/topics/demo", "demo"));

    expect(out).toEqual({
      statusCode: 200,
      body: {
        topic: "demo",
        paused: true,
        settings: expect.objectContaining({ name: "demo", deliverBy: "order_id" }),
        backlog: { waiting: 0, in_flight: 0 },
        oldest_age_seconds: null,
        dead_letter_count: 4,
      },
    });
    expect(f.listed).toEqual([]);
  });

  it("with a backlog, reads each sweep shard once and answers the oldest due age of this topic's tasks", async () => {
    const f = deps();
    f.queues.depthsByQueue.set(String(f.mappings.demo?.queueUrl), {
      visible: 2,
      inFlight: 1,
      deadLettered: 0,
    });
    const oldest = makeTask({
      group: "g-1",
      dueAtMs: NOW - 90_000,
      acceptedAtMs: NOW - 100_000,
      status: "queued",
    });
    const newer = makeTask({
      group: "g-2",
      dueAtMs: NOW - 5_000,
      acceptedAtMs: NOW - 10_000,
      status: "queued",
    });
    const otherTopic = makeTask({
      topic: "small",
      dueAtMs: NOW - 500_000,
      acceptedAtMs: NOW - 600_000,
      status: "queued",
    });
    for (const task of [oldest, newer, otherTopic]) {
      await f.store.putNew({ ...task, sweepShard: sweepShardOf(task.taskId) });
    }

    const out = await call(fns.get.createHandler(f.deps), event("GET", "/v1/topics/demo", "demo"));

    expect(out.statusCode).toBe(200);
    expect(out.body).toMatchObject({ backlog: { waiting: 2, in_flight: 1 }, oldest_age_seconds: 90 });
    expect([...f.listed].sort((a, b) => a - b)).toEqual(Array.from({ length: SWEEP_SHARDS }, (_, i) => i));
  });

  it.each(BAD_TOPICS)("answers 404 not_found for topic %j and reads nothing", async (topic) => {
    const f = deps();

    const out = await call(fns.get.createHandler(f.deps), event("GET", "/v1/topics/x", topic));

    expect(out.statusCode).toBe(404);
    expect(out.body).toEqual({
      error: { code: "not_found", message: expect.stringContaining("no such topic") },
    });
    expect(f.queues.reads).toEqual([]);
  });

  it("lists every topic of the stack in name order", async () => {
    const f = deps();

    const out = await call(fns.list.createHandler(f.deps), event("GET", "/v1/topics"));

    expect(out.statusCode).toBe(200);
    const names = (out.body.topics as { topic: string }[]).map((t) => t.topic);
    expect(names).toEqual(Object.keys(f.mappings).sort());
    expect(f.queues.reads).toHaveLength(names.length);
  });

  it("reads at most a few topics' mappings at once, however many topics the stack has (Lambda's control-plane rate)", async () => {
    // Prepare: far more topics than the bound
    const f = deps();
    const names = Array.from({ length: 40 }, (_, i) => `topic-${String(i).padStart(2, "0")}`);
    const mappings = Object.fromEntries(names.map((name) => [name, topicMapping(name)]));

    // Act
    const out = await call(fns.list.createHandler({ ...f.deps, mappings }), event("GET", "/v1/topics"));

    // Assess: every topic listed, never more than the bound read together
    expect(out.statusCode).toBe(200);
    expect((out.body.topics as { topic: string }[]).map((t) => t.topic)).toEqual(names);
    expect(f.topicSwitch.maxReadsInFlight).toBeGreaterThan(1);
    expect(f.topicSwitch.maxReadsInFlight).toBeLessThanOrEqual(TOPIC_READ_CONCURRENCY);
  });

  it("answers a mapping read Lambda throttled past the SDK's retries as a structured, retryable 503", async () => {
    // Prepare: the error as the SDK throws it (HTTP 429)
    const f = deps();
    f.topicSwitch.readError = new TooManyRequestsException({
      message: "Rate exceeded",
      $metadata: { httpStatusCode: 429, attempts: 3 },
    });

    // Act
    const out = (await fns.list.createHandler(f.deps)(
      event("GET", "/v1/topics"),
      context,
    )) as APIGatewayProxyStructuredResultV2;

    // Assess
    expect(out.statusCode).toBe(503);
    expect(out.headers?.["retry-after"]).toBe("1");
    expect(JSON.parse(String(out.body))).toEqual({
      error: { code: "service_unavailable", message: expect.stringContaining("throttled") },
    });
  });

  it("reads each sweep shard once for the whole list, however many topics have a backlog", async () => {
    const f = deps();
    const names = Object.keys(f.mappings).sort();
    expect(names.length).toBeGreaterThan(1);
    for (const name of names) {
      f.queues.depthsByQueue.set(String(f.mappings[name]?.queueUrl), {
        visible: 1,
        inFlight: 0,
        deadLettered: 0,
      });
      const task = makeTask({
        topic: name,
        dueAtMs: NOW - 60_000,
        acceptedAtMs: NOW - 70_000,
        status: "queued",
      });
      await f.store.putNew({ ...task, sweepShard: sweepShardOf(task.taskId) });
    }

    const out = await call(fns.list.createHandler(f.deps), event("GET", "/v1/topics"));

    expect(out.statusCode).toBe(200);
    // Every topic's oldest task is found in the same scan of the index: one Query per shard, not one per topic.
    expect((out.body.topics as { oldest_age_seconds: number }[]).map((t) => t.oldest_age_seconds)).toEqual(
      names.map(() => 60),
    );
    expect([...f.listed].sort((a, b) => a - b)).toEqual(Array.from({ length: SWEEP_SHARDS }, (_, i) => i));
  });
});
