import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import {
  invalidJson,
  payloadTooLarge,
  unsupportedContentEncoding,
  unsupportedMediaType,
  validationFailed,
} from "#shared/api/errors.js";
import {
  lambdaEventBytes,
  MAX_EVENT_BODY_BYTES,
  MAX_REQUEST_BODY_BYTES,
} from "#shared/api/lambda-event-size.js";
import { MAX_JSON_DEPTH, parseExactJson } from "#shared/domain/exact-json.js";
import { setParsedBody } from "./parsed-body.js";

export { MAX_JSON_DEPTH, MAX_REQUEST_BODY_BYTES };

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Takes a JSON body: 415 for a compressed body (any content-encoding but identity) or another content type, 413
 * above either cap (bytes as sent, bytes once escaped into Lambda's event), 400 for empty, non-UTF-8 or malformed
 * JSON. Runs after the header normaliser (it reads `content-type` in lower case). The route reads the body with
 * `parsedBody` (parsed-body.ts).
 *
 * Why not @middy/http-json-body-parser: it parses with `JSON.parse`, which rounds numbers beyond double precision
 * and keeps the last of duplicate keys, so content would not be delivered exactly as sent; ours parses
 * losslessly (shared/domain/exact-json.ts: numbers kept as written, a repeated key refused), decodes base64
 * strictly and answers the API's structured errors.
 */
export function jsonBody(
  options: { readonly maxBytes?: number } = {},
): MiddlewareObj<APIGatewayProxyEventV2> {
  const maxBytes = options.maxBytes ?? MAX_REQUEST_BODY_BYTES;
  return {
    before: async ({ event }) => {
      const contentEncoding = event.headers?.["content-encoding"];
      if (!isIdentityEncoding(contentEncoding)) throw unsupportedContentEncoding(contentEncoding ?? "");
      const contentType = event.headers?.["content-type"];
      if (!isJsonContentType(contentType)) throw unsupportedMediaType(contentType);
      const size = bodyBytes(event);
      if (size > maxBytes)
        throw payloadTooLarge(`the request body is ${size} bytes; the limit is ${maxBytes}`);
      checkEventBytes(event);
      const text = bodyText(event).replace(/^\uFEFF/, "");
      if (text.trim() === "") throw invalidJson("the request body is empty");
      const parsed = parseExactJson(text, MAX_JSON_DEPTH);
      if (parsed.ok) setParsedBody(event, parsed.value);
      else if (parsed.kind !== "syntax") throw validationFailed([parsed.issue]);
      else throw invalidJson(parsed.message);
    },
  };
}

/**
 * No content coding: the header absent, empty, or listing only `identity` (any case; API Gateway joins repeated
 * headers with commas). Anything else (gzip, br, deflate, several) means the bytes are not the JSON text itself.
 */
export function isIdentityEncoding(value: string | undefined): boolean {
  if (value === undefined) return true;
  return value
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .every((coding) => coding === "" || coding === "identity");
}

/** RFC 9110 §5.6.2 `token` and §5.6.4 `quoted-string` (its obs-text, 0x80–0xFF, as Node reads a header: latin1). */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED_STRING = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x20-\\x7e\\x80-\\xff])*"';
const PARAMETER = `(${TOKEN})=(${TOKEN}|${QUOTED_STRING})`;
/**
 * `application/json` and its parameters, as RFC 9110 §8.3.1 writes a media type (`*( OWS ";" OWS [ parameter ] )`).
 * Each run of white space has one place to go (after the type, a `;` or a parameter), so a long one is read in
 * linear time, not backtracked through.
 */
const JSON_MEDIA_TYPE = new RegExp(`^application/json[ \\t]*((?:;[ \\t]*(?:${PARAMETER}[ \\t]*)?)*)$`, "i");
const PARAMETERS = new RegExp(`;[ \\t]*${PARAMETER}`, "g");

/**
 * `application/json`, optionally with `charset=utf-8` (JSON is UTF-8 by definition, RFC 8259), read by RFC 9110's
 * grammar: a parameter that is not `name=value` is refused, not skipped. So is any comma: API Gateway joins two
 * Content-Type headers with one (`application/json;v=1` and `text/plain` arrive as
 * `application/json;v=1,text/plain`), which a looser reading took for one JSON type; no JSON parameter needs one.
 */
export function isJsonContentType(value: string | undefined): boolean {
  if (!value || value.includes(",")) return false;
  const parameters = JSON_MEDIA_TYPE.exec(value.trim())?.[1];
  if (parameters === undefined) return false;
  for (const [, name = "", parameterValue = ""] of parameters.matchAll(PARAMETERS)) {
    if (name.toLowerCase() !== "charset") continue;
    const charset = parameterValue
      .replace(/^"(.*)"$/, "$1")
      .replace(/\\(.)/g, "$1")
      .toLowerCase();
    if (charset !== "utf-8" && charset !== "utf8") return false;
  }
  return true;
}

/**
 * 413 when the body, as the invocation's event carries it (escaped, or base64 as sent), passes MAX_EVENT_BODY_BYTES.
 * Every JSON route checks it: under the 1 MiB byte cap, raw control characters (6 bytes each once escaped) still
 * pass Lambda's 6 MB, which fails the invocation as a bare 500 instead of our 4xx.
 */
function checkEventBytes(event: APIGatewayProxyEventV2): void {
  const raw = event.body ?? "";
  // No character takes more than 6 bytes escaped: a body that short cannot pass the cap (every single add), unread.
  if (raw.length * 6 <= MAX_EVENT_BODY_BYTES) return;
  const eventBytes = event.isBase64Encoded ? raw.length : lambdaEventBytes(raw);
  if (eventBytes > MAX_EVENT_BODY_BYTES) {
    throw payloadTooLarge(
      `the request body takes ${eventBytes} bytes once escaped into the function's event (quotes, backslashes and non-ASCII characters count more); the limit is ${MAX_EVENT_BODY_BYTES}`,
    );
  }
}

/** The body's size as sent: a base64 body is measured decoded. */
function bodyBytes(event: APIGatewayProxyEventV2): number {
  const raw = event.body ?? "";
  return event.isBase64Encoded ? Buffer.byteLength(raw, "base64") : Buffer.byteLength(raw, "utf8");
}

/**
 * The body as text. A base64 body is decoded strictly: invalid UTF-8 would otherwise become U+FFFD, silently
 * changing content that must be delivered exactly as sent. (A plain-text body reaches us already decoded.)
 */
function bodyText(event: APIGatewayProxyEventV2): string {
  const raw = event.body ?? "";
  if (!event.isBase64Encoded) return raw;
  try {
    return STRICT_UTF8.decode(Buffer.from(raw, "base64"));
  } catch {
    throw invalidJson("the request body is not valid UTF-8");
  }
}
