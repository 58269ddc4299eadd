import { createHmac } from "node:crypto";

/**
 * Standard Webhooks (https://www.standardwebhooks.com/) signing with node:crypto's HMAC-SHA256, the two things
 * deliver needs of the standardwebhooks library: its secret decoding and `sign`. The library brings its own
 * JavaScript SHA-256 and base64 (12 KB of deliver's bundle, and slower than the runtime's native HMAC); its
 * receivers, our tests and tools keep using it, and a spec holds both to the same answers
 * (test/unit/security/standard-webhooks.test.ts).
 */

const PREFIX = "whsec_";
const BASE64_ALPHABET = /^[A-Za-z0-9+/]*$/;

/**
 * The key bytes of a `whsec_…` (or bare) base64 secret, accepted and refused as the library's decoder
 * (@stablelib/base64) does, with its error messages: trailing `=` padding of at most two, at least four characters,
 * the standard alphabet; like it, a last character left alone after whole quads (length 4n+1) is not read.
 */
export function decodeWebhookSecret(secret: string): Buffer {
  const body = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  if (body.length === 0) throw new Error("Secret can't be empty.");
  const padding = body.length - body.replace(/=+$/, "").length;
  if (body.length < 4 || padding > 2) throw new Error("Base64Coder: incorrect padding");
  const length = body.length - padding;
  const read = body.slice(0, length % 4 === 1 ? length - 1 : length);
  if (!BASE64_ALPHABET.test(read)) throw new Error("Base64Coder: incorrect characters for decoding");
  const key = Buffer.from(read, "base64");
  if (key.length === 0) throw new Error("Secret can't be empty.");
  return key;
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.payload">`, the timestamp in whole seconds, the payload as UTF-8. */
export function signWebhook(key: Buffer, messageId: string, at: Date, payload: string): string {
  const timestamp = Math.floor(at.getTime() / 1000);
  return `v1,${createHmac("sha256", key).update(`${messageId}.${timestamp}.${payload}`).digest("base64")}`;
}
