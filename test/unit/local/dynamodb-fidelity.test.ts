import { randomUUID } from "node:crypto";
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type RunningEmulators,
  startEmulators,
} from "#local/aws/emulators.js";
import { tableActive } from "../../support/dynalite-table.js";

/**
 * The local DynamoDB (dynalite behind local/aws/) against DynamoDB's documented answer to a refused conditional
 * write that asked `ReturnValuesOnConditionCheckFailure: ALL_OLD`: the ConditionalCheckFailedException carries the
 * item as it is (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html,
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DeleteItem.html). The task store reads it to
 * tell its own earlier, written try from another writer's (shared/adapters/dynamo-task-store.ts, updateAnswering).
 * And a Query's Limit counts the items read before its FilterExpression, so a page may hold fewer (even none) and
 * still carry a LastEvaluatedKey (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.FilterExpression.html):
 * the store's group reads page on until no key comes back.
 */
let emulators: RunningEmulators;
let dynamo: DynamoDBClient;
const table = `fid-${randomUUID()}`;

beforeAll(async () => {
  emulators = await startEmulators();
  dynamo = new DynamoDBClient({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: emulators.endpoints.dynamodb,
    maxAttempts: 1,
  });
  await dynamo.send(
    new CreateTableCommand({
      TableName: table,
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
      ],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await tableActive(dynamo, table);
});

afterAll(async () => {
  dynamo.destroy();
  await emulators.stop();
});

async function storedItem() {
  const item = { pk: { S: `p-${randomUUID()}` }, sk: { S: "s" }, status: { S: "delivered" }, n: { N: "3" } };
  await dynamo.send(new PutItemCommand({ TableName: table, Item: item }));
  return item;
}

async function refusal(sending: Promise<unknown>): Promise<ConditionalCheckFailedException> {
  const error = await sending.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConditionalCheckFailedException);
  return error as ConditionalCheckFailedException;
}

describe("a refused conditional write, as DynamoDB answers it", () => {
  it("UpdateItem with ALL_OLD: the refusal carries the item as it is", async () => {
    // Prepare
    const item = await storedItem();

    // Act
    const error = await refusal(
      dynamo.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: item.pk, sk: item.sk },
          UpdateExpression: "SET #s = :new",
          ConditionExpression: "#s = :expected",
          ExpressionAttributeNames: { "#s": "status" },
          ExpressionAttributeValues: { ":new": { S: "failed" }, ":expected": { S: "delivering" } },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      ),
    );

    // Assess
    expect(error.Item).toEqual(item);
  });

  it("DeleteItem with ALL_OLD: the refusal carries the item as it is", async () => {
    // Prepare
    const item = await storedItem();

    // Act
    const error = await refusal(
      dynamo.send(
        new DeleteItemCommand({
          TableName: table,
          Key: { pk: item.pk, sk: item.sk },
          ConditionExpression: "attribute_not_exists(pk)",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      ),
    );

    // Assess
    expect(error.Item).toEqual(item);
  });

  it("without ALL_OLD (or with no item there) the refusal carries none", async () => {
    // Prepare
    const item = await storedItem();

    // Act
    const plain = await refusal(
      dynamo.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: item.pk, sk: item.sk },
          UpdateExpression: "SET n = :n",
          ConditionExpression: "attribute_not_exists(pk)",
          ExpressionAttributeValues: { ":n": { N: "4" } },
        }),
      ),
    );
    const missing = await refusal(
      dynamo.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: { S: `absent-${randomUUID()}` }, sk: { S: "s" } },
          UpdateExpression: "SET n = :n",
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeValues: { ":n": { N: "4" } },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      ),
    );

    // Assess
    expect(plain.Item).toBeUndefined();
    expect(missing.Item).toBeUndefined();
  });
});

describe("a Query's Limit, as DynamoDB applies it", () => {
  it("counts the items read before the filter: a page of filtered-out items is empty and still has a next key", async () => {
    // Prepare
    const pk = { S: `q-${randomUUID()}` };
    const rows: [sk: string, status: string][] = [
      ["1", "delivered"],
      ["2", "delivered"],
      ["3", "scheduled"],
    ];
    for (const [sk, status] of rows)
      await dynamo.send(
        new PutItemCommand({ TableName: table, Item: { pk, sk: { S: sk }, status: { S: status } } }),
      );
    const page = (start?: Record<string, never>) =>
      dynamo.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: "pk = :pk",
          FilterExpression: "#s = :scheduled",
          ExpressionAttributeNames: { "#s": "status" },
          ExpressionAttributeValues: { ":pk": pk, ":scheduled": { S: "scheduled" } },
          Limit: 2,
          ...(start && { ExclusiveStartKey: start }),
        }),
      );

    // Act
    const first = await page();
    const second = await page(first.LastEvaluatedKey as Record<string, never>);

    // Assess
    expect(first.Items).toEqual([]);
    expect(first.ScannedCount).toBe(2);
    expect(first.LastEvaluatedKey).toEqual({ pk, sk: { S: "2" } });
    expect(second.Items?.map((item) => item.sk?.S)).toEqual(["3"]);
  });
});

/**
 * DynamoDB's 400 KB item limit, names and values counted
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html): a task's content is bounded
 * by the API below it, and a write past it is a ValidationException, never a silent cut.
 */
describe("the 400 KB item limit, as DynamoDB applies it", () => {
  it("refuses a put, and an update that would grow an item, past 400 KB", async () => {
    // Prepare
    const item = await storedItem();
    const big = "x".repeat(401 * 1024);

    // Act
    const put = dynamo.send(
      new PutItemCommand({
        TableName: table,
        Item: { pk: { S: `big-${randomUUID()}` }, sk: { S: "s" }, c: { S: big } },
      }),
    );
    const update = dynamo.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: item.pk, sk: item.sk },
        UpdateExpression: "SET c = :c",
        ExpressionAttributeValues: { ":c": { S: big } },
      }),
    );

    // Assess
    await expect(put).rejects.toMatchObject({ name: "ValidationException" });
    await expect(update).rejects.toMatchObject({ name: "ValidationException" });
  });
});

/**
 * DynamoDB counts a string's size in UTF-8 bytes, attribute names included, and bounds a partition key value at
 * 2,048 bytes and a sort key value at 1,024 (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html,
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html). dynalite counted UTF-16 code
 * units, so text outside ASCII (2–4 bytes a character) passed locally at up to 3 times what AWS takes: a size
 * bound written in characters, or a write near a limit, would only fail on AWS.
 */
describe("sizes in UTF-8 bytes, as DynamoDB counts them", () => {
  const twoBytes = "é";
  const refusedAs = (answer: PromiseSettledResult<unknown>) =>
    answer.status === "rejected" ? (answer.reason as Error).name : "accepted";

  it("refuses an item past 400 KB in UTF-8 bytes (a value, an attribute name) that is within it in characters", async () => {
    // Prepare
    const item = await storedItem();
    const value = twoBytes.repeat(205 * 1024); // 205 K characters, 410 KB
    const name = twoBytes.repeat(40_000); // with a 330 KB value: 80 KB more, 40 K characters

    // Act
    const put = dynamo.send(
      new PutItemCommand({
        TableName: table,
        Item: { pk: { S: `big-${randomUUID()}` }, sk: { S: "s" }, c: { S: value } },
      }),
    );
    const named = dynamo.send(
      new PutItemCommand({
        TableName: table,
        Item: { pk: { S: `big-${randomUUID()}` }, sk: { S: "s" }, [name]: { S: "x".repeat(330 * 1024) } },
      }),
    );
    const nested = dynamo.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: item.pk, sk: item.sk },
        UpdateExpression: "SET m = :m",
        ExpressionAttributeValues: { ":m": { M: { k: { L: [{ S: value }] } } } },
      }),
    );

    // Assess
    const answers = await Promise.allSettled([put, named, nested]);
    expect(answers.map(refusedAs)).toEqual([
      "ValidationException",
      "ValidationException",
      "ValidationException",
    ]);
  });

  it("takes an item of 390 KB in UTF-8 bytes", async () => {
    const put = dynamo.send(
      new PutItemCommand({
        TableName: table,
        Item: { pk: { S: `big-${randomUUID()}` }, sk: { S: "s" }, c: { S: twoBytes.repeat(195 * 1024) } },
      }),
    );

    await expect(put).resolves.toBeDefined();
  });

  it.each([
    ["a partition key of 2,050 bytes (1,025 characters)", twoBytes.repeat(1025), "s"],
    ["a sort key of 1,026 bytes (513 characters)", "p", twoBytes.repeat(513)],
  ])("refuses %s, writing and reading", async (_name, pk, sk) => {
    // Act
    const put = dynamo.send(new PutItemCommand({ TableName: table, Item: { pk: { S: pk }, sk: { S: sk } } }));
    const update = dynamo.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: pk }, sk: { S: sk } },
        UpdateExpression: "SET v = :v",
        ExpressionAttributeValues: { ":v": { S: "v" } },
      }),
    );
    const query = dynamo.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: "pk = :p",
        ExpressionAttributeValues: { ":p": { S: "p" } },
        ExclusiveStartKey: { pk: { S: pk }, sk: { S: sk } },
      }),
    );

    // Assess
    const answers = await Promise.allSettled([put, update, query]);
    expect(answers.map(refusedAs)).toEqual([
      "ValidationException",
      "ValidationException",
      "ValidationException",
    ]);
    expect(String((answers[0] as PromiseRejectedResult).reason)).toMatch(/key/);
  });

  it("takes keys at their limits in bytes: 2,048 and 1,024", async () => {
    const put = dynamo.send(
      new PutItemCommand({
        TableName: table,
        Item: { pk: { S: twoBytes.repeat(1024) }, sk: { S: twoBytes.repeat(512) } },
      }),
    );

    await expect(put).resolves.toBeDefined();
  });
});

/**
 * A JSON `null` inside one of DynamoDB's lists or maps (an attribute value, a map member, an expression value, a
 * key member, a batch entry). DynamoDB's model (Smithy) has no sparse collections, and a Smithy service refuses a
 * null in a collection that is not `@sparse` while reading the request: a 400 SerializationException, a client's
 * error an SDK does not retry (https://smithy.io/2.0/spec/type-refinement-traits.html#sparse-trait; smithy's
 * server SDKs: aws/aws-sdk-js-v3#2771). A body of `null` is read as the empty input. dynalite threw a TypeError
 * on each (its validations read `null.S`), answered 500 InternalServerError, which an SDK retries and a caller
 * reads as AWS's fault (local/aws/dynalite-guard.ts).
 */
describe("a JSON null where DynamoDB's model allows none", () => {
  const key = { pk: { S: "nulls" }, sk: { S: "1" } };
  /** One DynamoDB JSON call, the body sent as written (an SDK never sends a null; a hand-made request may). */
  async function sendRaw(operation: string, body: string) {
    const response = await fetch(emulators.endpoints.dynamodb, {
      method: "POST",
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": `DynamoDB_20120810.${operation}`,
        "x-amz-date": "20261205T000000Z",
        authorization:
          "AWS4-HMAC-SHA256 Credential=local/20261205/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x",
      },
      body,
    });
    return { status: response.status, json: (await response.json()) as Record<string, string> };
  }

  it.each([
    ["an attribute value", "PutItem", () => ({ TableName: table, Item: { ...key, a: null } })],
    ["a map member", "PutItem", () => ({ TableName: table, Item: { ...key, a: { M: { b: null } } } })],
    [
      "a list member",
      "PutItem",
      () => ({ TableName: table, Item: { ...key, a: { L: [{ S: "x" }, null] } } }),
    ],
    [
      "an expression attribute value",
      "PutItem",
      () => ({
        TableName: table,
        Item: key,
        ConditionExpression: "a = :x",
        ExpressionAttributeValues: { ":x": null },
      }),
    ],
    ["a key member", "DeleteItem", () => ({ TableName: table, Key: { pk: { S: "nulls" }, sk: null } })],
    [
      "an ExclusiveStartKey member",
      "Query",
      () => ({
        TableName: table,
        KeyConditionExpression: "pk = :p",
        ExpressionAttributeValues: { ":p": { S: "nulls" } },
        ExclusiveStartKey: { pk: null },
      }),
    ],
    [
      "a KeyConditions AttributeValueList member",
      "Query",
      () => ({
        TableName: table,
        KeyConditions: { pk: { ComparisonOperator: "EQ", AttributeValueList: [null] } },
      }),
    ],
    ["a BatchWriteItem entry", "BatchWriteItem", () => ({ RequestItems: { [table]: [null] } })],
    ["a BatchGetItem key", "BatchGetItem", () => ({ RequestItems: { [table]: { Keys: [null] } } })],
  ])(
    "in %s (%s) is refused as a 400 SerializationException, and nothing is written",
    async (_name, operation, request) => {
      // Act
      const answer = await sendRaw(operation, JSON.stringify(request()));

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.json.__type).toBe("com.amazon.coral.service#SerializationException");
      expect(answer.json.Message).toMatch(/null/);
      const stored = await dynamo.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: "pk = :p",
          ExpressionAttributeValues: { ":p": key.pk },
        }),
      );
      expect(stored.Items).toEqual([]);
    },
  );

  it("beside a document nested too deep for dynalite's checks (which throw first) is refused as that null, not answered 500", async () => {
    // Prepare: an attribute nested 20,000 lists deep (dynalite's recursive checks overflow the stack) and a null in
    // a map the walk meets after it; AWS refuses the request while reading it
    const depth = 20_000;
    const deep = `${'{"L":['.repeat(depth)}{"S":"x"}${"]}".repeat(depth)}`;
    const body = `{"TableName":"${table}","Item":{"pk":{"S":"nulls"},"sk":{"S":"deep"},"d":${deep}},"Expected":{"z":null}}`;

    // Act
    const answer = await sendRaw("PutItem", body);

    // Assess
    expect(answer.status).toBe(400);
    expect(answer.json.__type).toBe("com.amazon.coral.service#SerializationException");
    expect(answer.json.Message).toMatch(/'Expected\.z'/);
  });

  it("as the whole body is read as the empty input: a 400 ValidationException naming the missing members", async () => {
    const answer = await sendRaw("PutItem", "null");

    expect(answer.status).toBe(400);
    expect(answer.json.__type).toBe("com.amazon.coral.validate#ValidationException");
    expect(answer.json.message).toMatch(/Value null at 'tableName' failed to satisfy constraint/);
  });
});
