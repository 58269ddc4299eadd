import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ATTRIBUTE_VALUE_FIELDS, compileTypeChecks } from "#local/aws/dynalite-types.js";
import { createKeyedTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { loadUnkeptDynalite } from "../../support/dynalite-unkept.js";
import { propertyRuns, propertyScale } from "../../support/fast-check-runs.js";

/**
 * Differential tests of the local cloud's compiled type checks (local/aws/dynalite-types.ts): requests drawn at
 * random against every dynalite action's type descriptors — right types, wrong ones (numbers for strings, objects
 * for lists, arrays for maps, text for booleans, bad base64), nulls, unknown fields — checked by dynalite's own
 * `checkTypes` (a copy of dynalite of its own) and by the compiled checks, compared exactly: the answer (fields
 * and their order), or the error's message, status and body.
 */
const require = createRequire(import.meta.url);
const TIMEOUT_MS = 30_000 * propertyScale();
const validationsDir = path.dirname(require.resolve("dynalite/validations/index.js"));
/** Every action's descriptors: dynalite/validations/<action>.js `types`. */
const ACTIONS = readdirSync(validationsDir)
  .filter((file) => file.endsWith(".js") && file !== "index.js")
  .map((file) => ({
    action: file.slice(0, -3),
    types: (require(path.join(validationsDir, file)) as { types: Record<string, unknown> }).types,
  }));

/** Values of the wrong shape anywhere, and the texts dynalite converts or refuses. */
const ODD_VALUE = fc.constantFrom<unknown>(
  null,
  true,
  false,
  0,
  7,
  1.5,
  -2.5,
  "",
  "x",
  "TRUE",
  "no",
  "1",
  "maybe",
  "QUJD",
  "QUJ",
  "QUI=",
  "QUJ=",
  [],
  [1, "a"],
  {},
  { a: 1 },
  { S: "x" },
);

/** A value for a descriptor: mostly of its type, sometimes odd. */
function valueFor(descriptor: unknown, depth: number): fc.Arbitrary<unknown> {
  const proper = properValueFor(descriptor, depth);
  return fc.oneof({ weight: 1, arbitrary: ODD_VALUE }, { weight: 6, arbitrary: proper });
}

function properValueFor(descriptor: unknown, depth: number): fc.Arbitrary<unknown> {
  const { type: full, children } =
    typeof descriptor === "string"
      ? { type: descriptor, children: undefined }
      : (descriptor as { type: string; children?: unknown });
  const generic = /(.+?)<(.+)>$/.exec(full);
  const type = generic ? generic[1] : full;
  const child = typeof children === "string" ? { type: children } : children;
  if (
    depth > 4 &&
    ["List", "ParameterizedList", "Map", "ParameterizedMap", "AttrStruct"].includes(type as string)
  )
    return ODD_VALUE;
  switch (type) {
    case "Boolean":
      return fc.oneof(fc.boolean(), fc.constantFrom("true", "False", "YES", "0", "nope"));
    case "Short":
    case "Integer":
    case "Long":
    case "Double":
      return fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
    case "String":
      return fc.string({ maxLength: 6 });
    case "Blob":
      return fc.oneof(
        fc.uint8Array({ maxLength: 6 }).map((bytes) => Buffer.from(bytes).toString("base64")),
        fc.string({ maxLength: 5 }),
      );
    case "List":
    case "ParameterizedList":
      return fc.array(valueFor(child, depth + 1), { maxLength: 3 });
    case "Map":
    case "ParameterizedMap":
      return fc.dictionary(fc.constantFrom("a", "pk", "sk", "x.y", "__proto__"), valueFor(child, depth + 1), {
        maxKeys: 3,
      });
    case "AttrStruct":
      return fieldsFor(ATTRIBUTE_VALUE_FIELDS, depth + 1, 2);
    case "ValueStruct":
    case "FieldStruct":
      return fieldsFor(child as Record<string, unknown>, depth + 1, 4);
    default:
      throw new Error(`no values for ${full}`);
  }
}

/** An object with some of the fields (in any order), sometimes one no descriptor names. */
function fieldsFor(
  fields: Readonly<Record<string, unknown>>,
  depth: number,
  maxFields: number,
): fc.Arbitrary<unknown> {
  const names = Object.keys(fields);
  return fc
    .tuple(
      fc.shuffledSubarray(names, { maxLength: Math.min(maxFields, names.length) }),
      fc.option(fc.constantFrom("Unknown", "constructor"), { freq: 4 }),
    )
    .chain(([chosen, extra]) =>
      fc.record({
        ...Object.fromEntries(chosen.map((name) => [name, valueFor(fields[name], depth)])),
        ...(extra ? { [extra]: ODD_VALUE } : {}),
      }),
    );
}

/** What a check answers, compared exactly: the JSON of its answer (field order included), or its error. */
function outcome(check: () => unknown): unknown {
  try {
    return { answer: JSON.stringify(check()) };
  } catch (error) {
    const { message, statusCode, body } = error as Error & { statusCode?: number; body?: unknown };
    return { error: message, statusCode, body };
  }
}

describe("dynalite's compiled type checks, against its own", () => {
  const own = loadUnkeptDynalite().validations;
  /** How often the compiled checks handed a request to dynalite's own (a descriptor or body they do not compile). */
  let handedOver = 0;
  const compiled = {
    checkTypes: (data: unknown, types: Readonly<Record<string, unknown>>) => {
      handedOver++;
      return own.checkTypes(data, types);
    },
  };
  beforeAll(() => {
    compileTypeChecks(compiled);
  });

  it("compares dynalite's own check with the compiled one", () => {
    expect(own.checkTypes.name).toBe("checkTypes");
    expect(compiled.checkTypes.name).not.toBe("checkTypes");
  });

  it.each(ACTIONS)(
    "answers every $action request as dynalite's own check does",
    ({ types }) => {
      let refused = 0;
      let runs = 0;
      handedOver = 0;
      fc.assert(
        fc.property(
          fc.oneof({ weight: 9, arbitrary: fieldsFor(types, 0, 6) }, { weight: 1, arbitrary: ODD_VALUE }),
          (request) => {
            runs++;
            const expected = outcome(() => own.checkTypes(structuredClone(request), types));
            expect(outcome(() => compiled.checkTypes(structuredClone(request), types))).toStrictEqual(
              expected,
            );
            if ((expected as { error?: string }).error !== undefined) refused++;
          },
        ),
        propertyRuns(300),
      );
      // Both kinds compared, answers and refusals, nearly all by the compiled checks themselves (dynalite's own
      // takes only a body that is not an object).
      expect(refused).toBeGreaterThan(0);
      expect(refused).toBeLessThan(runs);
      expect(handedOver).toBeLessThan(runs / 5);
    },
    TIMEOUT_MS,
  );

  it("answers a BatchWriteItem of task items as dynalite's own check does", () => {
    // Prepare: items as the task store writes them, and one value of a wrong type
    const item = (i: number) => ({
      PutRequest: {
        Item: {
          pk: { S: `task#${i}` },
          sk: { S: "task" },
          status: { S: "scheduled" },
          dueAt: { N: String(1_700_000_000_000 + i) },
          attempts: { N: "0" },
          body: { B: Buffer.from(`payload ${i}`).toString("base64") },
          headers: { M: { a: { S: "1" }, b: { L: [{ S: "x" }, { NULL: true }, { BOOL: "yes" }] } } },
          tags: { SS: ["a", "b"] },
          flag: { BOOL: false },
        },
      },
    });
    const batch = { RequestItems: { punctual: Array.from({ length: 25 }, (_, i) => item(i)) } };
    const wrong = structuredClone(batch);
    (
      wrong.RequestItems.punctual[7] as { PutRequest: { Item: Record<string, unknown> } }
    ).PutRequest.Item.attempts = {
      N: 0,
    };
    const types = ACTIONS.find(({ action }) => action === "batchWriteItem")?.types ?? {};
    handedOver = 0;
    // Act / Assess
    for (const request of [batch, wrong]) {
      expect(outcome(() => compiled.checkTypes(structuredClone(request), types))).toStrictEqual(
        outcome(() => own.checkTypes(structuredClone(request), types)),
      );
    }
    expect(outcome(() => compiled.checkTypes(structuredClone(wrong), types))).toMatchObject({
      error: "NUMBER_VALUE cannot be converted to String",
      statusCode: 400,
    });
    expect(handedOver).toBe(0);
  });
});

describe("dynalite as the local cloud starts it, over HTTP", () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynalite({ localCloud: true, maxAttempts: 1 });
    await createKeyedTable(dynamo.client, "types");
  });
  afterAll(async () => {
    await dynamo?.stop();
  });

  it("checks types with the compiled checks, and refuses a wrong type as dynalite does", async () => {
    // Prepare: a raw request (the SDK would turn the number into text first)
    const validations = require("dynalite/validations/index.js") as { checkTypes: { name: string } };
    const endpoint = await dynamo.client.config.endpoint?.();
    if (!endpoint) throw new Error("the client has no endpoint");
    const { hostname, port } = endpoint;
    const body = JSON.stringify({ TableName: "types", Item: { pk: { S: 5 }, sk: { S: "a" } } });
    // Act
    const response = await fetch(`http://${hostname}:${port}/`, {
      method: "POST",
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": "DynamoDB_20120810.PutItem",
        "x-amz-date": "20261205T000000Z",
        authorization:
          "AWS4-HMAC-SHA256 Credential=test/20261205/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x",
      },
      body,
    });
    // Assess
    expect(validations.checkTypes.name).not.toBe("checkTypes");
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      __type: "com.amazon.coral.service#SerializationException",
      Message: "NUMBER_VALUE cannot be converted to String",
    });
  });
});
