/**
 * `-c configOverrides=<json>` (the LocalStack end-to-end deploy, localstack/README.md): a `local` stack synthesized
 * with the overrides and carrying them in every function's environment, since the functions load their config
 * at cold start; refused for any other environment.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { addPunctualStackFromContext, CONFIG_OVERRIDES_CONTEXT_KEY } from "#cdk/lib/app.js";
import { ConfigError } from "#shared/config/index.js";

const overrides = {
  timer: { horizonSeconds: 2, leadSeconds: 2 },
  system: { allowedCallbackHosts: ["127.0.0.1", "host.docker.internal", "*"] },
};

function synthLocal(context: Record<string, unknown>) {
  const app = new App({ context: { env: "local", "aws:cdk:bundling-stacks": [], ...context } });
  const stack = addPunctualStackFromContext(app);
  const functions = Template.fromStack(stack).findResources("AWS::Lambda::Function");
  const variables = Object.values(functions).map(
    (f) => (f.Properties.Environment?.Variables ?? {}) as Record<string, unknown>,
  );
  return { stack, variables };
}

describe("-c configOverrides", () => {
  it("synthesizes the local stack with the overrides and bakes them into every function", () => {
    // As the CDK CLI passes it: a string.
    const json = JSON.stringify(overrides);

    const { stack, variables } = synthLocal({ [CONFIG_OVERRIDES_CONTEXT_KEY]: json });

    expect(stack.config.timer).toMatchObject({ horizonSeconds: 2, leadSeconds: 2 });
    expect(stack.config.resolvedTopics.demo?.allowedCallbackHosts).toContain("host.docker.internal");
    expect(variables.length).toBeGreaterThanOrEqual(5);
    for (const vars of variables) expect(vars.PUNCTUAL_CONFIG_OVERRIDES).toBe(json);
  });

  it("takes an object too (cdk.json), and without the key sets nothing", () => {
    const withObject = synthLocal({ [CONFIG_OVERRIDES_CONTEXT_KEY]: overrides });
    const without = synthLocal({});

    for (const vars of withObject.variables) {
      expect(JSON.parse(String(vars.PUNCTUAL_CONFIG_OVERRIDES))).toEqual(overrides);
    }
    for (const vars of without.variables) expect(vars).not.toHaveProperty("PUNCTUAL_CONFIG_OVERRIDES");
    expect(without.stack.config.timer.horizonSeconds).not.toBe(2);
  });

  it("refuses overrides for a deployed environment, and malformed JSON", () => {
    const dev = new App({ context: { env: "dev", [CONFIG_OVERRIDES_CONTEXT_KEY]: "{}" } });
    const malformed = new App({ context: { env: "local", [CONFIG_OVERRIDES_CONTEXT_KEY]: "{nope" } });

    expect(() => addPunctualStackFromContext(dev)).toThrow(ConfigError);
    expect(() => addPunctualStackFromContext(dev)).toThrow(
      /environment "dev"[\s\S]*only the local environment/,
    );
    expect(() => addPunctualStackFromContext(malformed)).toThrow(
      /PUNCTUAL_CONFIG_OVERRIDES: must be a JSON object/,
    );
  });
});
