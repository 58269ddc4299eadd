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

/**
 * A loopback host: `localhost`, `[::1]`, or an IPv4 address in 127.0.0.0/8 (the URL parser writes every IPv4 form,
 * `0x7f.1` or `2130706433`, as dotted decimal). The address whole, not a prefix: `127.0.0.1.example.com` is a domain
 * name any DNS may point anywhere, and read as loopback it was sent a JWT over plain http.
 */
function isLoopback(apiUrl: string | URL): boolean {
  const { hostname } = new URL(apiUrl);
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** The local cloud has no auth; anything else is a deployed stack, IAM-auth unless its config says JWT. */
export function defaultAuthFor(apiUrl: string | URL): PunctualAuth {
  return isLoopback(apiUrl) ? { kind: "none" } : { kind: "iam" };
}

/**
 * Why `auth` must not be used with this URL, or undefined. Over plain http anyone on the path reads a bearer token
 * and may then call every route it allows, for as long as it lives. API Gateway serves https only, so an `http:`
 * URL to another host is a typo or a proxy: refused, but for loopback (the local cloud, a test server). SigV4 is
 * let through: it sends no secret (LocalStack's `http://<api>.execute-api.localhost.localstack.cloud` takes it).
 */
export function cleartextCredentialsProblem(auth: PunctualAuth, apiUrl: URL): string | undefined {
  if (auth.kind !== "jwt" || apiUrl.protocol !== "http:" || isLoopback(apiUrl)) return undefined;
  return `a JWT goes only over https (or http to loopback), not to ${apiUrl.origin}`;
}

export class InsecureApiUrlError extends Error {
  override readonly name = "InsecureApiUrlError";
}

export function authorizer(
  auth: PunctualAuth,
  apiUrl: URL,
  env: NodeJS.ProcessEnv = process.env,
): Authorizer {
  const insecure = cleartextCredentialsProblem(auth, apiUrl);
  if (insecure) throw new InsecureApiUrlError(insecure);
  switch (auth.kind) {
    case "none":
      return async () => ({});
    case "jwt":
      if (typeof auth.token === "string") checkToken(auth.token);
      return async () => {
        const token = typeof auth.token === "function" ? await auth.token() : auth.token;
        checkToken(token);
        return { authorization: `Bearer ${token}` };
      };
    case "iam":
      return sigV4Authorizer(auth, apiUrl, env);
  }
}

/**
 * A bearer token that cannot go in a header as it is: one read from a file keeps its line end (`$(cat)` strips a
 * `\n` but not a CRLF file's `\r`). fetch would refuse it with an error quoting the whole header, token included,
 * into logs, and the client would retry that as a network error.
 */
export class InvalidTokenError extends Error {
  override readonly name = "InvalidTokenError";
}

/**
 * Why this bearer token cannot be sent, never quoting it (it is a secret); undefined when it can. A bearer token
 * is visible ASCII without spaces (RFC 6750 §2.1), as every JWT is.
 */
export function tokenProblem(token: unknown): string | undefined {
  if (typeof token !== "string" || token === "") return "the JWT token is empty";
  if (/[\r\n]/.test(token)) return "the JWT token holds a line break (read from a file with its line end?)";
  if (/[^\x21-\x7e]/.test(token)) {
    return "the JWT token holds a space, a control or a non-ASCII character, which no bearer token does";
  }
  return undefined;
}

function checkToken(token: unknown): void {
  const problem = tokenProblem(token);
  if (problem) throw new InvalidTokenError(problem);
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
      query: signedQuery(url.searchParams),
      headers: { ...request.headers, host: url.host },
      ...(request.body !== undefined ? { body: request.body } : {}),
    });
    const { host: _host, ...headers } = signed.headers;
    refuseUnsendable(headers);
    return headers;
  };
}

/** What fetch trims from a header value's ends (HTTP white space), before it checks what is left. */
const HTTP_WHITESPACE_ENDS = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/**
 * Credentials that cannot go in a header: a session token (or an access key id) with a line break or a NUL inside,
 * one pasted across a wrapped line. fetch refuses such a header with an error quoting its whole value
 * (`Headers.append: "IQoJ…" is an invalid header value.`), which the client retried as a network error and then
 * put, session token included, into its `network_error` message: the CLI's stderr, an application's logs. Refused
 * here, before anything is sent, not retried, naming the header only. A line end at either end passes: fetch trims
 * it, as SigV4 trims what it signs.
 */
function refuseUnsendable(headers: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (/[\0\r\n]/.test(value.replace(HTTP_WHITESPACE_ENDS, ""))) {
      throw new InvalidTokenError(
        `the AWS credentials cannot be sent: the ${name} header they make holds a line break or NUL (a session token pasted across lines?)`,
      );
    }
  }
}

/**
 * The query as the signer takes it: a name given twice with all its values, which it signs each, sorted by value, as
 * SigV4's canonical query lists every pair (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html;
 * AWS's SigV4 test suite's `get-vanilla-query-order-value`: one name twice).
 * `Object.fromEntries` kept the last value only, so a URL naming one twice (a query `punctual console` forwards as
 * the page sent it) went with a signature no server verifies. Built with fromEntries still, so a `__proto__` name is
 * a key like any other.
 */
function signedQuery(params: URLSearchParams): Record<string, string | string[]> {
  return Object.fromEntries(
    [...new Set(params.keys())].map((name) => {
      const values = params.getAll(name);
      return [name, values.length === 1 ? (values[0] as string) : values];
    }),
  );
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
