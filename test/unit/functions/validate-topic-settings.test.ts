import type { Context } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { applyRuntimeSettingsText, settingsDocumentOf } from "#shared/config/runtime-settings.js";
import { memoryLogger } from "../../support/logger.js";

/** The context Lambda hands the validator (its request id goes on every log line). */
const context = {
  functionName: "punctual-prod-validate-topic-settings",
  awsRequestId: "req-validator-1",
  invokedFunctionArn: "arn:aws:lambda:eu-west-1:000000000000:function:punctual-prod-validate-topic-settings",
  memoryLimitInMB: "256",
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

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

    await expect(handler(validationEvent(settingsDocumentOf(prod)), context)).resolves.toBeUndefined();
    await expect(
      handler(validationEvent({ topics: { orders: { maxAttempts: 2, paused: true } } }), context),
    ).resolves.toBeUndefined();
  });

  it("logs with Lambda's context, as every other handler does (its lines carry the request id)", async () => {
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "INFO");
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const { handler } = await import("#functions/validate-topic-settings.js");
      await handler(validationEvent(settingsDocumentOf(loadEnvironmentConfig("prod"))), context);

      const accepted = lines
        .map((line) => JSON.parse(line))
        .find((entry) => entry.message === "topic settings accepted");
      expect(accepted).toMatchObject({ function_request_id: "req-validator-1" });
    } finally {
      write.mockRestore();
    }
  });

  it.each([
    ["not JSON", "{", "not JSON"],
    ["out of range", { topics: { orders: { maxAttempts: 0 } } }, 'topic "orders", field "maxAttempts"'],
    ["a new topic", { topics: { invoices: {} } }, "adding a topic needs a deploy"],
    ["a deploy-bound row", { topics: { orders: { maxConcurrency: 2 } } }, "maxConcurrency"],
    // JSON.parse makes `__proto__` an own key; copied into a plain object it set that object's prototype instead,
    // so the topic vanished from the document and it was accepted (a raised maxAttempts beside it included).
    ["a topic named __proto__", '{"topics":{"__proto__":{"maxAttempts":2}}}', '"__proto__"'],
    [
      "a topic named __proto__ beside a known one",
      '{"topics":{"orders":{"maxAttempts":2},"__proto__":{"maxConcurrency":1}}}',
      '"__proto__"',
    ],
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

  it("counts each refusal (TopicSettingsRefused), so the validator's errors alarm can leave them out: a refusal is the validator working", async () => {
    // Prepare
    const { createHandler } = await import("#functions/validate-topic-settings.js");
    const refusals: string[] = [];
    const handler = createHandler(loadEnvironmentConfig("prod"), memoryLogger() as never, () =>
      refusals.push("refused"),
    );

    // Act
    await handler(validationEvent({ topics: { orders: { maxAttempts: 2 } } }));
    await handler(validationEvent({ topics: { orders: { maxAttempts: 0 } } })).catch(() => undefined);
    await handler(validationEvent("{")).catch(() => undefined);

    // Assess
    expect(refusals).toEqual(["refused", "refused"]);
  });

  it("hands each refusal the time the invocation began (Lambda's Errors timestamp), read once at entry", async () => {
    // Prepare: a clock that has moved on by the time a refusal is known, as a slow check would have it.
    const { createHandler } = await import("#functions/validate-topic-settings.js");
    const invokedAtMs = Date.UTC(2026, 11, 2, 10, 4, 59, 900);
    const readings = [invokedAtMs, invokedAtMs + 600];
    const refusals: number[] = [];
    const handler = createHandler(
      loadEnvironmentConfig("prod"),
      memoryLogger() as never,
      (atMs) => refusals.push(atMs),
      () => readings.shift() ?? Number.NaN,
    );

    // Act
    await handler(validationEvent({ topics: { orders: { maxAttempts: 0 } } })).catch(() => undefined);

    // Assess
    expect(refusals).toEqual([invokedAtMs]);
  });

  it("refuses a document with thousands of problems with a message that names the first and counts the rest", async () => {
    // Prepare: 50,000 unknown topics (a document well under AppConfig's 2 MB). Each problem joined in made a
    // message of about 5 MB, past what the function's error answer and a log line carry.
    const { createHandler, TopicSettingsRefused } = await import("#functions/validate-topic-settings.js");
    const logger = memoryLogger();
    const handler = createHandler(loadEnvironmentConfig("prod"), logger as never);
    const topics = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`t${i}`, {}]));

    // Act
    const outcome = handler(validationEvent({ topics }));

    // Assess
    await expect(outcome).rejects.toBeInstanceOf(TopicSettingsRefused);
    const message = ((await outcome.catch((e: unknown) => e)) as Error).message;
    expect(message).toContain('topic "t0": not a deployed topic');
    expect(message).toContain("and 49990 more");
    expect(message.length).toBeLessThan(4_000);
    expect(JSON.stringify(logger.entries).length).toBeLessThan(8_000);
  });

  it("refuses, naming why, a document too large for the schema's checks (zod overflows its stack on it)", async () => {
    // Prepare: 150,000 allow-list entries, each refused: zod gathers their issues with push(...spread), which
    // overflows the call stack; the RangeError escaped applyRuntimeSettingsText (a function reading it failed).
    const { createHandler, TopicSettingsRefused } = await import("#functions/validate-topic-settings.js");
    const handler = createHandler(loadEnvironmentConfig("prod"), memoryLogger() as never);
    const hosts = Array.from({ length: 150_000 }, (_, i) => `bad host ${i}`);
    const text = JSON.stringify({ topics: { orders: { allowedCallbackHosts: hosts } } });

    // Act
    const outcome = handler(validationEvent(text));
    const functionSees = () => applyRuntimeSettingsText(loadEnvironmentConfig("prod"), text);

    // Assess
    await expect(outcome).rejects.toBeInstanceOf(TopicSettingsRefused);
    await expect(outcome).rejects.toThrow("could not be checked");
    expect(functionSees).not.toThrow();
    expect(functionSees()).toMatchObject({ ok: false });
  }, 60_000);

  it("accepts a document saved with a UTF-8 byte order mark, as every function does (their decoder drops it)", async () => {
    // Prepare: `Set-Content -Encoding UTF8` (Windows PowerShell) and some editors write one
    const { handler } = await import("#functions/validate-topic-settings.js");
    const text = `\ufeff${JSON.stringify({ topics: { orders: { maxAttempts: 2 } } })}`;
    const bytes = new TextEncoder().encode(text);

    // Act
    const outcome = handler(
      { ...validationEvent(""), content: Buffer.from(bytes).toString("base64") },
      context,
    );

    // Assess: the validator agrees with what a function makes of the same bytes (Powertools' Uint8Array,
    // decoded with TextDecoder as shared/adapters/topic-settings.ts does)
    await expect(outcome).resolves.toBeUndefined();
    const functionSees = applyRuntimeSettingsText(
      loadEnvironmentConfig("prod"),
      new TextDecoder().decode(bytes),
    );
    expect(functionSees.ok).toBe(true);
  });
});
