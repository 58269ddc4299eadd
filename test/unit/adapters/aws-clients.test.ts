import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { createAwsClient } from "#shared/adapters/aws-clients.js";

interface InspectableClient {
  readonly config: { readonly cacheMiddleware?: boolean };
  readonly middlewareStack: { identify(): string[] };
  destroy(): void;
}

const middlewareNames = (client: InspectableClient) =>
  client.middlewareStack.identify().map((entry) => entry.split(" ")[0]);

function expectLean(client: InspectableClient, plain: InspectableClient): void {
  // A plain client has the logger middleware, so removing it by this name is not a silent no-op.
  expect(middlewareNames(plain)).toContain("loggerMiddleware");
  expect(client.config.cacheMiddleware).toBe(true);
  expect(middlewareNames(client)).not.toContain("loggerMiddleware");
  // Everything else a call needs is still there.
  expect(middlewareNames(client)).toEqual(
    expect.arrayContaining(["retryMiddleware", "httpSigningMiddleware"]),
  );
  client.destroy();
  plain.destroy();
}

describe("createAwsClient: cached middleware stack, no per-call logger middleware", () => {
  it("DynamoDB", () => expectLean(createAwsClient(DynamoDBClient), new DynamoDBClient({})));
  it("SQS", () => expectLean(createAwsClient(SQSClient), new SQSClient({})));
});
