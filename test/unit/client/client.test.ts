import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { InvalidTokenError, PunctualClient, PunctualError, taskViewSchema } from "punctual/client";
import { describe, expect, it } from "vitest";
import type { TaskView as ServerTaskView } from "#shared/api/task-view.js";
import { laneHash } from "#shared/domain/lane-hash.js";
import {
  addAnswer,
  recordingSleep,
  type SeenRequest,
  scriptedFetch,
  taskId,
  taskViewAnswer,
} from "./fakes.js";

const CREDENTIALS = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const AWS_URL = "https://abc123def4.execute-api.eu-west-1.amazonaws.com/";
const addBody = { topic: "demo", delay_seconds: 90, content: { order_id: "A-1" } };

/** Signs the request as it was sent, at the time it says, with an independent signer: equal means verifiable. */
async function expectedAuthorization(
  request: SeenRequest,
  region: string,
  query: Record<string, string> = {},
): Promise<string> {
  const amzDate = request.headers["x-amz-date"] as string;
  const signingDate = new Date(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"),
  );
  const { authorization: _sent, ...headers } = request.headers;
  const signer = new SignatureV4({
    service: "execute-api",
    region,
    credentials: CREDENTIALS,
    sha256: Hash.bind(null, "sha256"),
  });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: request.url.protocol,
      hostname: request.url.hostname,
      path: request.url.pathname,
      query,
      headers: { ...headers, host: request.url.host },
      ...(request.body !== undefined ? { body: request.body } : {}),
    },
    { signingDate },
  );
  return signed.headers.authorization as string;
}

describe("auth", () => {
  it("signs IAM requests with SigV4 for execute-api in the URL's region, over the exact body sent", async () => {
    // Prepare
    const id = taskId();
    const { fetch, seen } = scriptedFetch({ status: 201, body: addAnswer(id) });
    const client = new PunctualClient({
      apiUrl: AWS_URL,
      auth: { kind: "iam", credentials: CREDENTIALS },
      fetch,
    });

    // Act
    await client.addTask(addBody);

    // Assess
    const [request] = seen as [SeenRequest];
    expect(request.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    expect(request.headers.authorization).toMatch(/SignedHeaders=[^,]*idempotency-key/);
    expect(request.headers.authorization).toBe(await expectedAuthorization(request, "eu-west-1"));
  });

  it("a query value with spaces or pluses is sent as it was signed: %20 for a space (SigV4 reads a raw + as a plus)", async () => {
    // Prepare
    const page = { tasks: [], next_cursor: null };
    const answer = { cancelled: 0, not_cancelled: [], more: false, next_cursor: null };
    const { fetch, seen } = scriptedFetch({ status: 200, body: page }, { status: 200, body: answer });
    const client = new PunctualClient({
      apiUrl: AWS_URL,
      auth: { kind: "iam", credentials: CREDENTIALS },
      fetch,
    });

    // Act
    await client.listGroupTasks({ topic: "demo", group: "A 1001+x" });
    await client.cancelGroup("demo", "B 2002");

    // Assess: the query as AWS reads the bytes sent (RFC 3986 percent-decoding, no form `+`), signed independently.
    for (const [request, group] of [
      [seen[0], "A 1001+x"],
      [seen[1], "B 2002"],
    ] as const) {
      const sent = request?.url.search.slice(1) ?? "";
      const query = Object.fromEntries(
        sent.split("&").map((pair) => pair.split("=").map(decodeURIComponent) as [string, string]),
      );
      expect(query.group).toBe(group);
      expect(request?.headers.authorization).toBe(
        await expectedAuthorization(request as SeenRequest, "eu-west-1", query),
      );
    }
  });

  it("sends the session token of temporary credentials, and takes the region from options for custom domains", async () => {
    const id = taskId();
    const { fetch, seen } = scriptedFetch({ status: 200, body: taskViewAnswer(id) });
    const client = new PunctualClient({
      apiUrl: "https://punctual.example.com/",
      auth: { kind: "iam", region: "us-east-2", credentials: { ...CREDENTIALS, sessionToken: "TOKEN" } },
      fetch,
    });

    await client.getTask(id);

    expect(seen[0]?.headers["x-amz-security-token"]).toBe("TOKEN");
    expect(seen[0]?.headers.authorization).toContain("/us-east-2/execute-api/aws4_request");
  });

  it.each([
    ["a line break inside", "IQoJb3JpZ2lu\ns3cret-session-token"],
    ["a NUL", "IQoJb3JpZ2lu\u0000s3cret-session-token"],
  ])(
    "temporary credentials whose session token holds %s: refused at once, not retried, never quoted",
    async (_what, sessionToken) => {
      // Prepare: fetch's own refusal of such a header quotes its whole value (`Headers.append: "…" is an invalid
      // header value.`); a closed loopback port, and the refusal comes before any connection
      const calls: string[] = [];
      const client = new PunctualClient({
        apiUrl: "http://127.0.0.1:9/",
        auth: { kind: "iam", region: "eu-west-1", credentials: { ...CREDENTIALS, sessionToken } },
        fetch: (input, init) => {
          calls.push(String(input));
          return globalThis.fetch(input, init);
        },
        sleep: async () => {},
      });

      // Act
      const failure = await client.getTask(taskId()).then(
        () => undefined,
        (error: unknown) => error,
      );

      // Assess
      expect(failure).toBeInstanceOf(Error);
      expect(`${inspect(failure)} ${(failure as Error).message}`).not.toContain("s3cret");
      expect(failure).toBeInstanceOf(InvalidTokenError);
      expect((failure as Error).message).toMatch(/x-amz-security-token/);
      expect(calls).toEqual([]);
    },
  );

  it("a session token with a line end at its end (read from a CRLF file) still goes out: fetch trims it, as SigV4 does", async () => {
    // Prepare: a loopback server that keeps the token it was sent
    const id = taskId();
    const received: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      received.push(req.headers["x-amz-security-token"] as string | undefined);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(taskViewAnswer(id)));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const client = new PunctualClient({
      apiUrl: `http://127.0.0.1:${port}/`,
      auth: {
        kind: "iam",
        region: "eu-west-1",
        credentials: { ...CREDENTIALS, sessionToken: "IQoJb3JpZ2lu\r" },
      },
      fetch: globalThis.fetch,
    });

    // Act
    try {
      await client.getTask(id);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }

    // Assess
    expect(received).toEqual(["IQoJb3JpZ2lu"]);
  });

  it("refuses IAM auth when no region can be found, at construction", () => {
    expect(
      () => new PunctualClient({ apiUrl: "https://punctual.example.com/", auth: { kind: "iam" }, env: {} }),
    ).toThrow(/region/);
  });

  it("sends a bearer token for JWT stacks, and nothing for a loopback URL by default", async () => {
    const id = taskId();
    const jwt = scriptedFetch({ status: 200, body: taskViewAnswer(id) });
    const local = scriptedFetch({ status: 200, body: taskViewAnswer(id) });

    await new PunctualClient({
      apiUrl: AWS_URL,
      auth: { kind: "jwt", token: async () => "t0k" },
      fetch: jwt.fetch,
    }).getTask(id);
    await new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch: local.fetch }).getTask(id);

    expect(jwt.seen[0]?.headers.authorization).toBe("Bearer t0k");
    expect(local.seen[0]?.headers.authorization).toBeUndefined();
    expect(local.seen[0]?.headers["x-amz-date"]).toBeUndefined();
  });
});

describe("what the client cannot send is refused at once, its secrets never in the error", () => {
  it.each([
    "http://user:s3cret@127.0.0.1:3000",
    "https://:s3cret@abc123def4.execute-api.eu-west-1.amazonaws.com/",
  ])(
    "an API URL with a user name or password (%s) is refused at construction, the password not quoted",
    (apiUrl) => {
      // Act
      const construct = () => new PunctualClient({ apiUrl, auth: { kind: "none" } });

      // Assess
      expect(construct).toThrow(/user name or password/);
      expect(construct).not.toThrow(/s3cret/);
    },
  );

  it.each([
    "https://user:pw/s3cret@abc123def4.execute-api.eu-west-1.amazonaws.com/",
    "http://user:s3cret@bad host:3000/",
  ])(
    "an API URL that does not parse (%s) is refused at construction, the password in no part of the error",
    (apiUrl) => {
      // Act
      let thrown: unknown;
      try {
        new PunctualClient({ apiUrl, auth: { kind: "none" } });
      } catch (error) {
        thrown = error;
      }

      // Assess: what a logger prints of it (its own fields too: Node's URL error carries the whole text as `input`)
      expect(thrown).toBeInstanceOf(TypeError);
      expect(inspect(thrown)).not.toContain("s3cret");
      expect(inspect(thrown)).toMatch(/not an absolute URL/);
    },
  );

  it.each(["ftp://127.0.0.1:3000", "file:///etc/passwd", "ws://127.0.0.1:3000"])(
    "an API URL of another scheme than http(s) (%s) is refused at construction",
    (apiUrl) => {
      expect(() => new PunctualClient({ apiUrl, auth: { kind: "none" } })).toThrow(/http: or https:/);
    },
  );

  it.each([
    ["a trailing CR", "head.s3cret.sig\r"],
    ["a newline", "head\ns3cret.sig"],
    ["a space inside", "head s3cret.sig"],
    ["a non-ASCII character", "head.s3creté.sig"],
    ["nothing", ""],
  ])("a JWT with %s is refused at construction, not quoted", (_what, token) => {
    // Act
    const construct = () => new PunctualClient({ apiUrl: AWS_URL, auth: { kind: "jwt", token } });

    // Assess
    expect(construct).toThrow(/token/);
    expect(construct).not.toThrow(/s3cret/);
  });

  it("a token function's bad token rejects the call at once: nothing sent, not retried, not quoted", async () => {
    // Prepare
    const { fetch, seen } = scriptedFetch();
    const { sleep, waits } = recordingSleep();
    const token = async () => "head.s3cret.sig\r\n";
    const client = new PunctualClient({ apiUrl: AWS_URL, auth: { kind: "jwt", token }, fetch, sleep });

    // Act
    const error = await client.getTask(taskId()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/token/);
    expect((error as Error).message).not.toMatch(/s3cret/);
    expect(seen).toEqual([]);
    expect(waits).toEqual([]);
  });

  it("a token function's bad token on a retry, after an attempt was sent, is no InvalidTokenError: the call may have been applied", async () => {
    // Prepare: the add's first attempt goes out and meets a 503 (its task may be stored); the token the function
    // gives for the retry cannot go in a header (a token file rewritten with a CRLF meanwhile)
    const { fetch, seen } = scriptedFetch({ status: 503, body: { error: { code: "service_unavailable" } } });
    const { sleep } = recordingSleep();
    const tokens = ["head.first.sig", "head.s3cret.sig\r\n"];
    const token = async () => tokens.shift() ?? "head.s3cret.sig\r\n";
    const client = new PunctualClient({ apiUrl: AWS_URL, auth: { kind: "jwt", token }, fetch, sleep });

    // Act
    const error = await client.addTask(addBody).catch((e: unknown) => e);

    // Assess: one request was sent; the failure says so (a PunctualError whose status is no answer: "may be
    // retried", the CLI's exit 3 with the key it sent), never "refused before anything was sent"
    expect(seen).toHaveLength(1);
    expect(error).not.toBeInstanceOf(InvalidTokenError);
    expect(error).toBeInstanceOf(PunctualError);
    expect(error).toMatchObject({ code: "network_error", status: 0 });
    expect((error as Error).message).toMatch(/may have been applied/);
    expect((error as Error).message).not.toMatch(/s3cret/);
  });
});

describe("options that would make the client retry forever or never wait are refused at construction", () => {
  it.each([
    [{ retry: { maxAttempts: Number.NaN } }, /maxAttempts/],
    [{ retry: { maxAttempts: Number.POSITIVE_INFINITY } }, /maxAttempts/],
    [{ retry: { maxAttempts: 0 } }, /maxAttempts/],
    [{ retry: { maxAttempts: 2.5 } }, /maxAttempts/],
    [{ retry: { baseDelayMs: -1 } }, /baseDelayMs/],
    [{ retry: { maxDelayMs: Number.NaN } }, /maxDelayMs/],
    [{ timeoutMs: Number.NaN }, /timeoutMs/],
    [{ timeoutMs: 0 }, /timeoutMs/],
    [{ batchTimeoutMs: Number.POSITIVE_INFINITY }, /batchTimeoutMs/],
  ])("%j", (options, names) => {
    expect(() => new PunctualClient({ apiUrl: "http://127.0.0.1:3000", ...options })).toThrow(names);
  });

  it("a NaN maxAttempts (a Number() of an unset variable) does not retry a 503 forever", async () => {
    // Prepare: a 503 for as long as it is asked.
    const busy = { status: 503, body: { error: { code: "service_unavailable", message: "busy" } } };
    const { fetch, seen } = scriptedFetch(...Array.from({ length: 20 }, () => busy));
    const { sleep } = recordingSleep();

    // Act
    const made = (() => {
      try {
        return new PunctualClient({
          apiUrl: "http://127.0.0.1:3000",
          fetch,
          sleep,
          retry: { maxAttempts: Number.NaN },
        });
      } catch (error) {
        return error;
      }
    })();
    const outcome =
      made instanceof Error
        ? made
        : await (made as PunctualClient).getTask(taskId()).catch((e: unknown) => e);

    // Assess: refused, or at least not the 20 scripted answers and beyond.
    expect(outcome).toBeInstanceOf(Error);
    expect(seen.length).toBeLessThan(20);
  });
});

describe("routes", () => {
  it("calls each route with its method and path, the id percent-encoded, under the URL's stage path", async () => {
    const id = taskId();
    const { fetch, seen } = scriptedFetch(
      { status: 201, body: addAnswer(id) },
      { status: 200, body: taskViewAnswer("a/b") },
      {
        status: 200,
        body: taskViewAnswer(id, { status: "cancelled", cancelled_at: "2026-11-23T12:00:01.000Z" }),
      },
    );
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000/prod/", fetch });

    const added = await client.addTask(addBody);
    const got = await client.getTask("a/b");
    const cancelled = await client.cancelTask(id);

    expect(seen.map((r) => `${r.method} ${r.url.pathname}`)).toEqual([
      "POST /prod/v1/tasks",
      "GET /prod/v1/tasks/a%2Fb",
      `DELETE /prod/v1/tasks/${id}`,
    ]);
    expect(JSON.parse(seen[0]?.body ?? "")).toEqual(addBody);
    expect(seen[0]?.headers["content-type"]).toBe("application/json");
    expect(added.task_id).toBe(id);
    expect(got.status).toBe("scheduled");
    expect(cancelled.status).toBe("cancelled");
  });

  it("calls the API URL's host when its path starts with two slashes, not the host that path would name", async () => {
    // Prepare: `//prod/v1/tasks` resolved against the API URL is scheme-relative: the host `prod`.
    const { fetch, seen } = scriptedFetch({ status: 200, body: taskViewAnswer("a") });
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000//prod/", fetch });

    // Act
    await client.getTask("a");

    // Assess
    expect(seen.map((r) => r.url.href)).toEqual(["http://127.0.0.1:3000//prod/v1/tasks/a"]);
  });

  it("listDestinations sends its page's limit (the API's default, 50, when not given), cursor and state in the query, and answers the page as given", async () => {
    // Prepare
    const page = { destinations: [], next_cursor: "eyJwayI6ImRlc3RpbmF0aW9uIn0", truncated: true };
    const { fetch, seen } = scriptedFetch({ status: 200, body: page }, { status: 200, body: page });
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000/", fetch });

    // Act
    const first = await client.listDestinations();
    await client.listDestinations({ limit: 100, state: "open", cursor: "abc_-1" });

    // Assess
    expect(first).toEqual(page);
    expect(seen.map((r) => `${r.method} ${r.url.pathname}`)).toEqual([
      "GET /v1/destinations",
      "GET /v1/destinations",
    ]);
    expect(seen.map((r) => Object.fromEntries(r.url.searchParams))).toEqual([
      { limit: "50" },
      { limit: "100", state: "open", cursor: "abc_-1" },
    ]);
  });

  it("sends a group cancel's group in the query, so a group named . or .. is not normalized out of the path", async () => {
    // Prepare
    const answer = { cancelled: 1, not_cancelled: [], more: false, next_cursor: null };
    const { fetch, seen } = scriptedFetch(
      { status: 200, body: answer },
      { status: 200, body: answer },
      { status: 200, body: answer },
    );
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000/prod/", fetch });

    // Act
    await client.cancelGroup("demo", ".");
    await client.cancelGroup("demo", "..");
    await client.cancelGroup("demo", "a/b?c", { limit: 5 });

    // Assess
    expect(seen.map((r) => `${r.method} ${r.url.pathname}`)).toEqual([
      "POST /prod/v1/topics/demo/groups/-/cancel",
      "POST /prod/v1/topics/demo/groups/-/cancel",
      "POST /prod/v1/topics/demo/groups/-/cancel",
    ]);
    expect(seen.map((r) => Object.fromEntries(r.url.searchParams))).toEqual([
      { group: "." },
      { group: ".." },
      { group: "a/b?c", limit: "5" },
    ]);
  });

  it("sends a lane cancel's subscriber in the query beside the group, and reads its answer as a group cancel's", async () => {
    // Prepare
    const answer = {
      cancelled: 2,
      not_cancelled: [],
      // One of audit's copies of A-1: its id carries audit's lane of the group
      cancel_requested: [
        { task_id: `orders.${laneHash("orders", "audit", "A-1", "")}.mhx0z8ka.01JD3ZZZZZZZZZZZZZZZZZZZZZ` },
      ],
      more: false,
      next_cursor: null,
    };
    const { fetch, seen } = scriptedFetch({ status: 200, body: answer });
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000/prod/", fetch });

    // Act
    const result = await client.cancelGroup("orders", "A-1", { subscriber: "audit", limit: 10 });

    // Assess
    expect(result).toMatchObject({ cancelled: 2, cancel_requested: answer.cancel_requested });
    expect(seen.map((r) => `${r.method} ${r.url.pathname}`)).toEqual([
      "POST /prod/v1/topics/orders/groups/-/cancel",
    ]);
    expect(Object.fromEntries(seen[0]?.url.searchParams ?? [])).toEqual({
      group: "A-1",
      subscriber: "audit",
      limit: "10",
    });
  });

  it("sends a destination reset's host in one path segment, as the gateway decodes it", async () => {
    // Prepare: hosts the list can show, characters a URL host may hold included
    const hosts = [
      "[::1]:8443",
      "a$b~c!.example.com",
      "x&y'z(1)*+,;=.example.com:8443",
      'a{b}`"c.example.com',
    ];
    const { fetch, seen } = scriptedFetch(
      ...hosts.map((host) => ({ status: 200, body: { host, destinations: [] } })),
    );
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000/prod/", fetch });

    // Act
    for (const host of hosts) await client.resetDestination(host);

    // Assess
    const segments = seen.map((r) => r.url.pathname.split("/"));
    expect(segments.map((s) => s.length)).toEqual(hosts.map(() => 6));
    expect(segments.map((s) => decodeURIComponent(s[4] ?? ""))).toEqual(hosts);
  });

  it("getTask with includeContent asks for the content (?include=content) and answers it exactly as delivered", async () => {
    // Prepare
    const id = taskId();
    const content = '{"order_id":"A-1","n":1.0,"big":12345678901234567890}';
    const { fetch, seen } = scriptedFetch(
      { status: 200, body: taskViewAnswer(id, { content }) },
      { status: 200, body: taskViewAnswer(id) },
      { status: 200, body: taskViewAnswer(id) },
    );
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000/prod/", fetch });

    // Act
    const withContent = await client.getTask(id, {
      includeContent: true,
      signal: new AbortController().signal,
    });
    await client.getTask(id, { includeContent: false });
    await client.getTask(id);

    // Assess: only the first asks; the others send no query at all
    expect(seen.map((r) => `${r.url.pathname}${r.url.search}`)).toEqual([
      `/prod/v1/tasks/${id}?include=content`,
      `/prod/v1/tasks/${id}`,
      `/prod/v1/tasks/${id}`,
    ]);
    expect(withContent.content).toBe(content);
  });

  it("refuses an includeContent that is not a boolean, before sending anything", async () => {
    const { fetch, seen } = scriptedFetch();
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch });

    const error = await client
      .getTask(taskId(), { includeContent: "false" } as unknown as { includeContent: boolean })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TypeError);
    expect(String(error)).toMatch(/includeContent/);
    expect(seen).toEqual([]);
  });

  it("keeps fields the server adds later instead of dropping them", async () => {
    const id = taskId();
    const { fetch } = scriptedFetch({ status: 200, body: taskViewAnswer(id, { priority: 2 }) });
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch });

    const task = await client.getTask(id);

    expect(task).toMatchObject({ priority: 2 });
  });

  it("parses every field of the server's task view", () => {
    const view: Required<ServerTaskView> = {
      ...(taskViewAnswer(taskId()) as ServerTaskView),
      status: "delivered",
      attempts: 2,
      last_error: "HTTP 503",
      queued_at: "2026-11-23T12:01:30.100Z",
      last_attempt_at: "2026-11-23T12:01:31.000Z",
      delivered_at: "2026-11-23T12:01:31.010Z",
      failed_at: "2026-11-23T12:01:31.010Z",
      cancelled_at: "2026-11-23T12:01:31.010Z",
      cancel_requested: true,
      rescheduled_to: "demo._.mhx0z8ka.01JD3AAAAAAAAAAAAAAAAAAAAA",
      rescheduled_at: "2026-11-23T12:01:31.010Z",
      lateness_ms: 112,
      delivery_latency_ms: 9,
      group: "A-1",
      attempt_log: [
        {
          attempt: 1,
          started_at: "2026-11-23T12:01:30.200Z",
          duration_ms: 30,
          status: 503,
          error: "HTTP 503",
        },
        { attempt: 2, started_at: "2026-11-23T12:01:31.000Z", duration_ms: 10, status: 200 },
      ],
      replays: 1,
      replayed_at: "2026-11-23T12:01:30.900Z",
      content: '{"order_id":"A-1","n":1.0}',
      schedule_id: "demo.schedule.01JD3AAAAAAAAAAAAAAAAAAAAA",
      subscribers: [
        {
          id: "billing",
          task_id: "demo.AAAAAAAAAAAAAAAA.mhx0z8ka.01JD3AAAAAAAAAAAAAAAAAAAAA",
          callback_url: "https://billing.example.com/hook",
          status: "failed",
          attempts: 3,
          last_error: "HTTP 500",
          last_attempt_at: "2026-11-23T12:01:31.000Z",
          delivered_at: "2026-11-23T12:01:31.010Z",
          failed_at: "2026-11-23T12:01:31.010Z",
          replays: 1,
        },
        {
          id: "audit",
          task_id: "demo.BBBBBBBBBBBBBBBB.mhx0z8ka.01JD3AAAAAAAAAAAAAAAAAAAAA",
          callback_url: "",
          status: "missing",
          attempts: 0,
        },
      ],
      parent_task_id: "demo._.mhx0z8ka.01JD3AAAAAAAAAAAAAAAAAAAAA",
      subscriber: "billing",
    };

    expect(taskViewSchema.parse(view)).toEqual(view);
  });

  it("reports a 2xx answer that does not match the route's schema as invalid_response", async () => {
    const { fetch } = scriptedFetch({ status: 200, body: { task_id: 1 } });
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, retry: { maxAttempts: 1 } });

    const error = await client.getTask(taskId()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PunctualError);
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
  });
});

describe("retries", () => {
  it("retries an add on 503 with the same generated idempotency key, waiting what Retry-After says", async () => {
    // Prepare
    const id = taskId();
    const { fetch, seen } = scriptedFetch(
      {
        status: 503,
        body: { error: { code: "service_unavailable", message: "busy" } },
        headers: { "retry-after": "2" },
      },
      { status: 201, body: addAnswer(id) },
    );
    const { sleep, waits } = recordingSleep();
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, sleep });

    // Act
    const added = await client.addTask(addBody);

    // Assess
    expect(added.task_id).toBe(id);
    expect(seen).toHaveLength(2);
    const keys = seen.map((r) => r.headers["idempotency-key"]);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(seen[1]?.body).toBe(seen[0]?.body);
    expect(waits).toEqual([2000]);
  });

  it.each([
    ["a lone add (batching on)", { status: 503, headers: { "retry-after": "20" } }, true],
    ["a GET", { status: 503, headers: { "retry-after": "20" } }, false],
    ["a GET after a network error", { networkError: "ECONNRESET" }, false],
  ] as const)(
    "an abort during the wait before a retry rejects %s at once with its reason, nothing sent again",
    async (_what, first, isAdd) => {
      // Prepare: a wait that never ends by itself.
      const { fetch, seen } = scriptedFetch({
        ...first,
        ...("status" in first ? { body: { error: { code: "service_unavailable", message: "busy" } } } : {}),
      } as Parameters<typeof scriptedFetch>[0]);
      let waiting: () => void = () => {};
      const waitStarted = new Promise<void>((resolve) => {
        waiting = resolve;
      });
      const sleep = () => {
        waiting();
        return new Promise<void>(() => {});
      };
      const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, sleep });
      const controller = new AbortController();
      const reason = new Error("the caller gave up");

      // Act
      const call = isAdd
        ? client.addTask(addBody, { signal: controller.signal })
        : client.getTask(taskId(), { signal: controller.signal });
      const settled = call.then(
        () => "resolved",
        (error: unknown) => error,
      );
      await waitStarted;
      controller.abort(reason);

      // Assess
      expect(await settled).toBe(reason);
      expect(seen).toHaveLength(1);
    },
  );

  it("retries network errors with full-jitter exponential backoff, then reports network_error", async () => {
    const { fetch, seen } = scriptedFetch(
      { networkError: "ECONNREFUSED" },
      { networkError: "ECONNRESET" },
      { networkError: "ECONNRESET" },
    );
    const { sleep, waits } = recordingSleep();
    const client = new PunctualClient({
      apiUrl: "http://127.0.0.1:3000",
      fetch,
      sleep,
      random: () => 0.5,
      retry: { maxAttempts: 3, baseDelayMs: 100 },
    });

    const error = await client.addTask(addBody).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PunctualError);
    expect(error).toMatchObject({ code: "network_error", status: 0, issues: [] });
    expect((error as Error).message).toContain("after 3 attempts: ECONNRESET");
    expect(seen).toHaveLength(3);
    expect(new Set(seen.map((r) => r.headers["idempotency-key"])).size).toBe(1);
    expect(waits).toEqual([50, 100]);
  });

  it("gives up after maxAttempts 503s with the last answer's error", async () => {
    const busy = { status: 503, body: { error: { code: "service_unavailable", message: "busy" } } };
    const { fetch, seen } = scriptedFetch(busy, busy);
    const { sleep } = recordingSleep();
    const client = new PunctualClient({
      apiUrl: "http://127.0.0.1:3000",
      fetch,
      sleep,
      retry: { maxAttempts: 2 },
    });

    const error = await client.addTask(addBody).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: "service_unavailable", status: 503, message: "busy" });
    expect(seen).toHaveLength(2);
  });

  it("sends the caller's key as given: from options in the header, from the body alone when it is there", async () => {
    const { fetch, seen } = scriptedFetch(
      { status: 201, body: addAnswer(taskId()) },
      { status: 201, body: addAnswer(taskId()) },
    );
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch });

    await client.addTask(addBody, { idempotencyKey: "order-A-1-remind" });
    await client.addTask({ ...addBody, idempotency_key: "in-body" });

    expect(seen[0]?.headers["idempotency-key"]).toBe("order-A-1-remind");
    expect(seen[1]?.headers["idempotency-key"]).toBeUndefined();
    expect(JSON.parse(seen[1]?.body ?? "")).toMatchObject({ idempotency_key: "in-body" });
  });

  it("retries a 408 (a proxy in front of the API gave up waiting for the request: nothing was processed) with the same key", async () => {
    // Prepare
    const id = taskId();
    const { fetch, seen } = scriptedFetch(
      { status: 408, body: "<html>Request Timeout</html>", headers: { "content-type": "text/html" } },
      { status: 201, body: addAnswer(id) },
    );
    const { sleep } = recordingSleep();
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, sleep, addBatching: false });

    // Act
    const added = await client.addTask(addBody);

    // Assess
    expect(added.task_id).toBe(id);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.headers["idempotency-key"]).toBe(seen[0]?.headers["idempotency-key"]);
  });

  it("never retries a 4xx, and carries the API's code, status, issues and details", async () => {
    const { fetch, seen } = scriptedFetch({
      status: 400,
      body: {
        error: {
          code: "validation_failed",
          message: "the request is invalid",
          issues: [{ path: "delay_seconds", message: "must not be negative" }],
        },
      },
      headers: { "x-amzn-requestid": "req-1" },
    });
    const { sleep, waits } = recordingSleep();
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, sleep });

    const error = await client.addTask({ ...addBody, delay_seconds: -1 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PunctualError);
    expect(error).toMatchObject({
      name: "PunctualError",
      code: "validation_failed",
      status: 400,
      message: "the request is invalid",
      issues: [{ path: "delay_seconds", message: "must not be negative" }],
      requestId: "req-1",
      isClientError: true,
    });
    expect(seen).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it("reads the request id an HTTP API answers with (apigw-requestid), as for a bare gateway 500", async () => {
    const { fetch } = scriptedFetch({
      status: 500,
      body: { message: "Internal Server Error" },
      headers: { "apigw-requestid": "Ab1cDeFgIAMEb2Q=" },
    });
    const client = new PunctualClient({
      apiUrl: "http://127.0.0.1:3000",
      fetch,
      sleep: recordingSleep().sleep,
    });

    const error = await client.addTask(addBody).catch((e: unknown) => e);

    expect(error).toMatchObject({
      code: "http_error",
      status: 500,
      message: "Internal Server Error",
      requestId: "Ab1cDeFgIAMEb2Q=",
    });
  });

  it("keeps a conflict's extra fields in details", async () => {
    const { fetch } = scriptedFetch({
      status: 409,
      body: { error: { code: "conflict", message: "task is delivered", task_status: "delivered" } },
    });
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch });

    const error = await client.cancelTask(taskId()).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: "conflict", status: 409, details: { task_status: "delivered" } });
  });

  it("names API Gateway's own refusals (not our error shape) by status", async () => {
    const { fetch } = scriptedFetch({ status: 403, body: { message: "Forbidden" } });
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch });

    const error = await client.getTask(taskId()).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: "forbidden", status: 403, message: "Forbidden", issues: [] });
  });

  it("a signature mismatch's 403 is named without the session token API Gateway quotes back in it", async () => {
    // Prepare: API Gateway's answer to a SigV4 signature it computes otherwise (a wrong secret key beside a valid
    // key id and session token) quotes the canonical request it expected, every signed header's value included
    // (as captured in mhart/aws4#110: `x-amz-security-token:IQoJ…`)
    const token = "IQoJb3JpZ2luX2VjEJ-s3cret-session-token/+==";
    const message =
      "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n" +
      "The Canonical String for this request should have been\n'GET\n/v1/tasks/x\n\nhost:abc123def4.execute-api.eu-west-1.amazonaws.com\n" +
      `x-amz-date:20261204T234500Z\nx-amz-security-token:${token}\n\nhost;x-amz-date;x-amz-security-token\ne3b0c442'\n\n` +
      "The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261204T234500Z\n20261204/eu-west-1/execute-api/aws4_request\n0f1e'\n";
    const { fetch } = scriptedFetch({ status: 403, body: { message } });
    const client = new PunctualClient({
      apiUrl: AWS_URL,
      auth: { kind: "iam", credentials: { ...CREDENTIALS, sessionToken: token } },
      fetch,
    });

    // Act
    const error = await client.getTask(taskId()).catch((e: unknown) => e);

    // Assess
    expect(inspect(error)).not.toContain("s3cret");
    expect(error).toMatchObject({ code: "forbidden", status: 403 });
    expect((error as PunctualError).message).toMatch(/^The request signature we calculated does not match/);
    expect((error as PunctualError).message).toMatch(/x-amz-security-token:…/);
  });
});
