import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import { API_FUNCTION_ENV, importWithEnv } from "../../support/function-env.js";
import { fixture, silentLogger } from "./fakes.js";

/** The schedule routes through their Lambda handlers: what httpRoute answers around the service. */
let create: typeof import("#functions/create-schedule.js");

beforeAll(async () => {
  create = await importWithEnv(API_FUNCTION_ENV, () => import("#functions/create-schedule.js"));
});

function postSchedule(body: unknown, headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: "POST /v1/schedules",
    rawPath: "/v1/schedules",
    rawQueryString: "",
    headers: { "content-type": "application/json", ...headers },
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: "localhost",
      domainPrefix: "local",
      http: {
        method: "POST",
        path: "/v1/schedules",
        protocol: "HTTP/1.1",
        sourceIp: "127.0.0.1",
        userAgent: "vitest",
      },
      requestId: "r-1",
      routeKey: "POST /v1/schedules",
      stage: "$default",
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}

/** A Lambda context whose remaining time runs out at `deadline` (epoch ms). */
function contextUntil(deadline: number): Context {
  return {
    functionName: "punctual-test",
    awsRequestId: "req-1",
    getRemainingTimeInMillis: () => deadline - Date.now(),
  } as unknown as Context;
}

const scheduleBody = (cron: string) => ({
  topic: "demo",
  cron,
  timezone: "UTC",
  content: { order_id: "o-1" },
  callback: { url: "https://receiver.example/hook" },
});

describe("POST /v1/schedules handler", () => {
  it("a create that times out after the schedule may have been stored answers 500 'may have been stored', not a 503 'retry' that would store a second schedule", async () => {
    // Prepare: the schedule is stored, then the inline materialization hangs until the Lambda's deadline.
    const f = fixture();
    f.timerQueue.arm = () => new Promise<void>(() => {});
    const handler = create.createHandler({ ...f.deps, logger: silentLogger() });
    const context = contextUntil(Date.now() + 800);

    // Act
    const response = (await handler(
      postSchedule(scheduleBody("*/1 * * * *")),
      context,
    )) as APIGatewayProxyStructuredResultV2;

    // Assess
    expect(f.store.schedules.size).toBe(1);
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body as string)).toMatchObject({
      error: { code: "internal_error", message: expect.stringMatching(/may have been stored/) },
    });
  });

  it("refuses an Idempotency-Key header with a 400 naming it and stores nothing: a create takes no key, and a retry trusting it would store a second schedule", async () => {
    // Prepare
    const f = fixture();
    const handler = create.createHandler({ ...f.deps, logger: silentLogger() });
    const context = contextUntil(Date.now() + 10_000);
    const event = postSchedule(scheduleBody("0 3 * * *"), { "idempotency-key": "nightly-1" });

    // Act: the same request twice, as a client retrying "an idempotent request" would
    const first = (await handler(event, context)) as APIGatewayProxyStructuredResultV2;
    const second = (await handler(event, context)) as APIGatewayProxyStructuredResultV2;

    // Assess
    for (const response of [first, second]) {
      expect(response.statusCode).toBe(400);
      expect(JSON.parse(response.body as string)).toMatchObject({
        error: {
          code: "validation_failed",
          issues: [{ path: "Idempotency-Key", message: expect.stringMatching(/no Idempotency-Key/) }],
        },
      });
    }
    expect(f.store.schedules.size).toBe(0);
  });
});
