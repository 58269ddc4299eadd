import type { Logger } from "@aws-lambda-powertools/logger";
import middy from "@middy/core";
import { loadEnvironmentConfig, type PunctualConfig } from "#shared/config/index.js";
import {
  applyRuntimeSettingsText,
  PROBLEMS_SHOWN,
  problemsSummary,
  settingsDocumentText,
} from "#shared/config/runtime-settings.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import {
  createFunctionLogger,
  functionMetricsFactory,
  loggerContext,
} from "#shared/runtime/observability.js";
import { publishSettingsRefused } from "#shared/services/settings-metrics.js";

/**
 * AWS AppConfig's LAMBDA validator of the runtime topic settings profile: AppConfig invokes it before a deployment
 * and refuses the deployment when it throws. It runs the very code the functions apply a document with
 * (`applyRuntimeSettingsText`: the zod topic settings schema, the cross-field rules, known topics, deploy-bound
 * rows) against this stack's deployed configuration, so a document it accepts is one every function accepts.
 * A JSON Schema validator (zod's toJSONSchema) could not carry the cross-field and deploy-bound rules, nor the
 * case-insensitive host pattern, so it would accept documents the functions then refuse.
 */
export interface AppConfigValidationEvent {
  readonly applicationId: string;
  readonly configurationProfileId: string;
  readonly configurationVersion: string;
  /** The candidate document, base64. */
  readonly content: string;
  readonly uri?: string;
}

export class TopicSettingsRefused extends Error {
  override readonly name = "TopicSettingsRefused";
}

const env = requireEnv([ENV.environment]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

/**
 * `refused` counts each refusal (`TopicSettingsRefused`): a refusal is a function error to Lambda, and the errors
 * alarm subtracts these, or every mistyped edit paged on-call as a validator crash. It gets the time the handler
 * was entered, the nearest to the invocation time Lambda stamps Errors with (a cold start's init comes before it).
 */
export function createHandler(
  deployed: PunctualConfig,
  log: Logger,
  refused: (invokedAtMs: number) => void = () => {},
  now: () => number = Date.now,
) {
  return async (event: AppConfigValidationEvent): Promise<void> => {
    const invokedAtMs = now();
    // Decoded as the functions decode what AppConfig hands them, so both read the same text.
    const text = settingsDocumentText(Buffer.from(event.content ?? "", "base64"));
    const result = applyRuntimeSettingsText(deployed, text);
    const version = { configurationVersion: event.configurationVersion };
    if (result.ok) {
      log.info("topic settings accepted", version);
      return;
    }
    const problems = result.problems;
    log.warn("topic settings refused", {
      ...version,
      problems: problems.slice(0, PROBLEMS_SHOWN),
      problemCount: problems.length,
    });
    refused(invokedAtMs);
    // AppConfig reads the thrown error (X-Amz-Function-Error) as "invalid" and shows its message to the operator.
    throw new TopicSettingsRefused(problemsSummary(problems));
  };
}

const metrics = functionMetricsFactory(config, logger);
// Wrapped in the logger's middleware like every other handler, so its lines carry Lambda's context (request id).
export const handler = middy(
  createHandler(config, logger, (invokedAtMs) => publishSettingsRefused(metrics(), invokedAtMs)),
).use(loggerContext(logger));
