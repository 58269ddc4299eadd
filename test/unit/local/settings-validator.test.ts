import type { Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { settingsValidator } from "#local/cloud/local-cloud.js";
import type { LocalTopology } from "#local/cloud/template.js";

/** A topology holding only what the validator is looked up by: the profile's validator and its function. */
function topology(): LocalTopology {
  return {
    tables: [],
    queues: [],
    functions: [
      {
        logicalId: "Validator",
        entry: "functions/validate-topic-settings.ts",
        timeoutSeconds: 10,
        environment: {},
      },
    ],
    eventSources: [],
    routes: [],
    scheduleGroups: [],
    scheduledRules: [],
    settingsProfiles: [
      {
        applicationLogicalId: "App",
        environmentLogicalId: "Env",
        profileLogicalId: "Profile",
        content: "{}",
        validatorFunctionLogicalId: "Validator",
      },
    ],
  };
}

describe("local cloud: the settings profile's validator is invoked as AppConfig invokes it", () => {
  it("with a Lambda context, as the function host and the logger's middleware read it (request id, remaining time)", async () => {
    // Prepare: a validator that reads its context as the function host's proxy (getRemainingTimeInMillis) and
    // Powertools' injectLambdaContext (awsRequestId, functionName) do
    const seen: Context[] = [];
    const validator = async (_event: unknown, context: Context) => {
      context.getRemainingTimeInMillis();
      seen.push(context);
    };
    const validate = settingsValidator(topology(), new Map([["Validator", validator as never]]), "profile");

    // Act
    const verdict = await validate('{"topics":{}}', 2);

    // Assess: accepted (no refusal), with a context naming the function and a request id
    expect(verdict).toBeUndefined();
    expect(seen).toHaveLength(1);
    expect(seen[0]?.functionName).toBe("Validator");
    expect(seen[0]?.awsRequestId).toEqual(expect.any(String));
    expect(seen[0]?.getRemainingTimeInMillis()).toBeGreaterThan(0);
  });

  it("a refusal is the validator's message", async () => {
    // Prepare
    const validator = async () => {
      throw new Error('topic settings refused: field "maxAttempts"');
    };
    const validate = settingsValidator(topology(), new Map([["Validator", validator as never]]), "profile");

    // Act
    const verdict = await validate("{}", 3);

    // Assess
    expect(verdict).toBe('topic settings refused: field "maxAttempts"');
  });
});
