import { randomUUID } from "node:crypto";
import {
  CreateTableCommand,
  type DynamoDBClient,
  PutItemCommand,
  type PutItemCommandInput,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExpressionParser, keepExpressionParses } from "#local/aws/dynalite-expressions.js";
import { type LocalDynamo, startDynalite, tableActive } from "../../support/dynalite-table.js";

/**
 * dynalite with the local cloud's kept expression parses (local/aws/dynalite-expressions.ts), over HTTP with a
 * plain SDK client: every request is answered as dynalite answers it without them, the second time as the first.
 */
let dynamo: LocalDynamo;
let client: DynamoDBClient;
let table: string;

beforeAll(async () => {
  dynamo = await startDynalite({ localCloud: true, maxAttempts: 1 });
  client = dynamo.client;
  table = `expressions-${randomUUID()}`;
  await client.send(
    new CreateTableCommand({
      TableName: table,
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await tableActive(client, table);
});

afterAll(async () => {
  await dynamo?.stop();
});

/** The outcome of one conditional put, twice in a row: what the first parse and the kept one answer. */
async function putTwice(input: Omit<PutItemCommandInput, "TableName">): Promise<string[]> {
  const outcomes: string[] = [];
  for (let i = 0; i < 2; i++) {
    outcomes.push(
      await client.send(new PutItemCommand({ TableName: table, ...input })).then(
        () => "ok",
        (error: Error) => `${error.name}: ${error.message}`,
      ),
    );
  }
  return outcomes;
}

describe("dynalite's kept expression parses", () => {
  it("resolve each request's own attribute names", async () => {
    // Prepare
    const pk = { S: randomUUID() };
    await client.send(new PutItemCommand({ TableName: table, Item: { pk, a: { S: "x" } } }));
    const condition = "attribute_exists(#n)";
    // Act
    const onA = await putTwice({
      Item: { pk, a: { S: "x" } },
      ConditionExpression: condition,
      ExpressionAttributeNames: { "#n": "a" },
    });
    const onB = await putTwice({
      Item: { pk, a: { S: "x" } },
      ConditionExpression: condition,
      ExpressionAttributeNames: { "#n": "b" },
    });
    // Assess
    expect(onA).toEqual(["ok", "ok"]);
    expect(onB.map((outcome) => outcome.split(":")[0])).toEqual([
      "ConditionalCheckFailedException",
      "ConditionalCheckFailedException",
    ]);
  });

  it("count a kept parse's names as used, and still refuse a name nothing uses", async () => {
    // Prepare
    const pk = { S: randomUUID() };
    const condition = "attribute_not_exists(#p) OR attribute_exists(#p)";
    // Act
    const used = await putTwice({
      Item: { pk },
      ConditionExpression: condition,
      ExpressionAttributeNames: { "#p": "pk" },
    });
    const unused = await putTwice({
      Item: { pk },
      ConditionExpression: condition,
      ExpressionAttributeNames: { "#p": "pk", "#extra": "x" },
    });
    // Assess
    expect(used).toEqual(["ok", "ok"]);
    expect(unused[0]).toMatch(/^ValidationException: .*unused in expressions: keys: \{#extra\}/);
    expect(unused[1]).toBe(unused[0]);
  });

  it("count names an update and a kept condition share", async () => {
    // Prepare
    const pk = { S: randomUUID() };
    await client.send(new PutItemCommand({ TableName: table, Item: { pk } }));
    const update = (n: number) =>
      client.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk },
          UpdateExpression: "SET #c = :n",
          ConditionExpression: "attribute_exists(#p) AND attribute_exists(#p)",
          ExpressionAttributeNames: { "#c": "count", "#p": "pk" },
          ExpressionAttributeValues: { ":n": { N: String(n) } },
          ReturnValues: "ALL_NEW",
        }),
      );
    // Act
    const answers = [await update(1), await update(2)];
    // Assess
    expect(answers.map((answer) => answer.Attributes?.count)).toEqual([{ N: "1" }, { N: "2" }]);
  });

  it("leave an expression with values to each request's values", async () => {
    // Prepare
    const pk = { S: randomUUID() };
    await client.send(new PutItemCommand({ TableName: table, Item: { pk, a: { S: "x" } } }));
    const put = (value: string) =>
      putTwice({
        Item: { pk, a: { S: "x" } },
        ConditionExpression: "a = :v",
        ExpressionAttributeValues: { ":v": { S: value } },
      });
    // Act
    const matching = await put("x");
    const other = await put("y");
    // Assess
    expect(matching).toEqual(["ok", "ok"]);
    expect(other.map((outcome) => outcome.split(":")[0])).toEqual([
      "ConditionalCheckFailedException",
      "ConditionalCheckFailedException",
    ]);
  });

  it("check each request's value types, and BETWEEN's bounds, afresh", async () => {
    // Prepare
    const pk = { S: randomUUID() };
    const item = { pk, a: { S: "m" } };
    const prefix = (value: PutItemCommandInput["ExpressionAttributeValues"]) =>
      putTwice({ Item: item, ConditionExpression: "begins_with(a, :v)", ExpressionAttributeValues: value });
    const between = (lo: string, hi: string) =>
      putTwice({
        Item: item,
        ConditionExpression: "a BETWEEN :lo AND :hi",
        ExpressionAttributeValues: { ":lo": { S: lo }, ":hi": { S: hi } },
      });
    await client.send(new PutItemCommand({ TableName: table, Item: item }));
    // Act
    const asString = await prefix({ ":v": { S: "m" } });
    const asNumber = await prefix({ ":v": { N: "1" } });
    const ordered = await between("a", "z");
    const reversed = await between("z", "a");
    // Assess
    expect(asString).toEqual(["ok", "ok"]);
    expect(asNumber[0]).toMatch(/^ValidationException: .*Incorrect operand type.*operand type: N/);
    expect(asNumber[1]).toBe(asNumber[0]);
    expect(ordered).toEqual(["ok", "ok"]);
    expect(reversed[0]).toMatch(
      /^ValidationException: .*upper bound to be greater than or equal to lower bound/,
    );
    expect(reversed[1]).toBe(reversed[0]);
  });

  it("answer a refused expression the same each time", async () => {
    // Prepare
    const pk = { S: randomUUID() };
    // Act
    const undefinedName = await putTwice({
      Item: { pk },
      ConditionExpression: "attribute_not_exists(#missing)",
    });
    const reserved = await putTwice({ Item: { pk }, ConditionExpression: "attribute_not_exists(status)" });
    const syntax = await putTwice({ Item: { pk }, ConditionExpression: "attribute_not_exists(pk" });
    // Assess
    for (const [first, second] of [undefinedName, reserved, syntax]) {
      expect(first).toMatch(/^ValidationException: Invalid ConditionExpression/);
      expect(second).toBe(first);
    }
  });
});

describe("keepExpressionParses", () => {
  /** A stand-in parser that counts its parses and embeds its one value as dynalite's parsers do. */
  function countingParser() {
    const parser = {
      parses: 0,
      parse(text: string, options: Parameters<ExpressionParser["parse"]>[1]): unknown {
        parser.parses++;
        if (text.startsWith("bad")) return "an error message";
        return {
          expression: { type: "=", args: [["pk"], ...Object.values(options.context.attrVals ?? {})] },
        };
      },
    };
    keepExpressionParses([parser]);
    return parser;
  }
  const withNames = (names: Record<string, string>) => ({
    context: { attrNames: names, unusedAttrNames: {} },
  });
  const withValue = (value: Record<string, string>) => ({
    context: { attrVals: { ":v": value }, unusedAttrVals: { ":v": true } },
  });

  it("parses an expression once per set of names, and gives each use a copy of its own", () => {
    // Prepare
    const parser = countingParser();
    // Act
    const first = parser.parse("attribute_not_exists(#p)", withNames({ "#p": "pk" }));
    const second = parser.parse("attribute_not_exists(#p)", withNames({ "#p": "pk" }));
    parser.parse("attribute_not_exists(#p)", withNames({ "#p": "sk" }));
    // Assess
    expect(second).toEqual(first);
    expect(second).not.toBe(first);
    expect(parser.parses).toBe(2);
  });

  it("parses an expression once per type of its values, filled with each request's own", () => {
    // Prepare
    const parser = countingParser();
    const values: Record<string, string>[] = [{ S: "a" }, { S: "b" }, { N: "1" }];
    // Act
    const parsed = values.map((value) => parser.parse("pk = :v", withValue(value)));
    // Assess
    expect(parser.parses).toBe(2);
    parsed.forEach((parse, i) => {
      expect(parse).toEqual({ expression: { type: "=", args: [["pk"], values[i]] } });
      expect((parse as { expression: { args: unknown[] } }).expression.args[1]).toBe(values[i]);
    });
  });

  it("parses afresh an error answer, what reads a value's content, and a BETWEEN of another form", () => {
    // Prepare
    const parser = countingParser();
    const compare = () => false;
    // Act
    for (let i = 0; i < 2; i++) {
      parser.parse("bad expression", withValue({ S: "a" }));
      parser.parse("attribute_type(pk, :v)", withValue({ S: "S" }));
      parser.parse("pk BETWEEN sk AND :v", { context: { ...withValue({ S: "a" }).context, compare } });
    }
    // Assess
    expect(parser.parses).toBe(6);
  });

  it("parses a BETWEEN of two values once per order of its bounds", () => {
    // Prepare
    const parser = countingParser();
    const bounds = (lower: string, upper: string) => ({
      context: {
        attrVals: { ":lo": { S: lower }, ":hi": { S: upper } },
        unusedAttrVals: {},
        compare: (_: "GT", low: Record<string, unknown>, high: Record<string, unknown>) =>
          String(low.S) > String(high.S),
      },
    });
    // Act
    for (const [lower, upper] of [
      ["a", "z"],
      ["b", "y"],
      ["z", "a"],
      ["y", "b"],
    ] as const) {
      parser.parse("pk BETWEEN :lo AND :hi", bounds(lower, upper));
    }
    // Assess
    expect(parser.parses).toBe(2);
  });
});
