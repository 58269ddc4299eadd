import http from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { PunctualClient } from "punctual/client";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_GROUP_PAGE } from "../../../shared/api/schemas/groups.js";
import { BULK_REPLAY_MAX } from "../../../shared/api/schemas/operations.js";
import { laneHash } from "../../../shared/domain/lane-hash.js";
import {
  ATTEMPT_LOG_SIZE,
  MAX_LISTED_TOPICS,
  MAX_SUBSCRIBERS,
  RESET_CIRCUITS_PER_TOPIC,
} from "../../../shared/domain/view-bounds.js";
import {
  addAnswer,
  addBodiesOf,
  answeringFetch,
  batchOf,
  destinationViewAnswer,
  recordingSleep,
  type SeenRequest,
  scheduleViewAnswer,
  scriptedFetch,
  taskId,
  taskViewAnswer as taskViewOf,
  topicViewAnswer,
} from "./fakes.js";

/** The client against a server that answers what it should not: what the client does with each answer. */
const API = "http://127.0.0.1:3000";
const addBody = { topic: "demo", delay_seconds: 90, content: { n: 1 } };
const busy = (retryAfter: string) => ({
  status: 503,
  body: { error: { code: "service_unavailable", message: "busy" } },
  headers: { "retry-after": retryAfter },
});

describe("a hostile Retry-After", () => {
  /** The wait before the second attempt, after a 503 with this Retry-After; full-jitter backoff would wait 100 ms. */
  async function waitAfter(retryAfter: string): Promise<number | undefined> {
    const { fetch } = scriptedFetch(busy(retryAfter), { status: 201, body: addAnswer(taskId()) });
    const { sleep, waits } = recordingSleep();
    const client = new PunctualClient({
      apiUrl: API,
      fetch,
      sleep,
      random: () => 0.5,
      now: () => Date.parse("2026-11-23T12:00:00Z"),
      addBatching: false,
    });
    await client.addTask(addBody);
    return waits[0];
  }

  it.each(["-5", "5.5", "-1", " 7 x", "1 2"])(
    "%j, neither delay-seconds nor an HTTP date, is ignored: the backoff applies, not an immediate retry",
    async (retryAfter) => {
      expect(await waitAfter(retryAfter)).toBe(100);
    },
  );

  it.each([
    ["99999999999999999999999", 20_000],
    ["Fri, 31 Dec 9999 23:59:59 GMT", 20_000],
    ["Mon, 23 Nov 2026 12:00:03 GMT", 3_000],
    ["Monday, 23-Nov-26 12:00:03 GMT", 3_000],
    ["Mon Nov 23 12:00:03 2026", 3_000],
    ["Sun, 22 Nov 2026 12:00:00 GMT", 0],
    ["2", 2_000],
  ])("%j is honoured, capped at maxDelayMs (20 s)", async (retryAfter, expected) => {
    expect(await waitAfter(retryAfter)).toBe(expected);
  });

  it("asctime's form, which names no zone, is read as GMT whatever the machine's time zone", async () => {
    // Prepare: a machine whose local time is not GMT (Node reads TZ again when it is set).
    const saved = process.env.TZ;
    process.env.TZ = "America/New_York";
    try {
      // Act
      const wait = await waitAfter("Mon Nov 23 12:00:03 2026");

      // Assess
      expect(wait).toBe(3_000);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

/** A real loopback HTTP server answering with `handle`, recording what it received. */
interface LoopbackServer {
  readonly url: string;
  readonly received: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
}
const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function loopbackServer(
  host: string,
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<LoopbackServer> {
  const received: LoopbackServer["received"] = [];
  const server = http.createServer((req, res) => {
    received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    req.resume();
    req.on("end", () => handle(req, res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { url: `http://${host}:${(server.address() as AddressInfo).port}`, received };
}

describe("a 3xx redirect to another host", () => {
  it.each([301, 302, 303, 307, 308])(
    "%i is not followed: the credentials never reach the other host, and the caller gets the 3xx",
    async (status) => {
      // Prepare: the API redirects every request to another loopback host.
      const elsewhere = await loopbackServer("127.0.0.2", (_req, res) => res.end("{}"));
      const api = await loopbackServer("127.0.0.1", (req, res) => {
        res.writeHead(status, { location: `${elsewhere.url}${req.url}` });
        res.end();
      });
      const client = new PunctualClient({
        apiUrl: api.url,
        auth: { kind: "jwt", token: "secret-token" },
        sleep: async () => {},
        addBatching: false,
      });

      // Act
      const added = await client.addTask(addBody).catch((e: unknown) => e);
      const got = await client.getTask(taskId()).catch((e: unknown) => e);

      // Assess
      expect(elsewhere.received).toEqual([]);
      expect(api.received.map((r) => r.headers.authorization)).toEqual([
        "Bearer secret-token",
        "Bearer secret-token",
      ]);
      expect(added).toMatchObject({ code: "http_error", status });
      expect(got).toMatchObject({ code: "http_error", status });
      // Said as what it is, naming where it points: not the 3xx's empty body as "HTTP 301".
      expect((got as Error).message).toContain(`redirected (HTTP ${status}) to ${elsewhere.url}/v1/tasks/`);
    },
  );
});

describe("a 2xx whose bytes are not UTF-8 (a proxy that re-encoded it, Latin-1)", () => {
  // JSON between systems is UTF-8 (RFC 8259 §8.1): such a body is no answer of the API, as one not JSON is not.
  const latin1 = (text: string) => Buffer.from(text, "latin1");

  it("is not read with U+FFFD in place of its bytes: it is sent again, and the repeat's answer used", async () => {
    // Prepare: a receiver's error `café` whose é came as the one byte 0xE9, then the same view in UTF-8.
    const id = taskId();
    const view = JSON.stringify(taskViewOf(id, { last_error: "HTTP 500: café" }));
    let n = 0;
    const api = await loopbackServer("127.0.0.1", (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(n++ === 0 ? latin1(view) : Buffer.from(view, "utf8"));
    });
    const client = new PunctualClient({ apiUrl: api.url, sleep: async () => {} });

    // Act
    const task = await client.getTask(id);

    // Assess
    expect(task.last_error).toBe("HTTP 500: café");
    expect(api.received).toHaveLength(2);
  });

  it("still so after the route's retries: invalid_response saying so", async () => {
    // Prepare
    const id = taskId();
    const view = JSON.stringify(taskViewOf(id, { last_error: "HTTP 500: café" }));
    const api = await loopbackServer("127.0.0.1", (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(latin1(view));
    });
    const client = new PunctualClient({ apiUrl: api.url, sleep: async () => {} });

    // Act
    const error = await client.getTask(id).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
    expect((error as Error).message).toMatch(/not UTF-8/);
    expect(api.received).toHaveLength(4);
  });
});

describe("a huge answer", () => {
  const MIB = 1024 * 1024;

  it("a 2xx over 10 MiB (more than API Gateway can answer) is refused, not read whole into memory", async () => {
    // Prepare: a schema-valid task view padded to 11 MiB, sent chunked (no content-length to refuse it by).
    const id = taskId();
    const view = JSON.stringify({ ...taskViewOf(id), padding: "x".repeat(11 * MIB) });
    const api = await loopbackServer("127.0.0.1", (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      res.end(view);
    });
    const client = new PunctualClient({ apiUrl: api.url, sleep: async () => {} });

    // Act
    const error = await client.getTask(id).catch((e: unknown) => e);

    // Assess: refused once, not retried.
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
    expect((error as Error).message).toMatch(/over 10 MiB/);
    expect(api.received).toHaveLength(1);
  });

  it("an endless body is dropped once past the cap, the connection closed, well before the timeout", async () => {
    // Prepare: a server that writes until the client hangs up.
    let closed: () => void = () => {};
    const hungUp = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const api = await loopbackServer("127.0.0.1", (_req, res) => {
      res.writeHead(503, { "content-type": "text/html" });
      const chunk = "<p>".repeat(64 * 1024);
      const more = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once("drain", more);
      };
      res.on("close", () => closed());
      more();
    });
    const client = new PunctualClient({ apiUrl: api.url, sleep: async () => {}, retry: { maxAttempts: 1 } });

    // Act
    const error = await client.getTask(taskId()).catch((e: unknown) => e);
    await hungUp;

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 503 });
  });

  it("a compressed bomb (11 MiB inflated from a few KiB) is stopped by the bytes it inflates to", async () => {
    // Prepare
    const bomb = gzipSync(JSON.stringify({ ...taskViewOf(taskId()), padding: "0".repeat(11 * MIB) }));
    const api = await loopbackServer("127.0.0.1", (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
      res.end(bomb);
    });
    const client = new PunctualClient({ apiUrl: api.url, sleep: async () => {} });

    // Act
    const error = await client.getTask(taskId()).catch((e: unknown) => e);

    // Assess
    expect(bomb.byteLength).toBeLessThan(MIB);
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
  });

  it("a body that drips and never ends is cut by the per-attempt timeout, then retried", async () => {
    // Prepare: headers at once, then a byte now and then, never the end.
    const api = await loopbackServer("127.0.0.1", (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write("{");
      const drip = setInterval(() => res.write(" "), 20);
      res.on("close", () => clearInterval(drip));
    });
    const client = new PunctualClient({
      apiUrl: api.url,
      timeoutMs: 200,
      sleep: async () => {},
      retry: { maxAttempts: 2 },
    });

    // Act
    const error = await client.getTask(taskId()).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "network_error", status: 0 });
    expect(api.received).toHaveLength(2);
  });

  it("a 503 with a large but bounded error page is still read and retried as before", async () => {
    // Prepare
    const id = taskId();
    let n = 0;
    const api = await loopbackServer("127.0.0.1", (_req, res) => {
      if (n++ === 0) {
        res.writeHead(503, { "content-type": "text/html" });
        res.end("<p>".repeat(MIB));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(taskViewOf(id)));
    });
    const client = new PunctualClient({ apiUrl: api.url, sleep: async () => {} });

    // Act
    const task = await client.getTask(id);

    // Assess
    expect(task.task_id).toBe(id);
    expect(api.received).toHaveLength(2);
  });
});

describe("a batch answer that does not match its request", () => {
  /** One add to topic `t0` sent alone, then adds to `t1`…`t3` made meanwhile, which go as one batch. */
  async function batchAnswered(results: (items: Record<string, unknown>[]) => unknown[]) {
    const answer = (body: Record<string, unknown>) => {
      const topic = String(body.topic);
      return { ...addAnswer(taskId(topic)), topic };
    };
    const { fetch, seen } = answeringFetch((request: SeenRequest) => {
      const items = addBodiesOf(request);
      if (!request.url.pathname.endsWith("/batch")) return { status: 201, body: answer(items[0] ?? {}) };
      const answers = items.map((item) => ({ httpStatus: 201, answer: answer(item) }));
      return { status: 200, body: { ...batchOf(answers), results: results(batchOf(answers).results) } };
    });
    const client = new PunctualClient({ apiUrl: API, fetch, addBatching: { maxInFlight: 1 } });
    const calls = ["t0", "t1", "t2", "t3"].map((topic) =>
      client.addTask({ topic, delay_seconds: 90, content: {} }).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
    );
    return { outcomes: await Promise.all(calls), seen };
  }

  it("fewer results than items: every caller of the batch gets invalid_response, none another's task", async () => {
    // Act
    const { outcomes, seen } = await batchAnswered((results) => results.slice(1));

    // Assess
    expect(seen.map((r) => r.url.pathname)).toEqual(["/v1/tasks", "/v1/tasks/batch"]);
    expect(outcomes[0]).toMatchObject({ value: { topic: "t0" } });
    for (const outcome of outcomes.slice(1)) {
      expect(outcome).toMatchObject({ error: { code: "invalid_response", status: 200 } });
    }
  });

  it("results out of order (another topic's task at an item's place): no caller gets another's task", async () => {
    // Act
    const { outcomes } = await batchAnswered((results) => [...results].reverse());

    // Assess
    for (const outcome of outcomes.slice(1)) {
      expect(outcome).toMatchObject({ error: { code: "invalid_response", status: 200 } });
    }
  });

  it("results in order: each caller gets its own topic's task", async () => {
    // Act
    const { outcomes } = await batchAnswered((results) => results);

    // Assess
    expect(outcomes.map((o) => ("value" in o ? o.value.topic : o.error))).toEqual(["t0", "t1", "t2", "t3"]);
  });
});

describe("addTasks (the batch route called directly): an answer that does not match its request", () => {
  const tasks = ["t1", "t2", "t3"].map((topic) => ({ topic, delay_seconds: 90, content: {} }));
  const resultsOf = (topics: string[]) =>
    batchOf(topics.map((topic) => ({ httpStatus: 201, answer: { ...addAnswer(taskId(topic)), topic } })));

  async function addTasksAnswered(body: unknown) {
    const { fetch } = scriptedFetch({ status: 200, body });
    return new PunctualClient({ apiUrl: API, fetch }).addTasks({ tasks }).catch((e: unknown) => e);
  }

  it("fewer results than tasks is invalid_response, not an answer whose missing items look added", async () => {
    expect(await addTasksAnswered(resultsOf(["t1", "t2"]))).toMatchObject({
      code: "invalid_response",
      status: 200,
    });
  });

  it("results out of order (another topic's task at a task's place) is invalid_response", async () => {
    expect(await addTasksAnswered(resultsOf(["t3", "t2", "t1"]))).toMatchObject({
      code: "invalid_response",
      status: 200,
    });
  });

  it.each([
    ["no task_id", (result: Record<string, unknown>) => ({ ...result, task_id: undefined })],
    ["nothing but its status", (result: Record<string, unknown>) => ({ status: result.status })],
  ])(
    "an item answered 201 with %s is invalid_response naming it, not an item that looks added",
    async (_, cut) => {
      // Prepare: the second item's result says added but names no task.
      const answer = resultsOf(["t1", "t2", "t3"]);
      const results = answer.results.map((result, i) => (i === 1 ? cut(result) : result));

      // Act
      const error = await addTasksAnswered({ ...answer, results });

      // Assess
      expect(error).toMatchObject({ code: "invalid_response", status: 200 });
      expect((error as Error).message).toMatch(/item 1 at task_id/);
    },
  );

  it("results in order are the answer", async () => {
    const answer = (await addTasksAnswered(resultsOf(["t1", "t2", "t3"]))) as {
      results: { topic: string }[];
    };
    expect(answer.results.map((r) => r.topic)).toEqual(["t1", "t2", "t3"]);
  });
});

describe("an answer that is not the route's", () => {
  it.each([
    ["an HTML page", "<html><body>It works!</body></html>", 4],
    ["empty", "", 4],
    ["JSON null", "null", 1],
    ["an array", "[]", 1],
    ["a number", "42", 1],
    ["a view missing its fields", '{"task_id":"x"}', 1],
    ["a field of the wrong type", '{"task_id":1,"topic":"demo","status":"scheduled"}', 1],
  ])(
    "a 200 with %s is invalid_response, not returned as a task (sent %i times)",
    async (_what, body, times) => {
      // The same answer every time. A body that is not JSON may have been cut short or garbled on its way: a GET is
      // sent again, then gives up. JSON that is not the route's is what the server answers: a repeat gets the same.
      const { fetch, seen } = answeringFetch(() => ({ status: 200, body }));
      const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });
      const error = await client.getTask(taskId()).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "invalid_response", status: 200 });
      expect(seen).toHaveLength(times);
    },
  );

  it.each([
    [404, "<html>Not Found</html>", "http_error"],
    [400, '{"error":"bad"}', "http_error"],
    [400, '{"error":{"code":7,"message":"m"}}', "http_error"],
    [401, '{"message":"Unauthorized"}', "unauthorized"],
    [403, "", "forbidden"],
  ])("a %i with %j is a PunctualError %s with the status", async (status, body, code) => {
    const { fetch } = scriptedFetch({ status, body });
    const error = await new PunctualClient({ apiUrl: API, fetch }).getTask(taskId()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code, status });
  });
});

describe("an answer for another task, schedule or topic than the one asked for", () => {
  // A proxy or cache in front of the API answering another request's 200 (one keyed without the path): shown as
  // the asked one's, another task's `cancelled` told the operator a cancel had happened that had not.
  const schedule = scheduleViewAnswer();
  const topic = topicViewAnswer("other");
  const cases: [string, unknown, (client: PunctualClient) => Promise<unknown>][] = [
    ["getTask", taskViewOf(taskId()), (c) => c.getTask(taskId())],
    ["cancelTask", taskViewOf(taskId(), { status: "cancelled" }), (c) => c.cancelTask(taskId())],
    ["getSchedule", schedule, (c) => c.getSchedule("demo.schedule.01JD3AAAAAAAAAAAAAAAAAAAAA")],
    ["getTopic", topic, (c) => c.getTopic("demo")],
  ];

  it.each(cases)(
    "%s: invalid_response naming the other one, after the route's retries",
    async (_, body, call) => {
      // Prepare: the same wrong answer every time
      const { fetch, seen } = answeringFetch(() => ({ status: 200, body }));
      const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

      // Act
      const error = await call(client).catch((e: unknown) => e);

      // Assess
      expect(error).toMatchObject({ code: "invalid_response", status: 200 });
      expect((error as Error).message).toMatch(
        /is for (task_id|schedule_id|topic) "[^"]+", not the one asked for/,
      );
      expect(seen).toHaveLength(4);
    },
  );

  it("createSchedule (never repeated) answered with another topic's schedule: invalid_response after its one request", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(() => ({ status: 201, body: { ...schedule, topic: "other" } }));
    const body = { topic: "demo", cron: "@daily", timezone: "UTC", content: "{}" };

    // Act
    const error = await new PunctualClient({ apiUrl: API, fetch })
      .createSchedule(body)
      .catch((e: unknown) => e);
    const created = await new PunctualClient({
      apiUrl: API,
      fetch: answeringFetch(() => ({ status: 201, body: schedule })).fetch,
    }).createSchedule(body);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 201 });
    expect((error as Error).message).toMatch(/is for topic "other", not the one asked for/);
    expect(seen).toHaveLength(1);
    expect(created.topic).toBe("demo");
  });

  it("replayTask (never repeated): invalid_response after its one request", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(() => ({ status: 202, body: taskViewOf(taskId()) }));

    // Act
    const error = await new PunctualClient({ apiUrl: API, fetch })
      .replayTask(taskId())
      .catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 202 });
    expect(seen).toHaveLength(1);
  });

  it("a wrong answer and then the asked one's: the asked one's, on the retry", async () => {
    // Prepare
    const id = taskId();
    const { fetch } = scriptedFetch(
      { status: 200, body: taskViewOf(taskId()) },
      { status: 200, body: taskViewOf(id) },
    );

    // Act
    const task = await new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} }).getTask(id);

    // Assess
    expect(task.task_id).toBe(id);
  });
});

describe("a lane cancel (`subscriber`) answered with tasks outside that lane", () => {
  // A lane cancel lists only the subscriber's copies of the group, whose ids carry its lane (laneHash): a parent
  // (the group's own partition), another subscriber's copy or another group's lane listed there is another request's
  // answer (a proxy's, a cache's), which the CLI printed as this lane's, exit 0.
  const copyOf = (subscriber: string, group: string) => {
    const [, , due, ulid] = taskId("orders").split(".");
    return `orders.${laneHash("orders", subscriber, group, "")}.${due}.${ulid}`;
  };
  const answer = (id: string, where: "not_cancelled" | "cancel_requested") => ({
    cancelled: 0,
    not_cancelled: where === "not_cancelled" ? [{ task_id: id, status: "delivering" }] : [],
    cancel_requested: where === "cancel_requested" ? [{ task_id: id }] : [],
    more: false,
    next_cursor: null,
  });

  it.each([
    ["the group's own task (a parent)", () => taskId("orders"), "cancel_requested"],
    ["another subscriber's copy", () => copyOf("billing", "A-1"), "cancel_requested"],
    ["audit's copy of another group", () => copyOf("audit", "A-2"), "not_cancelled"],
  ] as const)("%s: invalid_response naming it", async (_what, id, where) => {
    // Prepare
    const listed = id();
    const { fetch } = answeringFetch(() => ({ status: 200, body: answer(listed, where) }));

    // Act
    const error = await new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} })
      .cancelGroup("orders", "A-1", { subscriber: "audit" })
      .catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
    expect((error as Error).message).toContain(
      `task_id ${JSON.stringify(listed)}, a task outside "audit"'s lane of the group`,
    );
  });

  it("audit's own copies of the group are read as sent, the group in `?group=` (`-` in the path) too", async () => {
    // Prepare
    const own = copyOf("audit", "..");
    const { fetch } = answeringFetch(() => ({ status: 200, body: answer(own, "cancel_requested") }));

    // Act
    const read = await new PunctualClient({ apiUrl: API, fetch }).cancelGroup("orders", "..", {
      subscriber: "audit",
    });

    // Assess
    expect(read.cancel_requested).toEqual([{ task_id: own }]);
  });
});

describe("a group cancel or topic replay answered with another topic's tasks", () => {
  // Their answers name no topic, only tasks, whose ids begin with their topic: a proxy's or cache's answer to
  // another request (another topic's group) listing that topic's tasks was shown as this call's, its counts too.
  const cancelled = (id: string) => ({
    cancelled: 1,
    not_cancelled: [],
    cancel_requested: [{ task_id: id }],
    more: false,
    next_cursor: null,
  });
  const replayed = (id: string) => ({
    matched: 2,
    replayed: 1,
    failed: [{ task_id: id, reason: "status queued" }],
    next_cursor: null,
  });

  it("cancelGroup (safe): invalid_response naming the other topic's task, after the route's retries", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(() => ({ status: 200, body: cancelled(taskId("other")) }));

    // Act
    const error = await new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} })
      .cancelGroup("demo", "g")
      .catch((e: unknown) => e);
    const own = await new PunctualClient({
      apiUrl: API,
      fetch: answeringFetch(() => ({ status: 200, body: cancelled(taskId("demo")) })).fetch,
    }).cancelGroup("demo", "g");

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
    expect((error as Error).message).toMatch(/is for task_id "other\.[^"]+", another topic's task/);
    expect(seen).toHaveLength(4);
    expect(own.cancel_requested).toHaveLength(1);
  });

  it("replayTopic (never repeated): invalid_response after its one request, unless the call named that task", async () => {
    // Prepare
    const other = taskId("other");
    const { fetch, seen } = answeringFetch(() => ({ status: 200, body: replayed(other) }));

    // Act
    const error = await new PunctualClient({ apiUrl: API, fetch })
      .replayTopic("demo", { error_contains: "timeout" })
      .catch((e: unknown) => e);
    // The API lists a named id of another topic as not found: that answer is this call's.
    const named = await new PunctualClient({
      apiUrl: API,
      fetch: answeringFetch(() => ({ status: 200, body: replayed(other) })).fetch,
    }).replayTopic("demo", { task_ids: [taskId("demo"), other] });

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
    expect((error as Error).message).toMatch(/is for task_id "other\.[^"]+", another topic's task/);
    expect(seen).toHaveLength(1);
    expect(named.failed).toEqual([{ task_id: other, reason: "status queued" }]);
  });
});

describe("a group cancel or topic replay listing more tasks than the API lists in one call", () => {
  // A group cancel lists a task of the page it read (`limit`, default and most 1,000) at most once, in
  // `not_cancelled` or `cancel_requested`; a replay one of the tasks it read (a filter: at most 1,000) or of those
  // named and their subscribers' copies (`task_ids`). More is a broken or hostile API's: read whole into memory and
  // printed by the CLI.
  const notCancelled = (n: number) =>
    Array.from({ length: n }, () => ({ task_id: taskId("demo"), status: "delivered" }));
  const cancelAnswer = (notListed: number, requested: number) => ({
    cancelled: 0,
    not_cancelled: notCancelled(notListed),
    cancel_requested: notCancelled(requested).map(({ task_id }) => ({ task_id })),
    more: false,
    next_cursor: null,
  });
  const failed = (n: number) => Array.from({ length: n }, () => ({ task_id: taskId("demo"), reason: "x" }));
  const replayAnswer = (n: number) => ({ matched: n, replayed: 0, failed: failed(n), next_cursor: null });
  const named = (n: number) => Array.from({ length: n }, () => taskId("demo"));
  const cases: [string, (n: number) => unknown, (client: PunctualClient) => Promise<unknown>, number][] = [
    [
      "cancelGroup with limit 2",
      (n) => cancelAnswer(n - 1, 1),
      (c) => c.cancelGroup("demo", "g", { limit: 2 }),
      2,
    ],
    [
      "cancelGroup without a limit (the API's, 1,000)",
      (n) => cancelAnswer(n - 5, 5),
      (c) => c.cancelGroup("demo", "g"),
      MAX_GROUP_PAGE,
    ],
    [
      "replayTopic by filter (1,000 read at most)",
      replayAnswer,
      (c) => c.replayTopic("demo", { error_contains: "timeout" }),
      BULK_REPLAY_MAX,
    ],
    [
      "replayTopic of 3 named tasks (twice one), each with up to 10 subscribers' copies",
      replayAnswer,
      (c) => {
        const ids = named(2);
        return c.replayTopic("demo", { task_ids: [...ids, ids[0] as string] });
      },
      2 * (1 + MAX_SUBSCRIBERS),
    ],
  ];

  it.each(cases)(
    "%s: invalid_response naming the count and the bound, after one request (a whole 2xx the API answers so is not retried)",
    async (_, answer, call, most) => {
      // Prepare
      const { fetch, seen } = answeringFetch(() => ({ status: 200, body: answer(most + 1) }));
      const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

      // Act
      const error = await call(client).catch((e: unknown) => e);

      // Assess
      expect(error).toMatchObject({ code: "invalid_response", status: 200 });
      expect((error as Error).message).toContain(`lists ${most + 1} tasks`);
      expect((error as Error).message).toContain(`where the API lists at most ${most}`);
      expect(seen).toHaveLength(1);
    },
  );

  it.each(cases)("%s: as many as the API lists are the answer", async (_, answer, call, most) => {
    // Prepare
    const { fetch } = answeringFetch(() => ({ status: 200, body: answer(most) }));

    // Act
    const result = (await call(new PunctualClient({ apiUrl: API, fetch }))) as Record<string, unknown>;

    // Assess
    const listed = ["not_cancelled", "cancel_requested", "failed"].map((name) => result[name]);
    expect(listed.flatMap((list) => (Array.isArray(list) ? list : []))).toHaveLength(most);
  });
});

describe("a group cancel or topic replay counting more tasks than it handles in one call", () => {
  // A group cancel counts in `cancelled` each task of the page it read (`limit`) at most once; a replay counts in
  // `matched` and `replayed` each task it handled at most once (a filter: at most 1,000 read; `task_ids`: those named
  // and their subscribers' copies). A larger count is a broken or hostile API's: summed and printed by the CLI.
  const cancelAnswer = (cancelled: number) => ({
    cancelled,
    not_cancelled: [],
    cancel_requested: [],
    more: false,
    next_cursor: null,
  });
  const replayAnswer = (matched: number, replayed: number) => ({
    matched,
    replayed,
    failed: [],
    next_cursor: null,
  });
  const cases: [
    string,
    (n: number) => unknown,
    (client: PunctualClient) => Promise<unknown>,
    string,
    number,
  ][] = [
    [
      "cancelGroup with limit 2",
      cancelAnswer,
      (c) => c.cancelGroup("demo", "g", { limit: 2 }),
      "cancelled",
      2,
    ],
    [
      "cancelGroup without a limit (the API's, 1,000)",
      cancelAnswer,
      (c) => c.cancelGroup("demo", "g"),
      "cancelled",
      MAX_GROUP_PAGE,
    ],
    [
      "replayTopic by filter: replayed",
      (n) => replayAnswer(1, n),
      (c) => c.replayTopic("demo", { error_contains: "timeout" }),
      "replayed",
      BULK_REPLAY_MAX,
    ],
    [
      "replayTopic of 2 named tasks: matched",
      (n) => replayAnswer(n, 0),
      (c) => c.replayTopic("demo", { task_ids: [taskId("demo"), taskId("demo")] }),
      "matched",
      2 * (1 + MAX_SUBSCRIBERS),
    ],
  ];

  it.each(cases)(
    "%s: invalid_response naming the count and the bound, after one request (a whole 2xx the API answers so is not retried)",
    async (_, answer, call, count, most) => {
      // Prepare
      const { fetch, seen } = answeringFetch(() => ({ status: 200, body: answer(most + 1) }));
      const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

      // Act
      const error = await call(client).catch((e: unknown) => e);

      // Assess
      expect(error).toMatchObject({ code: "invalid_response", status: 200 });
      expect((error as Error).message).toContain(
        `counts ${most + 1} ${count} where the API handles at most ${most} tasks in this call`,
      );
      expect(seen).toHaveLength(1);
    },
  );

  it.each(cases)("%s: as many as the call handles are the answer", async (_, answer, call, count, most) => {
    // Prepare
    const { fetch } = answeringFetch(() => ({ status: 200, body: answer(most) }));

    // Act
    const result = (await call(new PunctualClient({ apiUrl: API, fetch }))) as Record<string, unknown>;

    // Assess
    expect(result[count]).toBe(most);
  });
});

describe("a destination reset for one topic answered with another topic's circuits", () => {
  const view = (topic: string) => destinationViewAnswer(topic);

  it("resetDestination with topic (safe): invalid_response naming the other topic, after the route's retries", async () => {
    // Prepare: a proxy's answer to another request, another topic's reset (or every topic's)
    const reset = (topic: string) => ({ host: "hooks.example.com", destinations: [view(topic)] });
    const { fetch, seen } = answeringFetch(() => ({ status: 200, body: reset("other") }));

    // Act
    const error = await new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} })
      .resetDestination("hooks.example.com", { topic: "demo" })
      .catch((e: unknown) => e);
    const own = await new PunctualClient({
      apiUrl: API,
      fetch: answeringFetch(() => ({ status: 200, body: reset("demo") })).fetch,
    }).resetDestination("hooks.example.com", { topic: "demo" });
    const every = await new PunctualClient({ apiUrl: API, fetch }).resetDestination("hooks.example.com");

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
    expect((error as Error).message).toMatch(/is for topic "other", not the one asked for/);
    expect(seen).toHaveLength(5);
    expect(own.destinations).toHaveLength(1);
    expect(every.destinations[0]?.topic).toBe("other");
  });
});

describe("a destination reset listing more circuits than a reset lists", () => {
  // A reset closes, on each topic it covers (the one named, else every deployed one, at most MAX_LISTED_TOPICS), the
  // host's entry and its former NAT64 key's: more is a broken or hostile API's, read whole and printed by the CLI.
  const reset = (n: number) => ({
    host: "hooks.example.com",
    destinations: Array.from({ length: n }, () => destinationViewAnswer("demo")),
  });
  const cases: [string, { topic?: string }, number][] = [
    ["with topic", { topic: "demo" }, RESET_CIRCUITS_PER_TOPIC],
    ["of every topic", {}, RESET_CIRCUITS_PER_TOPIC * MAX_LISTED_TOPICS],
  ];

  it.each(cases)("%s: invalid_response naming the count and the bound", async (_, query, most) => {
    // Prepare
    const { fetch } = answeringFetch(() => ({ status: 200, body: reset(most + 1) }));
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const error = await client.resetDestination("hooks.example.com", query).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
    expect((error as Error).message).toContain(
      `lists ${most + 1} destinations where the API lists at most ${most}`,
    );
  });

  it.each(cases)("%s: as many as a reset lists are the answer", async (_, query, most) => {
    const { fetch } = answeringFetch(() => ({ status: 200, body: reset(most) }));
    const answer = await new PunctualClient({ apiUrl: API, fetch }).resetDestination(
      "hooks.example.com",
      query,
    );
    expect(answer.destinations).toHaveLength(most);
  });
});

describe("a reschedule or run answered for another task than the one asked to move", () => {
  // The API answers a move with the task unmoved (`task_id` the asked id) or with the task it became
  // (`rescheduled_from` the asked id). Another task's answer (a proxy's or cache's to another request) was shown as
  // the move done, with a new id the operator would then follow or cancel.
  const moves: [string, (client: PunctualClient, id: string) => Promise<unknown>][] = [
    ["rescheduleTask", (c, id) => c.rescheduleTask(id, { delay_seconds: 60 })],
    ["runTask", (c, id) => c.runTask(id)],
  ];

  it.each(moves)("%s: invalid_response naming the other task, after the route's retries", async (_, move) => {
    // Prepare: another move's answer every time
    const body = taskViewOf(taskId(), { rescheduled_from: taskId() });
    const { fetch, seen } = answeringFetch(() => ({ status: 200, body }));
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const error = await move(client, taskId()).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
    expect((error as Error).message).toMatch(/is for task_id "[^"]+", not the one asked for/);
    expect(seen).toHaveLength(4);
  });

  it.each(moves)("%s: the asked task moved, or answered unmoved, is the answer", async (_, move) => {
    // Prepare
    const id = taskId();
    const moved = taskViewOf(taskId(), { rescheduled_from: id });
    const { fetch } = scriptedFetch({ status: 200, body: moved }, { status: 200, body: taskViewOf(id) });
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const first = await move(client, id);
    const second = await move(client, id);

    // Assess
    expect(first).toMatchObject({ task_id: moved.task_id, rescheduled_from: id });
    expect(second).toMatchObject({ task_id: id });
  });
});

describe("getTask with includeContent answered without the content", () => {
  // The API always adds `content` (a string) when asked; a cache or proxy that drops the query answers the view
  // without it, which `tasks get --content` showed as the task, its content silently missing.
  it("invalid_response naming the missing field, after the route's retries", async () => {
    // Prepare
    const id = taskId();
    const { fetch, seen } = answeringFetch(() => ({ status: 200, body: taskViewOf(id) }));
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const error = await client.getTask(id, { includeContent: true }).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
    expect((error as Error).message).toMatch(/content/);
    expect(seen).toHaveLength(4);
  });

  it("the content on the retry is the answer; without includeContent none is needed", async () => {
    // Prepare
    const id = taskId();
    const { fetch } = scriptedFetch(
      { status: 200, body: taskViewOf(id) },
      { status: 200, body: taskViewOf(id, { content: '{"n":1}' }) },
      { status: 200, body: taskViewOf(id) },
    );
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const withContent = await client.getTask(id, { includeContent: true });
    const without = await client.getTask(id);

    // Assess
    expect(withContent.content).toBe('{"n":1}');
    expect(without.task_id).toBe(id);
  });
});

describe("a list answered with another topic's or group's items", () => {
  // A cache that keys GET /v1/tasks or /v1/schedules without the query (CloudFront's default cache policy does)
  // answers one topic's list for another's: `tasks list --topic A` showed topic B's tasks as A's.
  const scheduleOf = (topic: string) => scheduleViewAnswer(topic);
  const otherTask = taskViewOf(taskId("other"), { topic: "other", group: "A-1" });
  const otherGroup = taskViewOf(taskId(), { group: "B-2" });
  // A fan-out topic's group: its list holds parents (no `subscriber`), a subscriber's lane that subscriber's copies.
  const parent = taskViewOf(taskId("orders"), { topic: "orders", group: "A-1", callback_url: "" });
  const copyOf = (subscriber: string) =>
    taskViewOf(taskId("orders"), {
      topic: "orders",
      group: "A-1",
      subscriber,
      parent_task_id: parent.task_id,
    });
  const lane = (subscriber: string) => ({ tasks: [copyOf(subscriber)], next_cursor: null });
  const cases: [string, unknown, (client: PunctualClient) => Promise<unknown>][] = [
    [
      "listFailedTasks, another topic",
      { tasks: [otherTask], next_cursor: null },
      (c) => c.listFailedTasks({ topic: "demo" }),
    ],
    [
      "listGroupTasks, another topic",
      { tasks: [otherTask], next_cursor: null },
      (c) => c.listGroupTasks({ topic: "demo", group: "A-1" }),
    ],
    [
      "listGroupTasks, another group",
      { tasks: [otherGroup], next_cursor: null },
      (c) => c.listGroupTasks({ topic: "demo", group: "A-1" }),
    ],
    [
      "listGroupTasks with a subscriber, another topic",
      { tasks: [otherTask], next_cursor: null },
      (c) => c.listGroupTasks({ topic: "orders", group: "A-1", subscriber: "audit" }),
    ],
    [
      "listGroupTasks with a subscriber, another group",
      {
        tasks: [taskViewOf(taskId("orders"), { topic: "orders", group: "B-2", subscriber: "audit" })],
        next_cursor: null,
      },
      (c) => c.listGroupTasks({ topic: "orders", group: "A-1", subscriber: "audit" }),
    ],
    [
      "listGroupTasks with a subscriber, another subscriber's copies",
      lane("billing"),
      (c) => c.listGroupTasks({ topic: "orders", group: "A-1", subscriber: "audit" }),
    ],
    [
      "listGroupTasks with a subscriber, the group's parents",
      { tasks: [parent], next_cursor: null },
      (c) => c.listGroupTasks({ topic: "orders", group: "A-1", subscriber: "audit" }),
    ],
    [
      "listGroupTasks, a subscriber's copies",
      lane("audit"),
      (c) => c.listGroupTasks({ topic: "orders", group: "A-1" }),
    ],
    [
      "listSchedules, another topic",
      { schedules: [scheduleOf("other")], next_cursor: null },
      (c) => c.listSchedules({ topic: "demo" }),
    ],
  ];

  it.each(cases)("%s: invalid_response, after the route's retries", async (_, body, call) => {
    // Prepare
    const { fetch, seen } = answeringFetch(() => ({ status: 200, body }));
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const error = await call(client).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
    expect((error as Error).message).toMatch(/not the one asked for/);
    expect(seen).toHaveLength(4);
  });

  it("the asked topic's and group's items are the answer", async () => {
    // Prepare
    const mine = taskViewOf(taskId(), { group: "A-1" });
    const { fetch } = scriptedFetch(
      { status: 200, body: { tasks: [mine], next_cursor: null } },
      { status: 200, body: { schedules: [scheduleOf("demo")], next_cursor: null } },
    );
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const tasks = await client.listGroupTasks({ topic: "demo", group: "A-1" });
    const schedules = await client.listSchedules({ topic: "demo" });

    // Assess
    expect(tasks.tasks).toHaveLength(1);
    expect(schedules.schedules).toHaveLength(1);
  });

  it("a fan-out group's parents, a subscriber's own copies, and the dead-letter list's copies of any subscriber are the answer", async () => {
    // Prepare
    const { fetch } = scriptedFetch(
      { status: 200, body: { tasks: [parent], next_cursor: null } },
      { status: 200, body: lane("audit") },
      { status: 200, body: { tasks: [copyOf("audit"), copyOf("billing")], next_cursor: null } },
    );
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const parents = await client.listGroupTasks({ topic: "orders", group: "A-1" });
    const copies = await client.listGroupTasks({ topic: "orders", group: "A-1", subscriber: "audit" });
    const failed = await client.listFailedTasks({ topic: "orders" });

    // Assess
    expect(parents.tasks).toHaveLength(1);
    expect(copies.tasks).toHaveLength(1);
    expect(failed.tasks).toHaveLength(2);
  });
});

describe("a list page holding more items than the limit it asked for", () => {
  // The API never answers more than `limit`: such a page is a broken API's, or a proxy's or cache's answer to another
  // request. The CLI printed it whole (thousands of rows) while its cursor went on after them.
  const tasks = (n: number) => Array.from({ length: n }, () => taskViewOf(taskId(), { group: "A-1" }));
  const schedules = (n: number) =>
    Array.from({ length: n }, (_, i) => scheduleViewAnswer("demo", { schedule_id: `demo.schedule.${i}` }));
  const destinations = (n: number) =>
    Array.from({ length: n }, (_, i) => destinationViewAnswer("demo", { host: `h${i}.example.com` }));
  const cases: [
    string,
    string,
    (n: number) => unknown,
    (client: PunctualClient) => Promise<unknown>,
    number,
  ][] = [
    ["listFailedTasks", "tasks", tasks, (c) => c.listFailedTasks({ topic: "demo", limit: 2 }), 2],
    ["listGroupTasks", "tasks", tasks, (c) => c.listGroupTasks({ topic: "demo", group: "A-1", limit: 2 }), 2],
    ["listSchedules", "schedules", schedules, (c) => c.listSchedules({ topic: "demo", limit: 2 }), 2],
    ["listDestinations", "destinations", destinations, (c) => c.listDestinations({ limit: 2 }), 2],
    [
      "listFailedTasks without a limit (the default, 50)",
      "tasks",
      tasks,
      (c) => c.listFailedTasks({ topic: "demo" }),
      50,
    ],
    [
      "listSchedules without a limit (the default, 50)",
      "schedules",
      schedules,
      (c) => c.listSchedules({ topic: "demo" }),
      50,
    ],
    [
      "listDestinations without a limit (the default, 50)",
      "destinations",
      destinations,
      (c) => c.listDestinations(),
      50,
    ],
  ];

  it.each(cases)(
    "%s: invalid_response naming the count and the limit, after one request (not retried)",
    async (_, items, rows, call, limit) => {
      // Prepare
      const { fetch, seen } = answeringFetch(() => ({
        status: 200,
        body: { [items]: rows(limit + 1), next_cursor: "c2" },
      }));
      const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

      // Act
      const error = await call(client).catch((e: unknown) => e);

      // Assess
      expect(error).toMatchObject({ code: "invalid_response", status: 200 });
      expect((error as Error).message).toContain(
        `holds ${limit + 1} ${items} where at most ${limit} were asked for`,
      );
      expect(seen).toHaveLength(1);
      expect(seen.map((r) => r.url.searchParams.get("limit"))).toEqual([String(limit)]);
    },
  );

  it.each(cases)("%s: a page of exactly the limit is the answer", async (_, items, rows, call, limit) => {
    // Prepare
    const { fetch } = scriptedFetch({ status: 200, body: { [items]: rows(limit), next_cursor: "c2" } });
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const page = (await call(client)) as Record<string, unknown[]>;

    // Assess
    expect(page[items]).toHaveLength(limit);
  });
});

describe("a topic list holding more topics than any environment holds", () => {
  // GET /v1/topics has no page: a broken or hostile API answering millions of topics filled the client's memory and
  // `punctual topics list`'s terminal. The console refuses more than MAX_LISTED_TOPICS too (console/src/answers.ts).
  const topics = (n: number) => Array.from({ length: n }, (_, i) => topicViewAnswer(`t${i}`));

  it.each([MAX_LISTED_TOPICS + 1, 5_000])(
    "%i topics: invalid_response naming the count and the bound, after one request (not retried)",
    async (n) => {
      // Prepare
      const { fetch, seen } = answeringFetch(() => ({ status: 200, body: { topics: topics(n) } }));
      const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

      // Act
      const error = await client.listTopics().catch((e: unknown) => e);

      // Assess
      expect(error).toMatchObject({ code: "invalid_response", status: 200 });
      expect((error as Error).message).toContain(
        `lists ${n} topics where the API lists at most ${MAX_LISTED_TOPICS}`,
      );
      expect(seen).toHaveLength(1);
    },
  );

  it(`${MAX_LISTED_TOPICS} topics are the answer`, async () => {
    // Prepare
    const { fetch } = scriptedFetch({ status: 200, body: { topics: topics(MAX_LISTED_TOPICS) } });

    // Act
    const list = await new PunctualClient({ apiUrl: API, fetch }).listTopics();

    // Assess
    expect(list.topics).toHaveLength(MAX_LISTED_TOPICS);
  });
});

describe("a task view listing more subscribers or attempts than any task has", () => {
  // A fan-out task has at most MAX_SUBSCRIBERS copies and a task's attempt log is a ring of ATTEMPT_LOG_SIZE: more
  // is a broken API's, and `tasks show` printed every row (thousands of subscribers). The console refuses it too.
  const row = (i: number) => ({
    id: `s${i}`,
    task_id: taskId("orders"),
    callback_url: "https://s.example.com/hook",
    status: "scheduled",
    attempts: 0,
  });
  const attempt = (i: number) => ({ attempt: i + 1, started_at: "2026-11-23T12:01:30.000Z", duration_ms: 5 });
  const parentWith = (subscribers: number, attempts = 0) =>
    taskViewOf(taskId("orders"), {
      topic: "orders",
      callback_url: "",
      subscribers: Array.from({ length: subscribers }, (_, i) => row(i)),
      attempt_log: Array.from({ length: attempts }, (_, i) => attempt(i)),
    });
  const cases: [string, (id: string) => unknown][] = [
    [`${MAX_SUBSCRIBERS + 1} subscribers`, (id) => ({ ...parentWith(MAX_SUBSCRIBERS + 1), task_id: id })],
    ["5000 subscribers", (id) => ({ ...parentWith(5_000), task_id: id })],
    [`${ATTEMPT_LOG_SIZE + 1} attempts`, (id) => ({ ...parentWith(2, ATTEMPT_LOG_SIZE + 1), task_id: id })],
  ];

  it.each(cases)(
    "getTask answered with %s: invalid_response, after one request (not retried)",
    async (_, view) => {
      // Prepare
      const id = taskId("orders");
      const { fetch, seen } = answeringFetch(() => ({ status: 200, body: view(id) }));
      const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

      // Act
      const error = await client.getTask(id).catch((e: unknown) => e);

      // Assess
      expect(error).toMatchObject({ code: "invalid_response", status: 200 });
      expect(seen).toHaveLength(1);
    },
  );

  it.each(cases)("a group's list holding a task with %s: invalid_response", async (_, view) => {
    // Prepare
    const item = { ...(view(taskId("orders")) as Record<string, unknown>), group: "A-1" };
    const { fetch } = answeringFetch(() => ({ status: 200, body: { tasks: [item], next_cursor: null } }));
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const error = await client.listGroupTasks({ topic: "orders", group: "A-1" }).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
  });

  it(`${MAX_SUBSCRIBERS} subscribers and ${ATTEMPT_LOG_SIZE} attempts are the answer`, async () => {
    // Prepare
    const id = taskId("orders");
    const view = { ...parentWith(MAX_SUBSCRIBERS, ATTEMPT_LOG_SIZE), task_id: id };
    const { fetch } = scriptedFetch({ status: 200, body: view });

    // Act
    const task = await new PunctualClient({ apiUrl: API, fetch }).getTask(id);

    // Assess
    expect(task.subscribers).toHaveLength(MAX_SUBSCRIBERS);
    expect(task.attempt_log).toHaveLength(ATTEMPT_LOG_SIZE);
  });
});

describe("an answer nested deeper than any of the API's", () => {
  /** A task view with an extra field nested `depth` levels: JSON.parse reads it, JSON.stringify overflows the stack. */
  const deepTask = (depth: number, id = taskId()) => {
    const view = JSON.stringify(taskViewOf(id));
    return `${view.slice(0, -1)},"extra":${"[".repeat(depth)}${"]".repeat(depth)}}`;
  };

  it.each([128, 100_000])(
    "a 2xx with a field %i arrays deep (past 128 levels) is invalid_response naming the depth, not an answer whose printing or logging overflows the stack",
    async (depth) => {
      // Prepare
      const { fetch } = scriptedFetch({ status: 200, body: deepTask(depth) });

      // Act
      const error = await new PunctualClient({ apiUrl: API, fetch })
        .getTask(taskId())
        .catch((e: unknown) => e);

      // Assess
      expect(error).toMatchObject({ code: "invalid_response", status: 200 });
      expect((error as Error).message).toMatch(/nested deeper than 128 levels/);
    },
  );

  it("an error answer is not read as the API's error (its details would be as deep): http_error with the status", async () => {
    // Prepare
    const depth = 100_000;
    const body = `{"error":{"code":"conflict","message":"m","x":${"[".repeat(depth)}${"]".repeat(depth)}}}`;
    const { fetch } = scriptedFetch({ status: 409, body });

    // Act
    const error = await new PunctualClient({ apiUrl: API, fetch }).getTask(taskId()).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "http_error", status: 409, details: {} });
  });

  it("an answer nested as deep as the API's body limit (128) is read as before", async () => {
    // Prepare: the view's object and 127 arrays in it, 128 levels.
    const id = taskId();
    const { fetch } = scriptedFetch({ status: 200, body: deepTask(127, id) });

    // Act
    const task = await new PunctualClient({ apiUrl: API, fetch }).getTask(id);

    // Assess
    expect(task.task_id).toBeTypeOf("string");
  });
});

describe("an answer holding a number JSON.parse cannot read as written", () => {
  const withExtra = (number: string, id = taskId()) =>
    `${JSON.stringify(taskViewOf(id)).slice(0, -1)},"extra":${number}}`;

  it.each(["1e400", "-1e400", "1e-400", "123456789012345678901234567890"])(
    "%s in a field the client does not know: invalid_response naming it, after one request",
    async (number) => {
      // Prepare
      const { fetch, seen } = answeringFetch(() => ({ status: 200, body: withExtra(number) }));
      const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

      // Act
      const error = await client.getTask(taskId()).catch((e: unknown) => e);

      // Assess
      expect(error).toMatchObject({ code: "invalid_response", status: 200 });
      expect((error as Error).message).toContain(
        `holds the number ${number}, which no JavaScript number holds exactly`,
      );
      expect(seen).toHaveLength(1);
    },
  );

  it.each(["9007199254740991", "1e300", "1e-300", "0e400", "0.1"])("%s is read", async (number) => {
    // Prepare
    const id = taskId();
    const { fetch } = scriptedFetch({ status: 200, body: withExtra(number, id) });

    // Act
    const task = (await new PunctualClient({ apiUrl: API, fetch }).getTask(id)) as Record<string, unknown>;

    // Assess
    expect(task.extra).toBe(Number(number));
  });
});

describe("a next_cursor that is not one of the API's cursors", () => {
  // The API's cursors are base64url (shared/api/cursor.ts), at most 2,048 characters, the most it takes back: any
  // other is not its answer, and a caller passing it on (a shell line, a URL) must not get markup or a command.
  const page = (next: string) => JSON.stringify({ tasks: [], next_cursor: next });

  it.each([
    ["shell syntax", "$(id)"],
    ["markup", "<script>alert(1)</script>"],
    ["a line end", "abc\ndef"],
    ["empty", ""],
    ["longer than the API takes back", "a".repeat(2049)],
  ])("a list page whose next_cursor holds %s is invalid_response", async (_what, next) => {
    const { fetch } = answeringFetch(() => ({ status: 200, body: page(next) }));
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });
    const error = await client.listFailedTasks({ topic: "demo" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
  });

  it("a base64url cursor, or null, is the answer", async () => {
    for (const next of ["eyJwayI6ImRlbW8jXyJ9_-", null]) {
      const { fetch } = scriptedFetch({
        status: 200,
        body: JSON.stringify({ tasks: [], next_cursor: next }),
      });
      const answer = await new PunctualClient({ apiUrl: API, fetch }).listFailedTasks({ topic: "demo" });
      expect(answer.next_cursor).toBe(next);
    }
  });
});

describe("an answer too full of problems to check", () => {
  it("a 2xx list of 130,000 wrong items (≈ 260 KB, under the answer cap) is invalid_response, not a stack overflow", async () => {
    // Prepare: a server answering GET /v1/topics with an array zod/mini's object parser overflows on.
    const body = { topics: Array.from({ length: 130_000 }, () => 1) };
    const { fetch } = answeringFetch(() => ({ status: 200, body }));
    const client = new PunctualClient({
      apiUrl: API,
      fetch,
      sleep: async () => {},
      retry: { maxAttempts: 1 },
    });

    // Act
    const error = await client.listTopics().catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ name: "PunctualError", code: "invalid_response" });
  });
});

describe("a batch answer that gives one task to two adds", () => {
  /** Three adds of one topic, `ns`, answered with the first's task at both of the first two places. */
  const twiceTheFirst = (request: SeenRequest) => {
    const items = addBodiesOf(request);
    const ids = items.map(() => taskId());
    const first = ids[0] as string;
    const answers = items.map((_, i) => ({
      httpStatus: 201,
      answer: addAnswer(i === 1 ? first : (ids[i] as string)),
    }));
    return { status: 200, body: batchOf(answers) };
  };

  it("the batcher: no caller gets another's task, each gets invalid_response", async () => {
    // Prepare: 0 goes alone, 1–3 as one batch whose answer gives 1's task to 2 as well
    const { fetch } = answeringFetch((request) =>
      request.url.pathname.endsWith("/batch")
        ? twiceTheFirst(request)
        : { status: 201, body: addAnswer(taskId()) },
    );
    const client = new PunctualClient({ apiUrl: API, fetch, addBatching: { maxInFlight: 1 } });

    // Act
    const outcomes = await Promise.all(
      [0, 1, 2, 3].map((n) =>
        client.addTask({ ...addBody, content: { n } }).then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        ),
      ),
    );

    // Assess
    for (const outcome of outcomes.slice(1)) {
      expect(outcome).toMatchObject({ error: { code: "invalid_response", status: 200 } });
    }
  });

  it("addTasks: invalid_response, not one task shown as two items added", async () => {
    // Prepare
    const { fetch } = answeringFetch(twiceTheFirst);
    const client = new PunctualClient({ apiUrl: API, fetch });

    // Act
    const outcome = client.addTasks({ tasks: [1, 2, 3].map((n) => ({ ...addBody, content: { n } })) });

    // Assess
    await expect(outcome).rejects.toMatchObject({ code: "invalid_response", status: 200 });
  });

  it("two adds with one idempotency key get the one task both (the second found it by its key)", async () => {
    // Prepare
    const { fetch } = answeringFetch(twiceTheFirst);
    const client = new PunctualClient({ apiUrl: API, fetch });
    const tasks = [1, 1, 3].map((n) => ({ ...addBody, content: { n }, idempotency_key: `k-${n}` }));

    // Act
    const answer = await client.addTasks({ tasks });

    // Assess
    expect(answer.results[1]?.task_id).toBe(answer.results[0]?.task_id);
  });
});

describe("an add answered with another topic's task", () => {
  // What the batch answer's check (a task of another topic at an item's place) refuses, a lone add took as its own.
  const otherTopics = [
    ["topic", { ...addAnswer(taskId("other")), topic: "other" }],
    ["task_id", { ...addAnswer(taskId("other")), topic: "demo" }],
  ] as const;

  it.each(otherTopics)(
    "a lone add (another %s): sent again with its key, then invalid_response, not another topic's task",
    async (_, body) => {
      // Prepare
      const { fetch, seen } = answeringFetch(() => ({ status: 201, body }));
      const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {}, addBatching: false });

      // Act
      const error = await client.addTask(addBody).catch((e: unknown) => e);

      // Assess
      expect(error).toMatchObject({ code: "invalid_response", status: 201 });
      expect(seen).toHaveLength(4);
      expect(new Set(seen.map((request) => request.headers["idempotency-key"])).size).toBe(1);
    },
  );

  it("a batched client's lone add: the same", async () => {
    // Prepare
    const { fetch } = answeringFetch(() => ({ status: 201, body: otherTopics[0][1] }));
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const error = await client.addTask(addBody).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 201 });
  });

  it("its own topic's task is the answer", async () => {
    const id = taskId();
    const { fetch } = answeringFetch(() => ({ status: 201, body: addAnswer(id) }));
    const answer = await new PunctualClient({ apiUrl: API, fetch }).addTask(addBody);
    expect(answer.task_id).toBe(id);
  });
});
