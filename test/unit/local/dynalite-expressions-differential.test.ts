import { createRequire } from "node:module";
import {
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MAX_NESTING,
  nestingOf,
  refuseConditionsDynaliteThrowsOn,
  unsafeShapeIn,
} from "#local/aws/dynalite-conditions.js";
import { keepExpressionParses } from "#local/aws/dynalite-expressions.js";
import { type Action, expressionCase, wireRequests } from "../../support/arbitraries/dynamo-expressions.js";
import { createKeyedTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { type DynaliteValidations, loadUnkeptDynalite } from "../../support/dynalite-unkept.js";
import { propertyRuns, propertyScale } from "../../support/fast-check-runs.js";

/**
 * Differential tests of the local cloud's kept expression parses (local/aws/dynalite-expressions.ts): the same
 * requests, drawn at random (test/support/arbitraries/dynamo-expressions.ts: every expression kind, values of every
 * type, invalid ones, missing and unused placeholders, each text used again with other names and values), answered
 * by dynalite with the kept parses and by a copy of dynalite that parses afresh, compared exactly. The kept side is
 * the local cloud's stack whichever describe runs first (the conditions dynalite throws on refused under the kept
 * parses, local/aws/dynalite-conditions.ts): a request it refuses for that is checked against that rule instead.
 */
const require = createRequire(import.meta.url);
const unkept = loadUnkeptDynalite();
/** The shared validations module: the one whose parsers the local cloud wraps. */
const kept = require("dynalite/validations/index.js") as DynaliteValidations;
const PARSER_NAMES = ["conditionParser", "updateParser", "projectionParser"];
/** Generous for a loaded machine (each property takes ~2 s alone); soaks scale it with their runs. */
const TIMEOUT_MS = 30_000 * propertyScale();
/** Where dynalite's validations leave a request's parses. */
const PARSES = ["_updates", "_condition", "_keyCondition", "_filter", "_projection"] as const;

type Json = Record<string, unknown>;

/** Every object reachable from `root`. */
function objectsOf(root: unknown, into = new Set<object>()): Set<object> {
  if (typeof root !== "object" || root === null || into.has(root)) return into;
  into.add(root);
  for (const child of Object.values(root)) objectsOf(child, into);
  return into;
}

/** The condition fields in the order dynalite's validateExpressions parses them, with where it leaves each parse. */
const CONDITION_FIELDS = [
  ["ConditionExpression", "_condition"],
  ["KeyConditionExpression", "_keyCondition"],
  ["FilterExpression", "_filter"],
] as const;

/**
 * What the local cloud answers in place of dynalite's fresh answer (`refusal`), worked out from the fresh parse
 * alone: the first condition expression dynalite reached that nests parentheses deeper than MAX_NESTING (refused
 * before it is parsed), or that it parsed into a shape dynalite throws on. Undefined when the answers must agree.
 */
function localCloudRefusal(input: Json, fresh: Json, refusal: string | undefined): string | undefined {
  for (const [field, parsed] of CONDITION_FIELDS) {
    const text = input[field];
    if (typeof text !== "string" || text === "") continue;
    const reached = fresh[parsed] !== undefined || refusal?.startsWith(`Invalid ${field}: `);
    if (!reached) return undefined;
    const depth = nestingOf(text);
    if (depth > MAX_NESTING)
      return `Invalid ${field}: The expression nests parentheses ${depth} deep (local cloud: at most ${MAX_NESTING}, as dynalite's parser takes time exponential in the depth)`;
    const shape = unsafeShapeIn((fresh[parsed] as { expression?: unknown } | undefined)?.expression);
    if (shape !== undefined)
      return `Invalid ${field}: ${shape} (local cloud: dynalite cannot evaluate it when that attribute is missing)`;
  }
  return undefined;
}

describe("dynalite's kept expression parses, against parses made afresh", () => {
  beforeAll(() => {
    // As the local cloud stacks them (local/aws/dynalite-store.ts), and as the describe over HTTP installs them on
    // this same module: the property must not depend on which runs first.
    refuseConditionsDynaliteThrowsOn();
    keepExpressionParses();
  });

  it("compares a copy that parses afresh with the wrapped parsers", () => {
    // Assess: the two sides differ in the one way under test (else every comparison below is vacuous)
    const wrapped = PARSER_NAMES.map(
      (name) => (require(`dynalite/db/${name}.js`) as { parse: () => void }).parse,
    );
    expect(wrapped.map((parse) => parse.name)).not.toContain("peg$parse");
    expect(unkept.parsers.map((parser) => parser.parse.name)).toEqual(PARSER_NAMES.map(() => "peg$parse"));
  });

  it(
    "answer every request's expressions as a fresh parse does, sharing nothing with another request",
    () => {
      let requests = 0;
      let accepted = 0;
      let refusedLocally = 0;
      // Everything an earlier request sent or was handed: no later parse may hold any of it.
      const earlier = new WeakSet<object>();
      fc.assert(
        fc.property(expressionCase({ evaluated: false }), (c) => {
          for (const { input } of wireRequests(c, "t", "p")) {
            requests++;
            const fresh = structuredClone(input);
            const reused = structuredClone(input);
            const refusal = unkept.validations.validateExpressions(fresh);
            const answered = kept.validateExpressions(reused);
            const local = localCloudRefusal(input as Json, fresh as Json, refusal);
            if (local !== undefined) {
              refusedLocally++;
              expect(answered).toBe(local);
              continue;
            }
            expect(answered).toBe(refusal);
            if (refusal === undefined) accepted++;
            const parses = (data: Json) => PARSES.map((field) => data[field]);
            expect(parses(reused)).toStrictEqual(parses(fresh));
            const held = objectsOf(parses(reused));
            expect([...held].filter((node) => earlier.has(node))).toEqual([]);
            for (const node of [...held, ...objectsOf(reused)]) earlier.add(node);
          }
        }),
        propertyRuns(250),
      );
      // Not all refused: the parses compared are mostly whole ones; the local cloud's refusals are the exception.
      expect(accepted).toBeGreaterThan(requests / 5);
      expect(refusedLocally).toBeGreaterThan(0);
      expect(refusedLocally).toBeLessThan(requests / 10);
    },
    TIMEOUT_MS,
  );
});

const COMMANDS = {
  PutItem: PutItemCommand,
  UpdateItem: UpdateItemCommand,
  DeleteItem: DeleteItemCommand,
  GetItem: GetItemCommand,
  Query: QueryCommand,
  Scan: ScanCommand,
} as const;

/** DynamoDB's JSON form of a request as the SDK takes it: binary values as bytes, not base64. */
function sdkInput(wire: unknown, key?: string): unknown {
  if (typeof wire === "string" && key === "B") return Buffer.from(wire, "base64");
  if (Array.isArray(wire)) return wire.map((item) => sdkInput(item, key === "BS" ? "B" : undefined));
  if (typeof wire !== "object" || wire === null) return wire;
  return Object.fromEntries(Object.entries(wire).map(([k, v]) => [k, sdkInput(v, k)]));
}

/** All a client sees of an answer: status, and the output or the error's type and message. */
async function answer(client: DynamoDBClient, action: Action, input: Json): Promise<unknown> {
  const Command = COMMANDS[action] as new (input: unknown) => PutItemCommand;
  try {
    const { $metadata, ...output } = await client.send(new Command(sdkInput(input)));
    return { status: $metadata.httpStatusCode, output };
  } catch (error) {
    const { name, message, $metadata } = error as Error & { $metadata?: { httpStatusCode?: number } };
    return { status: $metadata?.httpStatusCode, name, message };
  }
}

describe("dynalite with kept expression parses, over HTTP", () => {
  const table = "differential";
  let reusing: LocalDynamo;
  let fresh: LocalDynamo;

  beforeAll(async () => {
    reusing = await startDynalite({ localCloud: true, maxAttempts: 1 });
    fresh = await startDynalite({ unkept: true, maxAttempts: 1 });
    await Promise.all([createKeyedTable(reusing.client, table), createKeyedTable(fresh.client, table)]);
  });

  afterAll(async () => {
    await Promise.all([reusing?.stop(), fresh?.stop()]);
  });

  it(
    "answers every request as dynalite parsing afresh does, items and errors alike",
    async () => {
      let requests = 0;
      let cases = 0;
      const outcomes = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(expressionCase({ evaluated: true }), async (c) => {
          const partition = `p${cases++}`;
          for (const { action, input } of wireRequests(c, table, partition)) {
            requests++;
            const expected = await answer(fresh.client, action, input);
            expect(await answer(reusing.client, action, input)).toStrictEqual(expected);
            const kind = (expected as { name?: string }).name ?? "ok";
            outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
          }
          const partitionItems = {
            KeyConditionExpression: "pk = :p",
            ExpressionAttributeValues: { ":p": { S: partition } },
          };
          expect(
            await answer(reusing.client, "Query", { TableName: table, ...partitionItems }),
          ).toStrictEqual(await answer(fresh.client, "Query", { TableName: table, ...partitionItems }));
        }),
        propertyRuns(30),
      );
      expect(outcomes.get("ok") ?? 0).toBeGreaterThan(requests / 10);
    },
    TIMEOUT_MS,
  );
});
