import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { describe, expect, it, vi } from "vitest";
import { StaticTopicSettings } from "#shared/adapters/topic-settings.js";
import { encodeCursor } from "#shared/api/cursor.js";
import { parseConfig } from "#shared/config/index.js";
import { addTask } from "#shared/services/add-task.js";
import { listTasks } from "#shared/services/list-tasks.js";
import { refusal } from "../../support/refusal.js";
import { fixture, NOW, silentLogger, testConfig } from "./fakes.js";

async function addGroup(f: ReturnType<typeof fixture>, order: string, delays: number[]): Promise<string[]> {
  const ids: string[] = [];
  for (const delay of delays) {
    const { body } = await addTask(f.deps, {
      body: {
        topic: "demo",
        delay_seconds: delay,
        content: { order_id: order },
        callback: { url: "https://hooks.example.com/n" },
      },
    });
    ids.push(body.task_id);
  }
  return ids;
}

describe("listTasks: a group", () => {
  it("answers the group's task views in delivery order, in pages joined by next_cursor", async () => {
    const f = fixture();
    const order = `o-${NOW}`;
    const ids = await addGroup(f, order, [30, 10, 20]);
    await addGroup(f, `${order}-other`, [5]);

    const first = await listTasks(f.deps, { topic: "demo", group: order, limit: "2" });
    const second = await listTasks(f.deps, {
      topic: "demo",
      group: order,
      limit: "2",
      cursor: first.next_cursor ?? "",
    });

    expect(first.tasks.map((t) => t.task_id)).toEqual([ids[1], ids[2]]);
    expect(first.tasks[0]).toMatchObject({ status: "scheduled", group: order });
    expect(second).toEqual({ tasks: [expect.objectContaining({ task_id: ids[0] })], next_cursor: null });
  });

  it("reads a cursor it gave out before its cursors were marked as the list's (the key alone) as the next page", async () => {
    // Prepare
    const f = fixture();
    const ids = await addGroup(f, "o-marked", [10, 20]);
    const first = await listTasks(f.deps, { topic: "demo", group: "o-marked", limit: "1" });
    const { of: mark, ...key } = JSON.parse(Buffer.from(first.next_cursor ?? "", "base64url").toString());

    // Act
    const second = await listTasks(f.deps, {
      topic: "demo",
      group: "o-marked",
      cursor: encodeCursor(key) ?? "",
    });

    // Assess
    expect(mark).toBe("list");
    expect(second).toEqual({ tasks: [expect.objectContaining({ task_id: ids[1] })], next_cursor: null });
  });

  it("answers an empty list for a group value no task carries", async () => {
    const f = fixture();
    expect(await listTasks(f.deps, { topic: "demo", group: "nobody" })).toEqual({
      tasks: [],
      next_cursor: null,
    });
  });
});

describe("listTasks: a group whose deliverBy value is the empty string", () => {
  // An add takes `"order_id": ""` as a group value (not a task of its own: only an absent or null field is), its
  // view shows `group: ""`, and every such task of the topic is one ordering group: `group=` lists it.
  it('lists the tasks whose deliverBy value is "" as group=, and only them', async () => {
    const f = fixture();
    const ids = await addGroup(f, "", [20, 10]);
    await addGroup(f, `o-${NOW}`, [5]);

    const list = await listTasks(f.deps, { topic: "demo", group: "" });

    expect(list.tasks.map((t) => [t.task_id, t.group])).toEqual([
      [ids[1], ""],
      [ids[0], ""],
    ]);
    expect(list.next_cursor).toBeNull();
  });
});

describe("listTasks: a group whose deliverBy value is a number or a boolean (docs/API.md, the list's group)", () => {
  // The value orders by what it is, not how it is spelt: `1.0`, `1` and `"1"` are one group, listed as `group=1`
  // (the form a task view's `group` shows), never as `group=1.0`; an integer past 2^53 is listed as written.
  it.each([
    ["1.0", "1", "1.0"],
    ["1E5", "100000", "1E5"],
    ["true", "true", "True"],
    ["12345678901234567890", "12345678901234567890", "12345678901234567000"],
  ])("content order_id %s is listed as group=%s, not %s", async (written, listed, notListed) => {
    const f = fixture();
    const { body } = await addTask(f.deps, {
      body: {
        topic: "demo",
        delay_seconds: 10,
        content: `{"order_id":${written}}`,
        callback: { url: "https://hooks.example.com/n" },
      },
    });

    const found = await listTasks(f.deps, { topic: "demo", group: listed });
    const none = await listTasks(f.deps, { topic: "demo", group: notListed });

    expect(found.tasks.map((t) => [t.task_id, t.group])).toEqual([[body.task_id, listed]]);
    expect(none.tasks).toEqual([]);
  });
});

describe("listTasks: refusals (400, nothing read)", () => {
  it.each([
    ["no topic", { group: "g" }, "validation_failed", "topic"],
    ["neither group nor status", { topic: "demo" }, "validation_failed", "group"],
    ["both group and status", { topic: "demo", group: "g", status: "failed" }, "validation_failed", "group"],
    ["another status", { topic: "demo", status: "delivered" }, "validation_failed", "status"],
    ["limit 0", { topic: "demo", group: "g", limit: "0" }, "validation_failed", "limit"],
    ["limit 101", { topic: "demo", group: "g", limit: "101" }, "validation_failed", "limit"],
    ["limit not a number", { topic: "demo", group: "g", limit: "ten" }, "validation_failed", "limit"],
    ["limit fractional", { topic: "demo", group: "g", limit: "2.5" }, "validation_failed", "limit"],
    ["an unknown parameter", { topic: "demo", group: "g", sort: "desc" }, "validation_failed", "sort"],
    ["an unknown topic", { topic: "nope", status: "failed" }, "unknown_topic", "topic"],
  ])("%s", async (_name, query, code, path) => {
    const f = fixture();
    const error = await refusal(listTasks(f.deps, query));
    expect(error.status).toBe(400);
    expect(error.code).toBe(code);
    expect(error.issues?.map((i) => i.path)).toContain(path);
  });

  it.each(["0x10", "1e2", " 5", "5 ", "+5", "05", "-0", "1_0"])(
    "limit %j: not plain decimal digits, a 400 naming it",
    async (limit) => {
      const f = fixture();
      const error = await refusal(listTasks(f.deps, { topic: "demo", group: "g", limit }));
      expect(error).toMatchObject({ status: 400, code: "validation_failed" });
      expect(error.issues).toEqual([
        { path: "limit", message: expect.stringContaining("plain decimal digits") },
      ]);
    },
  );

  it.each([
    ["not base64url", "%%%"],
    ["not JSON", Buffer.from("{pk:").toString("base64url")],
    ["another group's key", encodeCursor({ pk: "demo#AAAAAAAAAAAAAAAA", sk: "1#x" })],
    ["an extra attribute", null],
    ["a sort key past DynamoDB's 1,024 bytes", "oversize"],
    [
      "a failed-list key for a group list",
      encodeCursor({ pk: "p", sk: "s", failedTopic: "demo", failedAtMs: 1 }),
    ],
  ])("a forged cursor: %s", async (_name, cursor) => {
    const f = fixture();
    const [id] = await addGroup(f, "o-1", [10, 20]);
    const pk = f.store.keyOf(id ?? "")?.pk ?? "";
    const forged =
      cursor === "oversize"
        ? encodeCursor({ pk, sk: "9".repeat(1_050) })
        : (cursor ?? encodeCursor({ pk, sk: "1#x", extra: "y" }));
    const error = await refusal(listTasks(f.deps, { topic: "demo", group: "o-1", cursor: forged ?? "" }));
    expect(error.status).toBe(400);
    expect(error.issues).toEqual([{ path: "cursor", message: "not a cursor this list gave out" }]);
  });

  it("a failed-list cursor of another topic", async () => {
    const f = fixture();
    const cursor = encodeCursor({ pk: "small#_X", sk: "1#x", failedTopic: "small", failedAtMs: 1 }) ?? "";
    const error = await refusal(listTasks(f.deps, { topic: "demo", status: "failed", cursor }));
    expect(error.status).toBe(400);
  });
});

describe("listTasks: failed", () => {
  it("answers the topic's dead-lettered tasks, newest first", async () => {
    const f = fixture();
    const ids = await addGroup(f, "o-2", [0, 0]);
    for (const [i, id] of ids.entries()) {
      await f.store.startAttempt(id, NOW + i);
      await f.store.markFailed(id, { error: "HTTP 500", atMs: NOW + 10 * (i + 1), expiresAt: 1 });
    }
    const list = await listTasks(f.deps, { topic: "demo", status: "failed" });
    expect(list.tasks.map((t) => [t.task_id, t.status])).toEqual([
      [ids[1], "failed"],
      [ids[0], "failed"],
    ]);
    expect(list.next_cursor).toBeNull();
  });
});

describe("the list-tasks handler: topic settings without a deploy", () => {
  it("lists a subscriber's lane of a topic whose subscribers the runtime settings added (no 400 not_fan_out)", async () => {
    vi.stubEnv("PUNCTUAL_ENV", "local");
    vi.stubEnv("TABLE_NAME", "punctual-local-tasks");
    vi.stubEnv("AWS_REGION", "us-east-1");
    const { createHandler } = await import("#functions/list-tasks.js");
    vi.unstubAllEnvs();
    const deployed = testConfig();
    const current = parseConfig({
      name: "test",
      system: { allowedCallbackHosts: ["*"] },
      topics: {
        demo: {
          deliverBy: "order_id",
          subscribers: [
            { id: "billing", url: "https://billing.example.com/h" },
            { id: "audit", url: "https://audit.example.com/h" },
          ],
        },
      },
    });
    const handler = createHandler({
      store: fixture().store,
      config: deployed,
      now: () => NOW,
      settings: new StaticTopicSettings(current),
      logger: silentLogger(),
    });
    const query = { topic: "demo", group: "o-1", subscriber: "audit" };
    const event = {
      version: "2.0",
      routeKey: "GET /v1/tasks",
      rawPath: "/v1/tasks",
      rawQueryString: new URLSearchParams(query).toString(),
      queryStringParameters: query,
      headers: {},
      requestContext: { http: { method: "GET", path: "/v1/tasks" }, requestId: "r-1" },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    const context = { awsRequestId: "r-1", getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

    const out = (await handler(event, context)) as APIGatewayProxyStructuredResultV2;

    expect(JSON.parse(String(out.body))).toEqual({ tasks: [], next_cursor: null });
    expect(out.statusCode).toBe(200);
  });
});
