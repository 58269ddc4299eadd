import { describe, expect, it } from "vitest";
import { API_CONTRACT, type RouteContract } from "#shared/api/contract.js";
import * as z from "#shared/zod.js";
import { NOT_PLAIN_DIGITS, queryInteger } from "./query.js";

/** Every way a number can be written that is not plain decimal digits, each of which `Number()` would read. */
const NOT_PLAIN = [
  "0x10",
  "0X10",
  "0b11",
  "0o7",
  "1e2",
  "1E2",
  " 5",
  "5 ",
  "\t5",
  "+5",
  "-5",
  "-0",
  "05",
  "00",
  "010",
  "1.0",
  "1.5",
  ".5",
  "5.",
  "1_000",
  "5,5",
  "",
  "Infinity",
  "NaN",
  "٥",
  "５",
];

const limit = z.strictObject({ limit: z.optional(queryInteger({ min: 1, max: 100 })) });

function issuesOf(schema: z.ZodMiniType, query: Record<string, string>) {
  const parsed = schema.safeParse(query);
  return parsed.success
    ? []
    : parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}

describe("queryInteger", () => {
  it("takes plain decimal digits within range, as a number", () => {
    expect(["1", "7", "10", "99", "100"].map((v) => limit.parse({ limit: v }).limit)).toEqual([
      1, 7, 10, 99, 100,
    ]);
  });

  it.each(NOT_PLAIN)("refuses %j, naming the parameter and what it takes", (value) => {
    expect(issuesOf(limit, { limit: value })).toEqual([{ path: "limit", message: NOT_PLAIN_DIGITS }]);
  });

  it("answers a plain number out of range with the range, however many digits it has", () => {
    for (const value of ["0", "101", "1000", "9".repeat(400)]) {
      expect(issuesOf(limit, { limit: value }), value).toEqual([
        { path: "limit", message: "must be from 1 to 100" },
      ]);
    }
  });

  it("is documented as the integer it is, with its range", () => {
    expect(z.toJSONSchema(queryInteger({ min: 1, max: 100 }), { io: "input" })).toMatchObject({
      type: "integer",
      minimum: 1,
      maximum: 100,
    });
  });
});

describe("every numeric query parameter of the API", () => {
  const numeric = Object.entries(API_CONTRACT as Readonly<Record<string, RouteContract>>).flatMap(
    ([route, contract]) =>
      Object.entries(contract.query?.shape ?? {})
        .filter(([, field]) => {
          const type = z.toJSONSchema(field as z.ZodMiniType, { io: "input", unrepresentable: "any" }).type;
          return type === "integer" || type === "number";
        })
        .map(([name]) => ({ route, name, query: contract.query as z.ZodMiniObject })),
  );

  it("exists (limit on the group cancel, the task, schedule and destination lists)", () => {
    expect(numeric.map(({ route, name }) => `${route} ${name}`).sort()).toEqual([
      "GET /v1/destinations limit",
      "GET /v1/schedules limit",
      "GET /v1/tasks limit",
      "POST /v1/topics/{topic}/groups/{value}/cancel limit",
    ]);
  });

  it("takes only plain decimal digits: 0x10, 1e2, ' 5', +5, 05 are a 400 naming it", () => {
    for (const { route, name, query } of numeric) {
      for (const value of ["0x10", "1e2", " 5", "+5", "05"]) {
        const issues = issuesOf(query, { [name]: value });
        expect(issues, `${route} ?${name}=${value}`).toContainEqual({
          path: name,
          message: NOT_PLAIN_DIGITS,
        });
      }
    }
  });
});
