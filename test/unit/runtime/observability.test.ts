import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import {
  createFunctionLogger,
  functionMetricsFactory,
  loggerContext,
} from "#shared/runtime/observability.js";

const config = loadEnvironmentConfig("local");

describe("observability: the functions' logger and metrics", () => {
  it("the stack's Powertools variables win over the environment's config", () => {
    // Prepare
    const env = { POWERTOOLS_SERVICE_NAME: "punctual-from-stack", POWERTOOLS_LOG_LEVEL: "ERROR" };

    // Act
    const logger = createFunctionLogger(config, env);

    // Assess
    expect(logger.getLevelName()).toBe("ERROR");
    expect(functionMetricsFactory(config, logger, env)().serializeMetrics()).toMatchObject({
      service: "punctual-from-stack",
    });
  });

  it("without them, the config names the service and sets the level", () => {
    // Act
    const logger = createFunctionLogger(config, {});
    const metrics = functionMetricsFactory(config, logger, {})();
    metrics.addMetric("Probe", "Count", 1);

    // Assess
    expect(logger.getLevelName()).toBe(config.logLevel);
    const emf = metrics.serializeMetrics() as unknown as Record<string, unknown>;
    expect(emf.service).toBe("punctual-local");
    expect(emf._aws).toMatchObject({ CloudWatchMetrics: [{ Namespace: "Punctual" }] });
  });

  it("each metrics instance is new: a dimension added to one is not in the next", () => {
    // Prepare
    const create = functionMetricsFactory(config, createFunctionLogger(config, {}), {});
    const first = create();
    first.addDimension("Topic", "alpha");
    first.addMetric("Probe", "Count", 1);

    // Act
    const second = create();
    second.addMetric("Probe", "Count", 1);

    // Assess
    expect(first.serializeMetrics()).toMatchObject({ Topic: "alpha" });
    expect(second.serializeMetrics()).not.toHaveProperty("Topic");
  });

  describe("the handlers' logger middleware", () => {
    afterEach(() => {
      vi.unstubAllEnvs();
      vi.restoreAllMocks();
    });

    it("never logs the event whole, even with POWERTOOLS_LOGGER_LOG_EVENT set on the function", async () => {
      // Prepare
      vi.stubEnv("POWERTOOLS_LOGGER_LOG_EVENT", "true");
      const logger = createFunctionLogger(config, { POWERTOOLS_LOG_LEVEL: "INFO" });
      const written: string[] = [];
      vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
      const handler = middy<{ body: string }, string>()
        .use(loggerContext(logger))
        .handler(async () => "ok");
      const context = { functionName: "add-task", awsRequestId: "req-1" } as Context;

      // Act
      await handler({ body: '{"content":"secret-content-1a2b"}' }, context);

      // Assess
      expect(written.join("")).not.toContain("secret-content-1a2b");
    });
  });
});
