import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { settingsDocumentOf } from "#shared/config/runtime-settings.js";
import { memoryLogger } from "../../support/logger.js";

/** AppConfig's LAMBDA validator event (docs: the content is base64). */
function validationEvent(document: unknown, version = "2") {
  return {
    applicationId: "abc1234",
    configurationProfileId: "def5678",
    configurationVersion: version,
    content: Buffer.from(typeof document === "string" ? document : JSON.stringify(document)).toString(
      "base64",
    ),
    uri: "hosted",
  };
}

describe("functions/validate-topic-settings.ts", () => {
  beforeEach(() => {
    vi.resetModules();
    vi.stubEnv("PUNCTUAL_ENV", "prod");
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "ERROR");
  });
  afterEach(() => vi.unstubAllEnvs());

  it("accepts the CDK's initial document and a runtime change (returns, so AppConfig deploys)", async () => {
    const { handler } = await import("#functions/validate-topic-settings.js");
    const prod = loadEnvironmentConfig("prod");

    await expect(handler(validationEvent(settingsDocumentOf(prod)))).resolves.toBeUndefined();
    await expect(
      handler(validationEvent({ topics: { orders: { maxAttempts: 2, paused: true } } })),
    ).resolves.toBeUndefined();
  });

  it.each([
    ["not JSON", "{", "not JSON"],
    ["out of range", { topics: { orders: { maxAttempts: 0 } } }, 'topic "orders", field "maxAttempts"'],
    ["a new topic", { topics: { invoices: {} } }, "adding a topic needs a deploy"],
    ["a deploy-bound row", { topics: { orders: { maxConcurrency: 2 } } }, "maxConcurrency"],
  ])(
    "throws on %s, naming the problem (AppConfig refuses the deployment)",
    async (_name, document, expected) => {
      const { createHandler, TopicSettingsRefused } = await import("#functions/validate-topic-settings.js");
      const logger = memoryLogger();
      const handler = createHandler(loadEnvironmentConfig("prod"), logger as never);

      const outcome = handler(validationEvent(document));

      await expect(outcome).rejects.toBeInstanceOf(TopicSettingsRefused);
      await expect(outcome).rejects.toThrow(expected);
      expect(logger.entries).toEqual([
        expect.objectContaining({ level: "warn", message: "topic settings refused" }),
      ]);
    },
  );
});
