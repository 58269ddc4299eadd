import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SQSClient } from "@aws-sdk/client-sqs";
import { afterEach, describe, expect, it } from "vitest";
import {
  createAwsClient,
  type LocalAwsTransport,
  localAwsTransport,
  type SdkClient,
  setLocalAwsTransport,
} from "#shared/adapters/aws-clients.js";

interface InspectableClient {
  readonly config: { readonly cacheMiddleware?: boolean; readonly requestHandler?: unknown };
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

/**
 * What the deployed functions get: the SDK's own socket handler (behind the wrapper that hands it filed abort
 * signals, shared/adapters/abort-signals.ts) and its whole stack, minus the logger, between the signal's two
 * middlewares.
 */
function expectDeployedShape(client: InspectableClient, plain: InspectableClient): void {
  const transport = (client.config.requestHandler as { transport?: object }).transport;
  expect(transport?.constructor).toBe((plain.config.requestHandler as object).constructor);
  expect(transport?.constructor.name).toBe("NodeHttpHandler");
  expect(middlewareNames(client)).toEqual([
    "punctualAbortSignalCallMiddleware",
    ...middlewareNames(plain).filter((n) => n !== "loggerMiddleware"),
    "punctualAbortSignalMiddleware",
  ]);
  client.destroy();
  plain.destroy();
}

/** A stand-in for the local cloud's fast path: records what it was handed. */
function recordingTransport(): LocalAwsTransport & { readonly adapted: SdkClient[] } {
  const adapted: SdkClient[] = [];
  return { adapted, adapt: (client) => void adapted.push(client) };
}

afterEach(() => setLocalAwsTransport(undefined));

describe("createAwsClient: cached middleware stack, no per-call logger middleware", () => {
  it("DynamoDB", () => expectLean(createAwsClient(DynamoDBClient), new DynamoDBClient({})));
  it("SQS", () => expectLean(createAwsClient(SQSClient), new SQSClient({})));
});

describe("createAwsClient outside the local cloud (the deployed path)", () => {
  it("uses sockets and signs every call: nothing is registered, nothing is adapted", () => {
    // Prepare: nothing registered, as in Lambda.
    expect(localAwsTransport()).toBeUndefined();
    // Act + Assess
    expectDeployedShape(createAwsClient(DynamoDBClient), new DynamoDBClient({}));
    expectDeployedShape(createAwsClient(SQSClient), new SQSClient({}));
    expectDeployedShape(createAwsClient(SchedulerClient), new SchedulerClient({}));
  });

  it("builds the same clients again once a local transport is unregistered", () => {
    // Prepare
    const transport = recordingTransport();
    setLocalAwsTransport(transport);
    createAwsClient(SQSClient).destroy();
    // Act
    setLocalAwsTransport(undefined);
    const after = createAwsClient(SQSClient);
    // Assess
    expect(transport.adapted).toHaveLength(1);
    expectDeployedShape(after, new SQSClient({}));
  });
});

describe("createAwsClient inside the local cloud", () => {
  it("hands every new client to the registered transport, after its own settings", () => {
    // Prepare
    const transport = recordingTransport();
    setLocalAwsTransport(transport);
    // Act
    const dynamodb = createAwsClient(DynamoDBClient);
    const sqs = createAwsClient(SQSClient);
    // Assess
    expect(transport.adapted).toEqual([dynamodb, sqs]);
    expect(middlewareNames(dynamodb)).not.toContain("loggerMiddleware");
    dynamodb.destroy();
    sqs.destroy();
  });
});
