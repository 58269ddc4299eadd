import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningEmulators, startEmulators } from "#local/aws/emulators.js";
import { rawRequest } from "../../support/raw-request.js";

/**
 * The local emulators check no signature. The local DynamoDB (dynalite) answers CORS for any origin and checks
 * only that an Authorization header is there, so any web page open in the developer's browser could read and
 * write the local cloud's table (task contents included) at its port; the Scheduler emulator reads a text/plain
 * body as JSON, so a page's form-like POST could create a schedule. Browsers send Origin on every such request;
 * AWS SDKs never do.
 */
let emulators: RunningEmulators;
const ASKED = {
  "content-type": "application/x-amz-json-1.0",
  "x-amz-target": "DynamoDB_20120810.ListTables",
  "x-amz-date": "20260101T000000Z",
  authorization:
    "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
};

beforeAll(async () => {
  // A fault policy without rates: the fault proxies are started (they are endpoints too) and inject nothing.
  emulators = await startEmulators({ faults: {} });
});

afterAll(async () => {
  await emulators?.stop();
});

describe("the local emulators and browsers", () => {
  it("the local DynamoDB refuses a web page's preflight and request, and still serves a client that sends no Origin", async () => {
    const url = emulators.endpoints.dynamodb;
    const origin = "https://evil.example";
    const preflight = await fetch(url, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,x-amz-date,x-amz-target",
      },
    });
    const fromPage = await fetch(url, { method: "POST", headers: { ...ASKED, origin }, body: "{}" });
    const fromSdk = await fetch(url, { method: "POST", headers: ASKED, body: "{}" });

    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    expect(fromPage.status).toBe(403);
    expect(fromPage.headers.get("access-control-allow-origin")).toBeNull();
    expect(fromSdk.status).toBe(200);
    expect(await fromSdk.json()).toHaveProperty("TableNames");
  });

  it("the Scheduler emulator refuses a web page's form-like POST (no preflight), and creates nothing", async () => {
    const url = `${emulators.endpoints.scheduler}/schedules/from-a-page`;
    const created = await fetch(url, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "text/plain" },
      body: JSON.stringify({
        ScheduleExpression: "at(2099-01-01T00:00:00)",
        FlexibleTimeWindow: { Mode: "OFF" },
        Target: {
          Arn: "arn:aws:sqs:us-east-1:000000000000:q",
          RoleArn: "arn:aws:iam::000000000000:role/r",
          Input: "{}",
        },
      }),
    });
    const listed = await fetch(`${emulators.endpoints.scheduler}/schedules`);

    expect(created.status).toBe(403);
    expect(await listed.json()).toEqual({ Schedules: [] });
  });

  /**
   * DNS rebinding: a page on a domain of the attacker's that resolves to 127.0.0.1 is same-origin with it, so
   * its requests carry no Origin; they carry the attacker's domain as Host. Each endpoint the emulators listen
   * on refuses them, and a request with an Origin, before anything is done.
   */
  type Endpoint =
    | "dynamodb"
    | "sqs"
    | "scheduler"
    | "gateway"
    | "dynamodb proxy"
    | "sqs proxy"
    | "scheduler proxy";
  const urlOf = (endpoint: Endpoint): string => {
    if (endpoint === "gateway") return emulators.gatewayUrl;
    const [service, proxy] = endpoint.split(" ") as ["dynamodb" | "sqs" | "scheduler", string | undefined];
    const url = proxy ? emulators.faultEndpoints?.[service] : emulators.endpoints[service];
    if (!url) throw new Error(`no ${endpoint} endpoint`);
    return url;
  };
  const serviceOf = (endpoint: Endpoint) =>
    endpoint === "gateway" ? "sqs" : (endpoint.split(" ")[0] as "dynamodb" | "sqs" | "scheduler");

  /** A request that creates something named `name` at the endpoint, and whether that thing exists. */
  function creating(endpoint: Endpoint, name: string) {
    const service = serviceOf(endpoint);
    const url = urlOf(endpoint);
    if (service === "dynamodb") {
      return {
        url,
        headers: { ...ASKED, "x-amz-target": "DynamoDB_20120810.CreateTable" },
        body: JSON.stringify({
          TableName: name,
          AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
          KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
          BillingMode: "PAY_PER_REQUEST",
        }),
        exists: async () => {
          const listed = await fetch(emulators.endpoints.dynamodb, {
            method: "POST",
            headers: ASKED,
            body: "{}",
          });
          return ((await listed.json()) as { TableNames: string[] }).TableNames.includes(name);
        },
      };
    }
    if (service === "sqs") {
      const sqs = { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.CreateQueue" };
      return {
        url,
        headers: sqs,
        body: JSON.stringify({ QueueName: name }),
        exists: async () => {
          const listed = await fetch(emulators.endpoints.sqs, {
            method: "POST",
            headers: { ...sqs, "x-amz-target": "AmazonSQS.ListQueues" },
            body: "{}",
          });
          const { QueueUrls = [] } = (await listed.json()) as { QueueUrls?: string[] };
          return QueueUrls.some((queueUrl) => queueUrl.endsWith(`/${name}`));
        },
      };
    }
    return {
      url: `${url}/schedules/${name}`,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        ScheduleExpression: "at(2099-01-01T00:00:00)",
        FlexibleTimeWindow: { Mode: "OFF" },
        Target: {
          Arn: "arn:aws:sqs:us-east-1:000000000000:q",
          RoleArn: "arn:aws:iam::000000000000:role/r",
          Input: "{}",
        },
      }),
      exists: async () => (await fetch(`${emulators.endpoints.scheduler}/schedules/${name}`)).status === 200,
    };
  }

  const ENDPOINTS: Endpoint[] = [
    "dynamodb",
    "sqs",
    "scheduler",
    "gateway",
    "dynamodb proxy",
    "sqs proxy",
    "scheduler proxy",
  ];
  let named = 0;

  it.each(ENDPOINTS)(
    "%s: a foreign Host (DNS rebinding) is refused with 403 and creates nothing",
    async (endpoint) => {
      const port = new URL(urlOf(endpoint)).port;
      for (const host of [
        "evil.example",
        `evil.example:${port}`,
        `localhost.evil.example:${port}`,
        `0.0.0.0:${port}`,
      ]) {
        const request = creating(endpoint, `from-a-page-${++named}`);

        const answer = await rawRequest(request.url, {
          method: "POST",
          headers: { ...request.headers, host },
          body: request.body,
        });

        expect(answer.status, host).toBe(403);
        expect(answer.body).toContain("AccessDenied");
        expect(await request.exists(), host).toBe(false);
      }
    },
  );

  it.each(ENDPOINTS)(
    "%s: a request with an Origin is refused with 403 and creates nothing",
    async (endpoint) => {
      const request = creating(endpoint, `from-a-page-${++named}`);

      const answer = await rawRequest(request.url, {
        method: "POST",
        headers: { ...request.headers, origin: "https://evil.example" },
        body: request.body,
      });

      expect(answer.status).toBe(403);
      expect(answer.headers["access-control-allow-origin"]).toBeUndefined();
      expect(await request.exists()).toBe(false);
    },
  );

  it.each(ENDPOINTS)(
    "%s: loopback Host names are served (127/8, localhost, *.localhost, [::1])",
    async (endpoint) => {
      const port = new URL(urlOf(endpoint)).port;
      const hosts = [`127.0.0.1:${port}`, `127.1.2.3:${port}`, `LocalHost:${port}`, "localhost"];
      hosts.push(`sqs.us-east-1.localhost:${port}`, `[::1]:${port}`, `[::ffff:127.0.0.1]:${port}`);
      for (const host of hosts) {
        const request = creating(endpoint, `from-a-tool-${++named}`);

        const answer = await rawRequest(request.url, {
          method: "POST",
          headers: { ...request.headers, host },
          body: request.body,
        });

        expect(answer.status, `${host}: ${answer.body}`).toBe(200);
        expect(await request.exists(), host).toBe(true);
      }
    },
  );

  it("an SQS query-protocol call is refused in its own style (an XML ErrorResponse)", async () => {
    const answer = await rawRequest(emulators.endpoints.sqs, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" },
      body: "Action=CreateQueue&QueueName=from-a-form",
    });

    expect(answer.status).toBe(403);
    expect(answer.headers["content-type"]).toContain("xml");
    expect(answer.body).toContain("<Code>AccessDenied</Code>");
  });
});
