import http from "node:http";
import type { AddressInfo } from "node:net";
import { CloudWatchClient, type GetMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { afterEach, describe, expect, it } from "vitest";
import { authorizer } from "../../../client/auth.js";
import { apiProxy } from "../../../console/api-proxy.js";
import { cloudWatchMetricsSource } from "../../../console/cloudwatch-metrics.js";
import { consoleMetricsSchema } from "../../../console/schemas.js";
import { METRIC, METRICS_NAMESPACE, TOPIC_DIMENSION } from "../../../shared/domain/metrics.js";

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The console's proxy in front of `apiUrl` (reached through `fakeFetch`), signing with SigV4; its origin. */
async function signingProxy(apiUrl: URL, fakeFetch: typeof fetch): Promise<string> {
  const auth = authorizer(
    { kind: "iam", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } },
    apiUrl,
    {},
  );
  const proxy = apiProxy({ apiUrl, authorize: auth, fetch: fakeFetch });
  return serve(async (req, res) => {
    if (!(await proxy(req, res))) res.writeHead(418).end();
  });
}

describe("the console's API proxy", () => {
  it("signs each /v1 call with SigV4 on the server side and forwards only the API's headers", async () => {
    // Prepare: the deployed API is a fake fetch that records what it receives.
    const apiUrl = new URL("https://abc123.execute-api.eu-west-1.amazonaws.com/");
    const sent: { url: string; headers: Record<string, string>; body?: string }[] = [];
    const fakeFetch = (async (url: URL, init: RequestInit) => {
      sent.push({
        url: String(url),
        headers: init.headers as Record<string, string>,
        body: init.body as string,
      });
      return new Response('{"topics":[]}', { status: 200, headers: { "content-type": "application/json" } });
    }) as unknown as typeof fetch;
    const origin = await signingProxy(apiUrl, fakeFetch);

    // Act
    const answer = await fetch(`${origin}/v1/topics/demo/replay?x=1`, {
      method: "POST",
      headers: { "x-punctual-console": "1", "content-type": "application/json", cookie: "session=1" },
      body: '{"dry_run":true}',
    });

    // Assess
    expect(answer.status).toBe(200);
    expect(sent).toHaveLength(1);
    const [call] = sent;
    expect(call?.url).toBe("https://abc123.execute-api.eu-west-1.amazonaws.com/v1/topics/demo/replay?x=1");
    expect(call?.body).toBe('{"dry_run":true}');
    expect(call?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, /,
    );
    expect(call?.headers["x-amz-date"]).toMatch(/^\d{8}T\d{6}Z$/);
    expect(Object.keys(call?.headers ?? {})).not.toContain("cookie");
    expect(Object.keys(call?.headers ?? {})).not.toContain("x-punctual-console");
    expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
    expect(answer.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  });

  it("forwards a space in a query value as %20, as SigV4 signs it: the page's URLSearchParams writes it as +", async () => {
    // Prepare
    const apiUrl = new URL("https://abc123.execute-api.eu-west-1.amazonaws.com/");
    const sent: string[] = [];
    const fakeFetch = (async (url: URL) => {
      sent.push(String(url));
      return new Response('{"tasks":[],"next_cursor":null}', {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    }) as unknown as typeof fetch;
    const origin = await signingProxy(apiUrl, fakeFetch);
    const query = new URLSearchParams({ topic: "demo", group: "A 1001+x" });

    // Act
    const answer = await fetch(`${origin}/v1/tasks?${query}`, { headers: { "x-punctual-console": "1" } });

    // Assess
    expect(answer.status).toBe(200);
    expect(sent).toEqual([
      "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/tasks?topic=demo&group=A%201001%2Bx",
    ]);
  });

  it("never follows the API's redirect: the signed request, credentials and all, goes to the API's host only", async () => {
    // Prepare: an "API" that redirects every call to another host, which records whatever reaches it.
    const reached: http.IncomingHttpHeaders[] = [];
    const elsewhere = await serve((req, res) => {
      reached.push(req.headers);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    const api = await serve((req, res) => {
      res.writeHead(307, { location: `${elsewhere}${req.url}` }).end();
    });
    const proxy = apiProxy({
      apiUrl: new URL(api),
      authorize: async () => ({ authorization: "Bearer operator-token", "x-amz-security-token": "session" }),
    });
    const origin = await serve(async (req, res) => {
      if (!(await proxy(req, res))) res.writeHead(418).end();
    });

    // Act
    const answer = await fetch(`${origin}/v1/topics/demo/pause`, {
      method: "POST",
      headers: { "x-punctual-console": "1" },
    });

    // Assess: the redirect comes back as the API's answer; nothing (and no credential) went to the other host.
    expect(answer.status).toBe(307);
    expect(reached).toEqual([]);
  });

  it("marks every proxied answer no-store, as the API marks its own: task content never lands in the browser's cache", async () => {
    // Prepare: an API whose answers say nothing about caching (API Gateway's own 403s do not), or something else.
    const api = await serve((req, res) => {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (req.url?.includes("public")) headers["cache-control"] = "public, max-age=3600";
      res.writeHead(req.url?.includes("denied") ? 403 : 200, headers).end('{"content":"secret"}');
    });
    const proxy = apiProxy({ apiUrl: new URL(api), authorize: async () => ({ authorization: "x" }) });
    const origin = await serve(async (req, res) => {
      if (!(await proxy(req, res))) res.writeHead(418).end();
    });

    // Act
    const answers = await Promise.all(
      ["/v1/tasks/a?include=content", "/v1/denied", "/v1/public"].map((p) =>
        fetch(`${origin}${p}`, { headers: { "x-punctual-console": "1" } }),
      ),
    );

    // Assess
    expect(answers.map((a) => a.status)).toEqual([200, 403, 200]);
    for (const answer of answers) expect(answer.headers.get("cache-control")).toBe("no-store");
  });

  it("sends every call to the configured API, whatever host an absolute or scheme-relative request target names", async () => {
    // Prepare: the configured API (with a stage path) and another host; both record what reaches them.
    const reached: { api: string[]; elsewhere: string[] } = { api: [], elsewhere: [] };
    const record = (into: string[]) => (req: http.IncomingMessage, res: http.ServerResponse) => {
      into.push(req.url ?? "");
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    };
    const api = await serve(record(reached.api));
    const elsewhere = new URL(await serve(record(reached.elsewhere)));
    const proxy = apiProxy({
      apiUrl: new URL(`${api}/prod/`),
      authorize: async () => ({ authorization: "x" }),
    });
    const origin = new URL(
      await serve(async (req, res) => {
        if (!(await proxy(req, res))) res.writeHead(418).end();
      }),
    );
    const send = (target: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(
          { host: origin.hostname, port: origin.port, path: target, headers: { "x-punctual-console": "1" } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.once("error", reject).end();
      });

    // Act
    const statuses = [
      await send(`http://${elsewhere.host}/v1/topics`),
      await send(`//${elsewhere.host}/v1/topics`),
      await send(`/v1//${elsewhere.host}/v1/topics`),
    ];

    // Assess: the scheme-relative target's path as sent is `//host/v1/topics`, no /v1/ call (as the local API server
    // routes it): not taken (the console server's 404 in punctual console), sent nowhere
    expect(statuses).toEqual([200, 418, 200]);
    expect(reached.elsewhere).toEqual([]);
    expect(reached.api).toEqual(["/prod/v1/topics", `/prod/v1//${elsewhere.host}/v1/topics`]);
  });
});

describe("the console's API proxy under an API URL whose path starts with two slashes", () => {
  it.each([
    ["//", "/v1/topics"],
    ["//prod", "//prod/v1/topics"],
    ["//prod/", "//prod/v1/topics"],
  ])(
    "signs and sends the call to the API's host, not to one its path names (path %s)",
    async (path, expected) => {
      // Prepare: the API (reached through a recording fetch: nothing leaves this machine) and what is signed.
      const apiUrl = new URL(`https://abc123.execute-api.eu-west-1.amazonaws.com${path}`);
      const sent: string[] = [];
      const signed: string[] = [];
      const fakeFetch = (async (url: URL) => {
        sent.push(String(url));
        return new Response("{}", { status: 200, headers: { "content-type": "application/json" } });
      }) as unknown as typeof fetch;
      const proxy = apiProxy({
        apiUrl,
        authorize: async (request) => {
          signed.push(request.url.href);
          return { authorization: "Bearer secret" };
        },
        fetch: fakeFetch,
      });
      const origin = await serve(async (req, res) => {
        if (!(await proxy(req, res))) res.writeHead(418).end();
      });

      // Act
      const answer = await fetch(`${origin}/v1/topics`, { headers: { "x-punctual-console": "1" } });
      await answer.arrayBuffer();

      // Assess: `${"//"}v1/topics` resolved against the API URL is a scheme-relative URL naming the host `v1`
      expect(answer.status).toBe(200);
      const target = `https://abc123.execute-api.eu-west-1.amazonaws.com${expected}`;
      expect(signed).toEqual([target]);
      expect(sent).toEqual([target]);
    },
  );
});

describe("the CloudWatch metrics source", () => {
  it("asks GetMetricData for lateness p50/p90/p99 on the metric and dimensions the dashboard uses", async () => {
    // Prepare: a stub CloudWatch client answering one lateness percentile and one delivered count.
    const now = Date.UTC(2026, 0, 1, 12, 2, 30);
    const minute = Date.UTC(2026, 0, 1, 12, 2);
    const commands: GetMetricDataCommand[] = [];
    const cloudwatch = {
      send: async (command: GetMetricDataCommand) => {
        commands.push(command);
        return {
          MetricDataResults: [
            { Id: "all_p99", Timestamps: [new Date(Date.UTC(2026, 0, 1, 12, 0))], Values: [250] },
            { Id: "all_n", Timestamps: [new Date(Date.UTC(2026, 0, 1, 12, 0))], Values: [4] },
            { Id: "min_p50", Timestamps: [new Date(minute)], Values: [80] },
            { Id: "delivered", Timestamps: [new Date(minute)], Values: [4] },
          ],
        };
      },
    } as unknown as CloudWatchClient;

    // Act
    const answer = await cloudWatchMetricsSource(
      cloudwatch,
      "punctual-prod",
      () => now,
    )({
      topic: "orders",
      minutes: 3,
    });

    // Assess
    const input = commands[0]?.input;
    const lateness = input?.MetricDataQueries?.filter(
      (q) => q.MetricStat?.Metric?.MetricName === METRIC.lateness,
    );
    expect(lateness?.map((q) => q.MetricStat?.Stat).sort()).toEqual(
      ["SampleCount", "SampleCount", "p50", "p50", "p90", "p90", "p99", "p99"].sort(),
    );
    for (const q of input?.MetricDataQueries ?? []) {
      expect(q.MetricStat?.Metric?.Namespace).toBe(METRICS_NAMESPACE);
      expect(q.MetricStat?.Metric?.Dimensions).toEqual([
        { Name: "service", Value: "punctual-prod" },
        { Name: TOPIC_DIMENSION, Value: "orders" },
      ]);
    }
    expect(input?.StartTime).toEqual(new Date(Date.UTC(2026, 0, 1, 12, 0)));
    expect(consoleMetricsSchema.parse(answer)).toEqual(answer);
    expect(answer).toMatchObject({
      source: "cloudwatch",
      delivered: 4,
      lateness: { count: 4, p99: 250, p50: null },
    });
    expect(answer.series[2]).toMatchObject({ t: minute / 1000, p50: 80, delivered: 4 });
  });
});

describe("the CloudWatch metrics source's cost", () => {
  it("asks CloudWatch at most once per topic and window every 30 s, however many tabs and panels poll it", async () => {
    // Prepare: a CloudWatch client that counts calls (each is billed per metric requested) and can fail.
    let now = Date.UTC(2026, 0, 1, 12, 0, 5);
    let calls = 0;
    let failing = false;
    const cloudwatch = {
      send: async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (failing) throw new Error("ThrottlingException: Rate exceeded");
        return { MetricDataResults: [] };
      },
    } as unknown as CloudWatchClient;
    const metrics = cloudWatchMetricsSource(cloudwatch, "punctual-prod", () => now);
    const orders = { topic: "orders", minutes: 15 };

    // Act: the topics row and the lateness panel at once, then the page's next polls within 30 s.
    const [first, second] = await Promise.all([metrics(orders), metrics(orders)]);
    now += 3_000;
    await metrics(orders);
    now += 26_000;
    await metrics(orders);
    const cached = calls;
    await metrics({ topic: "orders", minutes: 60 });
    await metrics({ topic: "payments", minutes: 15 });
    const perKey = calls;
    now += 1_001;
    const later = await metrics(orders);
    const refreshed = calls;
    now += 30_001;
    failing = true;
    await expect(metrics(orders)).rejects.toThrow(/Throttling/);
    failing = false;
    await metrics(orders);

    // Assess: one call per key per 30 s; a new answer after; a failure is not kept.
    expect(cached).toBe(1);
    expect(second).toBe(first);
    expect(perKey).toBe(3);
    expect(refreshed).toBe(4);
    expect(later.to).toBe(new Date(Date.UTC(2026, 0, 1, 12, 0, 35, 1)).toISOString());
    expect(calls).toBe(6);
  });
});

describe("the CloudWatch metrics source against a CloudWatch that never answers", () => {
  /**
   * A call on a dead connection (a laptop back from sleep, a VPN dropped) can wait forever: the SDK sets no request
   * timeout of its own. The page loads one call at a time per panel, so the topics panel (its metrics calls in one
   * load with GET /v1/topics) and the lateness panel stayed frozen on their last answer, nothing said, for good.
   */
  it("gives up after its timeout, so the panel's next poll asks again", async () => {
    // Prepare: a client that never answers, and stops when aborted, as the SDK's does.
    let calls = 0;
    const cloudwatch = {
      send: (_command: unknown, options?: { abortSignal?: AbortSignal }) => {
        calls++;
        return new Promise((_resolve, reject) => {
          options?.abortSignal?.addEventListener("abort", () => reject(new Error("Request aborted")));
        });
      },
    } as unknown as CloudWatchClient;
    let now = Date.UTC(2026, 0, 1, 12, 0, 5);
    const metrics = cloudWatchMetricsSource(cloudwatch, "punctual-prod", () => now, 50);
    const orders = { topic: "orders", minutes: 15 };

    // Act
    const first = metrics(orders).then(
      () => "answered",
      (error: Error) => error.message,
    );
    const outcome = await first;
    now += 3_000;
    const again = await metrics(orders).catch((error: Error) => error.message);

    // Assess
    expect(outcome).toMatch(/CloudWatch did not answer/);
    expect(again).toMatch(/CloudWatch did not answer/);
    expect(calls).toBe(2);
  }, 10_000);

  it("gives up the SDK's own call too: a CloudWatch endpoint that reads the request and never answers", async () => {
    // Prepare: the real client, aimed at a loopback server that never answers.
    const seen: string[] = [];
    const silent = http.createServer((req) => {
      seen.push(req.method ?? "");
      req.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const cloudwatch = new CloudWatchClient({
      region: "eu-west-1",
      endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    });
    try {
      // Act
      const outcome = await cloudWatchMetricsSource(
        cloudwatch,
        "punctual-prod",
        Date.now,
        300,
      )({
        topic: "orders",
        minutes: 5,
      }).catch((error: Error) => error.message);

      // Assess
      expect(outcome).toMatch(/CloudWatch did not answer GetMetricData within 0.3 s/);
      expect(seen).toEqual(["POST"]);
    } finally {
      cloudwatch.destroy();
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 10_000);
});
