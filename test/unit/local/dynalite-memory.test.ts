import { createRequire } from "node:module";
import {
  BatchWriteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { storingText } from "#local/aws/dynalite-memory.js";
import { createKeyedTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";

/**
 * The local cloud's dynalite keeps its in-memory store as strings (local/aws/dynalite-memory.ts): it must read back
 * what a plain dynalite (Buffers) reads back, in the same order.
 */
const require = createRequire(import.meta.url);
const { MemoryLevel } = createRequire(require.resolve("dynalite/db/index.js"))("memory-level") as {
  MemoryLevel: new (options: object) => MemoryStore;
};

interface MemoryStore {
  put(key: string, value: unknown): Promise<void>;
  /** memory-level's own read of a stored (encoded) key: what it keeps, as it keeps it. */
  _getSync(key: unknown, options: object): unknown;
}

describe("dynalite's in-memory store as strings", () => {
  it("stores strings only for a store created inside storingText", async () => {
    // Act
    const inside = storingText(() => new MemoryLevel({ valueEncoding: "json" }));
    const outside = new MemoryLevel({ valueEncoding: "json" });
    await inside.result.put("item-t~k", { a: 1 });
    await outside.put("item-t~k", { a: 1 });
    // Assess
    expect(inside.textStores).toBe(1);
    expect(inside.result._getSync("item-t~k", {})).toBe('{"a":1}');
    expect(outside._getSync(Buffer.from("item-t~k"), {})).toEqual(Buffer.from('{"a":1}'));
  });

  it("asks through the class already installed when the module is evaluated again (memory-level's exports kept)", async () => {
    // Prepare: a second copy of the module, as a test runner that evaluates modules again makes one.
    vi.resetModules();
    const again = await import("#local/aws/dynalite-memory.js");
    // Act
    const inside = again.storingText(() => new MemoryLevel({ valueEncoding: "json" }));
    await inside.result.put("k", { a: 1 });
    // Assess
    expect(again.storingText).not.toBe(storingText);
    expect(inside.textStores).toBe(1);
    expect(inside.result._getSync("k", {})).toBe('{"a":1}');
  });

  describe("against a plain dynalite", () => {
    let text: LocalDynamo;
    let plain: LocalDynamo;
    // Sort keys whose UTF-16 order differs from their UTF-8 order (U+FF5E against U+1F600), numbers as text,
    // a lone surrogate (stored as U+FFFD's bytes), and strings that share long prefixes.
    const sortKeys = [
      "\uff5e",
      "\u{1f600}",
      "10",
      "9",
      "a\ud800",
      "a",
      "é",
      "prefix-prefix-b",
      "prefix-prefix-a",
      "",
    ];
    const items = sortKeys
      .filter((sk) => sk !== "")
      .map((sk, i) => ({
        pk: { S: "group" },
        sk: { S: sk },
        n: { N: String(i - 3) },
        text: { S: `v${sk}` },
      }));

    beforeAll(async () => {
      [text, plain] = await Promise.all([startDynalite({ localCloud: true }), startDynalite()]);
      for (const { client } of [text, plain]) {
        await createKeyedTable(client, "order");
        await client.send(
          new BatchWriteItemCommand({
            RequestItems: { order: items.map((Item) => ({ PutRequest: { Item } })) },
          }),
        );
      }
    });

    afterAll(async () => {
      await Promise.all([text?.stop(), plain?.stop()]);
    });

    async function both<T>(read: (client: DynamoDBClient) => Promise<T>): Promise<[T, T]> {
      return [await read(text.client), await read(plain.client)];
    }

    it("reads a group's items in the same order, both ways, and the same values", async () => {
      // Act
      const [forward, forwardPlain] = await both((client) =>
        client.send(
          new QueryCommand({
            TableName: "order",
            KeyConditionExpression: "pk = :pk",
            ExpressionAttributeValues: { ":pk": { S: "group" } },
          }),
        ),
      );
      const [backward, backwardPlain] = await both((client) =>
        client.send(
          new QueryCommand({
            TableName: "order",
            KeyConditionExpression: "pk = :pk AND sk > :after",
            ExpressionAttributeValues: { ":pk": { S: "group" }, ":after": { S: "9" } },
            ScanIndexForward: false,
          }),
        ),
      );
      const [scan, scanPlain] = await both((client) => client.send(new ScanCommand({ TableName: "order" })));
      const [one, onePlain] = await both((client) =>
        client.send(
          new GetItemCommand({ TableName: "order", Key: { pk: { S: "group" }, sk: { S: "\u{1f600}" } } }),
        ),
      );
      // Assess
      expect(forward.Items).toHaveLength(items.length);
      expect(forward.Items).toEqual(forwardPlain.Items);
      expect(backward.Items).toEqual(backwardPlain.Items);
      expect(scan.Items).toEqual(scanPlain.Items);
      expect(one.Item).toEqual(onePlain.Item);
      expect(one.Item).toEqual(items[1]);
    });
  });
});
