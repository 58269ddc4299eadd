import { ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * A hand-made DynamoDB request to the local cloud's AWS endpoint (the `aws` CLI, a typo'd script) is answered and
 * leaves the local cloud running with its data. Each request below (but a tag without Key, and a condition nested
 * deep, which hung it) stopped the emulators' thread, and with it the whole local cloud and every task in memory:
 * dynalite threw on it outside any caller — in its request's `end` handler (local/aws/dynalite-guard.ts answers
 * those) or in its store's callback (the guard refuses such a TagResource first; local/aws/dynalite-conditions.ts
 * refuses such conditions before dynalite evaluates them).
 */
let h: Harness;
let table: string;
let taskId: string;

beforeAll(async () => {
  h = await startHarness();
  table = h.cloud.tableName;
  const added = await h.api("POST", "/v1/tasks", {
    topic: "demo",
    delay_seconds: 3600,
    content: { order_id: "hostile-1" },
    callback: { url: `${h.receiver.url}/ok/hostile` },
  });
  expect(added.status).toBe(201);
  taskId = String(added.json.task_id);
});

afterAll(async () => {
  await h?.stop();
});

/** One DynamoDB JSON call over the wire to the local cloud's single AWS endpoint, the body sent as given. */
async function dynamodb(operation: string, body: string) {
  const response = await fetch(h.cloud.awsEndpoint, {
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
  return { status: response.status, json: (await response.json()) as { __type?: string; message?: string } };
}

async function expectStillRunningWithItsTask(): Promise<void> {
  const tables = await h.dynamodb.send(new ListTablesCommand({}));
  expect(tables.TableNames).toContain(table);
  const task = await h.api("GET", `/v1/tasks/${encodeURIComponent(taskId)}`);
  expect(task.status).toBe(200);
  expect(task.json.status).toBe("scheduled");
}

const key = { pk: { S: "hostile" }, sk: { S: "1" } };

/**
 * Shapes dynalite's validations threw a TypeError on: a JSON null in a list or map, which DynamoDB refuses while
 * reading the request (its model has no sparse collections), a 400 SerializationException
 * (local/aws/dynalite-nulls.ts).
 */
const NULLS_THROWN_ON: readonly (readonly [string, string, () => string])[] = [
  [
    "an attribute value that is null",
    "PutItem",
    () => JSON.stringify({ TableName: table, Item: { ...key, a: null } }),
  ],
  [
    "a map member that is null",
    "PutItem",
    () => JSON.stringify({ TableName: table, Item: { ...key, a: { M: { b: null } } } }),
  ],
  [
    "an expression attribute value that is null",
    "PutItem",
    () =>
      JSON.stringify({
        TableName: table,
        Item: key,
        ConditionExpression: "a = :x",
        ExpressionAttributeValues: { ":x": null },
      }),
  ],
  [
    "a key member that is null",
    "DeleteItem",
    () => JSON.stringify({ TableName: table, Key: { pk: { S: "hostile" }, sk: null } }),
  ],
  [
    "an ExclusiveStartKey member that is null",
    "Query",
    () =>
      JSON.stringify({
        TableName: table,
        KeyConditionExpression: "pk = :p",
        ExpressionAttributeValues: { ":p": { S: "hostile" } },
        ExclusiveStartKey: { pk: null },
      }),
  ],
  [
    "a null in a KeyConditions AttributeValueList",
    "Query",
    () =>
      JSON.stringify({
        TableName: table,
        KeyConditions: { pk: { ComparisonOperator: "EQ", AttributeValueList: [null] } },
      }),
  ],
  [
    "a null in a QueryFilter AttributeValueList",
    "Query",
    () =>
      JSON.stringify({
        TableName: table,
        KeyConditions: { pk: { ComparisonOperator: "EQ", AttributeValueList: [{ S: "hostile" }] } },
        QueryFilter: { a: { ComparisonOperator: "EQ", AttributeValueList: [null] } },
      }),
  ],
  [
    "a BatchWriteItem entry that is null",
    "BatchWriteItem",
    () => JSON.stringify({ RequestItems: { [table]: [null] } }),
  ],
  [
    "a BatchGetItem key that is null",
    "BatchGetItem",
    () => JSON.stringify({ RequestItems: { [table]: { Keys: [null] } } }),
  ],
];

describe("a DynamoDB request holding a null dynalite's validations throw on", () => {
  it.each(NULLS_THROWN_ON)(
    "%s (%s) is refused as a 400 SerializationException and the local cloud keeps its task",
    async (_name, operation, body) => {
      const answer = await dynamodb(operation, body());
      expect(answer.status).toBe(400);
      expect(answer.json.__type).toBe("com.amazon.coral.service#SerializationException");
      expect((answer.json as { Message?: string }).Message).toMatch(/^A null value at '/);
      await expectStillRunningWithItsTask();
    },
  );

  it("a body that is JSON null is read as the empty input: a 400 ValidationException, and the local cloud keeps its task", async () => {
    const answer = await dynamodb("PutItem", "null");
    expect(answer.status).toBe(400);
    expect(answer.json.__type).toBe("com.amazon.coral.validate#ValidationException");
    await expectStillRunningWithItsTask();
  });
});

describe("a DynamoDB request dynalite's validations throw on otherwise", () => {
  it("a list nested 100,000 deep (PutItem) answers 500 InternalServerError and the local cloud keeps its task", async () => {
    const body =
      `{"TableName":${JSON.stringify(table)},"Item":{"pk":{"S":"hostile"},"sk":{"S":"1"},"a":` +
      `${'{"L":['.repeat(100_000)}{"S":"x"}${"]}".repeat(100_000)}}}`;
    const answer = await dynamodb("PutItem", body);
    expect(answer.status).toBe(500);
    expect(answer.json.__type).toBe("com.amazonaws.dynamodb.v20120810#InternalServerError");
    expect(answer.json.message).toMatch(/dynalite/);
    await expectStillRunningWithItsTask();
  });
});

/**
 * TagResource requests dynalite's validations let through: a null tag, or one without Value, then threw in its
 * store's callback; one without Key was stored (DynamoDB requires both), refused alike.
 */
const TAGS_THROWN_ON: readonly (readonly [string, unknown, string])[] = [
  [
    "a tag that is null",
    [null],
    "Value null at 'tags.1.member' failed to satisfy constraint: Member must not be null",
  ],
  [
    "a tag without Value",
    [{ Key: "a", Value: "b" }, { Key: "c" }],
    "Value null at 'tags.2.member.value' failed to satisfy constraint: Member must not be null",
  ],
  [
    "a tag without Key",
    [{ Value: "b" }],
    "Value null at 'tags.1.member.key' failed to satisfy constraint: Member must not be null",
  ],
];

describe("a DynamoDB TagResource dynalite throws on after its validations", () => {
  it.each(TAGS_THROWN_ON)(
    "%s is refused as a 400 ValidationException and the local cloud keeps its task",
    async (_name, tags, violation) => {
      const arn = `arn:aws:dynamodb:us-east-1:000000000000:table/${table}`;
      const answer = await dynamodb("TagResource", JSON.stringify({ ResourceArn: arn, Tags: tags }));
      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({
        __type: "com.amazon.coral.validate#ValidationException",
        message: `1 validation error detected: ${violation}`,
      });
      await expectStillRunningWithItsTask();
    },
  );
});

/** Conditions dynalite threw on in its store's callback, where the operand's attribute is missing. */
const THROWN_IN_EVALUATION: readonly (readonly [string, string, Record<string, unknown>, RegExp])[] = [
  [
    "x IN (path, …)",
    "PutItem",
    {
      ConditionExpression: ":x IN (#gone, #lost)",
      ExpressionAttributeNames: { "#gone": "gone", "#lost": "lost" },
      ExpressionAttributeValues: { ":x": { S: "1" } },
    },
    /^Invalid ConditionExpression: .*IN/,
  ],
  [
    "x BETWEEN y AND path",
    "PutItem",
    {
      ConditionExpression: ":x BETWEEN :y AND #gone",
      ExpressionAttributeNames: { "#gone": "gone" },
      ExpressionAttributeValues: { ":x": { S: "1" }, ":y": { S: "0" } },
    },
    /^Invalid ConditionExpression: .*BETWEEN/,
  ],
  [
    "begins_with(path, path)",
    "PutItem",
    {
      ConditionExpression: "begins_with(#gone, #lost)",
      ExpressionAttributeNames: { "#gone": "gone", "#lost": "lost" },
    },
    /^Invalid ConditionExpression: begins_with/,
  ],
  [
    "a filter x IN (size(path))",
    "Scan",
    {
      FilterExpression: ":x IN (size(#gone))",
      ExpressionAttributeNames: { "#gone": "gone" },
      ExpressionAttributeValues: { ":x": { N: "1" } },
    },
    /^Invalid FilterExpression: .*IN/,
  ],
];

describe("a DynamoDB condition dynalite throws on when an operand's attribute is missing", () => {
  it.each(THROWN_IN_EVALUATION)(
    "%s (%s) is refused as a 400 ValidationException and the local cloud keeps its task",
    async (_name, operation, expression, message) => {
      // The item exists, so that the condition is evaluated (a PutItem on a missing item evaluated it too).
      await dynamodb("PutItem", JSON.stringify({ TableName: table, Item: { ...key, a: { S: "abc" } } }));
      const request = operation === "Scan" ? { TableName: table } : { TableName: table, Item: key };
      const answer = await dynamodb(operation, JSON.stringify({ ...request, ...expression }));
      expect(answer.status).toBe(400);
      expect(answer.json.__type).toBe("com.amazon.coral.validate#ValidationException");
      expect(answer.json.message).toMatch(message);
      await expectStillRunningWithItsTask();
    },
  );
});

describe("a DynamoDB condition nested deeper than dynalite parses in reasonable time", () => {
  it("one nesting parentheses 300 deep is refused as a 400 ValidationException and the local cloud keeps its task", async () => {
    // dynalite's parser takes time exponential in the depth, on the emulators' one thread: this hung every call.
    const condition = `${"(".repeat(299)}attribute_exists(a)${")".repeat(299)}`;
    const answer = await dynamodb(
      "PutItem",
      JSON.stringify({ TableName: table, Item: key, ConditionExpression: condition }),
    );
    expect(answer.status).toBe(400);
    expect(answer.json.__type).toBe("com.amazon.coral.validate#ValidationException");
    expect(answer.json.message).toMatch(
      /^Invalid ConditionExpression: The expression nests parentheses 300 deep/,
    );
    await expectStillRunningWithItsTask();
  });
});

/**
 * PartiQL is answered in front of dynalite (local/aws/partiql.ts): each statement becomes an UpdateItem or PutItem
 * handed to dynalite's listener from a promise, so a statement dynalite's validations threw on rejected it with no
 * one to catch it, and the unhandled rejection stopped the emulators' thread. A null among the parameters is now
 * refused with the whole call, as DynamoDB refuses it while reading it, before any statement runs.
 */
describe("a DynamoDB BatchExecuteStatement whose parameter holds a null", () => {
  it.each([
    ["an UPDATE", (t: string) => `UPDATE "${t}" SET a = ? WHERE pk = 'hostile' AND sk = '1'`],
    ["an INSERT", (t: string) => `INSERT INTO "${t}" VALUE {'pk': 'hostile-new', 'sk': '1', 'a': ?}`],
  ])(
    "%s with a parameter holding a null map member is refused as a 400 SerializationException and the local cloud keeps its task",
    async (_name, statement) => {
      const answer = await dynamodb(
        "BatchExecuteStatement",
        JSON.stringify({ Statements: [{ Statement: statement(table), Parameters: [{ M: { b: null } }] }] }),
      );
      expect(answer.status).toBe(400);
      expect(answer.json.__type).toBe("com.amazon.coral.service#SerializationException");
      expect((answer.json as { Message?: string }).Message).toMatch(/'Statements\.1\.Parameters\.1\.M\.b'/);
      await expectStillRunningWithItsTask();
    },
  );
});
