import { isUtf8 } from "node:buffer";
import { PunctualError } from "./errors.js";

/**
 * The most an answer from the API can hold: API Gateway's payload limit (10 MB; a Lambda answer is at most 6 MB).
 * A longer body is not the API's, and reading it whole would let a broken or hostile server (or a proxy) fill
 * the caller's memory for the whole per-attempt timeout.
 */
export const MAX_ANSWER_BYTES = 10 * 1024 * 1024;

/**
 * The answer's text, as `response.text()` decodes it (UTF-8, a BOM dropped), and whether its bytes were UTF-8 at all
 * (else each byte that is not reads as U+FFFD: JSON between systems is UTF-8, RFC 8259 §8.1, so a 2xx that is not,
 * re-encoded on its way, is no answer of the API); refused as `invalid_response` once past `maxBytes` (counted after
 * any decompression, so a compressed bomb stops too), and the connection dropped.
 */
export async function readAnswerText(
  response: Response,
  maxBytes = MAX_ANSWER_BYTES,
): Promise<{ readonly text: string; readonly utf8: boolean }> {
  const bytes = await readAnswerBytes(response, maxBytes);
  return { text: new TextDecoder().decode(bytes), utf8: isUtf8(bytes) };
}

/** The answer's bytes (decompressed), refused as `readAnswerText` says once past `maxBytes`. */
export async function readAnswerBytes(response: Response, maxBytes = MAX_ANSWER_BYTES): Promise<Buffer> {
  if (Number(response.headers.get("content-length") ?? 0) > maxBytes) {
    await response.body?.cancel();
    throw tooLarge(response, maxBytes);
  }
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge(response, maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function tooLarge(response: Response, maxBytes: number): PunctualError {
  const requestId = requestIdOf(response);
  return new PunctualError({
    code: "invalid_response",
    status: response.status,
    message: `the API's answer (HTTP ${response.status}) is over ${maxBytes / 1024 / 1024} MiB, more than the API can answer: not read`,
    ...(requestId ? { requestId } : {}),
  });
}

/**
 * The request id API Gateway answered with: an HTTP API (ours) sends it as `apigw-requestid`, the id of the access
 * log's `requestId`; `x-amzn-requestid` is a REST API's (and other AWS services'), kept for a proxy that sends it.
 */
export function requestIdOf(response: Response): string | undefined {
  return response.headers.get("apigw-requestid") ?? response.headers.get("x-amzn-requestid") ?? undefined;
}
