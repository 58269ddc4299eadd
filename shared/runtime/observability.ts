import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { PunctualConfig } from "#shared/config/index.js";
import { METRICS_NAMESPACE, serviceName } from "#shared/domain/metrics.js";

/**
 * Logger and metrics construction for every function, and the logger type the services depend on. A function
 * builds its logger once at cold start; metrics are built per use where values are buffered across awaits
 * (deliver builds one per topic and flush), or once per function where a request fills and publishes them in one
 * synchronous step (the add routes' `TasksAccepted`).
 */

/** The subset of a Powertools Logger the services use (structured extra fields, never task content). */
export interface ServiceLogger {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

type LoggerLevel = NonNullable<NonNullable<ConstructorParameters<typeof Logger>[0]>["logLevel"]>;

/** The `service` name logs and metrics carry: Powertools' variable (set by the stack) wins over the config. */
export function functionServiceName(config: PunctualConfig, env: NodeJS.ProcessEnv = process.env): string {
  return env.POWERTOOLS_SERVICE_NAME || serviceName(config.name);
}

/**
 * The functions' logger. Powertools' own variables (set by the stack) win; the environment's config fills in
 * what they leave out, so a function started by hand logs at the configured level under the right service.
 */
export function createFunctionLogger(config: PunctualConfig, env: NodeJS.ProcessEnv = process.env): Logger {
  return new Logger({
    serviceName: functionServiceName(config, env),
    logLevel: (env.POWERTOOLS_LOG_LEVEL || env.AWS_LAMBDA_LOG_LEVEL || config.logLevel) as LoggerLevel,
  });
}

/**
 * Every handler's logger middleware: Lambda's context on each line, and the event never logged whole — not even
 * when someone sets `POWERTOOLS_LOGGER_LOG_EVENT` on a function (the option wins over the variable): an add's event
 * holds the task's content and the caller's `Authorization` header (docs/OPERATIONS.md, "What the logs, metrics
 * and traces hold").
 */
export function loggerContext(log: Logger) {
  return injectLambdaContext(log, { logEvent: false });
}

/**
 * A factory of EMF metrics in the Punctual namespace under the function's service. Each call is a new
 * instance: what one instance holds (dimensions, buffered values) is never shared with another.
 */
export function functionMetricsFactory(
  config: PunctualConfig,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): () => Metrics {
  const service = functionServiceName(config, env);
  return () => new Metrics({ namespace: METRICS_NAMESPACE, serviceName: service, logger });
}
