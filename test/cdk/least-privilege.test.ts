import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { PunctualFunction } from "#cdk/lib/constructs/punctual-function.js";
import {
  dynamoOperationsOf,
  PIPELINE_STORE_METHODS,
  type StoreMethod,
} from "#shared/adapters/dynamo-task-store.js";
import { API_ROUTES, type ApiRouteRow, DEFAULT_ROUTE } from "#shared/api/routes.js";
import { prod } from "#shared/config/environments/prod.js";
import { parseConfig } from "#shared/config/index.js";
import { ENV } from "#shared/runtime/env.js";
import {
  type DeployedStack as Deployed,
  deployStack as deploy,
  logicalIdOf as idOf,
} from "../support/deployed-stack.js";
import { identityPoliciesOf, roleMay, serviceMayAssume } from "../support/iam.js";
import { stackConfig } from "../support/stack-config.js";

const environments: Record<string, Deployed> = {};
beforeAll(() => {
  for (const name of ["dev", "prod"]) environments[name] = deploy(stackConfig(name));
});
const each = () => Object.entries(environments);

/** Every function of the stack by its name (`deliver:<topic>` for the deliver functions). */
function functionsOf(d: Deployed): [string, PunctualFunction][] {
  const named = new Map<PunctualFunction, string>([
    ...Object.entries(d.stack.api.functions).map(([name, fn]) => [fn, name] as const),
    [d.stack.timerQueues.relayFunction, "relay"],
    [d.stack.sweeper.sweeperFunction, "sweeper"],
    [d.stack.scheduleMaterializer.materializerFunction, "schedule-materializer"],
    [d.stack.runtimeSettings.validator, "validate-topic-settings"],
    ...d.stack.topics.map((t) => [t.deliverFunction, `deliver:${t.name}`] as const),
  ]);
  const all = d.stack.node.findAll().filter((c): c is PunctualFunction => c instanceof PunctualFunction);
  expect(all.filter((fn) => !named.has(fn)).map((fn) => fn.node.path)).toEqual([]);
  return all.map((fn) => [named.get(fn) as string, fn]);
}

/**
 * Who calls `createTaskSchedule`: the add path (AddTaskDeps.scheduler) and everything that adds through it —
 * reschedule/run (RescheduleDeps), schedule create/resume and the materializer (MaterializeDeps).
 */
const CREATE = new Set([
  "add-task",
  "add-tasks-batch",
  "reschedule-task",
  "run-task",
  "create-schedule",
  "resume-schedule",
  "schedule-materializer",
]);
/**
 * Who calls `deleteTaskSchedule`: cancel (CancelTaskDeps), group cancel (fan-out/cancel.ts), reschedule/run
 * (the old timer), schedule pause/delete (CancelOccurrencesDeps), and whatever materializes (MaterializeDeps:
 * a run that lost its schedule to a stop cancels what it added) — create, resume and the materializer. The add
 * path (add-task, add-tasks-batch) never deletes one: its scheduler is `Pick<TaskScheduler, "createTaskSchedule">`.
 */
const DELETE = new Set([
  "cancel-task",
  "cancel-group",
  "reschedule-task",
  "run-task",
  "pause-schedule",
  "delete-schedule",
  "create-schedule",
  "resume-schedule",
  "schedule-materializer",
]);

describe("EventBridge Scheduler", () => {
  it("each function may create (and read back) / delete a schedule of its group exactly when its code does", async () => {
    for (const [env, d] of each()) {
      const group = d.aws.resolve({ Ref: idOf(d, d.stack.timerScheduler.group) });
      const schedule = `arn:aws:scheduler:${d.aws.region}:${d.aws.account}:schedule/${group}/01JTASKID`;
      for (const [name, fn] of functionsOf(d)) {
        const role = idOf(d, fn.functionRole);
        const decisions = {
          create: await roleMay(d.aws, role, "scheduler:CreateSchedule", schedule),
          // A create's ConflictException is confirmed with GetSchedule (shared/adapters/task-scheduler.ts).
          read: await roleMay(d.aws, role, "scheduler:GetSchedule", schedule),
          delete: await roleMay(d.aws, role, "scheduler:DeleteSchedule", schedule),
        };
        const expected = (calls: boolean) => (calls ? "Allowed" : "ImplicitlyDenied");
        expect(decisions, `${env} ${name}`).toEqual({
          create: expected(CREATE.has(name)),
          read: expected(CREATE.has(name)),
          delete: expected(DELETE.has(name)),
        });
      }
    }
  });

  /**
   * CreateSchedule names the scheduler role as the schedule's target role, so Scheduler checks that the caller
   * may pass it: `iam:PassRole` on the role's ARN with `iam:PassedToService` = scheduler.amazonaws.com
   * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html). Without it every timer fails.
   */
  it("each function that creates schedules may pass the scheduler role, to Scheduler only; no function may pass another role", async () => {
    for (const [env, d] of each()) {
      const schedulerRole: string = d.aws.resolve({
        "Fn::GetAtt": [idOf(d, d.stack.timerScheduler.role), "Arn"],
      });
      const functions = functionsOf(d);
      for (const [name, fn] of functions) {
        const role = idOf(d, fn.functionRole);
        const pass = (roleArn: string, service: string) =>
          roleMay(d.aws, role, "iam:PassRole", roleArn, { context: { "iam:PassedToService": service } });
        const expected = CREATE.has(name) ? "Allowed" : "ImplicitlyDenied";
        expect(await pass(schedulerRole, "scheduler.amazonaws.com"), `${env} ${name}`).toBe(expected);
        expect(await pass(schedulerRole, "lambda.amazonaws.com"), `${env} ${name}`).toBe("ImplicitlyDenied");
        for (const [, other] of functions) {
          const otherRole: string = d.aws.resolve({ "Fn::GetAtt": [idOf(d, other.functionRole), "Arn"] });
          expect(await pass(otherRole, "scheduler.amazonaws.com"), `${env} ${name}`).toBe("ImplicitlyDenied");
        }
      }
    }
  });
});

const SQS_ACTIONS = [
  "sqs:SendMessage",
  "sqs:ReceiveMessage",
  "sqs:DeleteMessage",
  "sqs:ChangeMessageVisibility",
  "sqs:GetQueueAttributes",
  "sqs:GetQueueUrl",
  "sqs:PurgeQueue",
] as const;
type SqsAction = (typeof SQS_ACTIONS)[number];
const SEND: SqsAction[] = ["sqs:SendMessage"];
/**
 * What the sweeper's pointer reads call on the timer-side DLQs (sweeper/pointers.ts): receive, delete what resolved.
 * Nothing is made visible again there: an unresolved pointer reappears when its visibility timeout runs out.
 */
const POINTERS: SqsAction[] = ["sqs:ReceiveMessage", "sqs:DeleteMessage"];
/**
 * What the sweeper's topic DLQ reconcile calls (sweeper/topic-dead-letters.ts): receive, delete, and make a
 * still-failed task's message visible again at once (dead-letter-source.ts `release`).
 */
const DRAIN: SqsAction[] = [...POINTERS, "sqs:ChangeMessageVisibility"];
/**
 * A Lambda event source's queue: Lambda's pollers need ReceiveMessage, DeleteMessage and GetQueueAttributes on the
 * function's role (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html, execution role permissions; the
 * AWSLambdaSQSQueueExecutionRole managed policy holds exactly these), and the deliver function (its backoff) and the
 * relay (its retry backoff, `relayRetrySeconds`) change the visibility of their own messages. Not GetQueueUrl, which
 * CDK's SqsEventSource granted with its consume set: no poller and no code of ours calls it.
 */
const EVENT_SOURCE: SqsAction[] = [...DRAIN, "sqs:GetQueueAttributes"];
/** The topic views' queue depths (SqsTopicQueueStats): GetQueueAttributes only. */
const STATS: SqsAction[] = ["sqs:GetQueueAttributes"];

/** What each function calls on each queue, from the adapters each one builds (functions/*.ts). */
function expectedCalls(d: Deployed, name: string): Map<IConstruct, SqsAction[]> {
  const { timerQueues, topics } = d.stack;
  const timer = timerQueues.queue;
  const topicQueues = topics.map((t) => t.queue);
  const calls = new Map<IConstruct, SqsAction[]>();
  const add = (queues: IConstruct[], actions: SqsAction[]) => {
    for (const q of queues) calls.set(q, [...new Set([...(calls.get(q) ?? []), ...actions])]);
  };
  const deliverOf = topics.find((t) => name === `deliver:${t.name}`);
  if (deliverOf) {
    add([deliverOf.queue], EVENT_SOURCE);
    add([deliverOf.deadLetterQueue], SEND);
  }
  switch (name) {
    case "relay":
      add([timer], EVENT_SOURCE);
      add([timer, ...topicQueues], SEND);
      break;
    case "sweeper":
      add([timer, ...topicQueues, ...topics.map((t) => t.deadLetterQueue)], SEND);
      add([timerQueues.deadLetterQueue, timerQueues.scheduleDeadLetterQueue], POINTERS);
      add(
        topics.map((t) => t.deadLetterQueue),
        DRAIN,
      );
      break;
    case "add-task":
    case "add-tasks-batch":
    case "reschedule-task":
    case "run-task":
    case "create-schedule":
    case "resume-schedule":
    case "schedule-materializer":
      add([timer], SEND);
      break;
    case "replay-task":
    case "replay-topic":
      add(topicQueues, SEND);
      break;
    case "list-topics":
    case "get-topic":
      add(
        topics.flatMap((t) => [t.queue, t.deadLetterQueue]),
        STATS,
      );
      break;
  }
  return calls;
}

describe("SQS", () => {
  it("each function may call on each queue exactly what its code calls there", async () => {
    for (const [env, d] of each()) {
      const { timerQueues, topics } = d.stack;
      const queues = [
        timerQueues.queue,
        timerQueues.deadLetterQueue,
        timerQueues.scheduleDeadLetterQueue,
        ...topics.flatMap((t) => [t.queue, t.deadLetterQueue]),
      ];
      for (const [name, fn] of functionsOf(d)) {
        const role = idOf(d, fn.functionRole);
        const calls = expectedCalls(d, name);
        for (const queue of queues) {
          const arn: string = d.aws.resolve({ "Fn::GetAtt": [idOf(d, queue), "Arn"] });
          const allowed: string[] = [];
          for (const action of SQS_ACTIONS) {
            if ((await roleMay(d.aws, role, action, arn)) === "Allowed") allowed.push(action);
          }
          expect(allowed.sort(), `${env} ${name} on ${idOf(d, queue)}`).toEqual(
            [...(calls.get(queue) ?? [])].sort(),
          );
        }
      }
    }
  });
});

describe("the relay's retry backoff", () => {
  /**
   * The relay shortens a failed timer message's wait with ChangeMessageVisibilityBatch on the timer queue (IAM
   * authorizes it as sqs:ChangeMessageVisibility). A grant without it would not fail the relay: every change would
   * be refused, logged as a warning, and the message left to the 3-minute visibility timeout, so it is held here by
   * itself, not only as part of the event source's set.
   */
  it("may change the visibility of the timer queue's messages, and of no topic queue's", async () => {
    for (const [env, d] of each()) {
      const { timerQueues, topics } = d.stack;
      const role = idOf(d, timerQueues.relayFunction.functionRole);
      const arnOf = (queue: IConstruct): string => d.aws.resolve({ "Fn::GetAtt": [idOf(d, queue), "Arn"] });
      expect(await roleMay(d.aws, role, "sqs:ChangeMessageVisibility", arnOf(timerQueues.queue)), env).toBe(
        "Allowed",
      );
      for (const queue of [timerQueues.deadLetterQueue, ...topics.map((t) => t.queue)])
        expect(await roleMay(d.aws, role, "sqs:ChangeMessageVisibility", arnOf(queue)), env).toBe(
          "ImplicitlyDenied",
        );
    }
  });
});

describe("Secrets Manager", () => {
  it("only the deliver functions may read the signing secret, and only its value (signing.ts: GetSecretValue)", async () => {
    for (const [env, d] of each()) {
      const secret: string = d.aws.resolve({ Ref: idOf(d, d.stack.signingSecret) });
      expect(secret).toMatch(/^arn:aws:secretsmanager:/);
      for (const [name, fn] of functionsOf(d)) {
        const role = idOf(d, fn.functionRole);
        const allowed: string[] = [];
        for (const action of [
          "secretsmanager:GetSecretValue",
          "secretsmanager:DescribeSecret",
          "secretsmanager:PutSecretValue",
        ]) {
          if ((await roleMay(d.aws, role, action, secret)) === "Allowed") allowed.push(action);
        }
        expect(allowed, `${env} ${name}`).toEqual(
          name.startsWith("deliver:") ? ["secretsmanager:GetSecretValue"] : [],
        );
      }
    }
  });
});

/**
 * Who builds a LambdaTopicSwitch (shared/adapters/topic-switch.ts) and what it calls: the topic views read a
 * deliver mapping's state; pause/resume and the sweeper (a topic its runtime settings pause) switch it and
 * read it back. Nobody touches the relay's mapping, and nobody deletes one.
 */
const MAPPING_CALLS: Readonly<Record<string, readonly string[]>> = {
  "list-topics": ["lambda:GetEventSourceMapping"],
  "get-topic": ["lambda:GetEventSourceMapping"],
  "pause-topic": ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"],
  "resume-topic": ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"],
  sweeper: ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"],
};

describe("Lambda event source mappings", () => {
  const ACTIONS = [
    "lambda:GetEventSourceMapping",
    "lambda:UpdateEventSourceMapping",
    "lambda:DeleteEventSourceMapping",
  ];
  /** The ARN Lambda presents to IAM for a mapping: built from the UUID CloudFormation returns, as AWS does. */
  const mappingArn = (d: Deployed, mappingId: string) =>
    `arn:aws:lambda:${d.aws.region}:${d.aws.account}:event-source-mapping:${d.aws.resolve({ Ref: mappingId })}`;
  /** The ARN of the function a mapping invokes (its FunctionName is the function's Ref). */
  const functionArnOf = (d: Deployed, mappingId: string): string =>
    d.aws.resolve({ "Fn::GetAtt": [d.aws.properties(mappingId).FunctionName.Ref, "Arn"] });
  /**
   * A request on a mapping as Lambda presents it to IAM: `lambda:FunctionArn` is the function the mapping invokes,
   * or the one an update names (https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html,
   * "Event source mappings": the condition "lets you restrict which functions a user can configure an event
   * source to invoke").
   */
  const onMapping = (d: Deployed, role: string, action: string, mappingId: string, invoking?: string) =>
    roleMay(d.aws, role, action, mappingArn(d, mappingId), {
      context: { "lambda:FunctionArn": invoking ?? functionArnOf(d, mappingId) },
    });

  it("each function may read / switch each mapping exactly when its code does: only the topics' deliver mappings", async () => {
    for (const [env, d] of each()) {
      const deliverIds = new Set(d.stack.topics.map((t) => idOf(d, t.deliverFunction)));
      const mappings = d.aws.idsOfType("AWS::Lambda::EventSourceMapping");
      expect(mappings).toHaveLength(1 + d.stack.topics.length);
      for (const [name, fn] of functionsOf(d)) {
        const role = idOf(d, fn.functionRole);
        for (const mapping of mappings) {
          const isDeliver = deliverIds.has(d.aws.properties(mapping).FunctionName.Ref);
          const allowed: string[] = [];
          for (const action of ACTIONS) {
            if ((await onMapping(d, role, action, mapping)) === "Allowed") allowed.push(action);
          }
          expect(allowed, `${env} ${name} on ${mapping}`).toEqual(
            isDeliver ? (MAPPING_CALLS[name] ?? []) : [],
          );
        }
      }
    }
  });

  /**
   * Pausing and resuming send UpdateEventSourceMapping with the mapping's UUID and `Enabled` alone, but the action
   * also takes a FunctionName: a role that may update a mapping without a condition on its function may re-point
   * the topic's mapping at any function of the account (another environment's deliver function, one that drops
   * what it gets), and the topic's tasks would go there. Each switch may update a topic's mapping only while it
   * invokes that topic's deliver function, and to no other.
   */
  it("no function may re-point a topic's deliver mapping at another function", async () => {
    for (const [env, d] of each()) {
      const mappings = d.aws.idsOfType("AWS::Lambda::EventSourceMapping");
      const functionArns = d.aws
        .idsOfType("AWS::Lambda::Function")
        .map((id) => d.aws.resolve({ "Fn::GetAtt": [id, "Arn"] }) as string);
      const foreign = `arn:aws:lambda:${d.aws.region}:${d.aws.account}:function:Punctual-other-DeliverFunction`;
      let switches = 0;
      for (const [name, fn] of functionsOf(d)) {
        if (!MAPPING_CALLS[name]?.includes("lambda:UpdateEventSourceMapping")) continue;
        switches += 1;
        const role = idOf(d, fn.functionRole);
        for (const mapping of mappings) {
          const own = functionArnOf(d, mapping);
          for (const other of [...functionArns.filter((arn) => arn !== own), foreign]) {
            const decision = await onMapping(d, role, "lambda:UpdateEventSourceMapping", mapping, other);
            expect(decision, `${env} ${name}: ${mapping} to ${other}`).toBe("ImplicitlyDenied");
          }
        }
      }
      expect(switches, env).toBe(3);
    }
  });
});

describe("CloudWatch Logs", () => {
  /**
   * Function roles carry no AWS managed policy (AWSLambdaBasicExecutionRole), so their own grant is all that lets
   * Lambda write a function's logs — and our metrics, which are EMF lines in those logs: without it every alarm
   * on a Punctual metric would sit in INSUFFICIENT_DATA. Lambda writes with the execution role to the log group
   * the function's LoggingConfig names; IAM authorizes CreateLogStream and PutLogEvents on the log stream's ARN,
   * `arn:aws:logs:<region>:<account>:log-group:<name>:log-stream:<stream>`
   * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/iam-access-control-overview-cwl.html).
   */
  const WRITE = ["logs:CreateLogStream", "logs:PutLogEvents"];
  /** A stream as Lambda names one: date, version, instance. */
  const streamArn = (d: Deployed, logGroupId: string) =>
    `arn:aws:logs:${d.aws.region}:${d.aws.account}:log-group:${d.aws.resolve({ Ref: logGroupId })}:log-stream:2026/12/02/[$LATEST]0123456789abcdef0123456789abcdef`;
  const logGroupOf = (d: Deployed, fn: PunctualFunction): string =>
    d.aws.properties(idOf(d, fn)).LoggingConfig.LogGroup.Ref;

  it("each function may write streams to the log group Lambda sends its logs to, and to no other", async () => {
    for (const [env, d] of each()) {
      const functions = functionsOf(d);
      const logGroups = d.aws.idsOfType("AWS::Logs::LogGroup");
      expect(new Set(functions.map(([, fn]) => logGroupOf(d, fn))).size, env).toBe(functions.length);
      for (const [name, fn] of functions) {
        const role = idOf(d, fn.functionRole);
        const own = logGroupOf(d, fn);
        for (const logGroup of logGroups) {
          const allowed: string[] = [];
          for (const action of [...WRITE, "logs:DeleteLogStream"]) {
            if ((await roleMay(d.aws, role, action, streamArn(d, logGroup))) === "Allowed")
              allowed.push(action);
          }
          expect(allowed, `${env} ${name} on ${logGroup}`).toEqual(logGroup === own ? WRITE : []);
        }
      }
    }
  });
});

describe("resource wildcards", () => {
  /**
   * What every function role's cdk-nag acknowledgement of `AwsSolutions-IAM5[Resource::*]` claims
   * (punctual-function.ts): X-Ray's two actions take no resource-level permissions, so theirs is the only `*`.
   * The acknowledgement covers every role, so a future grant on `*` would pass cdk-nag unseen; this does not.
   */
  it("no function role is granted anything on '*' but X-Ray's trace uploads", () => {
    const XRAY = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"];
    let wildcards = 0;
    for (const [env, d] of each()) {
      for (const [name, fn] of functionsOf(d)) {
        for (const { policy } of identityPoliciesOf(d.aws, idOf(d, fn.functionRole))) {
          for (const st of policy.Statement as { Action: string | string[]; Resource: unknown }[]) {
            if (![st.Resource].flat().includes("*")) continue;
            wildcards += 1;
            expect([st.Action].flat().sort(), `${env} ${name}`).toEqual(XRAY);
          }
        }
      }
    }
    // Not vacuous: prod traces actively, so its roles carry X-Ray's statement.
    expect(wildcards).toBeGreaterThan(0);
  });
});

describe("a role whose policy outgrows one document", () => {
  /**
   * Past IAM's size limit for a role's inline policies CDK moves statements into managed "OverflowPolicy"
   * documents attached to the role, which AWS evaluates like the rest: the sweeper of a stack with ten topics of
   * the longest name keeps its timer-side DLQ drains there. The evaluation must read them too, or it would call
   * denied what AWS allows (and miss what such a document allows too widely).
   */
  it("is evaluated with its overflow policies: the ten-topic sweeper still drains the timer-side DLQs", async () => {
    const topics = Object.fromEntries(
      Array.from({ length: 10 }, (_, i) => [`topic-${i}`.padEnd(24, "x"), {}]),
    );
    const d = deploy(
      parseConfig({ ...prod, topics, alarmSubscribers: { emails: ["oncall@punctual.test"], httpsUrls: [] } }),
    );
    const role = idOf(d, d.stack.sweeper.sweeperFunction.functionRole);
    const overflow = d.aws
      .idsOfType("AWS::IAM::ManagedPolicy")
      .filter((id) => (d.aws.properties(id).Roles ?? []).some((r: { Ref?: string }) => r.Ref === role));
    expect(overflow.length).toBeGreaterThan(0);
    const { timerQueues } = d.stack;
    for (const queue of [timerQueues.deadLetterQueue, timerQueues.scheduleDeadLetterQueue]) {
      const arn: string = d.aws.resolve({ "Fn::GetAtt": [idOf(d, queue), "Arn"] });
      for (const action of POINTERS)
        expect(await roleMay(d.aws, role, action, arn), `${action} ${idOf(d, queue)}`).toBe("Allowed");
      for (const action of ["sqs:ChangeMessageVisibility", "sqs:PurgeQueue"])
        expect(await roleMay(d.aws, role, action, arn), `${action} ${idOf(d, queue)}`).toBe(
          "ImplicitlyDenied",
        );
    }
  });
});

describe("every action a function's role holds", () => {
  /** Each function's task-store methods: the pipeline's lists and each route row's `store` (its DynamoDB calls). */
  const storeMethodsOf = (name: string): readonly StoreMethod[] => {
    const pipeline = PIPELINE_STORE_METHODS as Readonly<Record<string, readonly StoreMethod[]>>;
    if (name.startsWith("deliver:")) return PIPELINE_STORE_METHODS.deliver;
    if (Object.hasOwn(pipeline, name)) return pipeline[name] as readonly StoreMethod[];
    return ([...API_ROUTES, DEFAULT_ROUTE] as ApiRouteRow[]).find((row) => row.name === name)?.store ?? [];
  };
  /** Whether the stack tells the function where the topic settings are (its topology's `topicSettings`). */
  const toldTopicSettings = (d: Deployed, fn: PunctualFunction): boolean => {
    const variable = d.aws.properties(idOf(d, fn)).Environment?.Variables?.[ENV.topology];
    return variable !== undefined && JSON.parse(d.aws.resolve(variable)).topicSettings !== undefined;
  };

  /** Every action each call of the function's code needs, in every service, from the tables above. */
  function expectedActions(d: Deployed, name: string, fn: PunctualFunction): string[] {
    const tracing = d.aws.properties(idOf(d, fn)).TracingConfig?.Mode === "Active";
    return [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      ...(tracing ? ["xray:PutTraceSegments", "xray:PutTelemetryRecords"] : []),
      ...[...expectedCalls(d, name).values()].flat(),
      ...(CREATE.has(name) ? ["scheduler:CreateSchedule", "scheduler:GetSchedule", "iam:PassRole"] : []),
      ...(DELETE.has(name) ? ["scheduler:DeleteSchedule"] : []),
      ...(name.startsWith("deliver:") ? ["secretsmanager:GetSecretValue"] : []),
      ...(MAPPING_CALLS[name] ?? []),
      ...dynamoOperationsOf(storeMethodsOf(name)).map((op) => `dynamodb:${op.action}`),
      ...(toldTopicSettings(d, fn)
        ? ["appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"]
        : []),
    ];
  }

  /**
   * The evaluations above ask, service by service, about the actions they list; an action none of them lists
   * (sqs:SetQueueAttributes, scheduler:UpdateSchedule, dynamodb:Scan, kms:Decrypt, lambda:InvokeFunction…) granted
   * to a role would pass them all. Here every action a role's policies allow, its overflow policies included, is
   * one its function's code calls, and every call has its action; where, the evaluations above say.
   */
  it("are exactly those of the calls its code makes, in every service", () => {
    for (const [env, d] of each()) {
      for (const [name, fn] of functionsOf(d)) {
        const granted = identityPoliciesOf(d.aws, idOf(d, fn.functionRole)).flatMap(({ policy }) =>
          [policy.Statement]
            .flat()
            .filter((st: { Effect: string }) => st.Effect === "Allow")
            .flatMap((st: { Action: string | string[] }) => [st.Action].flat()),
        );
        expect([...new Set(granted)].sort(), `${env} ${name}`).toEqual(
          [...new Set(expectedActions(d, name, fn))].sort(),
        );
      }
    }
  });
});

describe("every resource a role's policies name", () => {
  /**
   * The ARNs of the stack's own resources that a grant may name, as AWS will present them: each resource's ARN
   * (the secret's is its Ref), the table's indexes, the schedules of its group, the deliver mappings and the
   * settings profile's configuration.
   */
  function ownArns(d: Deployed): Set<string> {
    const arns = new Set<string>();
    for (const [id, resource] of Object.entries(d.template.Resources)) {
      const deployed = d.aws.resolve({ Ref: id });
      if (typeof deployed === "string" && deployed.startsWith("arn:")) arns.add(deployed);
      try {
        arns.add(d.aws.resolve({ "Fn::GetAtt": [id, "Arn"] }));
      } catch {
        // A type without an ARN attribute (a policy, a permission): nothing a grant names.
      }
      if (resource.Type === "AWS::DynamoDB::Table") {
        const tableArn: string = d.aws.resolve({ "Fn::GetAtt": [id, "Arn"] });
        for (const index of d.aws.properties(id).GlobalSecondaryIndexes ?? [])
          arns.add(`${tableArn}/index/${index.IndexName}`);
      }
    }
    const { timerScheduler, topics, runtimeSettings } = d.stack;
    arns.add(d.aws.resolve(d.stack.resolve(timerScheduler.scheduleArnPattern)));
    for (const topic of topics) arns.add(d.aws.resolve(d.stack.resolve(topic.deliverMappingArn)));
    arns.add(d.aws.resolve(d.stack.resolve(runtimeSettings.configurationArn)));
    return arns;
  }

  /**
   * The evaluations above ask about the stack's own resources; a grant naming anything else (another table, a
   * queue or secret of another stack, a pattern wider than the group's schedules) would pass them. Every resource
   * a role's policies allow an action on is one of the stack's own, but X-Ray's `*` (its actions take no other).
   */
  it("is one of the stack's own resources (X-Ray's '*' apart)", () => {
    for (const [env, d] of each()) {
      const own = ownArns(d);
      for (const role of d.aws.idsOfType("AWS::IAM::Role")) {
        for (const { policy } of identityPoliciesOf(d.aws, role)) {
          for (const st of [policy.Statement].flat() as { Action: string | string[]; Resource: unknown }[]) {
            const xray = [st.Action].flat().every((a) => a.startsWith("xray:"));
            for (const resource of [st.Resource].flat() as string[]) {
              if (xray && resource === "*") continue;
              expect(own.has(resource), `${env} ${role}: ${resource}`).toBe(true);
            }
          }
        }
      }
    }
  });
});

describe("who may assume a function's role", () => {
  /**
   * A function's credentials are its role's: Lambda alone may assume it. Nothing else evaluated a function role's
   * trust policy, so a role that also trusted another service or account would have passed every test above.
   */
  it("Lambda, and no other principal", async () => {
    for (const [env, d] of each()) {
      for (const [name, fn] of functionsOf(d)) {
        const role = idOf(d, fn.functionRole);
        const trust = d.aws.resolve(d.aws.properties(role).AssumeRolePolicyDocument);
        const allows = [trust.Statement]
          .flat()
          .filter((st: { Effect: string }) => st.Effect === "Allow")
          .map((st: { Principal: unknown; Action: unknown; Condition?: unknown }) => [
            st.Principal,
            st.Action,
          ]);
        expect(allows, `${env} ${name}`).toEqual([[{ Service: "lambda.amazonaws.com" }, "sts:AssumeRole"]]);
        expect(await serviceMayAssume(d.aws, role, "lambda.amazonaws.com", {}), `${env} ${name}`).toBe(
          "Allowed",
        );
      }
    }
  });
});

describe("the stack's roles besides the functions'", () => {
  /**
   * Only two services act as the stack with roles of their own: EventBridge Scheduler sends a schedule's timer
   * message (and a failed firing to the schedule DLQ) as the Scheduler role, and AppConfig reads the settings
   * rollback alarm as the monitor role. A role CDK adds on its own — a custom resource's provider (LogRetention,
   * AwsCustomResource), with policies on `*` — would be evaluated by nothing above.
   */
  it("are the Scheduler role and the AppConfig monitor role, each holding only what its service calls", () => {
    for (const [env, d] of each()) {
      const functionRoles = new Set(functionsOf(d).map(([, fn]) => idOf(d, fn.functionRole)));
      const [settingsEnvironment] = d.aws.idsOfType("AWS::AppConfig::Environment");
      const monitorRole: string = d.aws.properties(settingsEnvironment as string).Monitors[0].AlarmRoleArn[
        "Fn::GetAtt"
      ][0];
      const expected: Record<string, string[]> = {
        [idOf(d, d.stack.timerScheduler.role)]: ["sqs:SendMessage"],
        [monitorRole]: ["cloudwatch:DescribeAlarms"],
      };
      const others = d.aws.idsOfType("AWS::IAM::Role").filter((id) => !functionRoles.has(id));
      expect(others.sort(), env).toEqual(Object.keys(expected).sort());
      for (const role of others) {
        const granted = identityPoliciesOf(d.aws, role).flatMap(({ policy }) =>
          [policy.Statement].flat().flatMap((st: { Action: string | string[] }) => [st.Action].flat()),
        );
        expect([...new Set(granted)].sort(), `${env} ${role}`).toEqual(expected[role]);
      }
    }
  });
});

describe("two environments deployed into one account", () => {
  /**
   * Every ARN of the deployed stack a request could name, concrete as AWS presents it (not the patterns the grants
   * use): each resource's own ARN, the table's indexes, a schedule of its group, a log stream of each log group,
   * the deliver mappings and the settings profile's configuration.
   */
  function requestArns(d: Deployed): string[] {
    const arns = new Set<string>();
    for (const [id, resource] of Object.entries(d.template.Resources)) {
      const ref = d.aws.resolve({ Ref: id });
      if (typeof ref === "string" && ref.startsWith("arn:")) arns.add(ref);
      let arn: string | undefined;
      try {
        arn = d.aws.resolve({ "Fn::GetAtt": [id, "Arn"] });
      } catch {
        // A type without an ARN attribute (a policy, a permission): nothing a request names.
      }
      if (arn === undefined) continue;
      if (resource.Type === "AWS::Logs::LogGroup") {
        arns.add(arn.replace(/:\*$/, ":log-stream:2026/12/04/[$LATEST]0123456789abcdef0123456789abcdef"));
      } else arns.add(arn);
      if (resource.Type === "AWS::DynamoDB::Table")
        for (const index of d.aws.properties(id).GlobalSecondaryIndexes ?? [])
          arns.add(`${arn}/index/${index.IndexName}`);
      if (resource.Type === "AWS::Scheduler::ScheduleGroup")
        arns.add(arn.replace(":schedule-group/", ":schedule/").concat("/01JTASKID"));
    }
    for (const topic of d.stack.topics) arns.add(d.aws.resolve(d.stack.resolve(topic.deliverMappingArn)));
    arns.add(d.aws.resolve(d.stack.resolve(d.stack.runtimeSettings.configurationArn)));
    return [...arns];
  }

  /** Each action a role's policies allow, on what it names (X-Ray's '*' aside: its actions name no resource). */
  const allowedActions = (d: Deployed, role: string): string[] => [
    ...new Set(
      identityPoliciesOf(d.aws, role).flatMap(({ policy }) =>
        ([policy.Statement].flat() as { Effect: string; Action: string | string[] }[])
          .filter((st) => st.Effect === "Allow")
          .flatMap((st) => [st.Action].flat())
          .filter((action) => !action.startsWith("xray:")),
      ),
    ),
  ];

  /**
   * The role's decision for the action on the ARN, or undefined when the ARN is no resource the action takes (an
   * event source mapping action on a function's ARN): the simulator refuses such a request, as AWS would never make it.
   */
  async function decisionOn(
    d: Deployed,
    role: string,
    action: string,
    arn: string,
    context: Record<string, string> | undefined,
  ): Promise<string | undefined> {
    try {
      return await roleMay(d.aws, role, action, arn, context ? { context } : {});
    } catch (error) {
      if (error instanceof Error && error.message.includes('"no.resource.types"')) return undefined;
      throw error;
    }
  }

  /**
   * The grants name the stack's own resources, so two environments in one account (CloudFormation names each
   * resource after its stack) are apart. "every resource a role's policies name" holds a grant to the stack's own
   * names and patterns, but a pattern wider than its own resources (`schedule/Punctual-dev*` for the group's
   * `schedule/Punctual-dev-<stack id>/*`) is one of them too. So it is evaluated here, with environment names one
   * the prefix of the other ("dev", "dev-2"): no role of the first stack may call any of its actions on any
   * resource of the second, which a prefix pattern of the first would reach.
   */
  it("no role of one may call any of its actions on a resource of the other", async () => {
    const [own, other] = [deploy(stackConfig("dev")), deploy({ ...stackConfig("dev"), name: "dev-2" })];
    expect([own.stack.stackName, other.stack.stackName, other.aws.account]).toEqual([
      "Punctual-dev",
      "Punctual-dev-2",
      own.aws.account,
    ]);
    const evaluated = new Set<string>();
    const foreign = requestArns(other);
    for (const role of own.aws.idsOfType("AWS::IAM::Role")) {
      for (const action of allowedActions(own, role)) {
        const service = action.split(":")[0] as string;
        const context =
          action === "iam:PassRole" ? { "iam:PassedToService": "scheduler.amazonaws.com" } : undefined;
        for (const arn of foreign.filter((a) => a.split(":")[2] === service)) {
          const decision = await decisionOn(own, role, action, arn, context);
          if (decision === undefined) continue;
          evaluated.add(service);
          expect(decision, `${own.stack.stackName} ${role} ${action} ${arn}`).toBe("ImplicitlyDenied");
        }
      }
    }
    // Not vacuous: each service the roles act on was asked about resources of the other stack.
    expect([...evaluated].sort()).toEqual(
      [
        "appconfig",
        "cloudwatch",
        "dynamodb",
        "iam",
        "lambda",
        "logs",
        "scheduler",
        "secretsmanager",
        "sqs",
      ].sort(),
    );
  });
});
