import { createHash } from "node:crypto";
import { ENTRY_METADATA_KEY } from "#shared/contract/metadata.js";

/**
 * Reads the synthesized CloudFormation template of the `local` stack: the local cloud creates exactly the
 * tables, queues, event sources, routes and schedule groups the CDK stack declares, with the same settings and
 * the same function environment, so local and AWS cannot drift.
 */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}
export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
}

export interface TableSpec {
  readonly logicalId: string;
  readonly keySchema: { AttributeName: string; KeyType: string }[];
  readonly attributeDefinitions: { AttributeName: string; AttributeType: string }[];
  readonly ttlAttribute?: string;
  /** As CreateTable takes them (index name, key schema, projection); absent when the table has none. */
  readonly globalSecondaryIndexes?: GlobalSecondaryIndexSpec[];
}
export interface GlobalSecondaryIndexSpec {
  readonly IndexName: string;
  readonly KeySchema: { AttributeName: string; KeyType: string }[];
  readonly Projection: { ProjectionType?: string; NonKeyAttributes?: string[] };
}
export interface QueueSpec {
  readonly logicalId: string;
  readonly fifo: boolean;
  /** SQS attributes as CreateQueue takes them (strings), redrive excluded. */
  readonly attributes: Record<string, string>;
  readonly redrive?: { readonly deadLetterLogicalId: string; readonly maxReceiveCount: number };
}
export interface FunctionSpec {
  readonly logicalId: string;
  /** Source entry relative to the project root, from the `punctual:entry` metadata the CDK construct writes. */
  readonly entry: string;
  readonly timeoutSeconds: number;
  readonly environment: Record<string, unknown>;
}
export interface EventSourceSpec {
  readonly logicalId: string;
  readonly functionLogicalId: string;
  readonly queueLogicalId: string;
  readonly batchSize: number;
  /** MaximumBatchingWindowInSeconds (0 when absent, as Lambda's default for SQS). */
  readonly maximumBatchingWindowSeconds: number;
  readonly reportBatchItemFailures: boolean;
  readonly maximumConcurrency?: number;
  readonly enabled: boolean;
}
export interface RouteSpec {
  readonly routeKey: string;
  readonly functionLogicalId: string;
}
/** An EventBridge rule on a schedule (`rate(…)`) whose target is one of our functions. */
export interface ScheduledRuleSpec {
  readonly logicalId: string;
  readonly functionLogicalId: string;
  readonly scheduleExpression: string;
  /** The rate in milliseconds. */
  readonly rateMs: number;
  readonly enabled: boolean;
}
export interface ScheduleGroupSpec {
  readonly logicalId: string;
  /** The template's `Name`: a string, or intrinsics (the stack's UUID) resolved when provisioning. */
  readonly name?: unknown;
}

/**
 * An AppConfig hosted configuration profile (the runtime topic settings): its application, environment and profile
 * (by logical id, resolved when provisioning), the hosted version's content, and its LAMBDA validator function.
 */
export interface SettingsProfileSpec {
  readonly applicationLogicalId: string;
  readonly environmentLogicalId: string;
  readonly profileLogicalId: string;
  readonly content: string;
  readonly validatorFunctionLogicalId?: string;
}

export interface LocalTopology {
  readonly tables: TableSpec[];
  readonly queues: QueueSpec[];
  readonly functions: FunctionSpec[];
  readonly eventSources: EventSourceSpec[];
  readonly routes: RouteSpec[];
  readonly scheduleGroups: ScheduleGroupSpec[];
  readonly scheduledRules: ScheduledRuleSpec[];
  readonly settingsProfiles: SettingsProfileSpec[];
}

export function topologyOf(template: CfnTemplate): LocalTopology {
  const resources = Object.entries(template.Resources);
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
  const tables = tablesOf(ofType);
  const queues = queuesOf(ofType);
  const functions = functionsOf(ofType);
  const eventSources = eventSourcesOf(ofType);
  const routes = routesOf(ofType);
  const scheduleGroups = scheduleGroupsOf(ofType);
  const scheduledRules = scheduledRulesOf(ofType, functions);
  const settingsProfiles = settingsProfilesOf(ofType);

  return {
    tables,
    queues,
    functions,
    eventSources,
    routes,
    scheduleGroups,
    scheduledRules,
    settingsProfiles,
  };
}

/** The template's resources of one CloudFormation type, as `[logicalId, resource]`. */
type ResourcesOfType = (type: string) => [string, CfnResource][];

function tablesOf(ofType: ResourcesOfType): TableSpec[] {
  return ofType("AWS::DynamoDB::Table").map(([logicalId, r]) => {
    const p = r.Properties ?? {};
    const ttl = p.TimeToLiveSpecification as { AttributeName?: string; Enabled?: boolean } | undefined;
    const indexes = p.GlobalSecondaryIndexes as GlobalSecondaryIndexSpec[] | undefined;
    return {
      logicalId,
      keySchema: p.KeySchema as TableSpec["keySchema"],
      attributeDefinitions: p.AttributeDefinitions as TableSpec["attributeDefinitions"],
      ...(ttl?.Enabled && ttl.AttributeName ? { ttlAttribute: ttl.AttributeName } : {}),
      ...(indexes?.length
        ? {
            globalSecondaryIndexes: indexes.map((index) => ({
              IndexName: index.IndexName,
              KeySchema: index.KeySchema,
              Projection: index.Projection,
            })),
          }
        : {}),
    };
  });
}

function queuesOf(ofType: ResourcesOfType): QueueSpec[] {
  return ofType("AWS::SQS::Queue").map(([logicalId, r]) => {
    const p = r.Properties ?? {};
    const attributes: Record<string, string> = {};
    for (const name of [
      "VisibilityTimeout",
      "MessageRetentionPeriod",
      "MaximumMessageSize",
      "DelaySeconds",
      "ReceiveMessageWaitTimeSeconds",
      "ContentBasedDeduplication",
      "FifoQueue",
      "DeduplicationScope",
      "FifoThroughputLimit",
    ]) {
      if (p[name] !== undefined) attributes[name] = String(p[name]);
    }
    const redrive = p.RedrivePolicy as
      | { deadLetterTargetArn?: unknown; maxReceiveCount?: number }
      | undefined;
    const deadLetterLogicalId = redrive ? getAttTarget(redrive.deadLetterTargetArn) : undefined;
    return {
      logicalId,
      fifo: p.FifoQueue === true || p.FifoQueue === "true",
      attributes,
      ...(deadLetterLogicalId
        ? { redrive: { deadLetterLogicalId, maxReceiveCount: Number(redrive?.maxReceiveCount ?? 10) } }
        : {}),
    };
  });
}

function functionsOf(ofType: ResourcesOfType): FunctionSpec[] {
  return ofType("AWS::Lambda::Function").flatMap(([logicalId, r]) => {
    const entry = r.Metadata?.[ENTRY_METADATA_KEY];
    if (typeof entry !== "string") return []; // CDK's own helper functions (log retention, custom resources)
    const p = r.Properties ?? {};
    const env = (p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    return [{ logicalId, entry, timeoutSeconds: Number(p.Timeout ?? 3), environment: env }];
  });
}

function eventSourcesOf(ofType: ResourcesOfType): EventSourceSpec[] {
  return ofType("AWS::Lambda::EventSourceMapping").flatMap(([logicalId, r]) => {
    const p = r.Properties ?? {};
    const functionLogicalId = refTarget(p.FunctionName);
    const queueLogicalId = getAttTarget(p.EventSourceArn);
    if (!functionLogicalId || !queueLogicalId) return [];
    const scaling = p.ScalingConfig as { MaximumConcurrency?: number } | undefined;
    return [
      {
        logicalId,
        functionLogicalId,
        queueLogicalId,
        batchSize: Number(p.BatchSize ?? 10),
        maximumBatchingWindowSeconds: Number(p.MaximumBatchingWindowInSeconds ?? 0),
        reportBatchItemFailures: ((p.FunctionResponseTypes as string[] | undefined) ?? []).includes(
          "ReportBatchItemFailures",
        ),
        ...(scaling?.MaximumConcurrency ? { maximumConcurrency: scaling.MaximumConcurrency } : {}),
        enabled: p.Enabled !== false,
      },
    ];
  });
}

/**
 * The API's routes, each to its integration's function. The local API server builds payload format 2.0 events only
 * (local/runtime/api-server.ts), so an integration of another format is refused rather than served as 2.0: a 1.0
 * event keeps a repeated header's or query key's last value and has no rawQueryString, which the handlers' guards
 * against API Gateway's comma-joined duplicates read, and local would show what AWS does not.
 */
function routesOf(ofType: ResourcesOfType): RouteSpec[] {
  const integrations = new Map(
    ofType("AWS::ApiGatewayV2::Integration").map(([logicalId, r]) => {
      const version = r.Properties?.PayloadFormatVersion;
      if (version !== "2.0")
        throw new Error(
          `integration ${logicalId} has payload format ${JSON.stringify(version ?? null)}; the local API server builds 2.0 events only`,
        );
      return [
        logicalId,
        getAttTarget(r.Properties?.IntegrationUri) ?? refTarget(r.Properties?.IntegrationUri),
      ];
    }),
  );
  return ofType("AWS::ApiGatewayV2::Route").flatMap(([, r]) => {
    const p = r.Properties ?? {};
    const integrationId = integrationOfTarget(p.Target);
    const functionLogicalId = integrationId ? integrations.get(integrationId) : undefined;
    return functionLogicalId ? [{ routeKey: String(p.RouteKey), functionLogicalId }] : [];
  });
}

function scheduleGroupsOf(ofType: ResourcesOfType): ScheduleGroupSpec[] {
  return ofType("AWS::Scheduler::ScheduleGroup").map(([logicalId, r]) => ({
    logicalId,
    ...(r.Properties?.Name !== undefined ? { name: r.Properties.Name } : {}),
  }));
}

function scheduledRulesOf(ofType: ResourcesOfType, functions: FunctionSpec[]): ScheduledRuleSpec[] {
  const functionIds = new Set(functions.map((f) => f.logicalId));
  return ofType("AWS::Events::Rule").flatMap(([logicalId, r]) => {
    const p = r.Properties ?? {};
    if (typeof p.ScheduleExpression !== "string") return []; // event-pattern rules: nothing fires them locally
    const targets = (p.Targets as { Arn?: unknown }[] | undefined) ?? [];
    return targets.flatMap((target) => {
      const functionLogicalId = getAttTarget(target.Arn);
      if (!functionLogicalId || !functionIds.has(functionLogicalId)) return [];
      return [
        {
          logicalId,
          functionLogicalId,
          scheduleExpression: p.ScheduleExpression as string,
          rateMs: rateExpressionMs(p.ScheduleExpression as string),
          enabled: p.State !== "DISABLED",
        },
      ];
    });
  });
}

/** Each hosted AppConfig version with the environment its deployment targets and its profile's validator. */
function settingsProfilesOf(ofType: (type: string) => [string, CfnResource][]): SettingsProfileSpec[] {
  const deployments = ofType("AWS::AppConfig::Deployment").map(([, r]) => r.Properties ?? {});
  return ofType("AWS::AppConfig::HostedConfigurationVersion").flatMap(([, r]) => {
    const p = r.Properties ?? {};
    const profileLogicalId = refTarget(p.ConfigurationProfileId);
    const applicationLogicalId = refTarget(p.ApplicationId);
    const deployment = deployments.find((d) => refTarget(d.ConfigurationProfileId) === profileLogicalId);
    const environmentLogicalId = refTarget(deployment?.EnvironmentId);
    if (!profileLogicalId || !applicationLogicalId || !environmentLogicalId) return [];
    const profile = ofType("AWS::AppConfig::ConfigurationProfile").find(
      ([id]) => id === profileLogicalId,
    )?.[1];
    const validators = (profile?.Properties?.Validators as { Type?: string; Content?: unknown }[]) ?? [];
    const lambda = validators.find((v) => v.Type === "LAMBDA");
    const validatorFunctionLogicalId = lambda ? getAttTarget(lambda.Content) : undefined;
    return [
      {
        applicationLogicalId,
        environmentLogicalId,
        profileLogicalId,
        content: String(p.Content),
        ...(validatorFunctionLogicalId ? { validatorFunctionLogicalId } : {}),
      },
    ];
  });
}

const RATE_UNITS_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/**
 * `rate(1 minute)`, `rate(5 minutes)`, `rate(2 hours)`, `rate(1 day)` → milliseconds. `cron(…)` is refused:
 * nothing in the stack uses it, and silently not running a rule locally would be drift.
 */
export function rateExpressionMs(expression: string): number {
  const match = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$/.exec(expression.trim());
  const value = Number(match?.[1]);
  const unit = match?.[2]?.replace(/s$/, "");
  if (!match || !unit || !(value > 0)) {
    throw new Error(`unsupported schedule expression for the local cloud: ${expression}`);
  }
  return value * (RATE_UNITS_MS[unit] as number);
}

function refTarget(value: unknown): string | undefined {
  const ref = (value as { Ref?: unknown } | undefined)?.Ref;
  return typeof ref === "string" ? ref : undefined;
}

function getAttTarget(value: unknown): string | undefined {
  const att = (value as { "Fn::GetAtt"?: unknown } | undefined)?.["Fn::GetAtt"];
  if (Array.isArray(att)) return typeof att[0] === "string" ? att[0] : undefined;
  if (typeof att === "string") return att.split(".")[0];
  return undefined;
}

/** Route targets are `integrations/<Ref integration>`, written as an Fn::Join. */
function integrationOfTarget(target: unknown): string | undefined {
  const join = (target as { "Fn::Join"?: [string, unknown[]] } | undefined)?.["Fn::Join"];
  if (!join) return undefined;
  for (const part of join[1]) {
    const ref = refTarget(part);
    if (ref) return ref;
  }
  return undefined;
}

/** What a logical id stands for once created locally: its Ref value and its attributes. */
export interface PhysicalResource {
  readonly ref: string;
  readonly attributes: Record<string, string>;
}

export interface ResolveContext {
  readonly region: string;
  readonly accountId: string;
  readonly stackName: string;
  readonly physical: ReadonlyMap<string, PhysicalResource>;
}

/** Resolves the intrinsic functions CDK emits in environment variables and properties. */
export function resolveIntrinsics(value: unknown, ctx: ResolveContext): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, ctx));
  if (typeof value !== "object" || value === null) return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [fn, arg] = entries[0] as [string, unknown];
    switch (fn) {
      case "Ref":
        return resolveRef(String(arg), ctx);
      case "Fn::GetAtt": {
        const [id, attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split(".");
        const resource = ctx.physical.get(String(id));
        const resolved = resource?.attributes[String(attr)];
        if (resolved === undefined) throw new Error(`cannot resolve Fn::GetAtt ${id}.${attr} locally`);
        return resolved;
      }
      case "Fn::Join": {
        const [separator, parts] = arg as [string, unknown[]];
        return (resolveIntrinsics(parts, ctx) as unknown[]).map(String).join(separator);
      }
      case "Fn::Select": {
        const [index, list] = arg as [number, unknown];
        return (resolveIntrinsics(list, ctx) as unknown[])[Number(index)];
      }
      case "Fn::Split": {
        const [separator, source] = arg as [string, unknown];
        return String(resolveIntrinsics(source, ctx)).split(separator);
      }
      case "Fn::Sub": {
        const [text, vars] = Array.isArray(arg)
          ? (arg as [string, Record<string, unknown>])
          : [String(arg), {}];
        return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
          if (Object.hasOwn(vars, name)) return String(resolveIntrinsics(vars[name], ctx));
          if (name.includes(".")) return String(resolveIntrinsics({ "Fn::GetAtt": name.split(".") }, ctx));
          return String(resolveRef(name, ctx));
        });
      }
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolveIntrinsics(v, ctx)]));
}

function resolveRef(id: string, ctx: ResolveContext): string {
  switch (id) {
    case "AWS::Region":
      return ctx.region;
    case "AWS::AccountId":
      return ctx.accountId;
    case "AWS::Partition":
      return "aws";
    case "AWS::URLSuffix":
      return "amazonaws.com";
    case "AWS::StackName":
      return ctx.stackName;
    case "AWS::StackId":
      return localStackId(ctx);
  }
  const resource = ctx.physical.get(id);
  if (!resource) throw new Error(`cannot resolve Ref ${id} locally`);
  return resource.ref;
}

/**
 * The local stack's id, as CloudFormation's `arn:…:stack/<name>/<uuid>`. The UUID is derived from the stack's name
 * so it is the same on every start (a persisted data directory keeps finding the resources named after it).
 */
export function localStackId(ctx: Pick<ResolveContext, "region" | "accountId" | "stackName">): string {
  const hex = createHash("sha256").update(ctx.stackName).digest("hex");
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  return `arn:aws:cloudformation:${ctx.region}:${ctx.accountId}:stack/${ctx.stackName}/${uuid}`;
}
