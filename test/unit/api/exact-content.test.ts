import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { type PunctualConfig, parseConfig } from "#shared/config/index.js";
import { MAX_PAYLOAD_BYTES } from "#shared/config/schema.js";
import { createKeyedTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { API_FUNCTION_ENV, importWithEnv } from "../../support/function-env.js";
import { fixture, NOW, silentLogger } from "./fakes.js";

let addModule: typeof import("#functions/add-task.js");
beforeAll(async () => {
  addModule = await importWithEnv(API_FUNCTION_ENV, () => import("#functions/add-task.js"));
});

const context = {
  functionName: "punctual-test",
  awsRequestId: "req-exact",
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

function postEvent(
  body: string,
  headers: Record<string, string> = {},
  base64 = false,
): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: "POST /v1/tasks",
    rawPath: "/v1/tasks",
    rawQueryString: "",
    headers: { "content-type": "application/json", ...headers },
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: "localhost",
      domainPrefix: "local",
      http: {
        method: "POST",
        path: "/v1/tasks",
        protocol: "HTTP/1.1",
        sourceIp: "127.0.0.1",
        userAgent: "t",
      },
      requestId: "r-exact",
      routeKey: "POST /v1/tasks",
      stage: "$default",
      time: new Date(NOW).toISOString(),
      timeEpoch: NOW,
    },
    body,
    isBase64Encoded: base64,
  };
}

/** The fields these tests read from a 2xx or an error body. */
interface ApiBody {
  readonly task_id: string;
  readonly error: { readonly code: string; readonly issues: readonly { readonly path: string }[] };
}

type Deps = ReturnType<typeof fixture>["deps"];

/** The real handler over the given deps; answers status and parsed body. */
async function post(deps: Deps | Omit<Deps, "store">, body: string, headers?: Record<string, string>) {
  const handler = addModule.createHandler({ ...(deps as Deps), logger: silentLogger() });
  const res = (await handler(postEvent(body, headers), context)) as APIGatewayProxyStructuredResultV2;
  return { status: res.statusCode ?? 0, body: JSON.parse(res.body ?? "{}") as ApiBody };
}

/** A body whose `content` member is the given JSON text, verbatim. */
function bodyWith(contentText: string, extra = ""): string {
  return `{"topic":"demo","delay_seconds":5,"callback":{"url":"https://hooks.example.com/n"}${extra},"content":${contentText}}`;
}

describe("content is stored exactly as sent", () => {
  it.each([
    ["big integers beyond 2^53", '{"long":12345678901234567890,"neg":-98765432109876543210}'],
    ["1e400, -0, 1.0, 1E5, 1e-400", '{"big":1e400,"negz":-0,"one":1.0,"e":1E5,"tiny":1e-400,"x":2.50e+3}'],
    ["nested arrays and objects", '{"a":[1.10,{"b":[-0.0,1e+2]}],"c":{"d":null,"e":true}}'],
  ])("%s", async (_, contentText) => {
    // Prepare
    const f = fixture();
    // Act
    const res = await post(f.deps, bodyWith(contentText));
    // Assess: stored content is the caller's text, token for token.
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(f.store.tasks.get(res.body.task_id)?.content).toBe(contentText);
  });

  it.each([
    [
      "unicode escapes",
      '{"e":"\\u00e9","smile":"\\ud83d\\ude00","lone":"\\ud83d"}',
      '{"e":"é","smile":"😀","lone":"\\ud83d"}',
    ],
    [
      "escaped quotes and controls",
      '{"q":"say \\"hi\\" \\\\ \\/ \\b\\f\\n\\r\\t\\u0001"}',
      '{"q":"say \\"hi\\" \\\\ / \\b\\f\\n\\r\\t\\u0001"}',
    ],
  ])("%s: the same strings, in JSON's shortest escaping", async (_, sent, stored) => {
    const f = fixture();
    const res = await post(f.deps, bodyWith(sent));
    expect(res.status).toBe(201);
    const content = f.store.tasks.get(res.body.task_id)?.content ?? "";
    expect(content).toBe(stored);
    expect(JSON.parse(content)).toEqual(JSON.parse(sent));
  });

  it.each([
    ["an object", (text: string) => text],
    ["a string holding one", (text: string) => JSON.stringify(text)],
  ])("keeps the written order of keys, integer-like ones included (content as %s)", async (_, spell) => {
    // Prepare: JS objects list integer-like keys first, in numeric order, whatever order they were written in
    const written = '{"b":1,"2":2,"1":3,"a":{"10":[{"9":0,"x":1}],"9":2},"01":4,"4294967295":5,"-1":6}';
    const f = fixture();

    // Act
    const res = await post(f.deps, bodyWith(spell(written)));

    // Assess
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(f.store.tasks.get(res.body.task_id)?.content).toBe(written);
  });

  it("drops only insignificant white space between tokens", async () => {
    const f = fixture();
    const res = await post(f.deps, bodyWith('{ "long" : 12345678901234567890 ,\n\t"s" : " a  b " }'));
    expect(res.status).toBe(201);
    expect(f.store.tasks.get(res.body.task_id)?.content).toBe('{"long":12345678901234567890,"s":" a  b "}');
  });

  it("keeps a string content's inner JSON exactly (numbers as written), white space dropped", async () => {
    const f = fixture();
    const inner = '{"long": 12345678901234567890, "f": 1.0, "e": "\\u00e9"}';
    const res = await post(f.deps, bodyWith(JSON.stringify(inner)));
    expect(res.status).toBe(201);
    // The escape inside the inner text reaches us unescaped once (it is a JSON string's content): é, as sent.
    expect(f.store.tasks.get(res.body.task_id)?.content).toBe(
      '{"long":12345678901234567890,"f":1.0,"e":"é"}',
    );
  });

  it("orders big integer group values apart, and equal spellings of a safe number together", async () => {
    const f = fixture();
    const a = await post(f.deps, bodyWith('{"order_id":12345678901234567890}'));
    const b = await post(f.deps, bodyWith('{"order_id":12345678901234567891}'));
    const c = await post(f.deps, bodyWith('{"order_id":7}'));
    const d = await post(f.deps, bodyWith('{"order_id":7.0}'));
    const pk = (r: { body: ApiBody }) => f.store.tasks.get(r.body.task_id)?.pk;
    expect(pk(a)).not.toBe(pk(b));
    expect(pk(c)).toBe(pk(d));
  });
});

describe("duplicate keys and unrepresentable numbers: 400, nothing written", () => {
  it.each([
    ["top-level field", '{"topic":"demo","topic":"demo","delay_seconds":5,"content":{}}', "topic"],
    ["inside content", bodyWith('{"a":{"b":1,"b":1}}'), "content.a.b"],
    ["inside a content array", bodyWith('{"a":[{},{"k":1,"k":2}]}'), "content.a.1.k"],
    ["inside a string content", bodyWith(JSON.stringify('{"x":{"y":1,"y":2}}')), "content.x.y"],
    ["__proto__ twice", bodyWith('{"__proto__":{},"__proto__":{}}'), "content.__proto__"],
    [
      "delay_seconds 1e400",
      bodyWith("{}", ',"delay_seconds":1e400').replace('"delay_seconds":5,', ""),
      "delay_seconds",
    ],
    [
      "timing_moment beyond 2^53",
      '{"topic":"demo","timing_moment":123456789012345678901,"content":{}}',
      "timing_moment",
    ],
  ])("%s", async (_, body, path) => {
    const f = fixture();
    const res = await post(f.deps, body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
    expect(res.body.error.issues.map((i: { path: string }) => i.path)).toContain(path);
    expect(f.store.tasks.size).toBe(0);
    expect(f.store.idempotency.size).toBe(0);
  });

  it.each([
    [
      "invalid UTF-8 inside a string",
      Buffer.concat([Buffer.from(bodyWith('{"s":"')), Buffer.from([0xc0, 0xaf]), Buffer.from('"}}')]),
    ],
    ["a million opening brackets", Buffer.from(bodyWith(`{"deep":${"[".repeat(1_000_000)}}`))],
  ])("%s: a structured 4xx", async (_, bytes) => {
    const f = fixture();
    const handler = addModule.createHandler({ ...f.deps, logger: silentLogger() });
    const res = (await handler(
      postEvent(bytes.toString("base64"), {}, true),
      context,
    )) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    expect(JSON.parse(res.body ?? "{}").error.code).toMatch(
      /^(invalid_json|validation_failed|payload_too_large)$/,
    );
    expect(f.store.tasks.size).toBe(0);
  });
});

describe("a due-time number too large for any JS number: the topic's maxDelay named, as for one merely too far", () => {
  /** An add body on `topic` whose due-time `field` is the JSON token `token`, verbatim. */
  const dueBody = (topic: string, field: string, token: string) =>
    `{"topic":"${topic}","${field}":${token},"callback":{"url":"https://hooks.example.com/n"},"content":{}}`;

  it.each([
    // Past 2^53 or past a double: refused as "not a representable number", with no limit named.
    ["delay_seconds", "1e20", "3601"],
    ["delay_seconds", "1e400", "3601"],
    ["delay_seconds", "9007199254740993", "3601"],
    ["delay_seconds", "123456789012345678901.5", "3601"],
    ["timing_moment", "1e20", String(NOW)],
    ["timing_moment", "1e400", String(NOW)],
    // Held by a JS number, but not its due time in ms: refused as "not a representable time".
    ["delay_seconds", "1e15", "3601"],
    ["timing_moment", "1e16", String(NOW)],
  ])("%s %s: the answer %s gets (400 validation_failed), nothing written", async (field, huge, merely) => {
    // Prepare
    const f = fixture();

    // Act: `small` allows 3600 s; NOW as timing_moment is milliseconds, so the answer also says seconds
    const far = await post(f.deps, dueBody("small", field, huge));
    const past = await post(f.deps, dueBody("small", field, merely));

    // Assess
    expect(past.status).toBe(400);
    expect(past.body.error.issues).toEqual([
      { path: field, message: expect.stringMatching(/^is more than 3600 s ahead, the topic's maxDelay/) },
    ]);
    expect(far).toEqual(past);
    expect(f.store.tasks.size).toBe(0);
  });

  it("on a topic not configured, names the most any topic's maxDelay allows; negative or underflowing, as before", async () => {
    const f = fixture();
    const issuesOf = async (body: string) => (await post(f.deps, body)).body.error.issues;

    expect(await issuesOf(dueBody("nope", "delay_seconds", "1e20"))).toEqual([
      {
        path: "delay_seconds",
        message: "is more than 158112000 s ahead, the most any topic's maxDelay allows",
      },
    ]);
    // Not too far ahead: what they were.
    expect(await issuesOf(dueBody("small", "delay_seconds", "-1e400"))).toContainEqual({
      path: "delay_seconds",
      message: "is not a representable number",
    });
    expect(await issuesOf(dueBody("small", "timing_moment", "1e-400"))).toEqual([
      { path: "timing_moment", message: "is not a representable number" },
    ]);
    expect(f.store.tasks.size).toBe(0);
  });
});

describe("idempotency on the exact form", () => {
  it("a retry whose big integer differs in the last digit is a 409, the same text a 200", async () => {
    const f = fixture();
    const key = { "idempotency-key": "exact-1" };
    const first = await post(f.deps, bodyWith('{"long":12345678901234567890}'), key);
    const same = await post(f.deps, bodyWith('{"long":12345678901234567890}'), key);
    const other = await post(f.deps, bodyWith('{"long":12345678901234567891}'), key);
    expect(first.status).toBe(201);
    expect(same.status).toBe(200);
    expect(same.body.task_id).toBe(first.body.task_id);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe("idempotency_conflict");
  });

  it("a due time's digits past a double decide its millisecond through the handler, and a repeat that leaves them out is another request (409)", async () => {
    const f = fixture();
    const key = { "idempotency-key": "exact-due" };
    const timed = (moment: string) =>
      bodyWith("{}", `,"timing_moment":${moment}`).replace('"delay_seconds":5,', "");
    // 1795435260.0000001 and 1795435260 are one double; the first is 100 ns after 12:01:00.
    const first = await post(f.deps, timed("1795435260.0000001"), key);
    const same = await post(f.deps, timed("1795435260.0000001"), key);
    const whole = await post(f.deps, timed("1795435260"), key);
    const delayed = await post(
      f.deps,
      bodyWith("{}").replace('"delay_seconds":5', '"delay_seconds":5.00000000000000001'),
    );

    const dueAt = (r: { body: ApiBody }) => (r.body as unknown as { due_at: string }).due_at;
    expect(first.status).toBe(201);
    expect(dueAt(first)).toBe(new Date(Date.UTC(2026, 10, 23, 12, 1, 0, 1)).toISOString());
    expect(same).toMatchObject({ status: 200, body: { task_id: first.body.task_id } });
    expect(whole).toMatchObject({ status: 409, body: { error: { code: "idempotency_conflict" } } });
    expect(dueAt(delayed)).toBe(new Date(NOW + 5_001).toISOString());
  });

  it("a numeric due time is one request by its value; a due_at in another offset is another request (API.md)", async () => {
    const f = fixture();
    const delayed = (delay: string, key: string) =>
      post(f.deps, bodyWith("{}").replace('"delay_seconds":5', `"delay_seconds":${delay}`), {
        "idempotency-key": key,
      });
    const dueAt = (at: string) =>
      post(f.deps, bodyWith("{}").replace('"delay_seconds":5', `"due_at":"${at}"`), {
        "idempotency-key": "zone-1",
      });

    // Act
    const first = await delayed("100", "value-1");
    const repeats = [await delayed("100.0", "value-1"), await delayed("1e2", "value-1")];
    const utc = await dueAt("2026-11-23T13:00:00Z");
    const lower = await dueAt("2026-11-23t13:00:00z");
    const offset = await dueAt("2026-11-23T14:00:00+01:00");

    // Assess
    expect(first.status).toBe(201);
    for (const repeat of repeats)
      expect(repeat).toMatchObject({ status: 200, body: { task_id: first.body.task_id } });
    expect(utc.status).toBe(201);
    expect(lower).toMatchObject({ status: 200, body: { task_id: utc.body.task_id } });
    expect(offset).toMatchObject({ status: 409, body: { error: { code: "idempotency_conflict" } } });
  });

  it("the same key on two topics makes two tasks, 201 each", async () => {
    const f = fixture();
    const key = { "idempotency-key": "invoice-42" };
    const onDemo = await post(f.deps, bodyWith('{"n":1}'), key);
    const onFallback = await post(
      f.deps,
      bodyWith('{"n":1}').replace('"topic":"demo"', '"topic":"fallback"'),
      key,
    );
    expect(onDemo.status).toBe(201);
    expect(onFallback.status).toBe(201);
    expect(onFallback.body.task_id).not.toBe(onDemo.body.task_id);
    expect(f.store.tasks.size).toBe(2);
  });
});

describe("callback URLs: control characters refused, length checked after resolution", () => {
  it.each([
    ["LF in callback.url", '"callback":{"url":"https://hooks.example.com/a\\nb"}', "callback.url"],
    ["CR in callback.url", '"callback":{"url":"https://hooks.example.com/a\\r"}', "callback.url"],
    ["TAB in callback.url", '"callback":{"url":"https://hooks.ex\\tample.com/"}', "callback.url"],
    ["NUL in callback.url", '"callback":{"url":"https://hooks.example.com/\\u0000"}', "callback.url"],
    ["DEL in callback.url", '"callback":{"url":"https://hooks.example.com/\\u007f"}', "callback.url"],
    ["C1 in callback.url", '"callback":{"url":"https://hooks.example.com/\\u0085"}', "callback.url"],
    ["leading space", '"callback":{"url":" https://hooks.example.com/"}', "callback.url"],
    ["trailing space", '"callback":{"url":"https://hooks.example.com/ "}', "callback.url"],
  ])("%s → 400 at %s", async (_, callback, path) => {
    const f = fixture();
    const res = await post(f.deps, `{"topic":"demo","delay_seconds":5,"content":{},${callback}}`);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.issues).toContainEqual(expect.objectContaining({ path }));
    expect(f.store.tasks.size).toBe(0);
  });

  it("a control character in content.url (seed style) → 400 at content.url", async () => {
    const f = fixture();
    const res = await post(
      f.deps,
      '{"topic":"demo","delay_seconds":5,"content":{"sn":"billing","url":"orders/\\r\\nx"}}',
    );
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toContainEqual(expect.objectContaining({ path: "content.url" }));
  });

  it("a control character in a topic's default callback → 400 at callback", async () => {
    const f = fixture();
    const config = withTopic(f.deps.config, "fallback", {
      defaultCallbackUrl: "https://default.example.com/h\n",
    });
    const res = await post({ ...f.deps, config }, '{"topic":"fallback","delay_seconds":5,"content":{}}');
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toContainEqual(expect.objectContaining({ path: "callback" }));
  });

  it("a long content.url through the services map → 400 at content.url, nothing written", async () => {
    const f = fixture();
    const url = `orders/${"a".repeat(3000)}`;
    const res = await post(
      f.deps,
      `{"topic":"demo","delay_seconds":5,"content":{"sn":"billing","url":"${url}"}}`,
    );
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toContainEqual(expect.objectContaining({ path: "content.url" }));
    expect(f.store.tasks.size).toBe(0);
  });

  it("a task that would outgrow a DynamoDB item is a 413 even where a topic allows more content", async () => {
    const f = fixture();
    const config = withTopic(f.deps.config, "demo", { maxPayloadBytes: 500 * 1024 });
    const res = await post({ ...f.deps, config }, bodyWith(`{"blob":"${"x".repeat(420 * 1024)}"}`));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("payload_too_large");
    expect(f.store.tasks.size).toBe(0);
  });
});

/** The test config with one topic's resolved settings changed, past what the config schema would allow. */
function withTopic(config: PunctualConfig, topic: string, change: Record<string, unknown>): PunctualConfig {
  const resolved = config.resolvedTopics[topic];
  return {
    ...config,
    resolvedTopics: { ...config.resolvedTopics, [topic]: { ...resolved, ...change } },
  } as PunctualConfig;
}

describe("against the real table (dynalite): the largest content a topic may allow is a 2xx or a 4xx, never a 5xx", () => {
  let dynamo: LocalDynamo;
  let client: DynamoDBClient;
  beforeAll(async () => {
    dynamo = await startDynalite();
    client = dynamo.client;
    await createKeyedTable(client, "exact");
  });
  afterAll(async () => {
    await dynamo?.stop();
  });

  function bigTopicDeps() {
    const f = fixture();
    const config = parseConfig({
      name: "test",
      system: { allowedCallbackHosts: ["*"], allowHttpCallbacks: false },
      timer: { horizonSeconds: 300, leadSeconds: 120 },
      topics: { big: { maxPayloadBytes: MAX_PAYLOAD_BYTES } },
      services: { billing: "https://billing.example.com/api/v1" },
    });
    return { ...f.deps, config, store: new DynamoTaskStore({ client, tableName: "exact" }) };
  }

  it("content at the topic's limit with the longest URLs is written (201)", async () => {
    const deps = bigTopicDeps();
    const url = `https://hooks.example.com/${"p".repeat(2000)}`;
    const overhead = Buffer.byteLength('{"blob":""}');
    const body = `{"topic":"big","delay_seconds":5,"idempotency_key":"${"k".repeat(255)}","callback":{"url":"${url}"},"content":{"blob":"${"x".repeat(MAX_PAYLOAD_BYTES - overhead)}"}}`;
    const res = await post(deps, body);
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(201);
  });

  it("a content.url as long as the content limit allows is a 400, not DynamoDB's 500", async () => {
    const deps = bigTopicDeps();
    const url = `orders/${"u".repeat(300 * 1024)}`;
    const res = await post(
      deps,
      `{"topic":"big","delay_seconds":5,"content":{"sn":"billing","url":"${url}"}}`,
    );
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toContainEqual(expect.objectContaining({ path: "content.url" }));
  });
});
