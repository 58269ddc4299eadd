import { brotliDecompressSync } from "node:zlib";
import type { Logger } from "@aws-lambda-powertools/logger";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { OPENAPI_DOCUMENT_BROTLI_BASE64 } from "#shared/api/openapi-document.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";

/** GET /v1/openapi.json: the API's OpenAPI 3.1 document. */
const env = requireEnv([ENV.environment]);
const logger = createFunctionLogger(loadEnvironmentConfig(env.PUNCTUAL_ENV));

/**
 * The committed document (a spec proves it is generated from the current schemas and that this copy decodes to
 * docs/openapi.json), bundled compressed: the function carries no zod schemas, no generator, and ~7 KB instead of
 * the document's ~175 KB as an object literal. Decoded once per cold start (about a millisecond).
 */
const document: unknown = JSON.parse(
  brotliDecompressSync(Buffer.from(OPENAPI_DOCUMENT_BROTLI_BASE64, "base64")).toString("utf8"),
);

export function createHandler(deps: { readonly logger: Logger }): HttpHandler {
  return httpRoute({ method: "GET", logger: deps.logger }, async () => ({ statusCode: 200, body: document }));
}

export const handler = createHandler({ logger });
