import fc from "fast-check";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { decodeWebhookSecret, signWebhook } from "#shared/security/standard-webhooks.js";

/**
 * The signing deliver bundles is node:crypto's HMAC, not the standardwebhooks library (which brings a JavaScript
 * SHA-256 and base64, 12 KB of deliver's bundle): the library stays the arbiter here. Every secret it accepts we
 * accept with the same key bytes, every one it refuses we refuse with its message, and every signature is its.
 */
const libraryKey = (secret: string): { key: Buffer } | { error: string } => {
  try {
    return { key: Buffer.from((new Webhook(secret) as unknown as { key: Uint8Array }).key) };
  } catch (error) {
    return { error: (error as Error).message };
  }
};
const ourKey = (secret: string): { key: Buffer } | { error: string } => {
  try {
    return { key: decodeWebhookSecret(secret) };
  } catch (error) {
    return { error: (error as Error).message };
  }
};

const base64ish = fc.string({
  unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ !é"),
  maxLength: 60,
});

describe("Standard Webhooks with node:crypto", () => {
  it("decodes every secret exactly as the standardwebhooks library does, and refuses what it refuses", () => {
    fc.assert(
      fc.property(fc.boolean(), base64ish, (prefixed, body) => {
        const secret = prefixed ? `whsec_${body}` : body;
        expect(ourKey(secret)).toEqual(libraryKey(secret));
      }),
      { numRuns: 5000 },
    );
    for (const secret of [
      "",
      "whsec_",
      "A",
      "AAAA",
      "AAAA!",
      "AAAAA",
      "AA==",
      "A===",
      "====",
      "AAA=",
      "AAAA====",
      "AA=A",
    ])
      expect(ourKey(secret), secret).toEqual(libraryKey(secret));
  });

  it("signs exactly as the library does, whatever the id, time and payload (lone surrogates included)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.string({ maxLength: 40 }),
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        fc.string({ unit: "binary", maxLength: 200 }),
        (bytes, id, ms, payload) => {
          const secret = `whsec_${Buffer.from(bytes).toString("base64")}`;
          const at = new Date(ms);
          expect(signWebhook(decodeWebhookSecret(secret), id, at, payload)).toBe(
            new Webhook(secret).sign(id, at, payload),
          );
        },
      ),
      { numRuns: 2000 },
    );
  });
});
