import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import { OPENAPI_FILE, renderOpenApiDocument } from "../../scripts/openapi.js";
import { API_CONTRACT } from "./contract.js";
import { buildOpenApiDocument } from "./openapi.js";
import { API_ROUTE_KEYS } from "./routes.js";

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is JSON.
type Json = any;

describe("the OpenAPI document", () => {
  it("is current: docs/openapi.json is what `npm run openapi` generates from today's schemas", () => {
    expect(readFileSync(OPENAPI_FILE, "utf8")).toBe(renderOpenApiDocument());
  });

  it("describes every route of the table, and nothing else", () => {
    expect(Object.keys(API_CONTRACT).sort()).toEqual([...API_ROUTE_KEYS].sort());
    const doc = buildOpenApiDocument() as Json;
    const documented = Object.entries<Json>(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual([...API_ROUTE_KEYS].sort());
  });

  it("is OpenAPI 3.1 whose every schema compiles as JSON Schema 2020-12", () => {
    const doc = buildOpenApiDocument() as Json;
    expect(doc.openapi).toBe("3.1.0");
    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    const schemas: Json[] = [];
    for (const item of Object.values<Json>(doc.paths)) {
      for (const op of Object.values<Json>(item)) {
        if (op.requestBody) schemas.push(op.requestBody.content["application/json"].schema);
        for (const response of Object.values<Json>(op.responses)) {
          if (response.content) schemas.push(response.content["application/json"].schema);
        }
        for (const parameter of op.parameters ?? []) schemas.push(parameter.schema);
      }
    }
    expect(schemas.length).toBeGreaterThan(5);
    for (const schema of schemas) expect(() => ajv.compile(schema)).not.toThrow();
  });

  it("documents the request body with the schema the handler validates with", () => {
    const body = (buildOpenApiDocument() as Json).paths["/v1/tasks"].post.requestBody.content[
      "application/json"
    ].schema;
    expect(body.required).toEqual(["topic", "content"]);
    expect(body.additionalProperties).toBe(false);
    expect(Object.keys(body.properties)).toEqual(
      expect.arrayContaining(["topic", "timing_moment", "due_at", "delay_seconds", "content", "callback"]),
    );
  });
});
