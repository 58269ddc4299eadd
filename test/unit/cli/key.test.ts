import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { topicSigningKey } from "#shared/security/signing.js";
import { runOffline } from "./offline.js";

describe("key: a signing secret deliver would refuse is a usage error (exit 1), never echoed", () => {
  it.each([
    ["too short", "whsec_changeme"],
    ["not base64", "whsec_not base64!"],
    ["a rotation document without current", '{"curent":"whsec_x"}'],
    ["JSON that does not parse", '{"current":'],
  ])("%s: exit 1 (a retry cannot help), the secret not printed", async (_, secret) => {
    // Act
    const result = await runOffline(["key", "--topic", "demo"], { PUNCTUAL_SIGNING_SECRET: secret });

    // Assess
    expect(result.code, result.err).toBe(1);
    expect(result.out).toBe("");
    expect(result.err).toMatch(/signing secret/);
    expect(result.err).not.toContain(secret);
  });

  it("a good secret prints the topic's key (exit 0)", async () => {
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const result = await runOffline(["key", "--topic", "demo"], { PUNCTUAL_SIGNING_SECRET: secret });
    expect(result.code, result.err).toBe(0);
    expect(result.out).toBe(`${topicSigningKey(secret, "demo")}\n`);
  });

  it.each([
    ["a subscriber id with a capital", ["--topic", "orders", "--subscriber", "Billing"], /subscriber/],
    ["a subscriber id with a space", ["--topic", "orders", "--subscriber", "billing "], /subscriber/],
    ["a topic name with a capital", ["--topic", "Orders"], /topic/],
  ])(
    "%s: exit 1 and no key: no callback is ever signed with it, so its receiver would refuse them all",
    async (_, args, named) => {
      // Prepare
      const secret = `whsec_${randomBytes(32).toString("base64")}`;

      // Act
      const result = await runOffline(["key", ...args], { PUNCTUAL_SIGNING_SECRET: secret });

      // Assess
      expect(result.code, result.err).toBe(1);
      expect(result.out).toBe("");
      expect(result.err).toMatch(named);
    },
  );
});
