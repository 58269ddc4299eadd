import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningEmulators, startEmulators } from "#local/aws/emulators.js";

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
  emulators = await startEmulators();
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
});
