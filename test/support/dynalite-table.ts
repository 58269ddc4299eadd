import { CreateTableCommand, type DynamoDBClient, waitUntilTableExists } from "@aws-sdk/client-dynamodb";

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
