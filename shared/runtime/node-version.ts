/**
 * The AWS SDK warns on every Node below 22 that SDK releases after early January 2027 will need Node 22. Punctual
 * supports Node 20.19+ for local development on purpose (docs/OPERATIONS.md, "Node versions": the deployed functions run
 * nodejs22.x and never print it), so the local cloud, the test runs and our command-line tools (the CLI, chaos, bench)
 * switch the notice off with the SDK's own variable instead of printing it on every start — in the CLI it would
 * also break `--json`'s promise of one JSON document on stderr. An explicit setting by the user wins.
 */
export const NODE_VERSION_WARNING_VARIABLE = "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED";

export function quietNodeVersionWarning(env: NodeJS.ProcessEnv = process.env): void {
  env[NODE_VERSION_WARNING_VARIABLE] ??= "true";
}
