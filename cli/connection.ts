import { withoutCredentials } from "../client/api-url.js";
import {
  apiUrlProblem,
  cleartextCredentialsProblem,
  defaultAuthFor,
  MissingRegionError,
  type PunctualAuth,
  PunctualClient,
  tokenProblem,
} from "../client/index.js";
import { UsageError } from "./exit-codes.js";
import type { CliIo } from "./output.js";

export interface GlobalOptions {
  readonly api?: string;
  readonly env?: string;
  readonly auth?: "iam" | "jwt" | "none";
  readonly token?: string;
  readonly region?: string;
  readonly json?: boolean;
}

/** The stack `cdk deploy -c env=<name>` creates (cdk/lib/punctual-stack.ts). */
export function stackName(environment: string): string {
  return `Punctual-${environment}`;
}

/** A deployed stack's outputs (`ApiUrl`, `SigningSecretArn`), read with the standard AWS credential chain. */
export async function stackOutputs(environment: string, region?: string): Promise<Record<string, string>> {
  const { CloudFormationClient, DescribeStacksCommand } = await import("@aws-sdk/client-cloudformation");
  const client = new CloudFormationClient(region ? { region } : {});
  try {
    await regionOrUsageError(client, environment);
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: stackName(environment) }));
    const outputs: Record<string, string> = {};
    for (const output of Stacks?.[0]?.Outputs ?? []) {
      if (output.OutputKey && output.OutputValue) outputs[output.OutputKey] = output.OutputValue;
    }
    return outputs;
  } finally {
    client.destroy();
  }
}

/**
 * The SDK's own region chain (--region, AWS_REGION, the profile's config), asked before the look-up: with none, the
 * look-up would fail as "Region is missing", an exit 3 (worth retrying) for what is a usage mistake (exit 1), as it
 * is for --api without a region.
 */
async function regionOrUsageError(client: { config: { region(): Promise<string> } }, environment: string) {
  try {
    await client.config.region();
  } catch {
    throw new UsageError(
      `cannot tell the AWS region of stack ${stackName(environment)}: give --region or set AWS_REGION`,
    );
  }
}

/** --api, else PUNCTUAL_API_URL (commander fills it in), else --env's stack output `ApiUrl`. */
export async function apiUrlOf(options: GlobalOptions): Promise<string> {
  if (options.api) return options.api;
  if (options.env) {
    const url = (await stackOutputs(options.env, options.region)).ApiUrl;
    if (!url) throw new Error(`stack ${stackName(options.env)} has no ApiUrl output`);
    return url;
  }
  throw new UsageError("no API: give --api URL (or set PUNCTUAL_API_URL), or --env NAME of a deployed stack");
}

export function authOf(options: GlobalOptions, apiUrl: string): PunctualAuth {
  const auth = chosenAuth(options, apiUrl);
  const problem = cleartextCredentialsProblem(auth, new URL(apiUrl));
  if (problem) throw new UsageError(`--api: ${problem}`);
  return auth;
}

function chosenAuth(options: GlobalOptions, apiUrl: string): PunctualAuth {
  switch (options.auth) {
    case undefined:
      return withRegion(defaultAuthFor(apiUrl), options.region);
    case "none":
      return { kind: "none" };
    case "jwt": {
      if (!options.token) throw new UsageError("--auth jwt needs --token (or PUNCTUAL_TOKEN)");
      // Checked here, never quoted: fetch's own error would print the token.
      const problem = tokenProblem(options.token);
      if (problem) throw new UsageError(`--token: ${problem}`);
      return { kind: "jwt", token: options.token };
    }
    case "iam":
      return withRegion({ kind: "iam" }, options.region);
  }
}

function withRegion(auth: PunctualAuth, region: string | undefined): PunctualAuth {
  return auth.kind === "iam" && region ? { ...auth, region } : auth;
}

/**
 * The API URL the options name, checked before any request: what the client cannot call is a usage error, which
 * never quotes a password in the URL (fetch's own error would, after four tries as a "network error").
 */
export async function checkedApiUrl(options: GlobalOptions): Promise<URL> {
  const apiUrl = await apiUrlOf(options);
  if (!URL.canParse(apiUrl)) {
    throw new UsageError(`--api must be an absolute URL, not "${withoutCredentials(apiUrl)}"`);
  }
  const url = new URL(apiUrl);
  const problem = apiUrlProblem(url);
  if (problem) throw new UsageError(`--api: ${problem}`);
  return url;
}

export async function connect(options: GlobalOptions, io: CliIo): Promise<PunctualClient> {
  const apiUrl = await checkedApiUrl(options);
  try {
    return new PunctualClient({
      apiUrl,
      auth: authOf(options, apiUrl.href),
      env: io.env,
      ...(io.fetch ? { fetch: io.fetch } : {}),
    });
  } catch (error) {
    if (!(error instanceof MissingRegionError)) throw error;
    throw new UsageError(`cannot tell the AWS region of ${apiUrl.origin}: give --region or set AWS_REGION`);
  }
}
