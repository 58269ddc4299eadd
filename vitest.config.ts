import { defineConfig } from "vitest/config";
import { quietNodeVersionWarning } from "./shared/runtime/node-version.js";

// Test workers inherit this process's environment (see shared/runtime/node-version.ts).
quietNodeVersionWarning();
// CDK's built-in CloudFormation validation (a WebAssembly engine) costs 2–5 s per synthesis; the tests synthesize
// hundreds of stacks. test/cdk/cloudformation-validate.test.ts registers the plugin itself and validates every
// environment's template; the local cloud synthesizes without it (local/cloud/synth.ts). Set CDK_VALIDATION=true
// to validate every synthesis of a run.
process.env.CDK_VALIDATION ??= "false";

// Unit, CDK and end-to-end runs are kept apart so each can be run alone
// (`npm run test:unit`, `test:cdk`, `test:e2e`); `npm test` runs all three.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          // Middleware specs live beside their source (shared/api/middleware/*.test.ts); nothing imports them,
          // so no function bundle holds them (test/cdk/dynamodb-grants.test.ts checks every bundle's inputs).
          include: ["test/unit/**/*.test.ts", "shared/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "cdk",
          include: ["test/cdk/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
