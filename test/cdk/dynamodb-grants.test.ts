/**
 * Each function's role names exactly the DynamoDB actions its code calls.
 *
 * "What its code calls" is derived, not restated: the task store's source says which DynamoDB commands each
 * method sends, and each function's esbuild bundle (its services included, as deployed) says which store
 * methods it calls. Both must match the lists the stack grants from (TASK_STORE_OPERATIONS and
 * STORE_METHODS_BY_FUNCTION), so a new DynamoDB call without its grant fails here. The grants themselves are
 * evaluated with iam-simulate against the table's and the sweep index's real ARNs.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { PROJECT_ROOT } from "#cdk/lib/constructs/punctual-function.js";
import {
  type DynamoOperation,
  dynamoOperationsOf,
  PIPELINE_STORE_METHODS,
  type StoreMethod,
  TASK_STORE_OPERATIONS,
} from "#shared/adapters/dynamo-task-store.js";
import { API_ROUTES, type ApiRouteRow, DEFAULT_ROUTE } from "#shared/api/routes.js";
import { ENTRY_METADATA_KEY } from "#shared/contract/metadata.js";
import { FAILED_INDEX_NAME } from "#shared/domain/failed-index.js";
import { SCHEDULE_INDEX_NAME } from "#shared/domain/schedule.js";
import { SWEEP_INDEX_NAME } from "#shared/domain/sweep.js";
import { type CfnTemplateJson, type DeployedTemplate, deployedTemplate, roleMay } from "../support/iam.js";
import { stackConfig } from "../support/stack-config.js";

/** Every function's store methods, as the stack grants them: the pipeline's list and each route row's `store`. */
const STORE_METHODS_BY_FUNCTION: Readonly<Record<string, readonly StoreMethod[]>> = {
  ...PIPELINE_STORE_METHODS,
  ...Object.fromEntries(
    [...API_ROUTES, DEFAULT_ROUTE].map((row: ApiRouteRow) => [row.name, row.store ?? []]),
  ),
  // AppConfig's validator of the runtime topic settings reads no table.
  "validate-topic-settings": [],
};
type StoreUser = string;

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

const STORE_SOURCE = path.join(PROJECT_ROOT, "shared/adapters/dynamo-task-store.ts");
const PARTIQL_SOURCE = path.join(PROJECT_ROOT, "shared/adapters/partiql.ts");
/**
 * A PartiQL batch (BatchExecuteStatement) is authorized per statement kind, not by the command's name
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-iam.html): a method that sends one needs
 * the action of each statement builder (shared/adapters/partiql.ts) it calls, directly or through its callees.
 */
const BATCH_COMMAND = "BatchExecuteStatement";
const ACTION_OF_BUILDER: Readonly<Record<string, string>> = {
  updateStatement: "PartiQLUpdate",
  insertStatement: "PartiQLInsert",
};
const key = (op: DynamoOperation) => `${op.action}@${op.on}`;

/**
 * The store's methods (two-space indented members, generic ones included) and their bodies: those of every layer,
 * from DynamoAddStore (the first in the file) to DynamoTaskStore. Protected and `#` helpers count as private.
 */
function methodBodies(source: string): Map<string, { body: string; isPrivate: boolean }> {
  const classBody = source.slice(source.indexOf("export class DynamoAddStore"));
  // A layer's methods sit two spaces in; a mixin's (the schedule and batch-add layers: a class inside a function) four,
  // and those are all async, which tells them from a call statement in a method's body.
  const starts = [
    ...classBody.matchAll(
      /^(?: {2}| {4}(?=(?:private |protected )?async ))((?:private|protected) )?(?:async )?(#?\w+)(?:<[^>(]*>)?\(/gm,
    ),
  ];
  const methods = new Map<string, { body: string; isPrivate: boolean }>();
  starts.forEach((match, i) => {
    const end = starts[i + 1]?.index ?? classBody.length;
    const name = match[2] as string;
    if (name !== "constructor") {
      methods.set(name, {
        body: classBody.slice(match.index, end),
        isPrivate: Boolean(match[1]) || name.startsWith("#"),
      });
    }
  });
  return methods;
}

/** The DynamoDB commands a method sends, following `this.<method>(…)` calls. */
function operationsInSource(
  methods: Map<string, { body: string }>,
  name: string,
  seen = new Set<string>(),
): Set<string> {
  const found = new Set<string>();
  const method = methods.get(name);
  if (!method || seen.has(name)) return found;
  seen.add(name);
  // A command's arguments run to the next command (or the method's end): IndexName there means the index.
  const commands = [...method.body.matchAll(/new (\w+)Command\(/g)];
  commands.forEach((match, i) => {
    const args = method.body.slice(match.index, commands[i + 1]?.index ?? method.body.length);
    const on = args.includes("IndexName: FAILED_INDEX_NAME")
      ? "failedIndex"
      : args.includes("IndexName: SCHEDULE_INDEX_NAME")
        ? "scheduleIndex"
        : args.includes("IndexName")
          ? "sweepIndex"
          : "table";
    found.add(`${match[1]}@${on}`);
  });
  for (const [, builder] of method.body.matchAll(/\b(\w+Statement)\(/g)) {
    const action = ACTION_OF_BUILDER[builder as string];
    if (action) found.add(`${action}@statement`);
  }
  // `#name`: an ECMAScript private method, as much the class's own as a `private` one.
  for (const [, callee] of method.body.matchAll(/this\.(#?\w+)\(/g)) {
    for (const op of operationsInSource(methods, callee as string, seen)) found.add(op);
  }
  return found;
}

/** A method's operations as IAM sees them: a PartiQL batch as the actions of the statements it builds. */
function actionsInSource(methods: Map<string, { body: string }>, name: string): string[] {
  const found = operationsInSource(methods, name);
  const statements = [...found].filter((op) => op.endsWith("@statement"));
  const sendsBatch = found.has(`${BATCH_COMMAND}@table`);
  const actions = [...found].filter((op) => !op.endsWith("@statement") && op !== `${BATCH_COMMAND}@table`);
  if (sendsBatch) actions.push(...statements.map((op) => op.replace("@statement", "@table")));
  return [...new Set(actions)];
}

/** The store methods a function's deployed bundle calls, and every source file in that bundle. */
async function bundleOf(fn: StoreUser): Promise<{ storeMethods: Set<string>; inputs: string[] }> {
  const out = await build({
    entryPoints: [path.join(PROJECT_ROOT, "functions", `${fn}.ts`)],
    absWorkingDir: PROJECT_ROOT,
    bundle: true,
    write: false,
    metafile: true,
    packages: "external",
    platform: "node",
    format: "esm",
    logLevel: "error",
  });
  const text = out.outputFiles[0]?.text ?? "";
  return {
    storeMethods: new Set([...text.matchAll(/\bstore\.(\w+)\(/g)].map((m) => m[1] as string)),
    inputs: Object.keys(out.metafile.inputs),
  };
}

describe("what the code calls", () => {
  it("each task-store method sends exactly the DynamoDB operations TASK_STORE_OPERATIONS lists", () => {
    const methods = methodBodies(readFileSync(STORE_SOURCE, "utf8"));
    const publicMethods = [...methods].filter(([, m]) => !m.isPrivate).map(([name]) => name);
    expect(publicMethods.sort()).toEqual(Object.keys(TASK_STORE_OPERATIONS).sort());
    for (const [method, declared] of Object.entries(TASK_STORE_OPERATIONS)) {
      expect(actionsInSource(methods, method).sort(), method).toEqual(declared.map(key).sort());
    }
  });

  it("the store's PartiQL statements are UPDATEs and INSERTs only, built by partiql.ts (PartiQLUpdate, PartiQLInsert)", () => {
    const source = readFileSync(PARTIQL_SOURCE, "utf8");
    const verbs = [...source.matchAll(/Statement: `(\w+)/g)].map((m) => m[1]);
    expect(verbs).toEqual(["UPDATE", "INSERT"]);
    const store = readFileSync(STORE_SOURCE, "utf8");
    expect(store).not.toMatch(/Statement:\s*`/);
    // Every statement the store sends is built by one of the builders the grants account for.
    const builders = [...store.matchAll(/\b((?:update|insert|select|delete)Statement)\(/gi)].map((m) => m[1]);
    expect(new Set(builders)).toEqual(new Set(Object.keys(ACTION_OF_BUILDER)));
  });

  it("each function calls exactly the store methods STORE_METHODS_BY_FUNCTION lists", async () => {
    for (const fn of Object.keys(STORE_METHODS_BY_FUNCTION) as StoreUser[]) {
      const { storeMethods } = await bundleOf(fn);
      expect([...storeMethods].sort(), fn).toEqual([...(STORE_METHODS_BY_FUNCTION[fn] ?? [])].sort());
    }
  });

  it("no function bundle holds a test file (specs live beside their source in shared/)", async () => {
    for (const fn of Object.keys(STORE_METHODS_BY_FUNCTION) as StoreUser[]) {
      const { inputs } = await bundleOf(fn);
      expect(
        inputs.filter((file) => /\.test\.ts$|(^|\/)test\//.test(file)),
        fn,
      ).toEqual([]);
    }
  });

  it("only the task store sends DynamoDB commands", async () => {
    for (const fn of Object.keys(STORE_METHODS_BY_FUNCTION) as StoreUser[]) {
      const { inputs } = await bundleOf(fn);
      for (const input of inputs.filter((file) => !file.endsWith("dynamo-task-store.ts"))) {
        const source = readFileSync(path.join(PROJECT_ROOT, input), "utf8");
        const imports = /import\s*\{([^}]*)\}\s*from\s*"@aws-sdk\/client-dynamodb"/.exec(source)?.[1] ?? "";
        expect(imports, `${fn}: ${input}`).not.toMatch(/\w+Command\b/);
      }
    }
  });
});

describe("what each role may do on the table", () => {
  /** Called and not called: every item action, Scan and a few administrative ones. */
  const CANDIDATES = [
    "GetItem",
    "BatchGetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "ConditionCheckItem",
    "Query",
    "Scan",
    "PartiQLSelect",
    "PartiQLUpdate",
    "PartiQLInsert",
    "PartiQLDelete",
    "DescribeTable",
    "DeleteTable",
  ];
  let aws: DeployedTemplate;
  /** Function entry name → its role's logical id, read from the template. */
  let roles: Map<string, string>;
  let tableArn: string;

  beforeAll(() => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const stack = addPunctualStack(app, stackConfig("prod"));
    const template = Template.fromStack(stack).toJSON() as CfnTemplateJson & {
      Resources: Record<string, Json>;
    };
    aws = deployedTemplate(template, { stackName: stack.stackName });
    roles = new Map();
    for (const id of aws.idsOfType("AWS::Lambda::Function")) {
      const entry = template.Resources[id].Metadata?.[ENTRY_METADATA_KEY];
      if (typeof entry !== "string") continue;
      const fn = path.basename(entry, ".ts");
      const roleId = template.Resources[id].Properties.Role["Fn::GetAtt"][0] as string;
      if (roles.has(fn)) expect(roles.get(fn), fn).not.toBe(roleId); // one role per function
      roles.set(`${fn}#${id}`, roleId);
    }
    const [tableId] = aws.idsOfType("AWS::DynamoDB::Table");
    tableArn = aws.resolve({ "Fn::GetAtt": [tableId, "Arn"] });
  });

  it("every function of the stack is one whose store use is listed", () => {
    const functions = new Set([...roles.keys()].map((k) => k.split("#")[0]));
    expect([...functions].sort()).toEqual(Object.keys(STORE_METHODS_BY_FUNCTION).sort());
  });

  it("issue 14: the destination routes list with a Query (no Scan), reset by key with GetItem and UpdateItem; deliver never queries", async () => {
    const roleOf = (fn: string) => [...roles].find(([k]) => k.startsWith(`${fn}#`))?.[1] as string;
    const may = (fn: string, action: string) => roleMay(aws, roleOf(fn), `dynamodb:${action}`, tableArn);
    expect(await may("list-destinations", "Query")).toBe("Allowed");
    expect(await may("list-destinations", "Scan")).toBe("ImplicitlyDenied");
    expect(await may("list-destinations", "UpdateItem")).toBe("ImplicitlyDenied");
    expect(await may("reset-destination", "UpdateItem")).toBe("Allowed");
    // A reset reads its host's key on each topic (GetItem), never the whole destination partition
    expect(await may("reset-destination", "GetItem")).toBe("Allowed");
    expect(await may("reset-destination", "Query")).toBe("ImplicitlyDenied");
    expect(await may("reset-destination", "DeleteItem")).toBe("ImplicitlyDenied");
    expect(await may("reset-destination", "PutItem")).toBe("ImplicitlyDenied");
    expect(await may("deliver", "UpdateItem")).toBe("Allowed");
    expect(await may("deliver", "Query")).toBe("ImplicitlyDenied");
    expect(await may("deliver", "Scan")).toBe("ImplicitlyDenied");
  });

  it("issue 13.2: deliver may read in batches and run PartiQL UPDATEs on the table only; no other function may", async () => {
    const roleOf = (fn: string) => [...roles].find(([k]) => k.startsWith(`${fn}#`))?.[1] as string;
    const may = (fn: string, action: string, arn = tableArn) =>
      roleMay(aws, roleOf(fn), `dynamodb:${action}`, arn);
    expect(await may("deliver", "BatchGetItem")).toBe("Allowed");
    expect(await may("deliver", "PartiQLUpdate")).toBe("Allowed");
    for (const action of ["PartiQLSelect", "PartiQLInsert", "PartiQLDelete", "BatchWriteItem"]) {
      expect(await may("deliver", action), action).toBe("ImplicitlyDenied");
    }
    for (const index of [SWEEP_INDEX_NAME, FAILED_INDEX_NAME, SCHEDULE_INDEX_NAME]) {
      expect(await may("deliver", "PartiQLUpdate", `${tableArn}/index/${index}`), index).toBe(
        "ImplicitlyDenied",
      );
      expect(await may("deliver", "BatchGetItem", `${tableArn}/index/${index}`), index).toBe(
        "ImplicitlyDenied",
      );
    }
    for (const fn of [...new Set([...roles.keys()].map((k) => k.split("#")[0] as string))].filter(
      (f) => f !== "deliver",
    )) {
      expect(await may(fn, "PartiQLUpdate"), fn).toBe("ImplicitlyDenied");
      if (fn !== "replay-topic") expect(await may(fn, "BatchGetItem"), fn).toBe("ImplicitlyDenied");
    }
  });

  it("the bulk replay reads its named tasks in batches: BatchGetItem on the table, on no index, and no new write", async () => {
    const roleOf = (fn: string) => [...roles].find(([k]) => k.startsWith(`${fn}#`))?.[1] as string;
    const may = (action: string, arn = tableArn) =>
      roleMay(aws, roleOf("replay-topic"), `dynamodb:${action}`, arn);
    expect(await may("BatchGetItem")).toBe("Allowed");
    for (const index of [SWEEP_INDEX_NAME, FAILED_INDEX_NAME, SCHEDULE_INDEX_NAME]) {
      expect(await may("BatchGetItem", `${tableArn}/index/${index}`), index).toBe("ImplicitlyDenied");
    }
    for (const action of [
      "BatchWriteItem",
      "PutItem",
      "DeleteItem",
      "Scan",
      "PartiQLSelect",
      "PartiQLUpdate",
    ]) {
      expect(await may(action), action).toBe("ImplicitlyDenied");
    }
  });

  it("the batch add may run PartiQL INSERTs (its claims and keyed tasks) on the table only; no other function may", async () => {
    const roleOf = (fn: string) => [...roles].find(([k]) => k.startsWith(`${fn}#`))?.[1] as string;
    const may = (fn: string, action: string, arn = tableArn) =>
      roleMay(aws, roleOf(fn), `dynamodb:${action}`, arn);
    expect(await may("add-tasks-batch", "PartiQLInsert")).toBe("Allowed");
    for (const action of ["PartiQLSelect", "PartiQLUpdate", "PartiQLDelete"]) {
      expect(await may("add-tasks-batch", action), action).toBe("ImplicitlyDenied");
    }
    for (const index of [SWEEP_INDEX_NAME, FAILED_INDEX_NAME, SCHEDULE_INDEX_NAME]) {
      expect(await may("add-tasks-batch", "PartiQLInsert", `${tableArn}/index/${index}`), index).toBe(
        "ImplicitlyDenied",
      );
    }
    const others = [...new Set([...roles.keys()].map((k) => k.split("#")[0] as string))].filter(
      (f) => f !== "add-tasks-batch",
    );
    expect(others.length).toBeGreaterThan(10);
    for (const fn of others) expect(await may(fn, "PartiQLInsert"), fn).toBe("ImplicitlyDenied");
  });

  it("allows exactly the operations each function calls, on the table and on each index", async () => {
    const indexArn = `${tableArn}/index/${SWEEP_INDEX_NAME}`;
    const failedIndexArn = `${tableArn}/index/${FAILED_INDEX_NAME}`;
    const scheduleIndexArn = `${tableArn}/index/${SCHEDULE_INDEX_NAME}`;
    for (const [k, roleId] of roles) {
      const fn = k.split("#")[0] as StoreUser;
      const calls = new Set(dynamoOperationsOf(STORE_METHODS_BY_FUNCTION[fn] ?? []).map(key));
      for (const action of CANDIDATES) {
        const onTable = await roleMay(aws, roleId, `dynamodb:${action}`, tableArn);
        expect(onTable, `${fn} ${action} on the table`).toBe(
          calls.has(`${action}@table`) ? "Allowed" : "ImplicitlyDenied",
        );
      }
      for (const action of ["Query", "Scan"]) {
        const onIndex = await roleMay(aws, roleId, `dynamodb:${action}`, indexArn);
        expect(onIndex, `${fn} ${action} on the sweep index`).toBe(
          calls.has(`${action}@sweepIndex`) ? "Allowed" : "ImplicitlyDenied",
        );
        const onFailed = await roleMay(aws, roleId, `dynamodb:${action}`, failedIndexArn);
        expect(onFailed, `${fn} ${action} on the failed index`).toBe(
          calls.has(`${action}@failedIndex`) ? "Allowed" : "ImplicitlyDenied",
        );
        const onSchedules = await roleMay(aws, roleId, `dynamodb:${action}`, scheduleIndexArn);
        expect(onSchedules, `${fn} ${action} on the schedule index`).toBe(
          calls.has(`${action}@scheduleIndex`) ? "Allowed" : "ImplicitlyDenied",
        );
      }
    }
  });
});
