/**
 * CDK assertions on specific properties of the synthesized stacks (dev, prod, local), cdk-nag's AwsSolutions
 * pack, configuration errors at synth time, and one real offline esbuild bundling of every function.
 *
 * Most stacks are synthesized with bundling skipped (`aws:cdk:bundling-stacks: []`, the mechanism `cdk deploy
 * --exclusively` uses), which keeps this file fast; the "bundling" block proves real bundling works offline.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { App, type CfnElement, Token, Validations } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import type { IConstruct } from "constructs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addPunctualStack, addPunctualStackFromContext } from "#cdk/lib/app.js";
import { ESM_REQUIRE_BANNER, UNREACHED_CREDENTIAL_PROVIDERS } from "#cdk/lib/bundling.js";
import { PROJECT_ROOT } from "#cdk/lib/constructs/punctual-function.js";
import type { PunctualStack } from "#cdk/lib/punctual-stack.js";
import { STARTED_OVERTAKE_MARGIN_MS } from "#shared/adapters/task-store.js";
import {
  API_ROUTE_KEYS,
  API_ROUTES,
  type ApiRouteName,
  type ApiRouteRow,
  DEFAULT_ROUTE,
} from "#shared/api/routes.js";
import { ENVIRONMENTS } from "#shared/config/environments/index.js";
import { ConfigError, type PunctualConfig, parseConfig } from "#shared/config/index.js";
import { ENTRY_METADATA_KEY } from "#shared/contract/metadata.js";
import { METRIC, METRICS_NAMESPACE } from "#shared/domain/metrics.js";
import { ENV } from "#shared/runtime/env.js";
import {
  type CfnTemplateJson,
  deployedTemplate,
  evaluate,
  identityPoliciesOf,
  OTHER_ACCOUNT,
  roleArnOf,
  roleMay,
} from "../support/iam.js";
import { stackConfig } from "../support/stack-config.js";

/** The API's functions: one per route of the table, and the $default route's. */
const API_FUNCTION_COUNT = API_ROUTES.length + 1;
/** Besides the API's and one deliver function per topic: the relay, the sweeper, the schedule materializer and the topic settings validator. */
const PIPELINE_FUNCTION_COUNT = 4;
const routeKeysOfTable = () => ["$default", ...API_ROUTE_KEYS];

const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------------------
// Synthesis helpers
// ---------------------------------------------------------------------------------------------------------

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;
interface CfnResource {
  readonly Type: string;
  readonly Metadata?: Record<string, Json>;
  readonly Properties: Json;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}
interface Synth {
  readonly config: PunctualConfig;
  readonly stack: PunctualStack;
  readonly template: Template;
  readonly resources: Record<string, CfnResource>;
  readonly outputs: Record<string, Json>;
}

function synth(environment: string, options: { bundle?: boolean; outdir?: string } = {}): Synth {
  const app = new App({
    ...(options.outdir ? { outdir: options.outdir } : {}),
    context: { "aws:cdk:bundling-stacks": options.bundle ? ["**"] : [] },
  });
  const config = stackConfig(environment);
  const stack = addPunctualStack(app, config);
  // Template.fromStack synthesizes the app, which runs the cdk-nag plugin: a finding would throw right here.
  const template = Template.fromStack(stack);
  const json = template.toJSON();
  return { config, stack, template, resources: json.Resources, outputs: json.Outputs ?? {} };
}

function idOf(s: Synth, construct: IConstruct): string {
  return s.stack.getLogicalId((construct.node.defaultChild ?? construct) as CfnElement);
}
const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ "Fn::GetAtt": [id, "Arn"] });
const queueNameOf = (id: string) => ({ "Fn::GetAtt": [id, "QueueName"] });

function ofType(s: Synth, type: string): [string, CfnResource][] {
  return Object.entries(s.resources).filter(([, r]) => r.Type === type);
}

function resource(s: Synth, id: string): CfnResource {
  const r = s.resources[id];
  if (!r) throw new Error(`no resource ${id}`);
  return r;
}

/** Every statement of every inline policy attached to a role. */
function statementsOf(s: Synth, roleId: string): Json[] {
  return ofType(s, "AWS::IAM::Policy")
    .filter(([, p]) => (p.Properties.Roles as Json[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[]);
}
const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
function statementsWith(s: Synth, roleId: string, action: string): Json[] {
  return statementsOf(s, roleId).filter((st) => asArray(st.Action).includes(action));
}
function actionsOf(s: Synth, roleId: string): string[] {
  return statementsOf(s, roleId).flatMap((st) => asArray(st.Action as string | string[]));
}

/**
 * Renders a CloudFormation value with fake but well-formed physical values, the way CloudFormation would
 * resolve it (queue URLs, ARNs, names), so JSON environment variables can be parsed and handlers loaded.
 */
function render(s: Synth, value: Json): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value["Fn::Join"])) {
    const [sep, parts] = value["Fn::Join"] as [string, Json[]];
    return parts.map((p) => render(s, p)).join(sep);
  }
  if (Array.isArray(value["Fn::Select"])) {
    const [index, list] = value["Fn::Select"] as [number, Json];
    return String(render(s, list).split("\u0000")[index]);
  }
  if (Array.isArray(value["Fn::Split"])) {
    const [sep, source] = value["Fn::Split"] as [string, Json];
    return render(s, source).split(sep).join("\u0000");
  }
  const account = "123456789012";
  const region = "eu-west-1";
  if (typeof value.Ref === "string") {
    if (value.Ref === "AWS::Region") return region;
    if (value.Ref === "AWS::AccountId") return account;
    if (value.Ref === "AWS::Partition") return "aws";
    if (value.Ref === "AWS::StackId") {
      return `arn:aws:cloudformation:${region}:${account}:stack/${s.stack.stackName}/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`;
    }
    const r = resource(s, value.Ref);
    if (r.Type === "AWS::SQS::Queue") {
      return `https://sqs.${region}.amazonaws.com/${account}/${value.Ref}${r.Properties.FifoQueue ? ".fifo" : ""}`;
    }
    if (r.Type === "AWS::SecretsManager::Secret")
      return `arn:aws:secretsmanager:${region}:${account}:secret:${value.Ref}-AbCdEf`;
    return value.Ref;
  }
  if (Array.isArray(value["Fn::GetAtt"])) {
    const [id, attribute] = value["Fn::GetAtt"] as [string, string];
    const r = resource(s, id);
    if (r.Type === "AWS::SQS::Queue" && attribute === "Arn") {
      return `arn:aws:sqs:${region}:${account}:${id}${r.Properties.FifoQueue ? ".fifo" : ""}`;
    }
    if (r.Type === "AWS::IAM::Role") return `arn:aws:iam::${account}:role/${id}`;
    return `${id}.${attribute}`;
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

// ---------------------------------------------------------------------------------------------------------

let dev: Synth;
let prod: Synth;
let local: Synth;
beforeAll(() => {
  for (const name of ["dev", "prod", "local"] as const) {
    const s = synth(name);
    if (name === "dev") dev = s;
    else if (name === "prod") prod = s;
    else local = s;
  }
});

const all = () => [dev, prod, local];

describe("timer queues", () => {
  it("the timer queue is a standard queue redriving to a standard DLQ", () => {
    for (const s of all()) {
      const queue = resource(s, idOf(s, s.stack.timerQueues.queue));
      const dlqId = idOf(s, s.stack.timerQueues.deadLetterQueue);
      expect(queue.Properties.FifoQueue).toBeUndefined();
      expect(queue.Properties.RedrivePolicy.deadLetterTargetArn).toEqual(arnOf(dlqId));
      expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBeGreaterThanOrEqual(5);
      expect(resource(s, dlqId).Properties.FifoQueue).toBeUndefined();
    }
  });

  it("the schedule DLQ is a standard queue (Scheduler refuses FIFO DLQs)", () => {
    for (const s of all()) {
      const dlq = resource(s, idOf(s, s.stack.timerQueues.scheduleDeadLetterQueue));
      expect(dlq.Properties.FifoQueue).toBeUndefined();
      expect(dlq.Properties.RedrivePolicy).toBeUndefined();
    }
  });

  it("the relay consumes the timer queue with its environment's batch size and window (local: 10, no window)", () => {
    for (const s of all()) {
      const [mapping] = ofType(s, "AWS::Lambda::EventSourceMapping").filter(
        ([, m]) => m.Properties.FunctionName.Ref === idOf(s, s.stack.timerQueues.relayFunction),
      );
      const relay = s.config.eventSources.relay;
      expect(mapping?.[1].Properties).toMatchObject({
        EventSourceArn: arnOf(idOf(s, s.stack.timerQueues.queue)),
        BatchSize: relay.batchSize,
        MaximumBatchingWindowInSeconds: relay.maxBatchingWindowSeconds,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      });
    }
    const [localRelay] = ofType(local, "AWS::Lambda::EventSourceMapping").filter(
      ([, m]) => m.Properties.FunctionName.Ref === idOf(local, local.stack.timerQueues.relayFunction),
    );
    expect(localRelay?.[1].Properties).toMatchObject({ BatchSize: 10, MaximumBatchingWindowInSeconds: 0 });
    expect(localRelay?.[1].Properties.ProvisionedPollerConfig).toBeUndefined();
  });
});

describe("topic queues", () => {
  it("no FIFO queue in the stack, DLQs included, deduplicates on content: every send names its task id", () => {
    for (const s of all()) {
      const fifo = ofType(s, "AWS::SQS::Queue").filter(([, q]) => q.Properties.FifoQueue === true);
      expect(fifo.length).toBe(2 * s.stack.topics.length);
      for (const [id, queue] of fifo) expect(queue.Properties.ContentBasedDeduplication, id).toBe(false);
    }
  });

  it("every configured topic has a FIFO queue (content-based dedup off, explicit size) redriving to a FIFO DLQ", () => {
    for (const s of all()) {
      expect(s.stack.topics.map((t) => t.name).sort()).toEqual(Object.keys(s.config.resolvedTopics).sort());
      for (const topic of s.stack.topics) {
        const settings = s.config.resolvedTopics[topic.name];
        if (!settings) throw new Error(topic.name);
        const queue = resource(s, idOf(s, topic.queue)).Properties;
        const dlqId = idOf(s, topic.deadLetterQueue);
        expect(queue.FifoQueue).toBe(true);
        expect(queue.ContentBasedDeduplication).toBe(false);
        expect(queue.MaximumMessageSize).toBe(1_048_576);
        expect(queue.RedrivePolicy.deadLetterTargetArn).toEqual(arnOf(dlqId));
        // A backstop far above the attempts the deliver function counts itself.
        expect(queue.RedrivePolicy.maxReceiveCount).toBeGreaterThanOrEqual(10 * settings.maxAttempts);
        expect(resource(s, dlqId).Properties.FifoQueue).toBe(true);
      }
    }
  });

  it("topic queues keep a waiting message for SQS's maximum retention, and their DLQs at least as long", () => {
    // SQS MessageRetentionPeriod: 60–1,209,600 s (14 days). A near-term task waiting in a paused topic is carried by
    // its message alone (not in the sweep index by default), so the topic queue keeps it as long as SQS allows;
    // a FIFO message moved to its DLQ starts a new retention period there, so an equal DLQ retention suffices.
    const SQS_MAX_RETENTION_SECONDS = 1_209_600;
    for (const s of all()) {
      for (const topic of s.stack.topics) {
        const queue = resource(s, idOf(s, topic.queue)).Properties;
        const dlq = resource(s, idOf(s, topic.deadLetterQueue)).Properties;
        expect(queue.MessageRetentionPeriod, topic.name).toBe(SQS_MAX_RETENTION_SECONDS);
        expect(dlq.MessageRetentionPeriod, topic.name).toBeGreaterThanOrEqual(queue.MessageRetentionPeriod);
        expect(dlq.MessageRetentionPeriod, topic.name).toBeLessThanOrEqual(SQS_MAX_RETENTION_SECONDS);
      }
    }
  });

  it("a standard queue's dead-letter queue keeps messages longer than the queue itself, so a late move is not lost", () => {
    // SQS (Developer Guide, "Setting-up dead-letter queue retention"): a standard queue's message keeps its original
    // enqueue timestamp when it is moved to its DLQ and expires there at that timestamp plus the DLQ's retention; a
    // FIFO message's timestamp resets on the move (the topic queues, above). So a standard DLQ whose retention is not
    // longer than its source's drops a message that reached it late in its life at once, unseen by any alarm. Each
    // source and its DLQ are paired through the RedrivePolicy as deployed; an absent retention is SQS's default.
    const SQS_DEFAULT_RETENTION_SECONDS = 345_600;
    const retentionOf = (queue: Json): number =>
      queue.MessageRetentionPeriod ?? SQS_DEFAULT_RETENTION_SECONDS;
    for (const s of all()) {
      const standardSources = ofType(s, "AWS::SQS::Queue").filter(
        ([, q]) => q.Properties.RedrivePolicy && !q.Properties.FifoQueue,
      );
      expect(standardSources.map(([id]) => id)).toEqual([idOf(s, s.stack.timerQueues.queue)]);
      for (const [id, q] of standardSources) {
        const dlqId: string = q.Properties.RedrivePolicy.deadLetterTargetArn["Fn::GetAtt"][0];
        const dlq = resource(s, dlqId).Properties;
        expect(dlq.FifoQueue, dlqId).toBeUndefined();
        // What is left of a message moved at the last moment its source still held it.
        const leftInDeadLetterQueue = retentionOf(dlq) - retentionOf(q.Properties);
        expect(leftInDeadLetterQueue, `${s.config.name} ${id} → ${dlqId}`).toBeGreaterThan(0);
      }
    }
  });

  it("no queue, table, function, topic or role has a hard-coded physical name", () => {
    const nameProps = ["QueueName", "TableName", "FunctionName", "TopicName", "RoleName", "ApiName"];
    for (const s of all()) {
      for (const [id, r] of Object.entries(s.resources)) {
        // These name a function by Ref (FunctionName is how they point at it, not a physical name).
        const refersToFunction = [
          "AWS::Lambda::EventSourceMapping",
          "AWS::Lambda::Permission",
          "AWS::Lambda::EventInvokeConfig",
        ];
        if (refersToFunction.includes(r.Type)) continue;
        for (const prop of nameProps) expect(r.Properties?.[prop], `${id}.${prop}`).toBeUndefined();
      }
    }
  });

  it("every queue is encrypted and refuses requests without TLS", () => {
    for (const s of all()) {
      const queues = ofType(s, "AWS::SQS::Queue");
      expect(queues.length).toBe(3 + 2 * s.stack.topics.length);
      const policies = ofType(s, "AWS::SQS::QueuePolicy");
      for (const [id, q] of queues) {
        expect(q.Properties.SqsManagedSseEnabled, id).toBe(true);
        const denies = policies
          .filter(([, p]) => (p.Properties.Queues as Json[]).some((r) => r.Ref === id))
          .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[])
          .filter((st) => st.Effect === "Deny" && st.Condition?.Bool?.["aws:SecureTransport"] === "false");
        expect(denies.length, id).toBe(1);
      }
    }
  });
});

describe("event sources and functions", () => {
  it("every queue's visibility timeout is at least 6 x its consuming function's timeout", () => {
    for (const s of all()) {
      const mappings = ofType(s, "AWS::Lambda::EventSourceMapping");
      expect(mappings.length).toBe(1 + s.stack.topics.length);
      for (const [, m] of mappings) {
        const queue = resource(s, m.Properties.EventSourceArn["Fn::GetAtt"][0]);
        const fn = resource(s, m.Properties.FunctionName.Ref);
        expect(typeof fn.Properties.Timeout).toBe("number");
        expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Properties.Timeout);
      }
    }
  });

  it("every route that writes new tasks ends within the relay's overtake margin", () => {
    // The relay's group read goes on STARTED_OVERTAKE_MARGIN_MS below the group's latest started task: a task a
    // route acknowledges was written within the route's timeout of the clock its due time was floored at (the adds
    // give up a write CLEAN_UP_RESERVE_MS sooner, a move's successor may land at the very end), and 2 s more
    // covers a write in flight and clock skew.
    const writers = API_ROUTES.filter((route) =>
      ("store" in route ? (route.store as readonly string[]) : []).some((m) =>
        ["putNew", "putNewMany", "insertNewMany"].includes(m),
      ),
    );
    expect(writers.map((route) => route.routeKey)).toEqual(
      expect.arrayContaining(["POST /v1/tasks", "POST /v1/tasks/batch"]),
    );
    for (const s of all()) {
      for (const route of writers) {
        const [fn] = ofType(s, "AWS::Lambda::Function").filter(
          ([, f]) => f.Metadata?.[ENTRY_METADATA_KEY] === route.entry,
        );
        const timeoutMs = (fn?.[1].Properties.Timeout as number) * 1000;
        expect(timeoutMs + 2_000, route.routeKey).toBeLessThanOrEqual(STARTED_OVERTAKE_MARGIN_MS);
      }
    }
  });

  it("deliver event sources report batch item failures and use the topic's MaximumConcurrency, or prod's provisioned pollers", () => {
    for (const s of [dev, local]) {
      for (const topic of s.stack.topics) {
        const settings = s.config.resolvedTopics[topic.name];
        const [mapping] = ofType(s, "AWS::Lambda::EventSourceMapping").filter(
          ([, m]) => m.Properties.FunctionName.Ref === idOf(s, topic.deliverFunction),
        );
        expect(mapping?.[1].Properties).toMatchObject({
          EventSourceArn: arnOf(idOf(s, topic.queue)),
          BatchSize: 10,
          FunctionResponseTypes: ["ReportBatchItemFailures"],
          ScalingConfig: { MaximumConcurrency: settings?.maxConcurrency },
        });
        expect(mapping?.[1].Properties.ProvisionedPollerConfig).toBeUndefined();
      }
    }
    // prod: provisioned pollers on every topic, and no MaximumConcurrency (Lambda refuses the combination).
    for (const topic of prod.stack.topics) {
      const [mapping] = ofType(prod, "AWS::Lambda::EventSourceMapping").filter(
        ([, m]) => m.Properties.FunctionName.Ref === idOf(prod, topic.deliverFunction),
      );
      expect(mapping?.[1].Properties).toMatchObject({
        EventSourceArn: arnOf(idOf(prod, topic.queue)),
        BatchSize: 10,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        ProvisionedPollerConfig: { MinimumPollers: 30, MaximumPollers: 300 },
      });
      expect(mapping?.[1].Properties.ScalingConfig).toBeUndefined();
    }
  });

  it("every function is nodejs22.x on arm64 with active tracing, its own log group with retention and no reserved concurrency", () => {
    for (const s of all()) {
      const functions = ofType(s, "AWS::Lambda::Function");
      expect(functions.length).toBe(API_FUNCTION_COUNT + PIPELINE_FUNCTION_COUNT + s.stack.topics.length);
      for (const [id, fn] of functions) {
        const p = fn.Properties;
        expect(p.Runtime, id).toBe("nodejs22.x");
        expect(p.Architectures, id).toEqual(["arm64"]);
        expect(p.TracingConfig, id).toEqual({ Mode: "Active" });
        expect(p.Handler, id).toBe("index.handler");
        expect(p.MemorySize, id).toBeGreaterThanOrEqual(256);
        expect(p.MemorySize, id).toBeLessThanOrEqual(512);
        expect(p.ReservedConcurrentExecutions, id).toBeUndefined();
        const logGroup = resource(s, p.LoggingConfig.LogGroup.Ref);
        expect(logGroup.Type).toBe("AWS::Logs::LogGroup");
        expect(logGroup.Properties.RetentionInDays).toBeGreaterThan(0);
        // The local cloud runs the same handler from source, found through this metadata.
        const entry = String(fn.Metadata?.[ENTRY_METADATA_KEY]);
        expect(entry, id).toMatch(/^functions\/[a-z-]+\.ts$/);
        expect(existsSync(path.join(PROJECT_ROOT, entry)), id).toBe(true);
        // Roles of our own: no AWS managed policies (e.g. AWSLambdaBasicExecutionRole).
        const role = resource(s, p.Role["Fn::GetAtt"][0]);
        expect(role.Properties.ManagedPolicyArns, id).toBeUndefined();
      }
    }
  });

  it("every log group keeps its events for a retention CloudWatch Logs accepts (90 days where data is retained, else 7)", () => {
    // PutRetentionPolicy / AWS::Logs::LogGroup take only these values
    // (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html); the
    // stack casts a plain number to logs.RetentionDays (cdk/lib/sizing.ts), so nothing but this catches a 100.
    const ACCEPTED = [
      1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
    ];
    for (const s of all()) {
      const logGroups = ofType(s, "AWS::Logs::LogGroup");
      expect(logGroups.length).toBeGreaterThan(ofType(s, "AWS::Lambda::Function").length);
      for (const [id, group] of logGroups) {
        expect(ACCEPTED, id).toContain(group.Properties.RetentionInDays);
        expect(group.Properties.RetentionInDays, id).toBe(s.config.removalPolicy === "retain" ? 90 : 7);
      }
    }
  });

  it("every function gets exactly the environment variables of the contract", () => {
    const common = [
      ENV.environment,
      "POWERTOOLS_SERVICE_NAME",
      "POWERTOOLS_METRICS_NAMESPACE",
      "POWERTOOLS_LOG_LEVEL",
    ];
    for (const s of all()) {
      const { api, timerQueues, timerScheduler } = s.stack;
      const expected = new Map<IConstruct, readonly string[]>([
        [
          api.addTaskFunction,
          [
            ENV.tableName,
            ENV.timerQueueUrl,
            ENV.timerQueueArn,
            ENV.scheduleGroupName,
            ENV.schedulerRoleArn,
            ENV.scheduleDlqArn,
            ENV.topology,
          ],
        ],
        // get-task reads the runtime settings for a fan-out task's view (its retention): their route is in the topology.
        [api.getTaskFunction, [ENV.tableName, ENV.topology]],
        [api.cancelTaskFunction, [ENV.tableName, ENV.scheduleGroupName, ENV.topology]],
        [s.stack.runtimeSettings.validator, []],
        [timerQueues.relayFunction, [ENV.tableName, ENV.timerQueueUrl, ENV.topology]],
        [
          s.stack.sweeper.sweeperFunction,
          [ENV.tableName, ENV.timerQueueUrl, ENV.timerDlqUrl, ENV.scheduleDlqUrl, ENV.topology],
        ],
        ...s.stack.topics.map(
          (t) =>
            [
              t.deliverFunction,
              [ENV.tableName, ENV.topology, ENV.signingSecretArn, "UV_THREADPOOL_SIZE"],
            ] as const,
        ),
      ]);
      for (const [fn, names] of expected) {
        const vars = resource(s, idOf(s, fn)).Properties.Environment.Variables;
        expect(Object.keys(vars).sort()).toEqual([...common, ...names].sort());
        expect(vars).toMatchObject({
          [ENV.environment]: s.config.name,
          POWERTOOLS_SERVICE_NAME: `punctual-${s.config.name}`,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
          POWERTOOLS_LOG_LEVEL: s.config.logLevel,
          ...(names.includes(ENV.tableName) ? { [ENV.tableName]: ref(idOf(s, s.stack.table.table)) } : {}),
        });
      }

      // One libuv thread per group a batch runs side by side (each may be resolving a host) plus libuv's four.
      for (const topic of s.stack.topics) {
        const vars = resource(s, idOf(s, topic.deliverFunction)).Properties.Environment.Variables;
        expect(Number(vars.UV_THREADPOOL_SIZE)).toBeGreaterThanOrEqual(
          s.config.eventSources.deliver.batchSize + 4,
        );
        // libuv's ceiling (1,024): a larger value is silently clamped.
        expect(Number(vars.UV_THREADPOOL_SIZE)).toBeLessThanOrEqual(1024);
      }

      const add = resource(s, idOf(s, api.addTaskFunction)).Properties.Environment.Variables;
      expect(add[ENV.timerQueueUrl]).toEqual(ref(idOf(s, timerQueues.queue)));
      expect(add[ENV.timerQueueArn]).toEqual(arnOf(idOf(s, timerQueues.queue)));
      expect(add[ENV.schedulerRoleArn]).toEqual(arnOf(idOf(s, timerScheduler.role)));
      expect(add[ENV.scheduleDlqArn]).toEqual(arnOf(idOf(s, timerQueues.scheduleDeadLetterQueue)));
      expect(add[ENV.scheduleGroupName]).toEqual(s.stack.resolve(timerScheduler.group.scheduleGroupName));

      const relay = resource(s, idOf(s, timerQueues.relayFunction)).Properties.Environment.Variables;
      // Each topic's queue by name against one queue URL of the stack (the contract resolves it: topology.test.ts).
      expect(JSON.parse(render(s, relay[ENV.topology]))).toEqual({
        queueUrlBase: render(s, ref(idOf(s, s.stack.topics[0]?.queue as IConstruct))),
        topicQueues: Object.fromEntries(
          s.stack.topics.map((t) => [t.name, render(s, queueNameOf(idOf(s, t.queue)))]),
        ),
      });

      const settings = s.stack.runtimeSettings;
      const topicSettings = {
        applicationId: render(s, ref(idOf(s, settings.application))),
        environmentId: render(s, ref(idOf(s, settings.environment))),
        profileId: render(s, s.stack.resolve(settings.profile.configurationProfileId)),
      };
      for (const topic of s.stack.topics) {
        const vars = resource(s, idOf(s, topic.deliverFunction)).Properties.Environment.Variables;
        expect(JSON.parse(render(s, vars[ENV.topology]))).toEqual({
          deliveries: {
            [render(s, arnOf(idOf(s, topic.queue)))]: {
              topic: topic.name,
              queueUrl: render(s, ref(idOf(s, topic.queue))),
              dlqUrl: render(s, ref(idOf(s, topic.deadLetterQueue))),
            },
          },
          topicSettings,
        });
        expect(vars[ENV.signingSecretArn]).toEqual(ref(idOf(s, s.stack.signingSecret)));
      }
    }
  });

  it("deliver timeouts follow the topic's callback timeout", () => {
    for (const s of all()) {
      for (const topic of s.stack.topics) {
        const settings = s.config.resolvedTopics[topic.name];
        if (!settings) throw new Error(topic.name);
        const timeout = resource(s, idOf(s, topic.deliverFunction)).Properties.Timeout;
        // Room for at least three full callbacks per invocation, within Lambda's limit.
        expect(timeout).toBeGreaterThanOrEqual(3 * settings.callbackTimeoutSeconds);
        expect(timeout).toBeLessThanOrEqual(900);
      }
    }
  });
});

describe("task table", () => {
  it("is on-demand with pk/sk strings, TTL on expiresAt and server-side encryption", () => {
    for (const s of all()) {
      const table = resource(s, idOf(s, s.stack.table.table)).Properties;
      expect(table.BillingMode).toBe("PAY_PER_REQUEST");
      expect(table.KeySchema).toEqual([
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ]);
      expect(table.AttributeDefinitions).toEqual([
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
        { AttributeName: "sweepShard", AttributeType: "N" },
        { AttributeName: "dueAtMs", AttributeType: "N" },
        { AttributeName: "failedTopic", AttributeType: "S" },
        { AttributeName: "failedAtMs", AttributeType: "N" },
        { AttributeName: "scheduleShard", AttributeType: "N" },
        { AttributeName: "materializeAtMs", AttributeType: "N" },
      ]);
      expect(table.TimeToLiveSpecification).toEqual({ AttributeName: "expiresAt", Enabled: true });
      expect(table.SSESpecification).toEqual({ SSEEnabled: true });
      // Three sparse indexes: the sweep index (test/cdk/sweeper.test.ts), the failed index (failed-index.test.ts)
      // and the schedule index (schedule-materializer.test.ts).
      expect(table.GlobalSecondaryIndexes.map((i: Json) => i.IndexName)).toEqual([
        "unfinished-by-due",
        "failed-by-topic",
        "active-schedules-by-next",
      ]);
    }
  });

  it("prod keeps its data: point-in-time recovery, deletion protection, DeletionPolicy Retain", () => {
    const table = resource(prod, idOf(prod, prod.stack.table.table));
    expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    expect(table.DeletionPolicy).toBe("Retain");
    expect(table.UpdateReplacePolicy).toBe("Retain");
  });

  it("dev is disposable: no point-in-time recovery, deleted with the stack", () => {
    const table = resource(dev, idOf(dev, dev.stack.table.table));
    expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: false });
    expect(table.Properties.DeletionProtectionEnabled).toBe(false);
    expect(table.DeletionPolicy).toBe("Delete");
  });
});

describe("IAM", () => {
  it("the scheduler role trusts only EventBridge Scheduler of this account's group and may only send to the timer queue (and the schedule DLQ)", () => {
    for (const s of all()) {
      const { timerScheduler, timerQueues } = s.stack;
      const roleId = idOf(s, timerScheduler.role);
      const role = resource(s, roleId).Properties;
      expect(role.AssumeRolePolicyDocument.Statement).toEqual([
        {
          Action: "sts:AssumeRole",
          Effect: "Allow",
          Principal: { Service: "scheduler.amazonaws.com" },
          Condition: {
            StringEquals: {
              // The local environment names its account (000000000000); the others deploy where the CLI says.
              "aws:SourceAccount": s.stack.resolve(s.stack.account),
              "aws:SourceArn": arnOf(idOf(s, timerScheduler.group)),
            },
          },
        },
      ]);
      expect(role.ManagedPolicyArns).toBeUndefined();
      expect(role.Policies).toBeUndefined();
      const statements = statementsOf(s, roleId);
      expect(statements).toHaveLength(1);
      expect(statements[0]).toMatchObject({
        Effect: "Allow",
        Action: "sqs:SendMessage",
        Resource: [arnOf(idOf(s, timerQueues.queue)), arnOf(idOf(s, timerQueues.scheduleDeadLetterQueue))],
      });
    }
  });

  /**
   * Evaluates `action` for a role on a schedule of the stack's own group, of another group and of another
   * account's group of the same name (test/support/iam.ts): the group's name is only known once deployed.
   */
  async function scheduleAccess(s: Synth, roleId: string, action: string) {
    const aws = deployedTemplate(s.template.toJSON() as CfnTemplateJson, {
      stackName: s.stack.stackName,
      ...(Token.isUnresolved(s.stack.account) ? {} : { account: s.stack.account }),
    });
    const group = aws.resolve({ Ref: idOf(s, s.stack.timerScheduler.group) });
    const schedule = (account: string, groupName: string) =>
      `arn:aws:scheduler:${aws.region}:${account}:schedule/${groupName}/01JTASKID`;
    return {
      own: await roleMay(aws, roleId, action, schedule(aws.account, group)),
      otherGroup: await roleMay(aws, roleId, action, schedule(aws.account, "default")),
      otherAccount: await evaluate({
        principal: roleArnOf(aws, roleId),
        action,
        resource: schedule(OTHER_ACCOUNT, group),
        resourceAccount: OTHER_ACCOUNT,
        identityPolicies: identityPoliciesOf(aws, roleId),
      }),
    };
  }
  const ONLY_OWN_GROUP = { own: "Allowed", otherGroup: "ImplicitlyDenied", otherAccount: "ImplicitlyDenied" };
  const NOWHERE = {
    own: "ImplicitlyDenied",
    otherGroup: "ImplicitlyDenied",
    otherAccount: "ImplicitlyDenied",
  };

  it("add-task and add-tasks-batch may create (never delete) schedules only in their group and pass only the scheduler role, to Scheduler only, and send only to the timer queue", async () => {
    for (const s of all()) {
      for (const name of ["add-task", "add-tasks-batch"] as const) {
        const roleId = idOf(s, s.stack.api.functions[name].functionRole);
        const create = statementsWith(s, roleId, "scheduler:CreateSchedule");
        expect(create).toHaveLength(1);
        expect(await scheduleAccess(s, roleId, "scheduler:CreateSchedule")).toEqual(ONLY_OWN_GROUP);
        // A create's ConflictException is confirmed by reading the schedule back (shared/adapters/task-scheduler.ts).
        expect(await scheduleAccess(s, roleId, "scheduler:GetSchedule")).toEqual(ONLY_OWN_GROUP);
        // The add path never deletes a schedule: it may not remove another task's timer.
        expect(await scheduleAccess(s, roleId, "scheduler:DeleteSchedule")).toEqual(NOWHERE);
        const pass = statementsWith(s, roleId, "iam:PassRole");
        expect(pass).toHaveLength(1);
        expect(pass[0].Resource).toEqual(arnOf(idOf(s, s.stack.timerScheduler.role)));
        expect(pass[0].Condition).toEqual({
          StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" },
        });
        expect(
          actionsOf(s, roleId)
            .filter((a) => a.startsWith("scheduler:"))
            .sort(),
        ).toEqual(["scheduler:CreateSchedule", "scheduler:GetSchedule"]);
        expect(statementsWith(s, roleId, "sqs:SendMessage").map((st) => st.Resource)).toEqual([
          arnOf(idOf(s, s.stack.timerQueues.queue)),
        ]);
      }
    }
  });

  it("reschedule-task and run-task arm and delete schedules only in their group, pass only the scheduler role, send only to the timer queue", async () => {
    for (const s of all()) {
      for (const name of ["reschedule-task", "run-task"] as const) {
        const roleId = idOf(s, s.stack.api.functions[name].functionRole);
        expect(await scheduleAccess(s, roleId, "scheduler:CreateSchedule")).toEqual(ONLY_OWN_GROUP);
        expect(await scheduleAccess(s, roleId, "scheduler:DeleteSchedule")).toEqual(ONLY_OWN_GROUP);
        const pass = statementsWith(s, roleId, "iam:PassRole");
        expect(pass.map((st) => st.Resource)).toEqual([arnOf(idOf(s, s.stack.timerScheduler.role))]);
        expect(pass[0].Condition).toEqual({
          StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" },
        });
        const actions = actionsOf(s, roleId);
        expect([...new Set(actions.filter((a) => a.startsWith("scheduler:")))].sort()).toEqual([
          "scheduler:CreateSchedule",
          "scheduler:DeleteSchedule",
          "scheduler:GetSchedule",
        ]);
        expect(statementsWith(s, roleId, "sqs:SendMessage").map((st) => st.Resource)).toEqual([
          arnOf(idOf(s, s.stack.timerQueues.queue)),
        ]);
        expect(actions.filter((a) => a.startsWith("dynamodb:")).sort()).toEqual([
          "dynamodb:GetItem",
          "dynamodb:PutItem",
          "dynamodb:UpdateItem",
        ]);
      }
    }
  });

  // Issue 14, point 4: the schedule routes and the materializer add occurrences as add-task does.
  it("create-schedule, resume-schedule and the schedule materializer arm like add-task: own group, scheduler role, timer queue", async () => {
    for (const s of all()) {
      const roleIds = [
        idOf(s, s.stack.api.functions["create-schedule"].functionRole),
        idOf(s, s.stack.api.functions["resume-schedule"].functionRole),
        idOf(s, s.stack.scheduleMaterializer.materializerFunction.functionRole),
      ];
      for (const roleId of roleIds) {
        expect(await scheduleAccess(s, roleId, "scheduler:CreateSchedule"), roleId).toEqual(ONLY_OWN_GROUP);
        expect(await scheduleAccess(s, roleId, "scheduler:DeleteSchedule"), roleId).toEqual(ONLY_OWN_GROUP);
        const pass = statementsWith(s, roleId, "iam:PassRole");
        expect(pass.map((st) => st.Resource)).toEqual([arnOf(idOf(s, s.stack.timerScheduler.role))]);
        expect(pass[0].Condition).toEqual({
          StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" },
        });
        expect(statementsWith(s, roleId, "sqs:SendMessage").map((st) => st.Resource)).toEqual([
          arnOf(idOf(s, s.stack.timerQueues.queue)),
        ]);
      }
    }
  });

  it("pause-schedule and delete-schedule may only delete schedules of their group, and send nothing", async () => {
    for (const s of all()) {
      for (const name of ["pause-schedule", "delete-schedule"] as const) {
        const roleId = idOf(s, s.stack.api.functions[name].functionRole);
        const actions = actionsOf(s, roleId);
        expect(actions.filter((a) => a.startsWith("scheduler:") || a.startsWith("iam:"))).toEqual([
          "scheduler:DeleteSchedule",
        ]);
        expect(await scheduleAccess(s, roleId, "scheduler:DeleteSchedule")).toEqual(ONLY_OWN_GROUP);
        expect(actions.some((a) => a.startsWith("sqs:"))).toBe(false);
      }
    }
  });

  it("cancel-group may only delete schedules of its group, and reads only the group partition's table", async () => {
    for (const s of all()) {
      const roleId = idOf(s, s.stack.api.functions["cancel-group"].functionRole);
      const actions = actionsOf(s, roleId);
      expect(actions.filter((a) => a.startsWith("scheduler:") || a.startsWith("iam:"))).toEqual([
        "scheduler:DeleteSchedule",
      ]);
      expect(await scheduleAccess(s, roleId, "scheduler:DeleteSchedule")).toEqual(ONLY_OWN_GROUP);
      // PutItem: the successor of a listed move stopped part-way, written `cancelled` (cancel-task.ts, fenceSuccessor).
      expect(actions.filter((a) => a.startsWith("dynamodb:")).sort()).toEqual([
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
      ]);
      expect(actions.some((a) => a.startsWith("sqs:"))).toBe(false);
    }
  });

  it("cancel-task may only delete schedules of its group; get-task only reads the table", async () => {
    for (const s of all()) {
      const cancelRole = idOf(s, s.stack.api.cancelTaskFunction.functionRole);
      expect(
        actionsOf(s, cancelRole).filter((a) => a.startsWith("scheduler:") || a.startsWith("iam:")),
      ).toEqual(["scheduler:DeleteSchedule"]);
      expect(await scheduleAccess(s, cancelRole, "scheduler:DeleteSchedule")).toEqual(ONLY_OWN_GROUP);

      const getRole = idOf(s, s.stack.api.getTaskFunction.functionRole);
      const getActions = actionsOf(s, getRole);
      expect(getActions.filter((a) => a.startsWith("dynamodb:")).sort()).toEqual(["dynamodb:GetItem"]);
      expect(getActions.some((a) => a.startsWith("sqs:") || a.startsWith("scheduler:"))).toBe(false);
    }
  });

  it("only the functions that arm schedules (add, reschedule, run, schedules) may pass a role, and nothing is granted '*' actions", () => {
    for (const s of all()) {
      const armingRoles = (
        [
          "add-task",
          "add-tasks-batch",
          "reschedule-task",
          "run-task",
          "create-schedule",
          "resume-schedule",
        ] as const
      )
        .map((name) => ref(idOf(s, s.stack.api.functions[name].functionRole)))
        .concat(ref(idOf(s, s.stack.scheduleMaterializer.materializerFunction.functionRole)));
      for (const [id, policy] of ofType(s, "AWS::IAM::Policy")) {
        for (const st of policy.Properties.PolicyDocument.Statement as Json[]) {
          const actions = asArray(st.Action as string | string[]);
          expect(
            actions.some((a) => a.endsWith("*")),
            id,
          ).toBe(false);
          if (actions.includes("iam:PassRole")) {
            expect(policy.Properties.Roles).toHaveLength(1);
            expect(armingRoles).toContainEqual(policy.Properties.Roles[0]);
          }
        }
      }
    }
  });

  it("a deliver function touches only its own queue and DLQ, the table and the signing secret", () => {
    for (const s of all()) {
      for (const topic of s.stack.topics) {
        const roleId = idOf(s, topic.deliverFunction.functionRole);
        const statements = statementsOf(s, roleId);
        const sqsResources = statements
          .filter((st) => asArray(st.Action as string | string[]).some((a) => a.startsWith("sqs:")))
          .flatMap((st) => asArray(st.Resource));
        expect(new Set(sqsResources.map((r) => JSON.stringify(r)))).toEqual(
          new Set([
            JSON.stringify(arnOf(idOf(s, topic.queue))),
            JSON.stringify(arnOf(idOf(s, topic.deadLetterQueue))),
          ]),
        );
        const consume = statementsWith(s, roleId, "sqs:ReceiveMessage");
        expect(consume.map((st) => st.Resource)).toEqual([arnOf(idOf(s, topic.queue))]);
        expect(asArray(consume[0].Action)).toContain("sqs:ChangeMessageVisibility");
        const send = statementsWith(s, roleId, "sqs:SendMessage");
        expect(send.map((st) => st.Resource)).toEqual([arnOf(idOf(s, topic.deadLetterQueue))]);
        expect(statementsWith(s, roleId, "secretsmanager:GetSecretValue").map((st) => st.Resource)).toEqual([
          ref(idOf(s, s.stack.signingSecret)),
        ]);
        expect(statementsWith(s, roleId, "dynamodb:UpdateItem").map((st) => st.Resource)).toEqual([
          arnOf(idOf(s, s.stack.table.table)),
        ]);
      }
    }
  });

  it("the relay consumes the timer queue and sends only to the timer queue and the topic queues", () => {
    for (const s of all()) {
      const roleId = idOf(s, s.stack.timerQueues.relayFunction.functionRole);
      const send = statementsWith(s, roleId, "sqs:SendMessage").map((st) => JSON.stringify(st.Resource));
      const expected = [s.stack.timerQueues.queue, ...s.stack.topics.map((t) => t.queue)].map((q) =>
        JSON.stringify(arnOf(idOf(s, q))),
      );
      expect(send.sort()).toEqual(expected.sort());
      expect(statementsWith(s, roleId, "sqs:ReceiveMessage").map((st) => st.Resource)).toEqual([
        arnOf(idOf(s, s.stack.timerQueues.queue)),
      ]);
    }
  });
});

describe("alarms", () => {
  it("every alarm notifies the one SNS alarm topic, on ALARM and on OK", () => {
    for (const s of all()) {
      const topicRef = ref(idOf(s, s.stack.alarms.topic));
      expect(ofType(s, "AWS::SNS::Topic")).toHaveLength(1);
      const alarms = ofType(s, "AWS::CloudWatch::Alarm");
      expect(alarms.length).toBeGreaterThan(10);
      for (const [id, alarm] of alarms) {
        expect(alarm.Properties.AlarmActions, id).toEqual([topicRef]);
        expect(alarm.Properties.OKActions, id).toEqual([topicRef]);
        expect(typeof alarm.Properties.AlarmDescription, id).toBe("string");
      }
    }
  });

  /** The alarms on a queue's visible + in-flight messages (the dead-letter queues'). */
  function queueCountAlarms(s: Synth): Json[] {
    return ofType(s, "AWS::CloudWatch::Alarm")
      .map(([, a]) => a.Properties)
      .filter((p) =>
        (p.Metrics as Json[] | undefined)?.some(
          (m) => m.Expression === "FILL(visible, 0) + FILL(inFlight, 0)",
        ),
      );
  }

  function alarmsOn(s: Synth, metricName: string): Json[] {
    return ofType(s, "AWS::CloudWatch::Alarm")
      .map(([, a]) => a.Properties)
      .filter((p) => p.MetricName === metricName);
  }

  it("per topic: DLQ not empty, backlog age, lateness p99 and callback latency p99 over the configured thresholds", () => {
    for (const s of all()) {
      for (const topic of s.stack.topics) {
        const settings = s.config.resolvedTopics[topic.name];
        if (!settings) throw new Error(topic.name);
        const dims = [
          { Name: "Topic", Value: topic.name },
          { Name: "service", Value: `punctual-${s.config.name}` },
        ];
        const lateness = alarmsOn(s, METRIC.lateness).filter((a) =>
          a.Dimensions.some((d: Json) => d.Value === topic.name),
        );
        expect(lateness).toHaveLength(1);
        expect(lateness[0]).toMatchObject({
          Namespace: "Punctual",
          ExtendedStatistic: "p99",
          Threshold: settings.alarms.latenessP99Seconds * 1000,
          ComparisonOperator: "GreaterThanThreshold",
        });
        expect(lateness[0].Dimensions).toEqual(dims);
        const latency = alarmsOn(s, METRIC.callbackLatency).filter((a) =>
          a.Dimensions.some((d: Json) => d.Value === topic.name),
        );
        expect(latency[0]).toMatchObject({
          ExtendedStatistic: "p99",
          Threshold: settings.alarms.callbackLatencyP99Seconds * 1000,
        });
        const queueName = (q: IConstruct) => ({ "Fn::GetAtt": [idOf(s, q), "QueueName"] });
        // Visible and in-flight together: the sweeper reads a topic DLQ through each run, hiding what it reads
        // until the run ends, so a queue holding only failed messages can show none visible for a minute.
        const dlq = queueCountAlarms(s).filter((a) =>
          (a.Metrics as Json[]).every(
            (m) =>
              m.Expression !== undefined ||
              JSON.stringify(m.MetricStat.Metric.Dimensions[0].Value) ===
                JSON.stringify(queueName(topic.deadLetterQueue)),
          ),
        );
        expect(dlq).toHaveLength(1);
        expect(dlq[0]).toMatchObject({
          Threshold: 1,
          EvaluationPeriods: 1,
          ComparisonOperator: "GreaterThanOrEqualToThreshold",
        });
        expect(
          (dlq[0].Metrics as Json[])
            .filter((m) => m.MetricStat)
            .map((m) => m.MetricStat.Metric.MetricName)
            .sort(),
        ).toEqual(["ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesVisible"]);
        const backlog = alarmsOn(s, "ApproximateAgeOfOldestMessage").filter(
          (a) => JSON.stringify(a.Dimensions[0].Value) === JSON.stringify(queueName(topic.queue)),
        );
        expect(backlog[0]).toMatchObject({ Threshold: settings.alarms.backlogAgeSeconds });
      }
    }
  });

  it("errors and throttles of every function, DLQs, Scheduler target errors and drops, and API 5xx", () => {
    for (const s of all()) {
      const functionIds = ofType(s, "AWS::Lambda::Function").map(([id]) => id);
      for (const metric of ["Errors", "Throttles"]) {
        const watched = alarmsOn(s, metric).map((a) => a.Dimensions[0].Value.Ref);
        // An expression alarm on the function's metric counts too (the settings validator's errors less its refusals)
        const inExpressions = ofType(s, "AWS::CloudWatch::Alarm")
          .flatMap(([, a]) => a.Properties.Metrics ?? [])
          .map((m: Json) => m.MetricStat?.Metric)
          .filter((m: Json) => m?.MetricName === metric && m.Namespace === "AWS/Lambda")
          .map((m: Json) => m.Dimensions[0].Value.Ref);
        expect([...watched, ...inExpressions].sort()).toEqual([...functionIds].sort());
      }
      // Topic DLQs alarm on any message; the timer and schedule DLQs, which the sweeper drains, on a message
      // it could not resolve within three runs (test/cdk/sweeper.test.ts).
      expect(alarmsOn(s, "ApproximateNumberOfMessagesVisible")).toEqual([]);
      const counts = queueCountAlarms(s);
      expect(counts).toHaveLength(s.stack.topics.length + 2);
      expect(counts.filter((a) => a.EvaluationPeriods > 1)).toHaveLength(2);
      const group = s.stack.resolve(s.stack.timerScheduler.group.scheduleGroupName);
      for (const metric of ["TargetErrorCount", "InvocationDroppedCount"]) {
        const [alarm] = alarmsOn(s, metric);
        expect(alarm).toMatchObject({
          Namespace: "AWS/Scheduler",
          Dimensions: [{ Name: "ScheduleGroup", Value: group }],
        });
      }
      expect(alarmsOn(s, "5xx")).toEqual([
        expect.objectContaining({
          Namespace: "AWS/ApiGateway",
          Dimensions: [{ Name: "ApiId", Value: ref(idOf(s, s.stack.api.httpApi)) }],
        }),
      ]);
    }
  });

  it("the alarm topic is KMS-encrypted with a rotating key CloudWatch may use, TLS-only, with the configured subscribers", () => {
    for (const s of all()) {
      const keyId = idOf(s, s.stack.alarms.key);
      const topic = resource(s, idOf(s, s.stack.alarms.topic));
      expect(topic.Properties.KmsMasterKeyId).toEqual(arnOf(keyId));
      const key = resource(s, keyId).Properties;
      expect(key.EnableKeyRotation).toBe(true);
      expect(key.KeyPolicy.Statement).toContainEqual(
        expect.objectContaining({
          Principal: { Service: "cloudwatch.amazonaws.com" },
          Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
        }),
      );
      const [[, policy] = []] = ofType(s, "AWS::SNS::TopicPolicy");
      const statements = policy?.Properties.PolicyDocument.Statement as Json[];
      expect(statements).toContainEqual(
        expect.objectContaining({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
      );
      expect(statements).toContainEqual(
        expect.objectContaining({ Effect: "Allow", Principal: { Service: "cloudwatch.amazonaws.com" } }),
      );
      const subscriptions = ofType(s, "AWS::SNS::Subscription").map(([, sub]) => [
        sub.Properties.Protocol,
        sub.Properties.Endpoint,
      ]);
      expect(subscriptions).toEqual([
        ...s.config.alarmSubscribers.emails.map((e) => ["email", e]),
        ...s.config.alarmSubscribers.httpsUrls.map((u) => ["https", u]),
      ]);
    }
    expect(prod.config.alarmSubscribers.emails).toEqual(["oncall@punctual.test"]);
  });
});

describe("task API", () => {
  // The route table is the source of truth: every row (and API Gateway's $default) must be a route of the stack.
  const routeKeys = ["$default", ...API_ROUTE_KEYS].sort();

  function routes(s: Synth): Record<string, Json> {
    return Object.fromEntries(
      ofType(s, "AWS::ApiGatewayV2::Route").map(([, r]) => [r.Properties.RouteKey, r.Properties]),
    );
  }

  it("routes each operation to its own function with IAM authorization in dev and prod", () => {
    for (const s of [dev, prod]) {
      const r = routes(s);
      expect(Object.keys(r).sort()).toEqual(routeKeys);
      for (const key of routeKeys) expect(r[key]?.AuthorizationType, key).toBe("AWS_IAM");
      const integrations = ofType(s, "AWS::ApiGatewayV2::Integration").map(
        ([, i]) => i.Properties.IntegrationUri,
      );
      expect(new Set(integrations.map((i) => JSON.stringify(i)))).toEqual(
        new Set(Object.values(s.stack.api.functions).map((f) => JSON.stringify(arnOf(idOf(s, f))))),
      );
    }
  });

  it("hands every route's function payload format 2.0, the event its handler and the local API server read", () => {
    // 1.0 would keep a repeated header's or query key's last value and carry no rawQueryString: the guards against
    // API Gateway's comma-joined duplicates (docs/API.md, "As API Gateway presents a request") would see nothing.
    for (const s of [dev, prod]) {
      const integrations = ofType(s, "AWS::ApiGatewayV2::Integration");
      expect(integrations.length).toBe(Object.keys(routes(s)).length);
      for (const [id, i] of integrations) {
        expect(i.Properties.IntegrationType, id).toBe("AWS_PROXY");
        expect(i.Properties.PayloadFormatVersion, id).toBe("2.0");
      }
    }
  });

  it("uses a JWT authorizer with the configured issuer and audience when config.api.auth is jwt", () => {
    // Prepare
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const config = parseConfig({
      name: "jwtenv",
      api: { auth: { type: "jwt", issuer: "https://issuer.example.com/", audience: ["punctual-api"] } },
      topics: { orders: { deliverBy: "order_id" } },
    });

    // Act
    const template = Template.fromStack(addPunctualStack(app, config)).toJSON();

    // Assess
    const resources = Object.values(template.Resources) as CfnResource[];
    const authorizers = resources.filter((r) => r.Type === "AWS::ApiGatewayV2::Authorizer");
    expect(authorizers).toHaveLength(1);
    expect(authorizers[0]?.Properties).toMatchObject({
      AuthorizerType: "JWT",
      JwtConfiguration: { Issuer: "https://issuer.example.com/", Audience: ["punctual-api"] },
    });
    const routeAuth = resources
      .filter((r) => r.Type === "AWS::ApiGatewayV2::Route")
      .map((r) => r.Properties.AuthorizationType);
    expect(routeAuth).toEqual(routeKeysOfTable().map(() => "JWT"));
  });

  it("sends every unmatched request to the unmatched-route function, which knows the other route keys", () => {
    for (const s of all()) {
      const r = routes(s);
      const integrationId = (r.$default.Target["Fn::Join"][1] as Json[]).find((p) => p.Ref)?.Ref;
      expect(resource(s, integrationId).Properties.IntegrationUri).toEqual(
        arnOf(idOf(s, s.stack.api.unmatchedRouteFunction)),
      );
      // It needs no variable beyond the common ones: the route keys are imported from the route table
      // (shared/api/routes.ts), which are exactly the template's routes.
      const fn = resource(s, idOf(s, s.stack.api.unmatchedRouteFunction)).Properties;
      expect(Object.keys(fn.Environment.Variables).sort()).toEqual(
        [
          ENV.environment,
          "POWERTOOLS_LOG_LEVEL",
          "POWERTOOLS_METRICS_NAMESPACE",
          "POWERTOOLS_SERVICE_NAME",
        ].sort(),
      );
      expect([...API_ROUTE_KEYS].sort()).toEqual(routeKeys.filter((k) => k !== "$default"));
    }
  });

  it("has no authorization only in the local environment", () => {
    const r = routes(local);
    expect(Object.keys(r).sort()).toEqual(routeKeys);
    for (const key of routeKeys) expect(r[key]?.AuthorizationType, key).toBe("NONE");
  });

  it("the $default stage throttles and writes JSON access logs to a log group", () => {
    for (const s of all()) {
      const [[, stage] = []] = ofType(s, "AWS::ApiGatewayV2::Stage");
      expect(stage?.Properties).toMatchObject({ StageName: "$default", AutoDeploy: true });
      expect(stage?.Properties.DefaultRouteSettings.ThrottlingRateLimit).toBeGreaterThan(0);
      expect(stage?.Properties.DefaultRouteSettings.ThrottlingBurstLimit).toBeGreaterThan(0);
      expect(stage?.Properties.AccessLogSettings.DestinationArn).toEqual(
        arnOf(idOf(s, s.stack.api.accessLogs)),
      );
      expect(JSON.parse(stage?.Properties.AccessLogSettings.Format)).toMatchObject({
        requestId: "$context.requestId",
        status: "$context.status",
      });
    }
  });

  it("outputs the API URL, the signing secret ARN, the alarm topic, the dashboard's name and the topic settings' AppConfig ids", () => {
    for (const s of all()) {
      expect(Object.keys(s.outputs).sort()).toEqual([
        "AlarmTopicArn",
        "ApiUrl",
        "DashboardName",
        "SigningSecretArn",
        "TopicSettingsApplicationId",
        "TopicSettingsDeploymentStrategyId",
        "TopicSettingsEnvironmentId",
        "TopicSettingsProfileId",
      ]);
      expect(s.outputs.TopicSettingsProfileId.Value).toEqual(
        s.stack.resolve(s.stack.runtimeSettings.profile.configurationProfileId),
      );
      expect(s.outputs.DashboardName.Value).toEqual({ Ref: idOf(s, s.stack.dashboard.dashboard) });
      const secret = resource(s, idOf(s, s.stack.signingSecret)).Properties;
      expect(secret.GenerateSecretString).toMatchObject({ PasswordLength: 44, ExcludePunctuation: true });
    }
  });
});

describe("cdk-nag AwsSolutions", () => {
  it("reports no unacknowledged findings for dev, prod and local", () => {
    for (const s of all()) {
      const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(s.stack);
      expect(
        report.violations.map(
          (v) => `${v.ruleName} @ ${v.violatingResources.map((r) => r.constructPath).join(", ")}`,
        ),
      ).toEqual([]);
      expect(report.success).toBe(true);
    }
  });

  it("stays clean with a concrete account and region, as `cdk synth` resolves them", () => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const config = { ...stackConfig("prod"), account: "123456789012", region: "eu-west-1" };
    const stack = addPunctualStack(app, config);
    expect(stack.region).toBe("eu-west-1");
    const report = new AwsSolutionsChecks(undefined).validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
    expect(() => app.synth()).not.toThrow();
  });

  it("acknowledges findings only on specific resources, each with a written reason", () => {
    for (const s of all()) {
      expect(
        s.stack.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY),
      ).toEqual([]);
      const acknowledged = s.stack.node
        .findAll()
        .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
        .flatMap((m) => Object.entries(m.data as Record<string, string>));
      expect(acknowledged.length).toBeGreaterThan(0);
      for (const [id, reason] of acknowledged) {
        expect(id).toMatch(/AwsSolutions-[A-Z0-9]+/);
        expect(reason.length, id).toBeGreaterThan(60);
      }
      // Wildcard acknowledgements name the exact finding, never the whole IAM5 rule.
      expect(acknowledged.filter(([id]) => /AwsSolutions-IAM5$/.test(id))).toEqual([]);
    }
  });
});

describe("configuration errors fail synth", () => {
  it("names the environment, the topic and the field", () => {
    const base = ENVIRONMENTS.dev;
    if (!base) throw new Error("dev");
    const app = new App({ context: { env: "dev" } });
    const broken = () =>
      addPunctualStackFromContext(app, () =>
        parseConfig({
          ...base,
          topics: { ...base.topics, orders: { deliverBy: "order_id", maxConcurrency: 1 } },
        }),
      );
    expect(broken).toThrow(ConfigError);
    expect(broken).toThrow(/environment "dev"[\s\S]*topic "orders", field "maxConcurrency"/);
  });

  it("refuses an unauthenticated API outside the local environment", () => {
    const base = ENVIRONMENTS.dev;
    if (!base) throw new Error("dev");
    const app = new App({ context: { env: "dev", "aws:cdk:bundling-stacks": [] } });
    expect(() =>
      addPunctualStackFromContext(app, () => parseConfig({ ...base, api: { auth: { type: "none" } } })),
    ).toThrow(/environment "dev"[\s\S]*field "api.auth.type"/);
  });

  it("asks for -c env=<name> and lists the known environments", () => {
    expect(() => addPunctualStackFromContext(new App())).toThrow(
      /-c env=<name>; known: local, dev, staging, prod/,
    );
    expect(() => addPunctualStackFromContext(new App({ context: { env: "nope" } }))).toThrow(
      /environment "nope"[\s\S]*unknown environment; known: local, dev, staging, prod/,
    );
  });

  it("the CDK app exits 1 with the message", async () => {
    const outdir = mkdtempSync(path.join(tmpdir(), "punctual-cdk-"));
    try {
      const failure = await run(process.execPath, ["--import", "tsx", "cdk/bin/punctual.ts"], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ env: "nope" }), CDK_OUTDIR: outdir },
      }).then(
        () => undefined,
        (error: { code?: number; stderr?: string }) => error,
      );
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toMatch(/invalid configuration for environment "nope"[\s\S]*known: local, dev/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe("bundling (real esbuild, offline, no Docker)", () => {
  let bundled: Synth;
  let outdir: string;
  beforeAll(() => {
    outdir = mkdtempSync(path.join(tmpdir(), "punctual-cdk-"));
    bundled = synth("dev", { bundle: true, outdir });
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it("bundles every function into one minified ESM file that loads on Node with the stack's environment", async () => {
    const functions = ofType(bundled, "AWS::Lambda::Function");
    const noAwsFunctionIds = new Set([
      ...[...API_ROUTES, DEFAULT_ROUTE]
        .filter((row: ApiRouteRow) => row.store === undefined && row.grants.length === 0)
        .map((row) => idOf(bundled, bundled.stack.api.functions[row.name as ApiRouteName])),
      // AppConfig's validator only parses the document it is handed.
      idOf(bundled, bundled.stack.runtimeSettings.validator),
    ]);
    expect(functions.length).toBe(API_FUNCTION_COUNT + PIPELINE_FUNCTION_COUNT + bundled.stack.topics.length);
    await Promise.all(
      functions.map(async ([id, fn]) => {
        const hash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, "");
        const file = path.join(outdir, `asset.${hash}`, "index.mjs");
        const code = readFileSync(file, "utf8");
        expect(code.startsWith(ESM_REQUIRE_BANNER), id).toBe(true);
        // The package.json "imports" aliases were resolved by esbuild, not left for the runtime.
        expect(code.includes('"#shared/'), id).toBe(false);
        expect(code.split("\n").length, id).toBeLessThan(1_000);
        // Credential providers Lambda never reaches stay lazy imports, not bundled code (cdk/lib/bundling.ts).
        // An API function whose row names no store and no grant (unmatched-route, openapi) calls no AWS service:
        // its bundle holds no SDK at all.
        const callsAws = !noAwsFunctionIds.has(id);
        expect(code.includes("@aws-sdk/"), id).toBe(callsAws);
        for (const provider of callsAws ? UNREACHED_CREDENTIAL_PROVIDERS : []) {
          expect(code.includes(`import("${provider}")`), `${id} ${provider}`).toBe(true);
        }

        const env: Record<string, string> = {};
        for (const [name, value] of Object.entries(
          fn.Properties.Environment.Variables as Record<string, Json>,
        )) {
          env[name] = render(bundled, value);
        }
        // Module scope runs requireEnv and parses the JSON variables: a missing or malformed variable throws.
        const { stdout } = await run(
          process.execPath,
          [
            "--no-warnings",
            "--input-type=module",
            "-e",
            [
              "try {",
              `  const m = await import(${JSON.stringify(file)});`,
              '  console.log("handler:" + typeof m.handler);',
              "} catch (error) {",
              '  console.log("load failed: " + error.name + ": " + error.message);',
              "}",
              "process.exit(0);",
            ].join("\n"),
          ],
          {
            env: {
              PATH: process.env.PATH,
              ...env,
              AWS_REGION: "eu-west-1",
              AWS_ACCESS_KEY_ID: "test",
              AWS_SECRET_ACCESS_KEY: "test",
              // Nothing listens here: any call made during init fails fast instead of reaching AWS.
              AWS_ENDPOINT_URL: "http://127.0.0.1:9",
            },
            timeout: 30_000,
          },
        );
        expect(stdout, id).toContain("handler:function");
      }),
    );
  });
});
