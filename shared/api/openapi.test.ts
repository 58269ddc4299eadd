import { readFileSync } from "node:fs";
import { brotliDecompressSync } from "node:zlib";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import { parseAddTaskRequest } from "#shared/domain/add-task-request.js";
import { rfc3339DateTime } from "#shared/domain/rfc3339.js";
import * as z from "#shared/zod.js";
import {
  OPENAPI_FILE,
  OPENAPI_MODULE_FILE,
  renderOpenApiDocument,
  renderOpenApiModule,
} from "../../scripts/openapi.js";
import { silentLogger } from "../../test/unit/api/fakes.js";
import { API_CONTRACT } from "./contract.js";
import { buildOpenApiDocument } from "./openapi.js";
import { API_ROUTE_KEYS } from "./routes.js";

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is JSON.
type Json = any;

describe("the OpenAPI document", () => {
  it("is current: docs/openapi.json is what `npm run openapi` generates from today's schemas", () => {
    expect(readFileSync(OPENAPI_FILE, "utf8")).toBe(renderOpenApiDocument());
  });

  it("the function's compressed copy (shared/api/openapi-document.ts) decodes to docs/openapi.json", async () => {
    const { OPENAPI_DOCUMENT_BROTLI_BASE64 } = await import("./openapi-document.js");
    const decoded = brotliDecompressSync(Buffer.from(OPENAPI_DOCUMENT_BROTLI_BASE64, "base64")).toString(
      "utf8",
    );
    expect(decoded).toBe(JSON.stringify(JSON.parse(readFileSync(OPENAPI_FILE, "utf8"))));
    // What `npm run openapi` writes decodes the same (brotli's bytes may differ between zlib versions).
    const rendered = /"([A-Za-z0-9+/=]+)"/.exec(renderOpenApiModule())?.[1] ?? "";
    expect(brotliDecompressSync(Buffer.from(rendered, "base64")).toString("utf8")).toBe(decoded);
    expect(readFileSync(OPENAPI_MODULE_FILE, "utf8")).toContain("OPENAPI_DOCUMENT_BROTLI_BASE64");
  });

  it("GET /v1/openapi.json answers docs/openapi.json, byte for byte as JSON.stringify writes it", async () => {
    process.env.PUNCTUAL_ENV ??= "local";
    const { createHandler } = await import("../../functions/openapi.js");
    const event = {
      version: "2.0",
      routeKey: "GET /v1/openapi.json",
      rawPath: "/v1/openapi.json",
      rawQueryString: "",
      headers: {},
      requestContext: {
        http: { method: "GET", path: "/v1/openapi.json" },
        requestId: "r",
        stage: "$default",
      },
      isBase64Encoded: false,
    };
    const context = { functionName: "openapi", awsRequestId: "r", getRemainingTimeInMillis: () => 10_000 };
    const answer = (await createHandler({ logger: silentLogger() })(event as never, context as never)) as {
      statusCode: number;
      body: string;
    };
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toBe(JSON.stringify(JSON.parse(readFileSync(OPENAPI_FILE, "utf8"))));
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

  it("names every 400 code the task list answers: a subscriber it cannot list, a cursor it did not give out", () => {
    const refused = (buildOpenApiDocument() as Json).paths["/v1/tasks"].get.responses["400"].description;
    for (const code of [
      "validation_failed",
      "unknown_topic",
      "not_fan_out",
      "unknown_subscriber",
      "cursor",
    ]) {
      expect(refused).toContain(code);
    }
  });

  it("documents 413 and 415 on every route that takes a JSON body, naming the body's byte caps", () => {
    // Every such route parses with jsonBody (shared/api/middleware/json-body.ts): 415 for another content type or
    // any content-encoding, 413 past its byte cap (1 MiB; the batch's 4 MiB) or the event's room once escaped.
    const doc = buildOpenApiDocument() as Json;
    const missing: string[] = [];
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      for (const [method, op] of Object.entries<Json>(item)) {
        if (!op.requestBody) continue;
        const route = `${method.toUpperCase()} ${path}`;
        if (!op.responses["415"]) missing.push(`${route}: 415`);
        const tooLarge = op.responses["413"]?.description ?? "";
        if (!/MiB/.test(tooLarge)) missing.push(`${route}: 413 naming the body cap`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("documents API Gateway's own refusals on every route: 401 (a JWT stack) and 429 (throttled)", () => {
    const doc = buildOpenApiDocument() as Json;
    const missing: string[] = [];
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      for (const [method, op] of Object.entries<Json>(item)) {
        for (const status of ["401", "403", "429"]) {
          if (!op.responses[status]) missing.push(`${method.toUpperCase()} ${path}: ${status}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it("documents 500 on every route, and on the replays the 500 they answer on purpose (what may have been replayed)", () => {
    // replay-task's replayFailure and replay-topic's replayInterrupted answer an exposed 500 whose message says what
    // to do before repeating: a client generated from the document must read it, not take it for undocumented.
    const paths = (buildOpenApiDocument() as Json).paths;
    const undocumented = Object.entries<Json>(paths).flatMap(([path, item]) =>
      Object.entries<Json>(item)
        .filter(([, op]) => !op.responses["500"])
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(undocumented).toEqual([]);
    expect(paths["/v1/tasks/{id}/replay"].post.responses["500"].description).toMatch(
      /may have been replayed/,
    );
    expect(paths["/v1/topics/{topic}/replay"].post.responses["500"].description).toMatch(/replayed/);
    expect(paths["/v1/topics/{topic}/replay"].post.responses["500"].description).toMatch(/`matched`/);
  });

  it("refuses, as the handlers do, an add or reschedule body without exactly one timing field", () => {
    // exactlyOneTiming (shared/domain/add-task-request.ts) is a refinement JSON Schema does not get from zod: a
    // client or fuzzer built from the document would send none, or two, and meet a 400 the document said was valid.
    const doc = buildOpenApiDocument() as Json;
    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    const bodyOf = (path: string, method: string) =>
      ajv.compile(doc.paths[path][method].requestBody.content["application/json"].schema);
    const add = bodyOf("/v1/tasks", "post");
    const batch = bodyOf("/v1/tasks/batch", "post");
    const reschedule = bodyOf("/v1/tasks/{id}", "patch");
    const task = { topic: "demo", content: { order_id: "a" } };
    // Act
    const outcomes = {
      addNone: add(task),
      addTwo: add({ ...task, delay_seconds: 5, due_at: "2030-01-01T00:00:00Z" }),
      addOne: add({ ...task, delay_seconds: 5 }),
      batchNone: batch({ tasks: [task] }),
      batchOne: batch({ tasks: [{ ...task, timing_moment: 1 }] }),
      rescheduleNone: reschedule({}),
      rescheduleTwo: reschedule({ delay_seconds: 5, timing_moment: 1 }),
      rescheduleOne: reschedule({ due_at: "2030-01-01T00:00:00Z" }),
    };
    // Assess
    expect(outcomes).toEqual({
      addNone: false,
      addTwo: false,
      addOne: true,
      batchNone: false,
      batchOne: true,
      rescheduleNone: false,
      rescheduleTwo: false,
      rescheduleOne: true,
    });
  });

  it("refuses, as the topic replay does, a body with both task ids and a filter", () => {
    const doc = buildOpenApiDocument() as Json;
    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    const replay = ajv.compile(
      doc.paths["/v1/topics/{topic}/replay"].post.requestBody.content["application/json"].schema,
    );
    // Act
    const outcomes = {
      ids: replay({ task_ids: ["demo.a"] }),
      filter: replay({ error_contains: "HTTP 500", dry_run: true }),
      idsAndFilter: replay({ task_ids: ["demo.a"], error_contains: "HTTP 500" }),
      idsAndCursor: replay({ task_ids: ["demo.a"], cursor: "c" }),
    };
    // Assess
    expect(outcomes).toEqual({ ids: true, filter: true, idsAndFilter: false, idsAndCursor: false });
  });

  it("documents the Idempotency-Key header with the rule the add applies to it, as the body's idempotency_key", () => {
    // parseAddTaskRequest refuses a header key outside IDEMPOTENCY_KEY_PATTERN (400): a client or fuzzer built from
    // the document would otherwise send a key it says is fine ("a,b", 300 characters, "café") and meet a 400.
    const add = (buildOpenApiDocument() as Json).paths["/v1/tasks"].post;
    const header = add.parameters.find((p: Json) => p.in === "header" && p.name === "idempotency-key");
    const ajv = new Ajv2020({ strict: false });
    const takes = ajv.compile(header.schema);
    const keys = ["order-1001", "a b", "a,b", " a", "a ", "k".repeat(255), "k".repeat(256), "café", ""];

    // Act
    const documented = keys.map((key) => takes(key));
    const applied = keys.map((key) => parseAddTaskRequest({ topic: "demo", content: {} }, key));

    // Assess
    expect(documented).toEqual(
      applied.map(
        (result) => !("issues" in result) || !result.issues.some((i) => i.path === "Idempotency-Key"),
      ),
    );
    expect(documented).toEqual([true, true, false, false, false, true, false, false, false]);
    expect(header.schema.pattern).toBe(
      add.requestBody.content["application/json"].schema.properties.idempotency_key.pattern,
    );
  });

  it("documents the date-times a request may send as the handlers read them: `t`/`z` in any case, a leap second", () => {
    // Every request date-time (due_at, start_at/end_at, failed_after/before) goes through rfc3339DateTime, which
    // takes RFC 3339's lowercase `t`/`z` and a leap second (docs/API.md). The document's pattern was zod's strict
    // one: a client or proxy validating against it refused requests the API takes. The one thing the document
    // cannot say is "a leap second only at 23:59 UTC" (it depends on the offset): it takes `:60` at any time.
    const doc = buildOpenApiDocument() as Json;
    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    const fields: { where: string; takes: (value: string) => boolean }[] = [];
    const collect = (node: Json, where: string) => {
      if (node === null || typeof node !== "object") return;
      if (node.format === "date-time") {
        const validate = ajv.compile(node);
        fields.push({ where, takes: (value) => validate(value) });
        return;
      }
      for (const [key, child] of Object.entries(node)) collect(child, `${where}.${key}`);
    };
    for (const [path, item] of Object.entries(doc.paths as Json)) {
      for (const [method, operation] of Object.entries(item as Json)) {
        const op = operation as Json;
        collect(op.requestBody ?? {}, `${method} ${path} body`);
        collect(op.parameters ?? [], `${method} ${path} parameters`);
      }
    }
    const samples = [
      "2027-01-01T00:00:00Z",
      "2027-01-01t00:00:00z",
      "2027-01-01T00:00:00.5z",
      "2016-12-31T23:59:60Z",
      "2016-12-31T23:59:60.25Z",
      "2016-12-31T18:59:60-05:00",
      "2027-01-01T00:00:00+0000",
      "2027-01-01 00:00:00Z",
      "2027-01-01T00:00Z",
      "2027-02-29T00:00:00Z",
      "2027-01-01T00:00:61Z",
      "2027-01-01T00:00:00",
    ];

    // Act
    const documented = fields.map(({ where, takes }) => ({ where, takes: samples.map(takes) }));
    const applied = samples.map((value) => z.safeParse(rfc3339DateTime, value).success);

    // Assess: every request date-time field, in body and query, documented as the handlers apply it
    expect(fields.map((f) => f.where)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^post \/v1\/tasks body.*due_at$/),
        expect.stringMatching(/^patch \/v1\/tasks\/\{id\} body.*due_at$/),
        expect.stringMatching(/^post \/v1\/schedules body.*start_at$/),
        expect.stringMatching(/^post \/v1\/schedules body.*end_at$/),
        expect.stringMatching(/^post \/v1\/topics\/\{topic\}\/replay body.*failed_after$/),
      ]),
    );
    expect(applied).toEqual([true, true, true, true, true, true, false, false, false, false, false, false]);
    for (const field of documented) expect(field).toEqual({ where: field.where, takes: applied });
  });

  it("documents every answer of a resume: `ended` in a 200, and a 409 for a schedule this release cannot compute", () => {
    // resumeSchedule (shared/services/schedules/manage.ts) answers 200 `ended` for a paused schedule whose end_at
    // passed, and 409 for one whose cron or zone this release refuses: the document said "active again" and named
    // neither, so a caller reading it took the 200 for a running schedule and had no cause for that 409.
    const resume = (buildOpenApiDocument() as Json).paths["/v1/schedules/{id}/resume"].post;

    // Assess
    expect(resume.responses["200"].description).toMatch(/`status: ended`/);
    expect(resume.responses["409"].description).toMatch(/cannot compute its occurrences/);
    expect(resume.responses["409"].description).toMatch(/would write more inline than a create may/);
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
