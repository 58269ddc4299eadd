import { type App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { ENVIRONMENTS } from "#shared/config/environments/index.js";
import { ConfigError, loadEnvironmentConfig, type PunctualConfig } from "#shared/config/index.js";
import { PunctualStack, stackNameFor } from "./punctual-stack.js";

/** The CDK context key naming the environment: `cdk synth -c env=<name>`. */
export const ENV_CONTEXT_KEY = "env";

/**
 * `-c configOverrides=<json>`: PUNCTUAL_CONFIG_OVERRIDES for a deployed `local` stack (the end-to-end suite on
 * LocalStack needs the Scheduler path's shortened timings and a callback host its containers can reach). Applied
 * at synth and baked into every function's environment; refused for every other environment.
 */
export const CONFIG_OVERRIDES_CONTEXT_KEY = "configOverrides";

/**
 * Adds `Punctual-<name>` for an already validated configuration, with cdk-nag's AwsSolutions checks applied.
 * Account and region come from the configuration, else from the CLI's (`CDK_DEFAULT_*`).
 */
export function addPunctualStack(
  app: App,
  config: PunctualConfig,
  options: { readonly configOverridesJson?: string } = {},
): PunctualStack {
  const stack = new PunctualStack(app, stackNameFor(config.name), {
    config,
    ...(options.configOverridesJson ? { configOverridesJson: options.configOverridesJson } : {}),
    stackName: stackNameFor(config.name),
    description: `Punctual (${config.name}): delayed tasks delivered on time, in order per key, signed and retried`,
    env: {
      account: config.account ?? process.env.CDK_DEFAULT_ACCOUNT,
      region: config.region ?? process.env.CDK_DEFAULT_REGION,
    },
  });
  // cdk-nag 3 is a policy-validation plugin: any unacknowledged finding fails synth with a report.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return stack;
}

/**
 * Reads `-c env=<name>` and adds that environment's stack. A missing or unknown name, and any invalid setting,
 * is a `ConfigError` naming the environment, the topic and the field.
 */
export function addPunctualStackFromContext(
  app: App,
  load: (name: string, overridesJson?: string) => PunctualConfig = loadEnvironmentConfig,
): PunctualStack {
  const name: unknown = app.node.tryGetContext(ENV_CONTEXT_KEY);
  if (typeof name !== "string" || name.length === 0) {
    throw new ConfigError("(unset)", [
      `choose an environment with -c ${ENV_CONTEXT_KEY}=<name>; known: ${Object.keys(ENVIRONMENTS).join(", ")}`,
    ]);
  }
  const overrides: unknown = app.node.tryGetContext(CONFIG_OVERRIDES_CONTEXT_KEY);
  if (overrides === undefined) return addPunctualStack(app, load(name));
  // From the CLI a string; from cdk.json or a test an object.
  const overridesJson = typeof overrides === "string" ? overrides : JSON.stringify(overrides);
  if (name !== "local") {
    throw new ConfigError(name, [
      `-c ${CONFIG_OVERRIDES_CONTEXT_KEY}: only the local environment takes overrides; a deployed environment's config is what was reviewed`,
    ]);
  }
  return addPunctualStack(app, load(name, overridesJson), { configOverridesJson: overridesJson });
}
