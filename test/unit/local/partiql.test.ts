import {
  BatchExecuteStatementCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultInjector } from "#local/aws/faults.js";
import {
  PartiqlValidationError,
  parseInsert,
  parseStatement,
  parseUpdate,
  toPutItem,
  toUpdateItem,
  withPartiql,
} from "#local/aws/partiql.js";
import { insertStatement, updateStatement } from "#shared/adapters/partiql.js";
import { createKeyedTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";

const MUSIC_KEYS = ["Artist", "SongTitle"];

/** An UpdateItem's expressions with their #name and :value placeholders written out (numbering-independent). */
function resolved(input: Record<string, unknown>) {
  const names = input.ExpressionAttributeNames as Record<string, string>;
  const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
  const fill = (expression: unknown) =>
    String(expression)
      .replace(/#n\d+/g, (alias) => names[alias] ?? alias)
      .replace(/:v\d+/g, (alias) => JSON.stringify(values[alias]));
  return {
    TableName: input.TableName,
    Key: input.Key,
    UpdateExpression: fill(input.UpdateExpression),
    ConditionExpression: fill(input.ConditionExpression),
  };
}

describe("PartiQL UPDATE → UpdateItem", () => {
  it("translates ql-reference.update's example (SET clauses, a map of lists, the key in the WHERE)", () => {
    const parsed = parseUpdate(
      `UPDATE "Music" SET AwardsWon=1 SET AwardDetail={'Grammys':[2020, 2018]} WHERE Artist='Acme Band' AND SongTitle='PartiQL Rocks'`,
    );

    expect(toUpdateItem(parsed, MUSIC_KEYS)).toEqual({
      TableName: "Music",
      Key: { Artist: { S: "Acme Band" }, SongTitle: { S: "PartiQL Rocks" } },
      UpdateExpression: "SET #n0 = :v0, #n1 = :v1",
      ConditionExpression: "attribute_exists(#n2)",
      ExpressionAttributeNames: { "#n0": "AwardsWon", "#n1": "AwardDetail", "#n2": "Artist" },
      ExpressionAttributeValues: {
        ":v0": { N: "1" },
        ":v1": { M: { Grammys: { L: [{ N: "2020" }, { N: "2018" }] } } },
      },
    });
  });

  it("takes the batching page's comma-separated SET and a REMOVE of a map entry", () => {
    const batched = parseUpdate(
      `UPDATE Music SET AwardsWon=1, AwardDetail={'Grammys':[2020, 2018]} WHERE Artist='Acme Band' AND SongTitle='PartiQL Rocks'`,
    );
    const removing = parseUpdate(
      `UPDATE "Music" REMOVE AwardDetail.Grammys WHERE Artist='Acme Band' AND SongTitle='PartiQL Rocks'`,
    );

    expect(batched.set.map((s) => s.path)).toEqual([["AwardsWon"], ["AwardDetail"]]);
    expect(toUpdateItem(removing, MUSIC_KEYS)).toMatchObject({
      UpdateExpression: "REMOVE #n0.#n1",
      ExpressionAttributeNames: { "#n0": "AwardDetail", "#n1": "Grammys" },
    });
  });

  it("turns the task store's statement into the conditional UpdateItem it stands for", () => {
    const request = updateStatement({
      table: "tasks",
      key: { pk: "demo#g", sk: "0001" },
      set: [
        [["status"], "delivered"],
        [["attemptLog", "3"], { seq: 4, startedAtMs: 1 }],
      ],
      remove: ["sweepShard"],
      where: [
        ["status", "delivering"],
        ["attemptSeq", 4],
        ["queuedAtMs", undefined],
      ],
    });

    const input = toUpdateItem(
      parseUpdate(request.Statement as string, request.Parameters as unknown as Record<string, unknown>[]),
      ["pk", "sk"],
    );

    expect(request.Statement).toBe(
      `UPDATE "tasks" SET "status"=? SET "attemptLog"."3"=? REMOVE "sweepShard" WHERE "pk"=? AND "sk"=? AND "status"=? AND "attemptSeq"=? AND "queuedAtMs" IS MISSING`,
    );
    expect(resolved(input)).toEqual({
      TableName: "tasks",
      Key: { pk: { S: "demo#g" }, sk: { S: "0001" } },
      UpdateExpression:
        'SET status = {"S":"delivered"}, attemptLog.3 = {"M":{"seq":{"N":"4"},"startedAtMs":{"N":"1"}}} REMOVE sweepShard',
      ConditionExpression:
        'attribute_exists(pk) AND status = {"S":"delivering"} AND attemptSeq = {"N":"4"} AND attribute_not_exists(queuedAtMs)',
    });
  });

  it.each([
    ["a SELECT", `SELECT * FROM "Music" WHERE Artist='Acme Band'`],
    ["RETURNING", `UPDATE "Music" SET a=1 WHERE Artist='x' AND SongTitle='y' RETURNING ALL NEW *`],
    ["OR", `UPDATE "Music" SET a=1 WHERE Artist='x' AND SongTitle='y' OR b=1`],
    ["an inequality", `UPDATE "Music" SET a=1 WHERE Artist='x' AND SongTitle='y' AND b<>1`],
    ["a function", `UPDATE "Music" SET a=1 WHERE Artist='x' AND SongTitle='y' AND begins_with(b, 'x')`],
    ["an UPDATE without SET or REMOVE", `UPDATE "Music" WHERE Artist='x' AND SongTitle='y'`],
    ["more ? than parameters", `UPDATE "Music" SET a=? WHERE Artist='x' AND SongTitle='y'`],
  ])("refuses %s with a ValidationException", (_, statement) => {
    expect(() => toUpdateItem(parseUpdate(statement), MUSIC_KEYS)).toThrow(PartiqlValidationError);
  });

  it("refuses a WHERE without an equality on every key attribute", () => {
    const parsed = parseUpdate(`UPDATE "Music" SET a=1 WHERE Artist='x' AND b=1`);

    expect(() => toUpdateItem(parsed, MUSIC_KEYS)).toThrow(/mandatory equality on all key attributes/);
  });
});

describe("PartiQL INSERT → conditional PutItem", () => {
  it("translates ql-reference.insert's example into a put that never overwrites", () => {
    const parsed = parseInsert(
      `INSERT INTO "Music" VALUE {'Artist' : 'Acme Band','SongTitle' : 'PartiQL Rocks', 'AwardsWon': 1}`,
    );

    expect(toPutItem(parsed, MUSIC_KEYS)).toEqual({
      TableName: "Music",
      Item: { Artist: { S: "Acme Band" }, SongTitle: { S: "PartiQL Rocks" }, AwardsWon: { N: "1" } },
      Expected: { Artist: { Exists: false } },
    });
  });

  it("turns the task store's claim statement (every value a parameter) into its PutItem", () => {
    const request = insertStatement({
      table: "tasks",
      item: {
        pk: "idem#demo#k-1",
        sk: "idem",
        taskId: "demo#g#1#01K",
        requestHash: "ab",
        expiresAt: 17,
        gone: undefined,
      },
    });

    const parsed = parseStatement(
      request.Statement as string,
      request.Parameters as unknown as Record<string, unknown>[],
    );

    expect(request.Statement).toBe(
      `INSERT INTO "tasks" VALUE {'pk': ?, 'sk': ?, 'taskId': ?, 'requestHash': ?, 'expiresAt': ?}`,
    );
    expect(parsed.kind).toBe("insert");
    expect(toPutItem(parsed as Extract<typeof parsed, { kind: "insert" }>, ["pk", "sk"])).toMatchObject({
      Item: {
        pk: { S: "idem#demo#k-1" },
        sk: { S: "idem" },
        taskId: { S: "demo#g#1#01K" },
        requestHash: { S: "ab" },
        expiresAt: { N: "17" },
      },
    });
  });

  it.each([
    ["VALUES instead of VALUE", `INSERT INTO "Music" VALUES {'Artist': 'x', 'SongTitle': 'y'}`],
    ["a VALUE that is not a tuple", `INSERT INTO "Music" VALUE 'x'`],
    [
      "text after the tuple",
      `INSERT INTO "Music" VALUE {'Artist': 'x', 'SongTitle': 'y'} RETURNING ALL OLD *`,
    ],
    ["no INTO", `INSERT "Music" VALUE {'Artist': 'x', 'SongTitle': 'y'}`],
    ["more ? than parameters", `INSERT INTO "Music" VALUE {'Artist': ?, 'SongTitle': 'y'}`],
  ])("refuses %s with a ValidationException", (_, statement) => {
    expect(() => toPutItem(parseInsert(statement), MUSIC_KEYS)).toThrow(PartiqlValidationError);
  });

  it("refuses an item without every key attribute", () => {
    const parsed = parseInsert(`INSERT INTO "Music" VALUE {'Artist': 'x'}`);

    expect(() => toPutItem(parsed, MUSIC_KEYS)).toThrow(/Missing the key SongTitle/);
  });
});

describe("BatchExecuteStatement in front of dynalite", () => {
  let dynamo: LocalDynamo;
  let client: DynamoDBClient;
  const faults = new FaultInjector({});
  const TABLE = "partiql-music";
  const key = (title: string) => ({ Artist: { S: "Acme Band" }, SongTitle: { S: title } });
  const update = (title: string, awards: number, ifAwards?: number) => ({
    Statement: `UPDATE "${TABLE}" SET "AwardsWon"=? WHERE "Artist"=? AND "SongTitle"=?${ifAwards === undefined ? "" : ` AND "AwardsWon"=?`}`,
    Parameters: [
      { N: String(awards) },
      { S: "Acme Band" },
      { S: title },
      ...(ifAwards === undefined ? [] : [{ N: String(ifAwards) }]),
    ],
  });
  const awardsOf = async (title: string) =>
    (await client.send(new GetItemCommand({ TableName: TABLE, Key: key(title), ConsistentRead: true }))).Item
      ?.AwardsWon?.N;

  beforeAll(async () => {
    dynamo = await startDynalite({ wrap: (listener) => withPartiql(listener, { faults }), maxAttempts: 1 });
    client = dynamo.client;
    await createKeyedTable(client, TABLE, { hash: "Artist", range: "SongTitle" });
    for (const title of ["one", "two", "three"]) {
      await client.send(
        new PutItemCommand({ TableName: TABLE, Item: { ...key(title), AwardsWon: { N: "0" } } }),
      );
    }
  });

  afterAll(async () => {
    await dynamo?.stop();
  });

  it("answers 200 with each statement's own outcome, in order: written, condition failed (with ALL_OLD), no item", async () => {
    const out = await client.send(
      new BatchExecuteStatementCommand({
        Statements: [
          update("one", 1, 0),
          { ...update("two", 1, 5), ReturnValuesOnConditionCheckFailure: "ALL_OLD" },
          update("missing", 1),
        ],
      }),
    );

    expect(out.Responses).toEqual([
      { TableName: TABLE },
      {
        TableName: TABLE,
        Error: expect.objectContaining({
          Code: "ConditionalCheckFailed",
          Item: { ...key("two"), AwardsWon: { N: "0" } },
        }),
      },
      { TableName: TABLE, Error: expect.objectContaining({ Code: "ConditionalCheckFailed" }) },
    ]);
    expect(await awardsOf("one")).toBe("1");
    expect(await awardsOf("two")).toBe("0");
  });

  it("refuses a parameter holding a JSON null as a 400 SerializationException, writing nothing; the text null in a string is a value", async () => {
    // Prepare: an SDK never sends a null, so the call is sent by hand (dynalite checks no signature)
    const endpoint = await client.config.endpoint?.();
    const send = async (statements: unknown[]) => {
      const response = await fetch(`http://${endpoint?.hostname}:${endpoint?.port}/`, {
        method: "POST",
        headers: {
          "content-type": "application/x-amz-json-1.0",
          "x-amz-target": "DynamoDB_20120810.BatchExecuteStatement",
          "x-amz-date": "20261205T000000Z",
          authorization:
            "AWS4-HMAC-SHA256 Credential=test/20261205/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x",
        },
        body: JSON.stringify({ Statements: statements }),
      });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    const insert = (title: string, notes: unknown) => ({
      Statement: `INSERT INTO "${TABLE}" VALUE {'Artist': ?, 'SongTitle': ?, 'Notes': ?}`,
      Parameters: [{ S: "Acme Band" }, { S: title }, notes],
    });
    const textNull = insert("text null", { S: '{"x":null}' });
    const stored = async (title: string) =>
      (await client.send(new GetItemCommand({ TableName: TABLE, Key: key(title), ConsistentRead: true })))
        .Item;

    // Act
    const refused = await send([textNull, insert("nulled", { L: [{ S: "a" }, null] })]);
    const refusedAtTop = await send([insert("nulled", null)]);
    const written = await send([textNull]);

    // Assess: a null is refused whole, before any statement; the text null inside a string is written as sent
    for (const answer of [refused, refusedAtTop]) {
      expect(answer.status).toBe(400);
      expect(answer.json.__type).toBe("com.amazon.coral.service#SerializationException");
    }
    expect(written).toEqual({ status: 200, json: { Responses: [{ TableName: TABLE }] } });
    expect(await stored("nulled")).toBeUndefined();
    expect((await stored("text null"))?.Notes).toEqual({ S: '{"x":null}' });
  });

  it("refuses the whole call for a statement outside the grammar or more than 25 statements", async () => {
    const typo = {
      Statement: `UPDATE "${TABLE}" SET "AwardsWon"=1 WHERE "Artist"='Acme Band' OR "SongTitle"='one'`,
    };
    const tooMany = Array.from({ length: 26 }, () => update("one", 2));

    await expect(client.send(new BatchExecuteStatementCommand({ Statements: [typo] }))).rejects.toMatchObject(
      {
        name: "ValidationException",
      },
    );
    await expect(
      client.send(new BatchExecuteStatementCommand({ Statements: tooMany })),
    ).rejects.toMatchObject({
      name: "ValidationException",
    });
    expect(await awardsOf("one")).toBe("1");
  });

  it("refuses the whole call, writing nothing, when a later statement lacks a key or two name one item", async () => {
    // Two statements on one item: refused before any runs, as a capture against DynamoDB found
    // (nubo-db/dynoxide, eu-west-2: "Provided list of item keys contains duplicates")
    const keyless = {
      Statement: `UPDATE "${TABLE}" SET "AwardsWon"=? WHERE "Artist"=?`,
      Parameters: [{ N: "5" }, { S: "Acme Band" }],
    };
    const insertThree = {
      Statement: `INSERT INTO "${TABLE}" VALUE {'Artist': ?, 'SongTitle': ?}`,
      Parameters: [{ S: "Acme Band" }, { S: "three" }],
    };

    for (const statements of [
      [update("three", 5), keyless],
      [update("three", 5), update("two", 5), update("three", 6)],
      [update("three", 5), insertThree],
    ]) {
      await expect(
        client.send(new BatchExecuteStatementCommand({ Statements: statements })),
      ).rejects.toMatchObject({ name: "ValidationException" });
    }
    expect(await awardsOf("three")).toBe("0");
    expect(await awardsOf("two")).toBe("0");
  });

  it("answers an INSERT on an existing key DuplicateItem and leaves that item as it was; writes the new ones", async () => {
    const insert = (title: string, awards: number) => ({
      Statement: `INSERT INTO "${TABLE}" VALUE {'Artist': ?, 'SongTitle': ?, 'AwardsWon': ?}`,
      Parameters: [{ S: "Acme Band" }, { S: title }, { N: String(awards) }],
    });

    const out = await client.send(
      new BatchExecuteStatementCommand({
        Statements: [insert("four", 4), insert("two", 9), insert("five", 5)],
      }),
    );

    expect(out.Responses).toEqual([
      { TableName: TABLE },
      { TableName: TABLE, Error: { Code: "DuplicateItem", Message: expect.any(String) } },
      { TableName: TABLE },
    ]);
    expect(await awardsOf("four")).toBe("4");
    expect(await awardsOf("two")).toBe("0");
    expect(await awardsOf("five")).toBe("5");
  });

  it("injects per-statement errors from the fault policy, counts every statement, and leaves the items alone", async () => {
    faults.setPolicy({ statementErrors: { ThrottlingError: 1 } });
    const before = faults.stats()["dynamodb.BatchExecuteStatement"]?.statements ?? 0;

    const out = await client.send(
      new BatchExecuteStatementCommand({ Statements: [update("three", 7), update("two", 8)] }),
    );
    faults.setPolicy({});

    expect(out.Responses?.map((r) => r.Error?.Code)).toEqual(["ThrottlingError", "ThrottlingError"]);
    expect(await awardsOf("three")).toBe("0");
    expect(await awardsOf("two")).toBe("0");
    const stats = faults.stats()["dynamodb.BatchExecuteStatement"];
    expect((stats?.statements ?? 0) - before).toBe(2);
    expect(stats?.statementErrors).toEqual({ ThrottlingError: 2 });
  });

  it("injects per-statement errors into INSERTs too, and the failed INSERT writes nothing", async () => {
    faults.setPolicy({ statementErrors: { InternalServerError: 1 } });

    const out = await client.send(
      new BatchExecuteStatementCommand({
        Statements: [
          {
            Statement: `INSERT INTO "${TABLE}" VALUE {'Artist': ?, 'SongTitle': ?, 'AwardsWon': ?}`,
            Parameters: [{ S: "Acme Band" }, { S: "six" }, { N: "6" }],
          },
        ],
      }),
    );
    faults.setPolicy({});

    expect(out.Responses?.map((r) => r.Error?.Code)).toEqual(["InternalServerError"]);
    expect(await awardsOf("six")).toBeUndefined();
  });
});
