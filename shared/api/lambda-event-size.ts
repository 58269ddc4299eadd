/**
 * What a request body costs of a synchronous Lambda invocation's event, which may hold at most 6 MB
 * (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html). API Gateway (HTTP API, payload format 2.0) puts a
 * JSON body into the event as a JSON string, escaped: a quote-heavy body (content sent as a string of JSON text)
 * takes up to twice its bytes there. A body over the cap would fail the invocation itself — a 500 from API Gateway
 * with nothing of ours to say why — so every JSON route measures the escaped size and answers 413 first
 * (shared/api/middleware/json-body.ts). That 413 covers only events that still fit Lambda's limit: the batch
 * route's 4 MiB of quotes, or a single add's ~1 MiB of raw control characters (6 bytes each), make an event over
 * 6 MB, the function never runs, and API Gateway answers its bare 500 (docs/API.md says so).
 */

/**
 * Room for a body in the event: 6 MB read as the lower 6,000,000 bytes, less what else the event carries (headers,
 * which API Gateway caps at 10 KiB, and the request context: a few KiB) — 5 MiB leaves 0.75 MB for them.
 */
export const MAX_EVENT_BODY_BYTES = 5 * 1024 * 1024;

/**
 * Hard cap on a request body's bytes as sent (every JSON route but the batch's, MAX_BATCH_BODY_BYTES), checked
 * before parsing. Topic limits (at most 350 KiB of content) are enforced later on the parsed content; this only
 * keeps a huge body from being parsed at all. A content sent as an escaped JSON string can be several times its own
 * size, hence the headroom. The client sends an add over it alone, to be answered as a single add (413).
 */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;

/** Control characters JSON writes as two-character escapes (\b \t \n \f \r); the others take \u00XX. */
const SHORT_ESCAPES = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d]);

/**
 * The body's bytes once written into the event as a JSON string, at worst: `"` and `\` two bytes, control
 * characters two or six, printable ASCII one, and every non-ASCII UTF-16 unit six (`\uXXXX`) — whether API Gateway
 * escapes non-ASCII characters or writes them as UTF-8 its documentation does not say, so the larger is counted.
 * Additive: a concatenation costs the sum of its parts (the client fills batches by it). Hand-written: a loop
 * over the string's units; no library measures JSON's escaped size without building the string.
 */
export function lambdaEventBytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit === 0x22 || unit === 0x5c) bytes += 2;
    else if (unit < 0x20) bytes += SHORT_ESCAPES.has(unit) ? 2 : 6;
    else if (unit < 0x80) bytes += 1;
    else bytes += 6;
  }
  return bytes;
}
