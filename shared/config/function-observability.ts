import * as z from "#shared/zod.js";

/**
 * Tracing and platform logs of every Punctual function (docs/COST-AND-SCALE.md, "Levers"). What AWS allows:
 * - TracingConfig.Mode is `Active` or `PassThrough` (https://docs.aws.amazon.com/lambda/latest/api/API_TracingConfig.html).
 *   Active: Lambda samples requests that arrive without a sampling decision (about 1 per second and 5 % of the rest,
 *   X-Ray's default rule; Lambda offers no setting to change that rate for a function) and records them. PassThrough:
 *   Lambda only propagates the trace context and records nothing unless an upstream caller sent a header with
 *   `Sampled=1` (https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html). HTTP APIs do not trace, and SQS
 *   event sources start a new trace per batch, so in pass-through mode our functions are in effect untraced.
 * - LoggingConfig: LogFormat `Text | JSON`; SystemLogLevel `DEBUG | INFO | WARN` and ApplicationLogLevel filtering
 *   only with the JSON format (https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html,
 *   https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html). System level WARN drops
 *   the START, END and REPORT lines (they are INFO), ≈ 300 B per invocation.
 */
export const TRACING_MODES = ["active", "pass-through"] as const;
export const SYSTEM_LOG_LEVELS = ["DEBUG", "INFO", "WARN"] as const;

/* The schemas below are built when called, not at import, as in event-sources.ts (why: there). */
function loggingSchema() {
  return z
    .strictObject({
      format: z.enum(["text", "json"]),
      /** Lambda's own lines (START, END, REPORT are INFO): WARN keeps only the platform's warnings. JSON format only. */
      systemLogLevel: z.optional(z.enum(SYSTEM_LOG_LEVELS)),
    })
    .check(
      z.refine((l) => l.systemLogLevel === undefined || l.format === "json", {
        message:
          'systemLogLevel needs format "json": Lambda filters log levels only for functions whose log format is JSON',
        path: ["systemLogLevel"],
      }),
    );
}

export function functionsSchema() {
  return z.strictObject({
    tracing: z.enum(TRACING_MODES),
    logging: loggingSchema(),
  });
}

export type FunctionsConfig = z.infer<ReturnType<typeof functionsSchema>>;

/** What an environment leaves out: today's behaviour (active tracing, plain-text logs with every platform line). */
export const DEFAULT_FUNCTIONS: FunctionsConfig = { tracing: "active", logging: { format: "text" } };

/** Application log levels that keep the EMF metric lines (they carry no `level`, so Lambda files them as INFO). */
const LEVELS_KEEPING_METRICS: ReadonlySet<string> = new Set(["DEBUG", "INFO"]);

/**
 * With JSON logs Lambda filters the application's lines too, at ApplicationLogLevel; we set it to the
 * environment's `logLevel` so that Lambda and Powertools agree (Powertools takes AWS_LAMBDA_LOG_LEVEL, which Lambda
 * sets from it, over its own setting). A level above INFO would drop the Powertools Metrics lines: they carry no
 * `level` key, Lambda files such a line as INFO, and the dashboard and alarms are built on those metrics.
 */
export function functionLoggingProblems(functions: FunctionsConfig, logLevel: string): string[] {
  if (functions.logging.format !== "json" || LEVELS_KEEPING_METRICS.has(logLevel)) return [];
  return [
    `field "functions.logging.format": "json" needs logLevel DEBUG or INFO (found ${logLevel}): with JSON logs Lambda filters the application's lines at logLevel, and the metric (EMF) lines, which carry no level, count as INFO — WARN or ERROR would drop every custom metric the alarms read`,
  ];
}
