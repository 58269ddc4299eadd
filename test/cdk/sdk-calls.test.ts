/**
 * Each function's role holds exactly the actions of the AWS calls its deployed code can send, read from the code
 * rather than restated: every SDK command its esbuild bundle constructs (`new XCommand(`, by the client package it
 * is imported from), and the calls a library it bundles sends for it (Powertools' AppConfig provider).
 *
 * least-privilege.test.ts evaluates each grant on the exact resources AWS presents, against hand-written lists of
 * what each function calls; a command added to the code and to no list would pass it, and fail in AWS with
 * AccessDenied. Here a command in a bundle without its action on the role fails, and so does an action granted
 * to a role whose bundle sends no command of it. DynamoDB is derived the same way, from the task store's source,
 * in dynamodb-grants.test.ts; the logs and X-Ray actions are Lambda's own (least-privilege.test.ts).
 */
import path from "node:path";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "#cdk/lib/constructs/punctual-function.js";
import { ENTRY_METADATA_KEY } from "#shared/contract/metadata.js";
import { type DeployedStack, deployStack } from "../support/deployed-stack.js";
import { identityPoliciesOf } from "../support/iam.js";
import { stackConfig } from "../support/stack-config.js";

/** The IAM service prefix of each SDK client a function may bundle; DynamoDB's commands are evaluated elsewhere. */
const SERVICE_OF_CLIENT: Readonly<Record<string, string | null>> = {
  "@aws-sdk/client-sqs": "sqs",
  "@aws-sdk/client-scheduler": "scheduler",
  "@aws-sdk/client-lambda": "lambda",
  "@aws-sdk/client-secrets-manager": "secretsmanager",
  "@aws-sdk/client-appconfigdata": "appconfig",
  "@aws-sdk/client-dynamodb": null,
};

/**
 * Libraries that send AWS calls of their own from node_modules (external to the bundle, so no command of theirs is
 * seen): Powertools' AppConfig provider starts a configuration session and polls it (AppConfig Data).
 */
const LIBRARY_CALLS: Readonly<Record<string, readonly string[]>> = {
  "@aws-lambda-powertools/parameters/appconfig": [
    "appconfig:StartConfigurationSession",
    "appconfig:GetLatestConfiguration",
  ],
};

/**
 * The actions IAM authorizes a command as: SQS's batch commands as their single action
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html),
 * and a schedule's creation also as passing its target role to Scheduler (`iam:PassRole`).
 */
function actionsOfCommand(service: string, command: string): string[] {
  const action = service === "sqs" ? command.replace(/Batch$/, "") : command;
  return [
    `${service}:${action}`,
    ...(service === "scheduler" && command === "CreateSchedule" ? ["iam:PassRole"] : []),
  ];
}

/**
 * Commands a bundle holds that no code path of that function sends: a class's methods are bundled all or none.
 * Each is named with the reason; an entry that stops being true (the command gone, or now granted) fails below.
 */
const BUNDLED_NOT_SENT: Readonly<Record<string, readonly string[]>> = {
  // EventBridgeTaskScheduler extends the disarmer; the add path's scheduler is Pick<TaskScheduler, "createTaskSchedule">.
  "add-task": ["scheduler:DeleteSchedule"],
  "add-tasks-batch": ["scheduler:DeleteSchedule"],
  // LambdaTopicSwitch is bundled whole; the topic views only read a mapping's state.
  "list-topics": ["lambda:UpdateEventSourceMapping"],
  "get-topic": ["lambda:UpdateEventSourceMapping"],
  // SqsTopicQueue is bundled whole; a replay only sends (`sendReplay`).
  "replay-task": ["sqs:ChangeMessageVisibility"],
  "replay-topic": ["sqs:ChangeMessageVisibility"],
};

/**
 * What Lambda's SQS pollers call with the function's role for its event source mapping: the role holds them whatever
 * the code sends. ReceiveMessage, DeleteMessage and GetQueueAttributes, as the Lambda guide lists them
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html) and AWSLambdaSQSQueueExecutionRole grants them;
 * ChangeMessageVisibility only where the function's own code sends it (the relay's and deliver's backoffs).
 */
const EVENT_SOURCE_POLLER = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"];
/** Granted to every function for Lambda itself (its logs, its traces), or derived elsewhere (DynamoDB). */
const NOT_FROM_CODE = /^(logs|xray|dynamodb):/;

/** The AWS actions a function's deployed bundle can send, from its SDK commands and the libraries it imports. */
async function actionsInBundle(entry: string): Promise<Set<string>> {
  const out = await build({
    entryPoints: [path.join(PROJECT_ROOT, entry)],
    absWorkingDir: PROJECT_ROOT,
    bundle: true,
    write: false,
    packages: "external",
    platform: "node",
    format: "esm",
    logLevel: "error",
  });
  const text = out.outputFiles[0]?.text ?? "";
  const actions = new Set<string>();
  for (const [, names, from] of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    const source = from as string;
    for (const action of LIBRARY_CALLS[source] ?? []) actions.add(action);
    if (!source.startsWith("@aws-sdk/client-")) continue;
    expect(
      Object.hasOwn(SERVICE_OF_CLIENT, source),
      `${entry}: an SDK client this test does not know: ${source}`,
    ).toBe(true);
    const service = SERVICE_OF_CLIENT[source];
    if (!service) continue;
    for (const specifier of (names as string).split(",").map((s) => s.trim())) {
      const [imported, local = imported] = specifier.split(/\s+as\s+/) as [string, string?];
      const command = /^(\w+)Command$/.exec(imported)?.[1];
      if (command && new RegExp(`\\bnew ${local}\\(`).test(text))
        for (const action of actionsOfCommand(service, command)) actions.add(action);
    }
  }
  return actions;
}

/** Each function of the stack: its entry (`functions/<name>.ts`), its role's granted actions, and whether a queue feeds it. */
function functionsOf(
  d: DeployedStack,
): { entry: string; id: string; granted: Set<string>; polled: boolean }[] {
  const polled = new Set(
    d.aws.idsOfType("AWS::Lambda::EventSourceMapping").map((id) => d.aws.properties(id).FunctionName.Ref),
  );
  return d.aws.idsOfType("AWS::Lambda::Function").map((id) => {
    const entry = (d.template.Resources[id] as { Metadata?: Record<string, string> }).Metadata?.[
      ENTRY_METADATA_KEY
    ];
    expect(entry, `${id}: no entry metadata`).toBeDefined();
    const role = d.aws.properties(id).Role["Fn::GetAtt"][0] as string;
    const granted = identityPoliciesOf(d.aws, role).flatMap(({ policy }) =>
      [policy.Statement]
        .flat()
        .filter((st: { Effect: string }) => st.Effect === "Allow")
        .flatMap((st: { Action: string | string[] }) => [st.Action].flat()),
    );
    return { entry: entry as string, id, granted: new Set(granted), polled: polled.has(id) };
  });
}

const environments: Record<string, DeployedStack> = {};
const bundles = new Map<string, Set<string>>();
beforeAll(async () => {
  for (const name of ["dev", "prod"]) environments[name] = deployStack(stackConfig(name));
  const entries = new Set(Object.values(environments).flatMap((d) => functionsOf(d).map((f) => f.entry)));
  for (const entry of entries) bundles.set(entry, await actionsInBundle(entry));
});

describe("the AWS calls each function's code can send", () => {
  it("are found: every function bundles commands of SQS, Scheduler, Lambda or Secrets Manager, or reads AppConfig, as its route needs", () => {
    // Not vacuous: the scanner sees the commands the adapters build.
    expect(bundles.get("functions/deliver.ts")).toEqual(
      new Set([
        "sqs:SendMessage",
        "sqs:ChangeMessageVisibility",
        "secretsmanager:GetSecretValue",
        "appconfig:StartConfigurationSession",
        "appconfig:GetLatestConfiguration",
      ]),
    );
    expect(bundles.get("functions/add-task.ts")).toContain("iam:PassRole");
    // The relay's retry backoff (shared/adapters/visibility.ts), on the timer queue.
    expect(bundles.get("functions/relay.ts")).toContain("sqs:ChangeMessageVisibility");
    expect(bundles.get("functions/sweeper.ts")).toContain("lambda:UpdateEventSourceMapping");
  });

  it("each has its action on the function's role, but the commands bundled and never sent", () => {
    for (const [env, d] of Object.entries(environments)) {
      for (const { entry, id, granted } of functionsOf(d)) {
        const name = path.basename(entry, ".ts");
        const notSent = new Set(BUNDLED_NOT_SENT[name] ?? []);
        const missing = [...(bundles.get(entry) ?? [])].filter((a) => !granted.has(a) && !notSent.has(a));
        expect(missing, `${env} ${id} (${entry})`).toEqual([]);
      }
    }
  });

  it("the commands listed as bundled and never sent are in their bundles, and not granted", () => {
    for (const [env, d] of Object.entries(environments)) {
      for (const { entry, id, granted } of functionsOf(d)) {
        for (const action of BUNDLED_NOT_SENT[path.basename(entry, ".ts")] ?? []) {
          expect(bundles.get(entry)?.has(action), `${env} ${id}: ${action} bundled`).toBe(true);
          expect(granted.has(action), `${env} ${id}: ${action} granted`).toBe(false);
        }
      }
    }
  });
});

describe("every action a function's role holds outside DynamoDB, logs and X-Ray", () => {
  it("is one its bundle sends a command of, or Lambda's SQS poller calls for its event source", () => {
    for (const [env, d] of Object.entries(environments)) {
      for (const { entry, id, granted, polled } of functionsOf(d)) {
        const sent = new Set([...(bundles.get(entry) ?? []), ...(polled ? EVENT_SOURCE_POLLER : [])]);
        const unused = [...granted].filter((a) => !NOT_FROM_CODE.test(a) && !sent.has(a));
        expect(unused, `${env} ${id} (${entry})`).toEqual([]);
      }
    }
  });
});
