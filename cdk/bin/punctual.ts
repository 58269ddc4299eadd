#!/usr/bin/env node
/**
 * The CDK app: `npx cdk synth|deploy -c env=<name>` → stack `Punctual-<name>`. Bundling runs esbuild locally
 * (a dev dependency), so synth works offline and never needs Docker.
 */
import { App } from "aws-cdk-lib";
import { ConfigError } from "#shared/config/index.js";
import { addPunctualStackFromContext } from "../lib/app.js";

const app = new App();
try {
  addPunctualStackFromContext(app);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`Punctual: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
