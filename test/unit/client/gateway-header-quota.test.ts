import { PunctualClient, PunctualError } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApiServer } from "#local/runtime/api-server.js";

/**
 * What the typed client does with API Gateway's quota on the request line and header values (10,240 bytes,
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html), which the local API server
 * now enforces as AWS does: docs/API.md warns that a long non-ASCII group value may not be cancellable. Here the
 * widest group value an add accepts (1,024 three-byte characters: 9,216 bytes once percent-encoded), with a JWT of a
 * size identity providers issue, is refused before any function runs.
 */
let api: Awaited<ReturnType<typeof startApiServer>>;
let invocations = 0;

beforeAll(async () => {
  api = await startApiServer({
    host: "127.0.0.1",
    port: 0,
    routes: [
      {
        routeKey: "POST /v1/topics/{topic}/groups/{value}/cancel",
        functionName: "cancel-group",
        timeoutSeconds: 5,
        handler: async () => {
          invocations++;
          return {
            statusCode: 200,
            body: JSON.stringify({ cancelled: 0, not_cancelled: [], more: false, next_cursor: null }),
          };
        },
      },
    ],
  });
});

afterAll(async () => {
  await api.stop();
});

describe("the typed client and API Gateway's 10,240 bytes of request line and header values", () => {
  it("a group cancel past them is refused once, as a 4xx that says nothing was done, not retried", async () => {
    // Prepare: count the attempts the client makes; a 1,200-character bearer token (a Cognito or Entra ID token's size).
    let requests = 0;
    const before = invocations;
    const client = new PunctualClient({
      apiUrl: api.url,
      auth: { kind: "jwt", token: "t".repeat(1_200) },
      fetch: (input, init) => {
        requests++;
        return fetch(input, init);
      },
      sleep: async () => undefined,
    });
    const widestGroup = "€".repeat(1_024);
    // Act
    const error = await client.cancelGroup("demo", widestGroup).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(PunctualError);
    expect((error as PunctualError).status).toBe(431);
    expect(requests).toBe(1);
    expect(invocations).toBe(before);
  });

  it("the same group without the token fits, and reaches the function", async () => {
    // Prepare: the local cloud's own auth (none) adds no header.
    const client = new PunctualClient({ apiUrl: api.url, auth: { kind: "none" } });
    const before = invocations;
    // Act
    const answer = await client.cancelGroup("demo", "€".repeat(1_024));
    // Assess
    expect(answer.more).toBe(false);
    expect(invocations).toBe(before + 1);
  });
});
