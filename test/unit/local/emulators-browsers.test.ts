import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningEmulators, startEmulators } from "#local/aws/emulators.js";

/**
 * The local DynamoDB (dynalite) answers CORS for any origin and checks only that an Authorization header is
 * there, so any web page open in the developer's browser could read and write the local cloud's table (task
 * contents included) at its port. Browsers send Origin on every such request; AWS SDKs never do.
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

describe("the local DynamoDB and browsers", () => {
  it("refuses a web page's preflight and request, and still serves a client that sends no Origin", async () => {
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
});
