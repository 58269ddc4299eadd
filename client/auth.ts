import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";

/**
 * How requests are authorised, matching the stack's `auth` config: `iam` (SigV4, service `execute-api`, the AWS
 * default), `jwt` (a bearer token from your identity provider), `none` (the local cloud).
 */
export type PunctualAuth =
  | {
      readonly kind: "iam";
      /** Default: the region in an `execute-api` URL, else AWS_REGION / AWS_DEFAULT_REGION. */
      readonly region?: string;
      /** Default: the SDK's standard chain (env, SSO, profile, web identity, ECS/EC2 roles). */
      readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
    }
  | { readonly kind: "jwt"; readonly token: string | (() => string | Promise<string>) }
  | { readonly kind: "none" };

/** A request about to be sent: the signer may add headers (it signs exactly these bytes). */
export interface OutgoingRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

export type Authorizer = (request: OutgoingRequest) => Promise<Record<string, string>>;

/** The local cloud has no auth; anything else is a deployed stack, IAM-auth unless its config says JWT. */
export function defaultAuthFor(apiUrl: string | URL): PunctualAuth {
  const { hostname } = new URL(apiUrl);
  const loopback = hostname === "localhost" || hostname === "[::1]" || /^127\./.test(hostname);
  return loopback ? { kind: "none" } : { kind: "iam" };
}

export function authorizer(
  auth: PunctualAuth,
  apiUrl: URL,
  env: NodeJS.ProcessEnv = process.env,
): Authorizer {
  switch (auth.kind) {
    case "none":
      return async () => ({});
    case "jwt":
      return async () => {
        const token = typeof auth.token === "function" ? await auth.token() : auth.token;
        return { authorization: `Bearer ${token}` };
      };
    case "iam":
      return sigV4Authorizer(auth, apiUrl, env);
  }
}

/** `https://abc123.execute-api.eu-west-1.amazonaws.com/…` → `eu-west-1`. */
export function regionOfApiUrl(apiUrl: URL): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(apiUrl.hostname)?.[1];
}

export class MissingRegionError extends Error {
  override readonly name = "MissingRegionError";
}

function sigV4Authorizer(
  auth: Extract<PunctualAuth, { kind: "iam" }>,
  apiUrl: URL,
  env: NodeJS.ProcessEnv,
): Authorizer {
  const region = auth.region ?? regionOfApiUrl(apiUrl) ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new MissingRegionError(
      `cannot tell the AWS region of ${apiUrl.origin}: pass auth.region or set AWS_REGION`,
    );
  }
  const signer = new SignatureV4({
    service: "execute-api",
    region,
    credentials: auth.credentials ?? standardCredentialChain(),
    sha256: Hash.bind(null, "sha256"),
  });
  return async (request) => {
    const { url } = request;
    const signed = await signer.sign({
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      // Already percent-encoded; the signer encodes each segment once more, as SigV4 wants for execute-api.
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...request.headers, host: url.host },
      ...(request.body !== undefined ? { body: request.body } : {}),
    });
    const { host: _host, ...headers } = signed.headers;
    return headers;
  };
}

/**
 * The SDK's default chain, loaded on first use: callers of a local cloud or a JWT stack never load it, and its
 * providers resolve (and cache, refreshing before expiry) only when a request is signed.
 */
function standardCredentialChain(): AwsCredentialIdentityProvider {
  let provider: AwsCredentialIdentityProvider | undefined;
  return async (...args) => {
    if (!provider) {
      const { fromNodeProviderChain } = await import("@aws-sdk/credential-providers");
      provider = fromNodeProviderChain();
    }
    return provider(...args);
  };
}
