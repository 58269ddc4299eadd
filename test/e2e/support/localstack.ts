import {
  CloudFormationClient,
  DescribeStacksCommand,
  GetTemplateCommand,
  ListStackResourcesCommand,
  type StackResourceSummary,
} from "@aws-sdk/client-cloudformation";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { parseSigningSecrets } from "#shared/security/signing.js";

/**
 * The end-to-end suite against a Punctual stack deployed to LocalStack (`cdklocal deploy -c env=local`): where
 * the stack's API, table, schedule group and signing secret are, read through CloudFormation and Secrets
 * Manager on the LocalStack endpoint. Every value can also be given directly (see `localStackSettings`).
 */

export const DEFAULT_LOCALSTACK_ENDPOINT = "http://localhost.localstack.cloud:4566";
export const DEFAULT_STACK_NAME = "Punctual-local";
/** The variable `cdk deploy -c env=local -c configOverrides=<json>` bakes into every function (cdk/lib/app.ts). */
export const CONFIG_OVERRIDES_VARIABLE = "PUNCTUAL_CONFIG_OVERRIDES";
/** The deploy command the README documents; error messages repeat it. */
export const DEPLOY_HINT =
  "npx aws-cdk-local deploy -c env=local -c configOverrides=\"$(tr -d '\\n' < localstack/config-overrides.json)\"";

export interface LocalStackSettings {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly stackName: string;
  /** Given directly instead of looked up. */
  readonly apiUrl?: string;
  readonly tableName?: string;
  readonly scheduleGroupName?: string;
  readonly signingSecret?: string;
}

/** Reads the LocalStack target's settings from the environment (names in localstack/README.md). */
export function localStackSettings(env: NodeJS.ProcessEnv = process.env): LocalStackSettings {
  const pick = <K extends string>(key: K, name: string) =>
    env[name] ? ({ [key]: env[name] } as Record<K, string>) : {};
  return {
    endpoint: env.AWS_ENDPOINT_URL || DEFAULT_LOCALSTACK_ENDPOINT,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1",
    // LocalStack takes any credentials; "test" maps to its default account 000000000000, as with cdklocal.
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID || "test",
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY || "test",
    },
    stackName: env.PUNCTUAL_E2E_STACK || DEFAULT_STACK_NAME,
    ...pick("apiUrl", "PUNCTUAL_E2E_API_URL"),
    ...pick("tableName", "PUNCTUAL_E2E_TABLE_NAME"),
    ...pick("scheduleGroupName", "PUNCTUAL_E2E_SCHEDULE_GROUP"),
    ...pick("signingSecret", "PUNCTUAL_SIGNING_SECRET"),
  };
}

/** Where the deployed stack is, and what its functions were deployed with. */
export interface Deployment {
  readonly apiUrl: string;
  readonly tableName: string;
  readonly scheduleGroupName: string;
  readonly signingSecret: string;
  /**
   * The PUNCTUAL_CONFIG_OVERRIDES baked into the deployed functions: `null` when they have none, `undefined`
   * when that could not be read (every value was given directly, or the template did not parse).
   */
  readonly configOverrides: Record<string, unknown> | null | undefined;
}

/** Looks up whatever `settings` does not give, through the endpoint's CloudFormation and Secrets Manager. */
export async function discoverDeployment(settings: LocalStackSettings): Promise<Deployment> {
  const { apiUrl, tableName, scheduleGroupName, signingSecret } = settings;
  if (apiUrl && tableName && scheduleGroupName && signingSecret) {
    return {
      apiUrl: trimSlash(apiUrl),
      tableName,
      scheduleGroupName,
      signingSecret,
      configOverrides: undefined,
    };
  }
  const clientConfig = {
    endpoint: settings.endpoint,
    region: settings.region,
    credentials: settings.credentials,
    maxAttempts: 2,
  };
  const cloudformation = new CloudFormationClient(clientConfig);
  const secrets = new SecretsManagerClient(clientConfig);
  try {
    const stack = await describeStack(cloudformation, settings);
    const outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
    const resources = await listResources(cloudformation, settings.stackName);
    const template = await cloudformation.send(new GetTemplateCommand({ StackName: settings.stackName }));

    let secret = signingSecret;
    if (!secret) {
      const arn = outputs.SigningSecretArn;
      if (!arn) throw new Error(`stack ${settings.stackName} has no SigningSecretArn output`);
      const value = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
      if (typeof value.SecretString !== "string") throw new Error(`secret ${arn} has no string value`);
      secret = parseSigningSecrets(value.SecretString)[0] as string;
    }
    return {
      apiUrl: trimSlash(
        apiUrl ??
          localStackApiUrl(
            outputs.ApiUrl,
            physicalIdOf(resources, "AWS::ApiGatewayV2::Api", settings.stackName),
            settings.endpoint,
          ),
      ),
      tableName: tableName ?? physicalIdOf(resources, "AWS::DynamoDB::Table", settings.stackName),
      scheduleGroupName:
        scheduleGroupName ?? physicalIdOf(resources, "AWS::Scheduler::ScheduleGroup", settings.stackName),
      signingSecret: secret,
      configOverrides: bakedConfigOverrides(template.TemplateBody),
    };
  } finally {
    cloudformation.destroy();
    secrets.destroy();
  }
}

async function describeStack(cloudformation: CloudFormationClient, settings: LocalStackSettings) {
  try {
    const out = await cloudformation.send(new DescribeStacksCommand({ StackName: settings.stackName }));
    const stack = out.Stacks?.[0];
    if (!stack) throw new Error("no such stack");
    return stack;
  } catch (error) {
    throw new Error(
      `cannot read stack ${settings.stackName} at ${settings.endpoint} (${(error as Error).message}). ` +
        `Is LocalStack up (docker compose -f localstack/docker-compose.yml up -d) and the stack deployed (${DEPLOY_HINT})?`,
    );
  }
}

async function listResources(
  cloudformation: CloudFormationClient,
  stackName: string,
): Promise<StackResourceSummary[]> {
  const all: StackResourceSummary[] = [];
  let token: string | undefined;
  do {
    const page = await cloudformation.send(
      new ListStackResourcesCommand({ StackName: stackName, NextToken: token }),
    );
    all.push(...(page.StackResourceSummaries ?? []));
    token = page.NextToken;
  } while (token);
  return all;
}

/** The physical id of the stack's only resource of `type` (the stack has one table, one group, one API). */
export function physicalIdOf(
  resources: readonly Pick<StackResourceSummary, "ResourceType" | "PhysicalResourceId">[],
  type: string,
  stackName: string,
): string {
  const ids = resources.filter((r) => r.ResourceType === type).map((r) => r.PhysicalResourceId ?? "");
  if (ids.length !== 1 || !ids[0]) {
    throw new Error(`stack ${stackName}: expected one ${type}, found ${ids.length}`);
  }
  return ids[0];
}

/**
 * The API's invoke URL on LocalStack. The stack's ApiUrl output is built from `AWS::URLSuffix`, so it may name
 * `…execute-api.<region>.amazonaws.com`, which only LocalStack's DNS (not the host's) sends to LocalStack. The
 * endpoint LocalStack documents for HTTP APIs is `<apiId>.execute-api.localhost.localstack.cloud:<port>`.
 */
export function localStackApiUrl(outputUrl: string | undefined, apiId: string, endpoint: string): string {
  const edge = new URL(endpoint);
  if (outputUrl) {
    const output = new URL(outputUrl);
    if (output.hostname.endsWith(".localhost.localstack.cloud")) return outputUrl;
  }
  const domain = edge.hostname.endsWith("localhost.localstack.cloud")
    ? edge.hostname
    : "localhost.localstack.cloud";
  return `${edge.protocol}//${apiId}.execute-api.${domain}${edge.port ? `:${edge.port}` : ""}`;
}

/**
 * The PUNCTUAL_CONFIG_OVERRIDES the deployed functions run with, from the deployed template: `null` when they
 * run without any, `undefined` when the template cannot be read as JSON.
 */
export function bakedConfigOverrides(
  templateBody: string | undefined,
): Record<string, unknown> | null | undefined {
  let template: { Resources?: Record<string, { Type?: string; Properties?: Record<string, unknown> }> };
  try {
    template = JSON.parse(templateBody ?? "");
  } catch {
    return undefined;
  }
  for (const resource of Object.values(template.Resources ?? {})) {
    if (resource.Type !== "AWS::Lambda::Function") continue;
    const variables = (
      resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined
    )?.Variables;
    const raw = variables?.[CONFIG_OVERRIDES_VARIABLE];
    if (typeof raw !== "string") continue;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        return parsed as Record<string, unknown>;
      }
    } catch {
      // a malformed value fails the functions at cold start; here it counts as none
    }
  }
  return null;
}

/** Whether `actual` contains every field of `expected` with the same value (objects compared field by field). */
export function includesConfig(actual: unknown, expected: unknown): boolean {
  if (typeof expected !== "object" || expected === null || Array.isArray(expected)) {
    return JSON.stringify(actual) === JSON.stringify(expected);
  }
  if (typeof actual !== "object" || actual === null || Array.isArray(actual)) return false;
  return Object.entries(expected).every(([key, value]) =>
    includesConfig((actual as Record<string, unknown>)[key], value),
  );
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
