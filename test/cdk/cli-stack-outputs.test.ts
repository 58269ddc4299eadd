import { describe, expect, it } from "vitest";
import { stackNameFor } from "#cdk/lib/punctual-stack.js";
import { STACK_OUTPUT, stackName } from "../../cli/connection.js";
import { deployStack } from "../support/deployed-stack.js";
import { stackConfig } from "../support/stack-config.js";

/**
 * `punctual --env NAME` looks up stack `Punctual-<NAME>` and reads its outputs by key (cli/connection.ts): a rename
 * on either side, of the stack or of an output, must break a test rather than the first deployed `--env` call.
 */
describe("the stack `punctual --env` looks for is the one CDK deploys, with the outputs it reads", () => {
  it.each(["dev", "prod"])(
    "%s: the same stack name, and ApiUrl and SigningSecretArn among its outputs",
    (env) => {
      // Act
      const deployed = deployStack(stackConfig(env));

      // Assess
      expect(stackName(env)).toBe(stackNameFor(env));
      expect(deployed.stack.stackName).toBe(stackName(env));
      const outputs = (deployed.template as { Outputs?: Record<string, unknown> }).Outputs ?? {};
      for (const key of Object.values(STACK_OUTPUT)) expect(Object.keys(outputs)).toContain(key);
      // An https URL: what the CLI's checks let through with any --auth (cli/connection.ts checkedApiUrl).
      expect(JSON.stringify(outputs[STACK_OUTPUT.apiUrl])).toMatch(/"https:\/\/"/);
    },
  );
});
