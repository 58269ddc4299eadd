/**
 * How every function is bundled (esbuild through NodejsFunction), kept free of `aws-cdk-lib` so the bench
 * builds exactly the bundles the stack deploys.
 */

/** Lambda's nodejs22.x runtime. */
export const BUNDLE_TARGET = "node22";

/** Prefer packages' ESM builds: they tree-shake (the AWS SDK's CommonJS builds do not). */
export const BUNDLE_MAIN_FIELDS = ["module", "main"];

/**
 * Lets CommonJS dependencies bundled into an ESM output call `require` (Node built-ins and dynamic requires);
 * esbuild's `__require` shim falls back to it.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'module';const require = createRequire(import.meta.url);";

/**
 * The AWS SDK is bundled (versions pinned by our lock file, minified, and faster to load than the runtime's
 * unbundled copy: `npm run bench` measures both), except the credential providers the SDK's default chain
 * imports lazily (`import("…")`, left as it is in the bundle) and Lambda never reaches: Lambda puts the execution
 * role's credentials in every function's environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN), and the chain's first link, `fromEnv`, answers with them (it steps aside only for an
 * AWS_PROFILE, which no function is given). Nothing we ship stands behind these imports: Node resolves an ES
 * module's `import()` from node_modules beside and above /var/task, ignoring NODE_PATH (where the runtime keeps its
 * SDK), so there a later link would fail with ERR_MODULE_NOT_FOUND; Lambda's Node runtimes say they add NODE_PATH
 * to that search, which would load the runtime's copy at whatever version it ships, not our lock file's. Neither is
 * a fallback to count on, and neither is reached. This keeps ~90 KB (SSO, STS web-identity, instance-metadata
 * clients) out of every bundle.
 */
export const UNREACHED_CREDENTIAL_PROVIDERS = [
  "@aws-sdk/credential-provider-ini",
  "@aws-sdk/credential-provider-sso",
  "@aws-sdk/credential-provider-process",
  "@aws-sdk/credential-provider-web-identity",
  "@aws-sdk/credential-provider-http",
  "@smithy/credential-provider-imds",
];

/**
 * Third-party license notices go to a file beside the bundle (`index.mjs.LEGAL.txt`, deployed with it) instead of a
 * comment at the end of the code, which Lambda would read and parse at every cold start for nothing.
 */
export const BUNDLE_LEGAL_COMMENTS = "external";

/** The esbuild `define` that names the environment a bundle is for (shared/config/environments/index.ts). */
export function bundledEnvironmentDefine(environmentName: string): Record<string, string> {
  return { "process.env.PUNCTUAL_BUNDLED_ENVIRONMENT": JSON.stringify(environmentName) };
}
