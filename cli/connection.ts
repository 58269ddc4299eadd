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

/** The stack outputs the CLI reads (cdk/lib/punctual-stack.ts `addOutputs`; test/cdk checks they are there). */
export const STACK_OUTPUT = { apiUrl: "ApiUrl", signingSecretArn: "SigningSecretArn" } as const;

/**
 * A deployed stack's outputs (`ApiUrl`, `SigningSecretArn`), read with the standard AWS credential chain. The region:
 * --region, else AWS_REGION, else AWS_DEFAULT_REGION, else the SDK's chain (the profile's). The SDK's chain skips
 * AWS_DEFAULT_REGION, which the aws CLI reads after AWS_REGION
 * (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html) and the client's SigV4 reads too: a
 * shell set up for the aws CLI alone was told "give --region or set AWS_REGION". `env` is the CliIo's (cli/main.ts
 * optionsFromEnvironment); the SDK's own chains (credentials, profile, endpoint) read the process's, as the SDK does.
 */
export async function stackOutputs(
  environment: string,
  region: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<Record<string, string>> {
  const { CloudFormationClient, DescribeStacksCommand } = await import("@aws-sdk/client-cloudformation");
  const named = region || env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const client = new CloudFormationClient(named ? { region: named } : {});
  const name = stackName(environment);
  try {
    const inRegion = await regionOrUsageError(client, environment);
    const { Stacks } = await client
      .send(new DescribeStacksCommand({ StackName: name }))
      .catch((error: unknown) => Promise.reject(notFoundOrAsIs(error, name, inRegion)));
    const outputs: Record<string, string> = {};
    for (const output of theStack(Stacks ?? [], name).Outputs ?? []) {
      if (output.OutputKey && output.OutputValue) outputs[output.OutputKey] = output.OutputValue;
    }
    return outputs;
  } finally {
    client.destroy();
  }
}

/**
 * The one stack of that name in the answer. Asked by name, CloudFormation answers one live stack; anything else
 * (two, or only another's) would send the command to an API nobody named, so it is refused, never guessed.
 */
function theStack<T extends { StackName?: string | undefined }>(stacks: readonly T[], name: string): T {
  const named = stacks.filter((stack) => stack.StackName === name);
  if (named.length === 1) return named[0] as T;
  throw new Error(
    named.length === 0
      ? `CloudFormation answered no stack named ${name} (${stacks.length} of other names)`
      : `CloudFormation answered ${named.length} stacks named ${name}: cannot tell which one's outputs to use`,
  );
}

/**
 * CloudFormation's "Stack with id X does not exist" does not say where it looked: the usual cause is the right
 * name in another region, so the region is said. Still exit 3, as for any failed look-up (cli/exit-codes.ts).
 */
function notFoundOrAsIs(error: unknown, name: string, region: string): unknown {
  if (
    !(error instanceof Error) ||
    error.name !== "ValidationError" ||
    !/does not exist/.test(error.message)
  ) {
    return error;
  }
  return new Error(
    `stack ${name} not found in ${region} (CloudFormation: ${error.message}): check --env and --region`,
    {
      cause: error,
    },
  );
}

/**
 * The region the client was given, else the SDK's own chain (the profile's config), asked before the look-up: with none, the
 * look-up would fail as "Region is missing", an exit 3 (worth retrying) for what is a usage mistake (exit 1), as it
 * is for --api without a region.
 */
async function regionOrUsageError(
  client: { config: { region(): Promise<string> } },
  environment: string,
): Promise<string> {
  try {
    return await client.config.region();
  } catch {
    throw new UsageError(
      `cannot tell the AWS region of stack ${stackName(environment)}: give --region or set AWS_REGION`,
    );
  }
}

/** --api, else PUNCTUAL_API_URL (cli/main.ts fills it in from `env`), else --env's stack output `ApiUrl`. */
export async function apiUrlOf(options: GlobalOptions, env: NodeJS.ProcessEnv): Promise<string> {
  if (options.api) return options.api;
  if (options.env) {
    const url = (await stackOutputs(options.env, options.region, env))[STACK_OUTPUT.apiUrl];
    if (!url) throw new Error(`stack ${stackName(options.env)} has no ${STACK_OUTPUT.apiUrl} output`);
    return url;
  }
  throw new UsageError("no API: give --api URL (or set PUNCTUAL_API_URL), or --env NAME of a deployed stack");
}

/** Where the API URL came from, for an error about it: what the user gave, or the stack output the CLI read. */
function apiUrlSource(options: GlobalOptions): string {
  return !options.api && options.env
    ? `stack ${stackName(options.env)}'s ${STACK_OUTPUT.apiUrl} output`
    : "--api";
}

export function authOf(options: GlobalOptions, apiUrl: string): PunctualAuth {
  const auth = chosenAuth(options, apiUrl);
  const problem = cleartextCredentialsProblem(auth, new URL(apiUrl));
  if (problem) throw new UsageError(`${apiUrlSource(options)}: ${problem}`);
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
export async function checkedApiUrl(options: GlobalOptions, env: NodeJS.ProcessEnv): Promise<URL> {
  const apiUrl = await apiUrlOf(options, env);
  if (!URL.canParse(apiUrl)) {
    throw new UsageError(
      `${apiUrlSource(options)} must be an absolute URL, not "${withoutCredentials(apiUrl)}"`,
    );
  }
  const url = new URL(apiUrl);
  const problem = apiUrlProblem(url);
  if (problem) throw new UsageError(`${apiUrlSource(options)}: ${problem}`);
  return url;
}

export async function connect(options: GlobalOptions, io: CliIo): Promise<PunctualClient> {
  const apiUrl = await checkedApiUrl(options, io.env);
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
