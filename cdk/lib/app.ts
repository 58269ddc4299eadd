import { type App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { ENVIRONMENTS } from "#shared/config/environments/index.js";
import {
  ConfigError,
  distinctSubscribers,
  environmentConfigSchema,
  loadEnvironmentConfig,
  type PunctualConfig,
} from "#shared/config/index.js";
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
 * `-c alarmEmails=a@example.com,b@example.com` and `-c alarmHttpsUrls=https://…`: alarm subscribers added to the
 * environment's own at synth time, so on-call addresses stay out of the repository. Prod refuses to synthesize
 * without at least one (deployment-guards.ts).
 */
export const ALARM_EMAILS_CONTEXT_KEY = "alarmEmails";
export const ALARM_HTTPS_URLS_CONTEXT_KEY = "alarmHttpsUrls";

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
  if (overrides === undefined) return addPunctualStack(app, withAlarmSubscribersFromContext(app, load(name)));
  // From the CLI a string; from cdk.json or a test an object.
  const overridesJson = typeof overrides === "string" ? overrides : JSON.stringify(overrides);
  if (name !== "local") {
    throw new ConfigError(name, [
      `-c ${CONFIG_OVERRIDES_CONTEXT_KEY}: only the local environment takes overrides; a deployed environment's config is what was reviewed`,
    ]);
  }
  return addPunctualStack(app, withAlarmSubscribersFromContext(app, load(name, overridesJson)), {
    configOverridesJson: overridesJson,
  });
}

/** Adds the context's alarm subscribers to the configuration's, validated like the configuration itself. */
export function withAlarmSubscribersFromContext(app: App, config: PunctualConfig): PunctualConfig {
  const listOf = (key: string): string[] => {
    const value: unknown = app.node.tryGetContext(key);
    if (value === undefined) return [];
    const items = Array.isArray(value) ? value.map(String) : String(value).split(",");
    return items.map((item) => item.trim()).filter((item) => item.length > 0);
  };
  const alarmSubscribers = {
    emails: [...config.alarmSubscribers.emails, ...listOf(ALARM_EMAILS_CONTEXT_KEY)],
    httpsUrls: [...config.alarmSubscribers.httpsUrls, ...listOf(ALARM_HTTPS_URLS_CONTEXT_KEY)],
  };
  const parsed = environmentConfigSchema.shape.alarmSubscribers.safeParse(alarmSubscribers);
  if (!parsed.success) {
    throw new ConfigError(
      config.name,
      parsed.error.issues.map((issue) => {
        const [list, index] = issue.path as ["emails" | "httpsUrls", number];
        const key = list === "emails" ? ALARM_EMAILS_CONTEXT_KEY : ALARM_HTTPS_URLS_CONTEXT_KEY;
        return `-c ${key}: ${JSON.stringify(alarmSubscribers[list][index])}: ${issue.message}`;
      }),
    );
  }
  return { ...config, alarmSubscribers: distinctSubscribers(parsed.data) };
}
