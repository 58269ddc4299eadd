import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import type { FunctionsConfig, PunctualConfig } from "#shared/config/index.js";
import { ENTRY_METADATA_KEY } from "#shared/contract/metadata.js";
import { METRICS_NAMESPACE, serviceName } from "#shared/domain/metrics.js";
import { ENV } from "#shared/runtime/env.js";
import {
  BUNDLE_LEGAL_COMMENTS,
  BUNDLE_MAIN_FIELDS,
  BUNDLE_TARGET,
  bundledEnvironmentDefine,
  ESM_REQUIRE_BANNER,
  UNREACHED_CREDENTIAL_PROVIDERS,
} from "../bundling.js";
import { checkEnvironmentBudget } from "../environment-budget.js";
import { FUNCTION_MEMORY_MB } from "../sizing.js";

/** The repository root: `cdk/lib/constructs/` → three levels up. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** What every function takes from its environment's configuration: its name, log level and tracing/logging. */
export function environmentFunctionProps(
  config: PunctualConfig,
): Pick<PunctualFunctionProps, "environmentName" | "logLevel" | "observability"> {
  return { environmentName: config.name, logLevel: config.logLevel, observability: config.functions };
}

export interface PunctualFunctionProps {
  /** The function's name; its entry is `functions/<name>.ts` unless `entry` says otherwise. */
  readonly name: string;
  /** Handler module relative to the repository root (an API route's row gives it). */
  readonly entry?: string;
  readonly environmentName: string;
  readonly logLevel: "DEBUG" | "INFO" | "WARN" | "ERROR";
  /** The environment's tracing mode and Lambda log format/levels (config `functions`). */
  readonly observability: FunctionsConfig;
  readonly timeout: Duration;
  readonly description: string;
  /** Extra variables (the contract's per-function list); the common ones are added here. */
  readonly environment?: Record<string, string>;
  /** Required for a function FUNCTION_MEMORY_MB does not size (the API's: their row in shared/api/routes.ts). */
  readonly memorySize?: number;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * Punctual's Lambda function: `functions/<name>.ts` bundled locally with esbuild (never Docker) into one
 * minified ESM file for nodejs22.x on arm64, X-Ray tracing and Lambda log format/levels as the environment
 * configures them (`functions`), an explicit log group with retention, and a role of its own that may only write to
 * that log group (and X-Ray) until grants are added. No reserved
 * concurrency: SQS event sources cap deliver concurrency through `MaximumConcurrency` instead.
 */
export class PunctualFunction extends nodejs.NodejsFunction {
  /** The function's own log group (explicit, with retention). */
  readonly functionLogGroup: logs.LogGroup;
  readonly functionRole: iam.Role;

  constructor(scope: Construct, id: string, props: PunctualFunctionProps) {
    // The role and the log group are created beside the function: the NodejsFunction constructor needs them.
    const { role, logGroup } = roleAndLogGroup(scope, id, props);
    const entry = props.entry ?? path.posix.join("functions", `${props.name}.ts`);
    super(scope, id, nodejsFunctionProps(props, entry, role, logGroup));
    this.functionLogGroup = logGroup;
    this.functionRole = role;
    (this.node.defaultChild as lambda.CfnFunction).addMetadata(ENTRY_METADATA_KEY, entry);
    acknowledgeFindings(this, role);
    checkEnvironmentBudget(this);
  }
}

/** The function's own role and log group, the role allowed to write to that log group. */
function roleAndLogGroup(
  scope: Construct,
  id: string,
  props: PunctualFunctionProps,
): { role: iam.Role; logGroup: logs.LogGroup } {
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
    description: `Punctual ${props.environmentName} ${props.name} function`,
  });
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: props.logRetention,
    removalPolicy: props.removalPolicy,
  });
  logGroup.grantWrite(role);
  return { role, logGroup };
}

/** The NodejsFunction's props: runtime, sizing, logging, the common variables and the esbuild bundling. */
function nodejsFunctionProps(
  props: PunctualFunctionProps,
  entry: string,
  role: iam.Role,
  logGroup: logs.LogGroup,
): nodejs.NodejsFunctionProps {
  return {
    entry: path.join(PROJECT_ROOT, entry),
    handler: "handler",
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: path.join(PROJECT_ROOT, "package-lock.json"),
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: memorySizeOf(props),
    timeout: props.timeout,
    description: props.description,
    ...tracingAndLogging(props.observability, props.logLevel),
    role,
    logGroup,
    environment: {
      [ENV.environment]: props.environmentName,
      POWERTOOLS_SERVICE_NAME: serviceName(props.environmentName),
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: props.logLevel,
      ...props.environment,
    },
    bundling: {
      format: nodejs.OutputFormat.ESM,
      target: BUNDLE_TARGET,
      minify: true,
      sourceMap: false,
      mainFields: BUNDLE_MAIN_FIELDS,
      banner: ESM_REQUIRE_BANNER,
      define: bundledEnvironmentDefine(props.environmentName),
      // The AWS SDK included (see bundling.ts for the one exception).
      externalModules: UNREACHED_CREDENTIAL_PROVIDERS,
      esbuildArgs: { "--legal-comments": BUNDLE_LEGAL_COMMENTS },
      forceDockerBundling: false,
      logLevel: nodejs.LogLevel.ERROR,
    },
  };
}

/** The cdk-nag findings every Punctual function carries by design. */
function acknowledgeFindings(fn: PunctualFunction, role: iam.Role): void {
  // Acknowledged on the role (its DefaultPolicy is a child), for exactly this finding.
  Validations.of(role).acknowledge({
    id: "AwsSolutions-IAM5[Resource::*]",
    reason:
      "Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions (AWS service authorization reference), so their resource must be '*'. Every other statement of this role names its resources.",
  });
  Validations.of(fn).acknowledge({
    id: "AwsSolutions-L1",
    reason:
      "nodejs22.x is the runtime the product pins (issue #2: Lambda nodejs22.x on arm64) and tests against; moving to a newer Node major is a deliberate upgrade, not a drive-by.",
  });
}

const TRACING: Readonly<Record<FunctionsConfig["tracing"], lambda.Tracing>> = {
  active: lambda.Tracing.ACTIVE,
  "pass-through": lambda.Tracing.PASS_THROUGH,
};

/**
 * TracingConfig and LoggingConfig from the configuration. With JSON logs the application level is the
 * environment's `logLevel` (shared/config/function-observability.ts says why); plain text carries no levels.
 */
function tracingAndLogging(
  observability: FunctionsConfig,
  logLevel: PunctualFunctionProps["logLevel"],
): Pick<
  nodejs.NodejsFunctionProps,
  "tracing" | "loggingFormat" | "systemLogLevelV2" | "applicationLogLevelV2"
> {
  const tracing = TRACING[observability.tracing];
  const { format, systemLogLevel } = observability.logging;
  // Text is Lambda's default: left out, so the template of an environment that does not use the lever is unchanged.
  if (format === "text") return { tracing };
  return {
    tracing,
    loggingFormat: lambda.LoggingFormat.JSON,
    applicationLogLevelV2: lambda.ApplicationLogLevel[logLevel],
    ...(systemLogLevel ? { systemLogLevelV2: lambda.SystemLogLevel[systemLogLevel] } : {}),
  };
}

function memorySizeOf(props: PunctualFunctionProps): number {
  const size = props.memorySize ?? (FUNCTION_MEMORY_MB as Readonly<Record<string, number>>)[props.name];
  if (size === undefined) throw new Error(`function ${props.name} has no memory size`);
  return size;
}
