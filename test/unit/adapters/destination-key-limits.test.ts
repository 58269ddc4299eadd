import { type DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { destinationHost } from "#shared/domain/destination.js";
import { type CallbackPolicy, checkCallbackUrl } from "#shared/security/ssrf.js";
import {
  DYNAMO_PARTITION_KEY_BYTES,
  DYNAMO_SORT_KEY_BYTES,
  dynamoKeyViolations,
} from "../../support/aws-limits.js";
import { createKeyedTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";

/**
 * A protected topic's deliveries key DynamoDB items by their callback host (`destination` / `<topic>#<host>`,
 * `rate#<topic>#<host>`). WHATWG URL parses a host name of any length, and a wildcard allow-list admits it: a
 * host past DynamoDB's key sizes would make every admission call a ValidationException (dynalite refuses it too,
 * but only when the call is made), so the task's group would be retried without end, never attempted, never
 * dead-lettered. Every URL an add accepts must key these items within DynamoDB's limits.
 */
const WILDCARD: CallbackPolicy = { allowedCallbackHosts: ["*"], allowHttpCallbacks: false };
const LONGEST_TOPIC = "t".repeat(24);

/** Labels of `size` characters joined by dots, ending in `.example.com`, `length` characters in all. */
function hostOfLength(length: number, label = 63): string {
  const suffix = ".example.com";
  const labels: string[] = [];
  let left = length - suffix.length;
  while (left > 0) {
    const size = Math.min(label, labels.length === 0 ? left : left - 1);
    labels.push("a".repeat(size));
    left -= size + (labels.length === 1 ? 0 : 1);
  }
  return `${labels.join(".")}${suffix}`;
}

function recordingStore() {
  const commands: { constructor: { name: string }; input: object }[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: object }) => {
      commands.push(command);
      return {};
    },
  } as unknown as DynamoDBClient;
  return { store: new DynamoTaskStore({ client, tableName: "tasks" }), commands };
}

describe("destination items: keys within DynamoDB's limits for every callback an add accepts", () => {
  it.each([
    ["the longest DNS name (253)", `https://${hostOfLength(253)}:65535/x`],
    ["a name past DNS's 253", `https://${hostOfLength(600)}/x`],
    ["a name past the sort key's 1,024 bytes", `https://${hostOfLength(1500)}/x`],
    ["a label past DNS's 63", `https://${"b".repeat(900)}.example.com/x`],
  ])("%s", async (_name, url) => {
    if (!checkCallbackUrl(url, WILDCARD).ok) return; // refused at the add: never stored, never delivered
    const host = destinationHost(url);
    if (host === undefined) return; // no admission: the deliver's URL policy refuses it (dead-lettered)
    const { store, commands } = recordingStore();
    await store.getDestination(LONGEST_TOPIC, host);
    await store.takeRateToken(LONGEST_TOPIC, host, 1_800_000_000, 10);
    await store.acquireLease(LONGEST_TOPIC, host, 3, 0, 1);
    await store.releaseLease(LONGEST_TOPIC, host, 0, 1);
    await store.recordDestinationFailure(LONGEST_TOPIC, host, 0, "HTTP 503").catch(() => undefined);
    await store.openCircuit(LONGEST_TOPIC, host, 0, 1).catch(() => undefined);
    await store.claimProbe(LONGEST_TOPIC, host, 0, 1);
    await store.releaseProbe(LONGEST_TOPIC, host, 1);
    await store.closeCircuit(LONGEST_TOPIC, host, Date.now()).catch(() => undefined);
    expect(commands.length).toBeGreaterThanOrEqual(9);
    for (const command of commands)
      expect(dynamoKeyViolations(command), `${command.constructor.name} for ${host.length} chars`).toEqual(
        [],
      );
  });
});

describe("the key limits as the local cloud's DynamoDB (dynalite) applies them", () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynalite();
    await createKeyedTable(dynamo.client, "limits");
  });
  afterAll(() => dynamo.stop());

  const get = (pk: string, sk: string) =>
    new GetItemCommand({ TableName: "limits", Key: { pk: { S: pk }, sk: { S: sk } } });

  it("accepts ASCII keys at the limits and refuses one byte more, as the checker does", async () => {
    const atLimit = get("p".repeat(DYNAMO_PARTITION_KEY_BYTES), "k".repeat(DYNAMO_SORT_KEY_BYTES));
    expect(dynamoKeyViolations(atLimit)).toEqual([]);
    await expect(dynamo.client.send(atLimit)).resolves.toBeDefined();
    for (const over of [
      get("p".repeat(DYNAMO_PARTITION_KEY_BYTES + 1), "k"),
      get("p", "k".repeat(DYNAMO_SORT_KEY_BYTES + 1)),
    ]) {
      expect(dynamoKeyViolations(over)).toHaveLength(1);
      await expect(dynamo.client.send(over)).rejects.toMatchObject({ name: "ValidationException" });
    }
  });

  it("counts characters where AWS counts UTF-8 bytes: a non-ASCII key is checked by the checker, not the emulator", async () => {
    // 1,025 characters, 2,049 bytes: AWS refuses it, dynalite does not. Every key the store builds today is ASCII
    // (topic, hashes, ULIDs, printable-ASCII idempotency keys, punycode hosts), so the gap costs nothing yet.
    const over = get(`${"é".repeat(DYNAMO_PARTITION_KEY_BYTES / 2)}x`, "k");
    expect(dynamoKeyViolations(over)).toEqual(["partition key of 2049 bytes (1–2048)"]);
    await expect(dynamo.client.send(over)).resolves.toBeDefined();
  });
});
