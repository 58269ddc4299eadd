import * as z from "#shared/zod.js";
import {
  API_CONTRACT,
  BODY_ERRORS,
  COMMON_ERRORS,
  type ResponseSpec,
  type RouteContract,
} from "./contract.js";
import { API_ROUTES } from "./routes.js";

/**
 * The OpenAPI 3.1 document of the API, generated from the route table and each route's contract — the same zod
 * schemas the handlers validate requests with and the client parses answers with (zod's own JSON Schema output,
 * draft 2020-12, which OpenAPI 3.1 uses as is). `npm run openapi` writes it to docs/openapi.json; a spec checks the
 * committed file is current; `GET /v1/openapi.json` serves it.
 */
export const OPENAPI_VERSION = "3.1.0";
export const API_VERSION = "1.0.0";

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodMiniType, io: "input" | "output"): Json {
  const override = io === "input" ? requestDateTime : undefined;
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: "any",
    ...(override ? { override } : {}),
  }) as Json;
  return rest;
}

/**
 * A request's date-time (every one goes through rfc3339DateTime, shared/domain/rfc3339.ts) documented as that rule
 * reads it: zod's pattern is its strict validator's, which that rule runs only after taking what RFC 3339 allows and
 * the validator does not, a `t`/`z` in either case and a leap second (`:60`). Documented with zod's pattern, a
 * client or proxy validating requests against the document refused ones the API takes. The document cannot say
 * "a leap second only at 23:59 UTC" (it depends on the offset): it takes `:60` at any time, and the API refuses
 * the others with a 400. Answers keep zod's pattern: their date-times are the API's own `…Z` form.
 */
function requestDateTime(ctx: { jsonSchema: { format?: string; pattern?: string } }): void {
  const { jsonSchema: json } = ctx;
  if (json.format !== "date-time" || typeof json.pattern !== "string") return;
  // A schema zod copies from another (a described or optional date-time) may come here already widened.
  json.pattern = REQUEST_DATE_TIME_EDITS.reduce((pattern, [strict, lenient]) => {
    if (pattern.includes(lenient)) return pattern;
    if (!pattern.includes(strict)) throw new Error(`zod's date-time pattern no longer holds ${strict}`);
    return pattern.replace(strict, lenient);
  }, json.pattern);
}

/** zod's date-time pattern's parts (each once), as a request may write them: the `T`, the seconds, the `Z`. */
const REQUEST_DATE_TIME_EDITS: readonly (readonly [string, string])[] = [
  [")))T(?:", ")))[Tt](?:"],
  [":[0-5]\\d(?:\\.\\d+)?", ":(?:[0-5]\\d|60)(?:\\.\\d+)?"],
  ["(?:Z|(", "(?:[Zz]|("],
];

function responsesOf(contract: RouteContract): Json {
  const all: Record<string, ResponseSpec> = {
    ...COMMON_ERRORS,
    ...(contract.body ? BODY_ERRORS : {}),
    ...contract.responses,
  };
  return Object.fromEntries(
    Object.entries(all).map(([status, spec]) => [
      status,
      {
        description: spec.description,
        ...(spec.headers
          ? {
              headers: Object.fromEntries(
                Object.entries(spec.headers).map(([name, description]) => [
                  name,
                  { description, schema: { type: "string" } },
                ]),
              ),
            }
          : {}),
        ...(spec.schema
          ? { content: { "application/json": { schema: jsonSchema(spec.schema, "output") } } }
          : {}),
      },
    ]),
  );
}

function parametersOf(contract: RouteContract): Json[] {
  const fromObject = (where: "path" | "query", object: z.ZodMiniObject | undefined) =>
    Object.entries(object?.shape ?? {}).map(([name, schema]) => {
      const json = jsonSchema(schema as z.ZodMiniType, "input");
      return {
        name,
        in: where,
        required: where === "path" || !(schema as z.ZodMiniType).safeParse(undefined).success,
        ...(typeof json.description === "string" ? { description: json.description } : {}),
        schema: json,
      };
    });
  const headers = Object.entries(contract.headers ?? {}).map(([name, header]) => ({
    name,
    in: "header",
    required: false,
    description: header.description,
    schema: jsonSchema(header.schema, "input"),
  }));
  return [...fromObject("path", contract.pathParams), ...fromObject("query", contract.query), ...headers];
}

function operationOf(routeKey: string, name: string, contract: RouteContract): Json {
  const parameters = parametersOf(contract);
  return {
    operationId: name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()),
    summary: contract.summary,
    ...(contract.description ? { description: contract.description } : {}),
    tags: [...contract.tags],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(contract.body
      ? {
          requestBody: {
            required: true,
            content: { "application/json": { schema: jsonSchema(contract.body, "input") } },
          },
        }
      : {}),
    responses: responsesOf(contract),
    "x-route-key": routeKey,
  };
}

/** The whole document; deterministic (route table order), so the committed file diffs cleanly. */
export function buildOpenApiDocument(): Json {
  const paths: Record<string, Record<string, Json>> = {};
  const contracts = API_CONTRACT as Readonly<Record<string, RouteContract>>;
  for (const route of API_ROUTES) {
    const contract = contracts[route.routeKey];
    if (!contract)
      throw new Error(`route ${route.routeKey} has no entry in API_CONTRACT (shared/api/contract.ts)`);
    const [method, path] = route.routeKey.split(" ") as [string, string];
    const item = paths[path] ?? {};
    item[method.toLowerCase()] = operationOf(route.routeKey, route.name, contract);
    paths[path] = item;
  }
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: "Punctual",
      version: API_VERSION,
      description:
        "Delayed tasks delivered on time to the second, in order per key, signed (Standard Webhooks). In AWS every " +
        "route is signed with SigV4 (IAM auth) or carries a JWT, as the environment's config says; the local cloud " +
        "has no auth.",
    },
    security: [{ sigv4: [] }, { jwt: [] }],
    components: {
      securitySchemes: {
        sigv4: {
          type: "apiKey",
          name: "Authorization",
          in: "header",
          description: "AWS SigV4, service execute-api",
        },
        jwt: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
      },
    },
    paths,
  };
}
