/**
 * Evaluates the IAM, resource and trust policies of a synthesized CloudFormation template the way AWS would,
 * with `@cloud-copilot/iam-simulate`, against the concrete ARNs AWS will present.
 *
 * A template holds tokens (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, …) where AWS later puts names and ARNs.
 * `deployedTemplate` plays CloudFormation's part for one fixed account and region: every resource gets the
 * physical name CloudFormation would give it (its explicit name property, else `<stack>-<logicalId>-<suffix>`
 * as CloudFormation generates one) and the ARN format of its service, and every intrinsic is resolved. The
 * policies are then evaluated, never string-matched, so a pattern that cannot match a real ARN fails.
 */
import { createHash } from "node:crypto";
import { runSimulation } from "@cloud-copilot/iam-simulate";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

export const TEST_ACCOUNT = "111122223333";
export const OTHER_ACCOUNT = "444455556666";
export const TEST_REGION = "eu-west-1";
/** What CloudFormation appends to generated physical names (12 random characters). */
const GENERATED_SUFFIX = "A1B2C3D4E5F6";

export interface CfnTemplateJson {
  readonly Resources: Record<string, { Type: string; Properties?: Json }>;
}

/** A resource once "deployed": what `Ref` and `Fn::GetAtt` return for it. */
export interface DeployedResource {
  readonly type: string;
  readonly name: string;
  readonly ref: string;
  readonly attributes: Record<string, string>;
}

export interface DeployedTemplate {
  readonly account: string;
  readonly region: string;
  readonly stackName: string;
  readonly stackId: string;
  readonly resources: ReadonlyMap<string, DeployedResource>;
  /** Resolves every intrinsic in `value` to the concrete strings AWS would see. */
  resolve(value: unknown): Json;
  /** The logical ids of every resource of `type`. */
  idsOfType(type: string): string[];
  properties(logicalId: string): Json;
}

/** How CloudFormation names a resource type and what its Ref and ARN are. */
interface TypeRule {
  readonly nameProperty?: string;
  /** Resources AWS identifies by a UUID it generates (an event source mapping), not by a name. */
  readonly uuidId?: true;
  /** Resources AWS identifies by a short id it generates (AppConfig: 7 lowercase letters and digits). */
  readonly shortId?: true;
  readonly ref: "name" | "arn" | "url";
  readonly arn: (name: string, ctx: { account: string; region: string }) => string;
}

const TYPE_RULES: Record<string, TypeRule> = {
  "AWS::SQS::Queue": {
    nameProperty: "QueueName",
    ref: "url",
    arn: (name, { account, region }) => `arn:aws:sqs:${region}:${account}:${name}`,
  },
  "AWS::SNS::Topic": {
    nameProperty: "TopicName",
    ref: "arn",
    arn: (name, { account, region }) => `arn:aws:sns:${region}:${account}:${name}`,
  },
  "AWS::IAM::Role": {
    nameProperty: "RoleName",
    ref: "name",
    arn: (name, { account }) => `arn:aws:iam::${account}:role/${name}`,
  },
  "AWS::DynamoDB::Table": {
    nameProperty: "TableName",
    ref: "name",
    arn: (name, { account, region }) => `arn:aws:dynamodb:${region}:${account}:table/${name}`,
  },
  "AWS::Scheduler::ScheduleGroup": {
    nameProperty: "Name",
    ref: "name",
    arn: (name, { account, region }) => `arn:aws:scheduler:${region}:${account}:schedule-group/${name}`,
  },
  "AWS::CloudWatch::Alarm": {
    nameProperty: "AlarmName",
    ref: "name",
    arn: (name, { account, region }) => `arn:aws:cloudwatch:${region}:${account}:alarm:${name}`,
  },
  "AWS::Lambda::Function": {
    nameProperty: "FunctionName",
    ref: "name",
    arn: (name, { account, region }) => `arn:aws:lambda:${region}:${account}:function:${name}`,
  },
  "AWS::Logs::LogGroup": {
    nameProperty: "LogGroupName",
    ref: "name",
    arn: (name, { account, region }) => `arn:aws:logs:${region}:${account}:log-group:${name}:*`,
  },
  "AWS::SecretsManager::Secret": {
    nameProperty: "Name",
    ref: "arn",
    arn: (name, { account, region }) => `arn:aws:secretsmanager:${region}:${account}:secret:${name}-AbCdEf`,
  },
  // Ref and GetAtt Id are the mapping's UUID; what Lambda presents to IAM is its event-source-mapping ARN.
  "AWS::Lambda::EventSourceMapping": {
    uuidId: true,
    ref: "name",
    arn: (uuid, { account, region }) => `arn:aws:lambda:${region}:${account}:event-source-mapping:${uuid}`,
  },
  // Ref is the id AppConfig generates; IAM sees `application/<app>/environment/<env>/configuration/<profile>`,
  // which the stack builds from these ids itself.
  "AWS::AppConfig::Application": {
    shortId: true,
    ref: "name",
    arn: (id, { account, region }) => `arn:aws:appconfig:${region}:${account}:application/${id}`,
  },
  "AWS::AppConfig::Environment": {
    shortId: true,
    ref: "name",
    arn: (id, { account, region }) => `arn:aws:appconfig:${region}:${account}:environment/${id}`,
  },
  "AWS::AppConfig::ConfigurationProfile": {
    shortId: true,
    ref: "name",
    arn: (id, { account, region }) => `arn:aws:appconfig:${region}:${account}:configurationprofile/${id}`,
  },
  // Ref is the rule's name; the ARN (default event bus) is what EventBridge presents as aws:SourceArn.
  "AWS::Events::Rule": {
    nameProperty: "Name",
    ref: "name",
    arn: (name, { account, region }) => `arn:aws:events:${region}:${account}:rule/${name}`,
  },
  "AWS::KMS::Key": {
    ref: "name",
    arn: (name, { account, region }) => `arn:aws:kms:${region}:${account}:key/${name}`,
  },
};

/** "Deploys" a synthesized template into TEST_ACCOUNT / TEST_REGION (or the given ones). */
export function deployedTemplate(
  template: CfnTemplateJson,
  options: { stackName?: string; account?: string; region?: string; stackUuid?: string } = {},
): DeployedTemplate {
  const account = options.account ?? TEST_ACCOUNT;
  const region = options.region ?? TEST_REGION;
  const stackName = options.stackName ?? "Punctual-test";
  const stackUuid = options.stackUuid ?? "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
  const stackId = `arn:aws:cloudformation:${region}:${account}:stack/${stackName}/${stackUuid}`;
  const resources = new Map<string, DeployedResource>();
  const pseudo: Record<string, string> = {
    "AWS::AccountId": account,
    "AWS::Region": region,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": stackName,
    "AWS::StackId": stackId,
  };

  const deployed: DeployedTemplate = {
    account,
    region,
    stackName,
    stackId,
    resources,
    resolve: (value) => resolveIntrinsics(value, (id) => refOf(id), getAtt),
    idsOfType: (type) =>
      Object.entries(template.Resources)
        .filter(([, r]) => r.Type === type)
        .map(([id]) => id),
    properties: (logicalId) => template.Resources[logicalId]?.Properties ?? {},
  };

  function refOf(id: string): string {
    if (Object.hasOwn(pseudo, id)) return pseudo[id] as string;
    return physical(id).ref;
  }
  function getAtt(id: string, attribute: string): string {
    const value = physical(id).attributes[attribute];
    if (value === undefined) throw new Error(`cannot resolve Fn::GetAtt ${id}.${attribute}`);
    return value;
  }
  /** Named lazily: a name property may itself reference other resources (or the stack id). */
  function physical(id: string): DeployedResource {
    const known = resources.get(id);
    if (known) return known;
    const resource = template.Resources[id];
    if (!resource) throw new Error(`no resource ${id} in the template`);
    const made = physicalResource(id, resource, deployed, { account, region, stackName });
    resources.set(id, made);
    return made;
  }
  return deployed;
}

function physicalResource(
  id: string,
  resource: { Type: string; Properties?: Json },
  deployed: DeployedTemplate,
  ctx: { account: string; region: string; stackName: string },
): DeployedResource {
  const rule = TYPE_RULES[resource.Type];
  const explicit = rule?.nameProperty ? resource.Properties?.[rule.nameProperty] : undefined;
  const fifo = resource.Type === "AWS::SQS::Queue" && String(resource.Properties?.FifoQueue) === "true";
  const generated = `${ctx.stackName}-${id}-${GENERATED_SUFFIX}`.slice(0, fifo ? 75 : 80);
  const name = rule?.uuidId
    ? uuidOf(`${ctx.stackName}/${id}`)
    : rule?.shortId
      ? shortIdOf(`${ctx.stackName}/${id}`)
      : explicit !== undefined
        ? String(deployed.resolve(explicit))
        : `${generated}${fifo ? ".fifo" : ""}`;
  if (!rule) {
    return { type: resource.Type, name, ref: name, attributes: {} };
  }
  const arn = rule.arn(name, ctx);
  const url = `https://sqs.${ctx.region}.amazonaws.com/${ctx.account}/${name}`;
  const ref = rule.ref === "arn" ? arn : rule.ref === "url" ? url : name;
  return {
    type: resource.Type,
    name,
    ref,
    attributes: {
      Arn: arn,
      QueueName: name,
      QueueUrl: url,
      TopicName: name,
      Name: name,
      ...(rule.uuidId ? { Id: name, EventSourceMappingArn: arn } : {}),
    },
  };
}

/** A 7-character id, stable per resource, as AppConfig generates for applications, environments and profiles. */
function shortIdOf(seed: string): string {
  return BigInt(`0x${createHash("sha256").update(seed).digest("hex").slice(0, 12)}`)
    .toString(36)
    .slice(0, 7)
    .padStart(7, "0");
}

/** A UUID-shaped id, stable per resource, as AWS generates for an event source mapping. */
function uuidOf(seed: string): string {
  const hex = createHash("sha256").update(seed).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function resolveIntrinsics(
  value: unknown,
  ref: (id: string) => string,
  getAtt: (id: string, attribute: string) => string,
): Json {
  const again = (v: unknown) => resolveIntrinsics(v, ref, getAtt);
  if (Array.isArray(value)) return value.map(again);
  if (typeof value !== "object" || value === null) return value;
  const entries = Object.entries(value as Record<string, unknown>);
  const [fn, arg] = (entries[0] ?? []) as [string, Json];
  if (entries.length === 1 && (fn === "Ref" || fn.startsWith("Fn::"))) {
    switch (fn) {
      case "Ref":
        return ref(String(arg));
      case "Fn::GetAtt": {
        const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split(".");
        return getAtt(String(id), String(attribute));
      }
      case "Fn::Join":
        return (again(arg[1]) as unknown[]).map(String).join(arg[0]);
      case "Fn::Select":
        return (again(arg[1]) as unknown[])[Number(again(arg[0]))];
      case "Fn::Split":
        return String(again(arg[1])).split(arg[0]);
      case "Fn::Sub": {
        const [text, vars] = Array.isArray(arg) ? arg : [String(arg), {}];
        return String(text).replace(/\$\{([^}!][^}]*)\}/g, (_match, name: string) => {
          if (Object.hasOwn(vars, name)) return String(again(vars[name]));
          if (name.includes(".")) return String(again({ "Fn::GetAtt": name.split(".") }));
          return ref(name);
        });
      }
      default:
        throw new Error(`test/support/iam.ts cannot resolve ${fn}`);
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, again(v)]));
}

// ---------------------------------------------------------------------------------------------------------
// Policies of a deployed template
// ---------------------------------------------------------------------------------------------------------

/** The resolved resource policy attached to a resource by a policy resource (`AWS::SQS::QueuePolicy`, …). */
export function resourcePolicyOf(deployed: DeployedTemplate, logicalId: string): Json | undefined {
  const attachments: Record<string, string> = {
    "AWS::SQS::QueuePolicy": "Queues",
    "AWS::SNS::TopicPolicy": "Topics",
  };
  for (const [policyType, listProperty] of Object.entries(attachments)) {
    for (const policyId of deployed.idsOfType(policyType)) {
      const props = deployed.properties(policyId);
      const targets = (props[listProperty] as Json[]).map((t) => t?.Ref);
      if (targets.includes(logicalId)) return deployed.resolve(props.PolicyDocument);
    }
  }
  return undefined;
}

/**
 * The resolved identity policies of a role: its inline `Policies`, every `AWS::IAM::Policy` naming it, and every
 * managed policy of the template attached to it (by the policy's `Roles` or the role's `ManagedPolicyArns`): CDK
 * moves statements into managed "OverflowPolicy" documents once a role's inline policy outgrows IAM's size limit.
 * A managed policy the template does not hold (an AWS managed one) cannot be evaluated here: an error, not a guess.
 */
export function identityPoliciesOf(
  deployed: DeployedTemplate,
  roleLogicalId: string,
): { name: string; policy: Json }[] {
  const role = deployed.properties(roleLogicalId);
  const inline = ((role.Policies ?? []) as Json[]).map((p) => ({
    name: String(p.PolicyName),
    policy: deployed.resolve(p.PolicyDocument),
  }));
  const names = (id: string) =>
    ((deployed.properties(id).Roles ?? []) as Json[]).some((r) => r?.Ref === roleLogicalId);
  const document = (id: string) => ({
    name: id,
    policy: deployed.resolve(deployed.properties(id).PolicyDocument),
  });
  const attached = deployed.idsOfType("AWS::IAM::Policy").filter(names).map(document);
  const managedIds = new Set(deployed.idsOfType("AWS::IAM::ManagedPolicy"));
  const listed = ((role.ManagedPolicyArns ?? []) as Json[]).map((arn) => {
    if (typeof arn?.Ref === "string" && managedIds.has(arn.Ref)) return arn.Ref as string;
    throw new Error(`${roleLogicalId}: cannot evaluate managed policy ${JSON.stringify(arn)}`);
  });
  const managed = [...managedIds].filter((id) => names(id) || listed.includes(id)).map(document);
  return [...inline, ...attached, ...managed];
}

export function roleArnOf(deployed: DeployedTemplate, roleLogicalId: string): string {
  return deployed.resolve({ "Fn::GetAtt": [roleLogicalId, "Arn"] });
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------------------

export type Decision = "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied";

export interface AccessRequest {
  /** A role ARN, or a service principal such as `cloudwatch.amazonaws.com`. */
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  /** The account that owns `resource`. */
  readonly resourceAccount: string;
  readonly context?: Record<string, string | string[]>;
  readonly identityPolicies?: { name: string; policy: Json }[];
  readonly resourcePolicy?: Json;
}

/**
 * AWS's decision for one request. TLS is assumed (`aws:SecureTransport` = true) unless the context says
 * otherwise, as every AWS SDK call is. A policy the simulator finds invalid is an error, never a denial, and so
 * is a context key it drops: a key the action does not take, or one it cannot match (below), would otherwise
 * turn a test of a condition into a test of a missing key.
 */
export async function evaluate(request: AccessRequest): Promise<Decision> {
  const result = await runSimulation(simulationOf(request), { simulationMode: "Strict" });
  if (result.resultType === "error") {
    throw new Error(`iam-simulate refused the request: ${JSON.stringify(result.errors, null, 2)}`);
  }
  const ignored =
    result.resultType === "single"
      ? (result.result.ignoredContextKeys ?? [])
      : result.results.flatMap((r) => r.ignoredContextKeys ?? []);
  if (ignored.length > 0) {
    throw new Error(
      `iam-simulate ignored context keys of ${request.action}: ${[...new Set(ignored)].join(", ")}`,
    );
  }
  return result.overallResult as Decision;
}

/**
 * AWS's decision for a KMS request whose encryption context a key policy conditions on.
 *
 * iam-simulate (0.1.173) checks each context key against the action's documented keys and matches templated
 * keys only in their `/` form (`aws:PrincipalTag/<tag>`): `kms:EncryptionContext:<key>` is dropped as unknown,
 * so every condition on it would fail as missing (and its `runUnsafeSimulation`, which skips that check, fails
 * on any resource policy). So each `kms:EncryptionContext:<key>`, in the policy's conditions and in the request,
 * is renamed to a key of the same type the simulator accepts, `aws:PrincipalTag/<key>`; the operators, values,
 * principals, actions and resources are evaluated as they stand.
 */
export async function evaluateWithEncryptionContext(
  request: AccessRequest & { readonly encryptionContext: Record<string, string> },
): Promise<Decision> {
  const context: Record<string, string | string[]> = { ...request.context };
  for (const [key, value] of Object.entries(request.encryptionContext))
    context[aliasOfContextKey(key)] = value;
  const resourcePolicy = request.resourcePolicy && withEncryptionContextAliased(request.resourcePolicy);
  return evaluate({ ...request, context, ...(resourcePolicy ? { resourcePolicy } : {}) });
}

const ENCRYPTION_CONTEXT_KEY = /^kms:EncryptionContext:(.+)$/i;
const aliasOfContextKey = (key: string) => `aws:PrincipalTag/${key}`;

function withEncryptionContextAliased(policy: Json): Json {
  const statements: Json[] = [policy.Statement].flat();
  return {
    ...policy,
    Statement: statements.map((statement) => ({
      ...statement,
      ...(statement.Condition
        ? {
            Condition: Object.fromEntries(
              Object.entries(statement.Condition as Record<string, Record<string, Json>>).map(
                ([operator, keys]) => [
                  operator,
                  Object.fromEntries(
                    Object.entries(keys).map(([key, value]) => {
                      const contextKey = ENCRYPTION_CONTEXT_KEY.exec(key)?.[1];
                      return [contextKey ? aliasOfContextKey(contextKey) : key, value];
                    }),
                  ),
                ],
              ),
            ),
          }
        : {}),
    })),
  };
}

function simulationOf(request: AccessRequest) {
  return {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.resourceAccount },
      contextVariables: { "aws:SecureTransport": "true", ...request.context },
    },
    identityPolicies: request.identityPolicies ?? [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(request.resourcePolicy ? { resourcePolicy: request.resourcePolicy } : {}),
  };
}

/**
 * Whether a role of the deployed stack may call `action` on `resource` (same account): its identity policies
 * and, when the resource has one, the resource's policy.
 */
export async function roleMay(
  deployed: DeployedTemplate,
  roleLogicalId: string,
  action: string,
  resource: string,
  options: { resourcePolicy?: Json; context?: Record<string, string | string[]> } = {},
): Promise<Decision> {
  return evaluate({
    principal: roleArnOf(deployed, roleLogicalId),
    action,
    resource,
    resourceAccount: deployed.account,
    identityPolicies: identityPoliciesOf(deployed, roleLogicalId),
    ...(options.resourcePolicy ? { resourcePolicy: options.resourcePolicy } : {}),
    ...(options.context ? { context: options.context } : {}),
  });
}

/** Whether `service` may assume the role, presenting `context` (its `aws:SourceAccount` / `aws:SourceArn`). */
export async function serviceMayAssume(
  deployed: DeployedTemplate,
  roleLogicalId: string,
  service: string,
  context: Record<string, string>,
): Promise<Decision> {
  return evaluate({
    principal: service,
    action: "sts:AssumeRole",
    resource: roleArnOf(deployed, roleLogicalId),
    resourceAccount: deployed.account,
    resourcePolicy: deployed.resolve(deployed.properties(roleLogicalId).AssumeRolePolicyDocument),
    context,
  });
}
