// First: dynalite's store module must take the local cloud's MemoryLevel when it loads (local/aws/dynalite-memory.ts).
import "#local/aws/dynalite-memory.js";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from "@aws-sdk/client-dynamodb";
import dynalite from "dynalite";
import { startDynalite as startLocalCloudDynalite } from "#local/aws/dynalite-store.js";
import type { RequestListener } from "#local/aws/in-process.js";
import { withPartiql } from "#local/aws/partiql.js";
import {
  FAILED_INDEX_NAME,
  FAILED_SORT_ATTRIBUTE,
  FAILED_TOPIC_ATTRIBUTE,
} from "#shared/domain/failed-index.js";
import {
  SCHEDULE_INDEX_NAME,
  SCHEDULE_SHARD_ATTRIBUTE,
  SCHEDULE_SORT_ATTRIBUTE,
} from "#shared/domain/schedule.js";
import { SWEEP_INDEX_NAME, SWEEP_SHARD_ATTRIBUTE, SWEEP_SORT_ATTRIBUTE } from "#shared/domain/sweep.js";
import { loadUnkeptDynalite } from "./dynalite-unkept.js";

/** dynalite on a loopback port, a real SDK client for it, and how to stop both. */
export interface LocalDynamo {
  readonly client: DynamoDBClient;
  stop(): Promise<void>;
}

/**
 * Starts dynalite (tables ACTIVE at once) on a free loopback port. `wrap` puts a layer in front of its request
 * listener (the local cloud's PartiQL emulation); `maxAttempts` is the client's (the SDK's default otherwise);
 * `localCloud`: dynalite as the local cloud starts it (local/aws/dynalite-store.ts: its kept table descriptions and
 * expression parses); `unkept`: a copy of dynalite of its own (test/support/dynalite-unkept.ts), which parses every
 * expression afresh even once a local cloud has started in this process (a plain one then shares the local cloud's
 * kept parses: the two use the same dynalite modules).
 */
export async function startDynalite(
  options: {
    readonly wrap?: (listener: RequestListener) => RequestListener;
    readonly maxAttempts?: number;
    readonly localCloud?: boolean;
    readonly unkept?: boolean;
  } = {},
): Promise<LocalDynamo> {
  const db = options.localCloud
    ? startLocalCloudDynalite({ createTableMs: 0 }).server
    : (options.unkept ? loadUnkeptDynalite().dynalite : dynalite)({ createTableMs: 0 });
  const { wrap } = options;
  const server = wrap ? http.createServer(wrap(db.listeners("request")[0] as RequestListener)) : db;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
  });
  return {
    client,
    stop: async () => {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * dynalite answering PartiQL as the local cloud does (deliver's batch writes use BatchExecuteStatement), each
 * request's operation pushed onto `requests` as the wire sees it: what a test of deliver's calls per task counts.
 */
export function startCountingDynalite(requests: string[]): Promise<LocalDynamo> {
  return startDynalite({
    wrap: (listener) => {
      const partiql = withPartiql(listener);
      return (req, res) => {
        requests.push(String(req.headers["x-amz-target"]).split(".").pop() as string);
        partiql(req, res);
      };
    },
  });
}

/**
 * Waits until dynalite reports the table ACTIVE. Even with `createTableMs: 0` dynalite answers CreateTable while
 * the table is still CREATING and flips it to ACTIVE in a timer and a store write after the answer, so an item call
 * sent straight away can meet ResourceNotFoundException on a busy machine.
 */
export async function tableActive(client: DynamoDBClient, tableName: string): Promise<void> {
  await waitUntilTableExists(
    { client, maxWaitTime: 10, minDelay: 0.05, maxDelay: 0.05 },
    { TableName: tableName },
  );
}

/** An on-demand table keyed by two string attributes (the task table's `pk`/`sk` unless named), ACTIVE. */
export async function createKeyedTable(
  client: DynamoDBClient,
  tableName: string,
  keys: { readonly hash: string; readonly range: string } = { hash: "pk", range: "sk" },
): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: keys.hash, AttributeType: "S" },
        { AttributeName: keys.range, AttributeType: "S" },
      ],
      KeySchema: [
        { AttributeName: keys.hash, KeyType: "HASH" },
        { AttributeName: keys.range, KeyType: "RANGE" },
      ],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await tableActive(client, tableName);
}

/**
 * The task table as the stack declares it (keys, the sweep, failed and schedule indexes with their projections),
 * on demand, ACTIVE: what a store test against dynalite needs to meet DynamoDB's own rules on those indexes.
 */
export async function createTaskTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
        { AttributeName: SWEEP_SHARD_ATTRIBUTE, AttributeType: "N" },
        { AttributeName: SWEEP_SORT_ATTRIBUTE, AttributeType: "N" },
        { AttributeName: FAILED_TOPIC_ATTRIBUTE, AttributeType: "S" },
        { AttributeName: FAILED_SORT_ATTRIBUTE, AttributeType: "N" },
        { AttributeName: SCHEDULE_SHARD_ATTRIBUTE, AttributeType: "N" },
        { AttributeName: SCHEDULE_SORT_ATTRIBUTE, AttributeType: "N" },
      ],
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: SWEEP_INDEX_NAME,
          KeySchema: [
            { AttributeName: SWEEP_SHARD_ATTRIBUTE, KeyType: "HASH" },
            { AttributeName: SWEEP_SORT_ATTRIBUTE, KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "INCLUDE", NonKeyAttributes: ["taskId"] },
        },
        {
          IndexName: FAILED_INDEX_NAME,
          KeySchema: [
            { AttributeName: FAILED_TOPIC_ATTRIBUTE, KeyType: "HASH" },
            { AttributeName: FAILED_SORT_ATTRIBUTE, KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
        {
          IndexName: SCHEDULE_INDEX_NAME,
          KeySchema: [
            { AttributeName: SCHEDULE_SHARD_ATTRIBUTE, KeyType: "HASH" },
            { AttributeName: SCHEDULE_SORT_ATTRIBUTE, KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "KEYS_ONLY" },
        },
      ],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await tableActive(client, tableName);
}
