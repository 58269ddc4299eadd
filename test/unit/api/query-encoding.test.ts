import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import { addTask } from "#shared/services/add-task.js";
import { apiEvent } from "../../support/api-event.js";
import { API_FUNCTION_ENV, importWithEnv } from "../../support/function-env.js";
import { fixture, silentLogger } from "./fakes.js";

/**
 * A query value whose percent-encoding is not UTF-8 (`caf%E9`: a Latin-1 client's `café`). The URL standard's
 * reading, which the local API server's `queryStringParameters` follow (URLSearchParams), makes each such byte
 * U+FFFD: the route would list or cancel the group `caf\uFFFD`, which no task has, and answer as if the group were
 * empty or clear, while the same value in the path matches no route (404). The event below is the local server's.
 */
let cancelGroupFunction: typeof import("#functions/cancel-group.js");
let listTasksFunction: typeof import("#functions/list-tasks.js");

beforeAll(async () => {
  cancelGroupFunction = await importWithEnv(API_FUNCTION_ENV, () => import("#functions/cancel-group.js"));
  listTasksFunction = await importWithEnv(API_FUNCTION_ENV, () => import("#functions/list-tasks.js"));
});

const context = { functionName: "query", getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

/** The route's event with this raw query, its parameters read as the local API server reads them. */
function withQuery(event: APIGatewayProxyEventV2, rawQueryString: string): APIGatewayProxyEventV2 {
  const queryStringParameters = Object.fromEntries(new URLSearchParams(rawQueryString));
  return { ...event, rawQueryString, queryStringParameters };
}

async function world() {
  const f = fixture();
  const added = await addTask(f.deps, {
    body: {
      topic: "demo",
      delay_seconds: 60,
      content: { order_id: "café" },
      callback: { url: "https://hooks.example.com/n" },
    },
  });
  const deps = { ...f.deps, logger: silentLogger() };
  return { f, taskId: added.body.task_id, deps };
}

const cancelOf = (rawQuery: string) =>
  withQuery(
    apiEvent("POST /v1/topics/{topic}/groups/{value}/cancel", {
      pathParameters: { topic: "demo", value: "-" },
    }),
    rawQuery,
  );
const listOf = (rawQuery: string) => withQuery(apiEvent("GET /v1/tasks"), rawQuery);

describe("a query parameter whose percent-encoding is not UTF-8", () => {
  it.each([
    ["a Latin-1 byte", "group=caf%E9", "group"],
    ["an encoded lone surrogate", "group=%ED%A0%80", "group"],
    ["a sequence cut short", "group=caf%C3", "group"],
    ["a key", "gro%FFup=caf%C3%A9", "gro\uFFFDup"],
  ])(
    "cancelling a group: %s is a 400 naming the parameter, nothing cancelled",
    async (_what, query, path) => {
      // Prepare
      const w = await world();
      const handler = cancelGroupFunction.createHandler(w.deps);

      // Act
      const answer = (await handler(cancelOf(query), context)) as APIGatewayProxyStructuredResultV2;

      // Assess
      expect(answer.statusCode, answer.body).toBe(400);
      const error = JSON.parse(answer.body ?? "").error;
      expect(error.code).toBe("validation_failed");
      expect(error.issues).toEqual([{ path, message: expect.stringMatching(/UTF-8/) }]);
      expect((await w.f.store.get(w.taskId))?.status).toBe("scheduled");
    },
  );

  it("listing a group: `caf%E9` is a 400 naming `group`, not the empty list of the group caf\\uFFFD", async () => {
    // Prepare
    const w = await world();
    const handler = listTasksFunction.createHandler(w.deps);

    // Act
    const answer = (await handler(
      listOf("topic=demo&group=caf%E9"),
      context,
    )) as APIGatewayProxyStructuredResultV2;

    // Assess
    expect(answer.statusCode, answer.body).toBe(400);
    expect(JSON.parse(answer.body ?? "").error.issues).toEqual([
      { path: "group", message: expect.stringMatching(/UTF-8/) },
    ]);
  });

  it("UTF-8's `caf%C3%A9` (and a `%` that encodes nothing, kept as itself) names the group café as before", async () => {
    // Prepare
    const w = await world();

    // Act
    const listed = (await listTasksFunction.createHandler(w.deps)(
      listOf("topic=demo&group=caf%C3%A9"),
      context,
    )) as APIGatewayProxyStructuredResultV2;
    const percent = (await listTasksFunction.createHandler(w.deps)(
      listOf("topic=demo&group=100%"),
      context,
    )) as APIGatewayProxyStructuredResultV2;
    const cancelled = (await cancelGroupFunction.createHandler(w.deps)(
      cancelOf("group=caf%C3%A9"),
      context,
    )) as APIGatewayProxyStructuredResultV2;

    // Assess
    expect(JSON.parse(listed.body ?? "").tasks.map((t: { task_id: string }) => t.task_id)).toEqual([
      w.taskId,
    ]);
    expect(percent.statusCode, percent.body).toBe(200);
    expect(JSON.parse(cancelled.body ?? "")).toMatchObject({ cancelled: 1 });
  });
});

describe("a path whose percent-encoding is not UTF-8", () => {
  it("cancelling the group `caf%E9` is a 404, as the local API server answers it, even where the path parameter arrives read as U+FFFD", async () => {
    // Prepare: a group that really is `caf\uFFFD`, which a reading of `%E9` as U+FFFD would name (API Gateway
    // documents no reading of such a path; the local server matches no route with it)
    const w = await world();
    const other = await addTask(w.f.deps, {
      body: {
        topic: "demo",
        delay_seconds: 60,
        content: { order_id: "caf\uFFFD" },
        callback: { url: "https://hooks.example.com/n" },
      },
    });
    const event = apiEvent("POST /v1/topics/{topic}/groups/{value}/cancel", {
      pathParameters: { topic: "demo", value: "caf\uFFFD" },
    });
    const sent = { ...event, rawPath: "/v1/topics/demo/groups/caf%E9/cancel" };

    // Act
    const answer = (await cancelGroupFunction.createHandler(w.deps)(
      sent,
      context,
    )) as APIGatewayProxyStructuredResultV2;

    // Assess
    expect(answer.statusCode, answer.body).toBe(404);
    expect(JSON.parse(answer.body ?? "").error.code).toBe("not_found");
    expect((await w.f.store.get(other.body.task_id))?.status).toBe("scheduled");
    expect((await w.f.store.get(w.taskId))?.status).toBe("scheduled");
  });

  /**
   * A group whose name holds a `%` and two hex digits (`caf%E9`, written so: a value that was URL-encoded once
   * already) is sent as `caf%25E9`. API Gateway's HTTP API hands the function that path decoded, in `rawPath` as in
   * `pathParameters`, so `rawPath` holds `caf%E9` as text; the local API server hands it as sent.
   */
  it.each([
    ["as API Gateway passes it (rawPath decoded)", "/v1/topics/demo/groups/caf%E9/cancel"],
    ["as the local API server passes it (rawPath as sent)", "/v1/topics/demo/groups/caf%25E9/cancel"],
  ])(
    "cancelling a group whose name holds a percent sign and two hex digits as text, %s, cancels it",
    async (_how, rawPath) => {
      // Prepare
      const w = await world();
      const named = await addTask(w.f.deps, {
        body: {
          topic: "demo",
          delay_seconds: 60,
          content: { order_id: "caf%E9" },
          callback: { url: "https://hooks.example.com/n" },
        },
      });
      const event = apiEvent("POST /v1/topics/{topic}/groups/{value}/cancel", {
        pathParameters: { topic: "demo", value: "caf%E9" },
      });

      // Act
      const answer = (await cancelGroupFunction.createHandler(w.deps)(
        { ...event, rawPath },
        context,
      )) as APIGatewayProxyStructuredResultV2;

      // Assess
      expect(answer.statusCode, answer.body).toBe(200);
      expect(JSON.parse(answer.body ?? "")).toMatchObject({ cancelled: 1 });
      expect((await w.f.store.get(named.body.task_id))?.status).toBe("cancelled");
      expect((await w.f.store.get(w.taskId))?.status).toBe("scheduled");
    },
  );
});
