import type { EnvironmentConfigInput } from "../schema.js";
import { dev } from "./dev.js";
import { local } from "./local.js";
import { prod } from "./prod.js";
import { staging } from "./staging.js";

/**
 * Every environment Punctual can be deployed as. Add a file here to add an environment (and its branch, so its
 * bundles carry only its file; without one they carry every environment's).
 *
 * In a deployed bundle esbuild replaces `process.env.PUNCTUAL_BUNDLED_ENVIRONMENT` with the environment's name
 * (cdk/lib/bundling.ts, bundledEnvironmentDefine), folds the branches and leaves the other environments' files out
 * of the function (about 1 KB of every bundle). Unbundled — the CDK app, the local cloud, the tests — it is
 * undefined: every environment is here.
 */
export const ENVIRONMENTS: Readonly<Record<string, EnvironmentConfigInput>> =
  process.env.PUNCTUAL_BUNDLED_ENVIRONMENT === "prod"
    ? { prod }
    : process.env.PUNCTUAL_BUNDLED_ENVIRONMENT === "staging"
      ? { staging }
      : process.env.PUNCTUAL_BUNDLED_ENVIRONMENT === "dev"
        ? { dev }
        : process.env.PUNCTUAL_BUNDLED_ENVIRONMENT === "local"
          ? { local }
          : { local, dev, staging, prod };
