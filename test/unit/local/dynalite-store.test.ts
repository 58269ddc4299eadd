import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateTableCommand,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDynalite } from "#local/aws/dynalite-store.js";

/**
 * dynalite with the local cloud's table-description cache (local/aws/dynalite-store.ts), over HTTP with a plain
 * SDK client: item actions must always see the table as dynalite stores it, also right after the table changed.
 */
let dynamo: ReturnType<typeof startDynalite>;
let client: DynamoDBClient;

beforeAll(async () => {
  dynamo = startDynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => dynamo.server.listen(0, "127.0.0.1", resolve));
  const { port } = dynamo.server.address() as AddressInfo;
  client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client?.destroy();
  await new Promise<void>((resolve) => dynamo.server.close(() => resolve()));
});

/** Polls (10 ms apart) until the table reaches `status`, or is gone (`status` undefined). */
async function tableStatus(name: string, status: string | undefined): Promise<void> {
  for (;;) {
    const current = await client
      .send(new DescribeTableCommand({ TableName: name }))
      .then((out) => out.Table?.TableStatus)
      .catch((error: Error) => {
        if (error.name === "ResourceNotFoundException") return undefined;
        throw error;
      });
    if (current === status) return;
    await sleep(10);
  }
}

async function createTable(name: string, hashKey: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: [{ AttributeName: hashKey, KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: hashKey, AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await tableStatus(name, "ACTIVE");
}

describe("dynalite's table-description cache", () => {
  it("serves item actions, single and batched, with the stored key schema", async () => {
    // Prepare
    const table = `cache-${randomUUID()}`;
    await createTable(table, "pk");
    const ids = [randomUUID(), randomUUID()];
    // Act
    await client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: ids[0] as string } } }));
    await client.send(
      new BatchWriteItemCommand({
        RequestItems: { [table]: [{ PutRequest: { Item: { pk: { S: ids[1] as string }, n: { N: "1" } } } }] },
      }),
    );
    const wrongKey = client.send(new PutItemCommand({ TableName: table, Item: { id: { S: "x" } } }));
    // Assess
    await expect(wrongKey).rejects.toMatchObject({ name: "ValidationException" });
    const got = await client.send(
      new GetItemCommand({ TableName: table, Key: { pk: { S: ids[1] as string } } }),
    );
    expect(got.Item).toEqual({ pk: { S: ids[1] }, n: { N: "1" } });
  });

  it("sees a table deleted and created again under the same name with another key", async () => {
    // Prepare: the old description has been read (and kept) by an item action.
    const table = `cache-${randomUUID()}`;
    await createTable(table, "pk");
    await client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: "old" } } }));
    // Act
    await client.send(new DeleteTableCommand({ TableName: table }));
    const whileGone = expect(
      client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: "gone" } } })),
    ).rejects.toMatchObject({ name: "ResourceNotFoundException" });
    await tableStatus(table, undefined);
    await createTable(table, "id");
    await client.send(new PutItemCommand({ TableName: table, Item: { id: { S: "new" } } }));
    const oldKey = client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: "old" } } }));
    // Assess
    await whileGone;
    await expect(oldKey).rejects.toMatchObject({ name: "ValidationException" });
    const got = await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: "new" } } }));
    expect(got.Item).toEqual({ id: { S: "new" } });
  });

  it("hands item actions one kept copy until a table action writes the description", async () => {
    // Prepare
    const table = `cache-${randomUUID()}`;
    await createTable(table, "pk");
    const first = await itemActionsView(table);
    const again = await itemActionsView(table);
    // Act
    await client.send(
      new UpdateTableCommand({
        TableName: table,
        BillingMode: "PROVISIONED",
        ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
      }),
    );
    await tableStatus(table, "ACTIVE");
    const updated = await itemActionsView(table);
    // Assess
    expect(again).toBe(first);
    expect(updated).not.toBe(first);
    expect(updated.BillingModeSummary).toMatchObject({ BillingMode: "PROVISIONED" });
    expect(updated.TableStatus).toBe("ACTIVE");
    expect(await tableActionsView(table)).not.toBe(updated);
  });
});

/** What dynalite's item actions read (`getTable(name, callback)`). */
function itemActionsView(name: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) =>
    dynamo.store.getTable(name, (error, table) => (error || !table ? reject(error) : resolve(table))),
  );
}

/** What its table actions read (`getTable(name, false, callback)`): a fresh copy they may change. */
function tableActionsView(name: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) =>
    dynamo.store.getTable(name, false, (error, table) => (error || !table ? reject(error) : resolve(table))),
  );
}
