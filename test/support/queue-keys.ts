/**
 * Whoever sends to or receives from a queue encrypted with a customer managed key must also be allowed to use that
 * key: SQS calls KMS with the caller's own credentials (GenerateDataKey and Decrypt to send, Decrypt to receive,
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html), and an AWS
 * service sending as itself (a queue policy naming its service principal) is allowed only by the key's policy. A
 * missing grant deploys fine and fails every SendMessage or ReceiveMessage at run time. A dead-letter queue holds
 * the messages SQS moved there as its source queue encrypted them: the same page asks of a dead-letter queue's
 * consumer kms:Decrypt on every key that encrypts the source queue's messages too, whatever the DLQ's own
 * encryption.
 *
 * `queueKeyFindings` finds them in a deployed template, evaluated with iam-simulate (./iam.ts), never string-matched:
 * every role of the stack that may SendMessage or ReceiveMessage on a queue (its identity policies and the queue's
 * policy), every function an event source mapping polls the queue for, and every service principal the queue's
 * policy lets send, each asked for the key actions its use takes; a dead-letter queue's receivers also for Decrypt
 * on the key of each queue whose redrive policy names it.
 */
import {
  type Decision,
  type DeployedTemplate,
  evaluate,
  identityPoliciesOf,
  resourcePolicyOf,
  roleArnOf,
} from "./iam.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

/** What each use of an encrypted queue takes of its key (the SQS developer guide, above). */
const KEY_ACTIONS_OF_USE = {
  send: ["kms:GenerateDataKey", "kms:Decrypt"],
  receive: ["kms:Decrypt"],
} as const;
type Use = keyof typeof KEY_ACTIONS_OF_USE;
const QUEUE_ACTION_OF_USE: Readonly<Record<Use, string>> = {
  send: "sqs:SendMessage",
  receive: "sqs:ReceiveMessage",
};

/**
 * How a queue of the template is encrypted: SSE-SQS, a key of the template, the AWS managed key for SQS
 * (`alias/aws/sqs`), or none of those.
 */
export type QueueEncryption =
  | { readonly kind: "sse-sqs" }
  | { readonly kind: "key"; readonly keyId: string }
  | { readonly kind: "aws-managed" }
  | { readonly kind: "other"; readonly detail: string };

/**
 * The AWS managed key for SQS, as a queue names it: its alias (CDK's `QueueEncryption.KMS_MANAGED` writes this), or
 * the alias's ARN in the stack's own account and region.
 */
function isAwsManagedSqsKey(deployed: DeployedTemplate, key: unknown): boolean {
  const resolved: unknown = typeof key === "string" ? key : deployed.resolve(key);
  return (
    resolved === AWS_MANAGED_SQS_KEY ||
    resolved === `arn:aws:kms:${deployed.region}:${deployed.account}:${AWS_MANAGED_SQS_KEY}`
  );
}

const AWS_MANAGED_SQS_KEY = "alias/aws/sqs";

export function queueEncryptionOf(deployed: DeployedTemplate, queueId: string): QueueEncryption {
  const props = deployed.properties(queueId);
  const key: Json = props.KmsMasterKeyId;
  if (key === undefined) {
    return String(props.SqsManagedSseEnabled) === "true"
      ? { kind: "sse-sqs" }
      : { kind: "other", detail: "neither SSE-SQS (SqsManagedSseEnabled) nor a KMS key" };
  }
  const keyId: unknown = key?.["Fn::GetAtt"]?.[0] ?? key?.Ref;
  if (typeof keyId === "string" && deployed.idsOfType("AWS::KMS::Key").includes(keyId)) {
    return { kind: "key", keyId };
  }
  if (isAwsManagedSqsKey(deployed, key)) return { kind: "aws-managed" };
  return { kind: "other", detail: `a KMS key the template does not hold: ${JSON.stringify(key)}` };
}

/** A principal that uses the queue: a role of the template, or an AWS service the queue's policy lets send. */
interface QueueUser {
  readonly label: string;
  /** A role of the template (the stack's account), or an AWS service sending as itself. */
  readonly kind: "role" | "service";
  readonly principal: string;
  readonly identityPolicies: { name: string; policy: Json }[];
  readonly use: Use;
}

/** Every problem with the queues' encryption, one line each ("" problems: every user may use every key). */
export async function queueKeyFindings(deployed: DeployedTemplate): Promise<string[]> {
  const findings: string[] = [];
  for (const queueId of deployed.idsOfType("AWS::SQS::Queue")) {
    const encryption = queueEncryptionOf(deployed, queueId);
    if (encryption.kind === "other") {
      findings.push(`${queueId}: ${encryption.detail}`);
      continue;
    }
    // The keys of the queues whose dead letters this one holds, each with its source's id, for the receivers.
    const sourceKeys = sourceQueuesOf(deployed, queueId).flatMap((sourceId) => {
      const source = queueEncryptionOf(deployed, sourceId);
      return source.kind === "key"
        ? [{ keyId: source.keyId, of: `the key of its source queue ${sourceId}` }]
        : [];
    });
    if (encryption.kind === "sse-sqs" && sourceKeys.length === 0) continue;
    const own = encryption.kind === "key" ? [{ keyId: encryption.keyId, of: "its key" }] : [];
    for (const user of await usersOf(deployed, queueId)) {
      if (encryption.kind === "aws-managed") findings.push(...awsManagedKeyFindings(queueId, user));
      const keys = user.use === "receive" ? [...own, ...sourceKeys] : own;
      for (const key of keys) findings.push(...(await keyFindings(deployed, queueId, user, key)));
    }
  }
  return findings;
}

/**
 * What the AWS managed key for SQS refuses `user`. Its key policy, which no one can change, lets every principal
 * of the account use it through SQS (`"AWS": "*"` on the conditions kms:ViaService `sqs.<region>.amazonaws.com` and
 * kms:CallerAccount the account; the SQS developer guide's key management page): every role of the stack,
 * EventBridge Scheduler's execution role and Lambda's pollers (the function's role) included, since SQS calls KMS
 * with the caller's own credentials. An AWS service that sends as itself (a queue policy naming its service
 * principal: SNS, S3, EventBridge rules) is no principal of the account, and the key's policy cannot be given it.
 */
function awsManagedKeyFindings(queueId: string, user: QueueUser): string[] {
  if (user.kind === "role") return [];
  return [
    `${queueId}: ${user.label} may ${user.use} but not use the AWS managed key ${AWS_MANAGED_SQS_KEY}, whose key policy lets only the account's principals use it and cannot be changed (use a customer managed key)`,
  ];
}

/** The key actions `user`'s use of the queue takes that it may not take on `key`, one line each. */
async function keyFindings(
  deployed: DeployedTemplate,
  queueId: string,
  user: QueueUser,
  key: { readonly keyId: string; readonly of: string },
): Promise<string[]> {
  const keyArn: string = deployed.resolve({ "Fn::GetAtt": [key.keyId, "Arn"] });
  const keyPolicy = deployed.resolve(deployed.properties(key.keyId).KeyPolicy);
  const findings: string[] = [];
  for (const action of KEY_ACTIONS_OF_USE[user.use]) {
    const decision = await evaluate({
      principal: user.principal,
      action,
      resource: keyArn,
      resourceAccount: deployed.account,
      identityPolicies: user.identityPolicies,
      resourcePolicy: keyPolicy,
    });
    if (decision !== "Allowed") {
      findings.push(`${queueId}: ${user.label} may ${user.use} but not ${action} on ${key.of} (${decision})`);
    }
  }
  return findings;
}

/** The queues whose redrive policy names `queueId` as their dead-letter queue (compared as resolved ARNs). */
function sourceQueuesOf(deployed: DeployedTemplate, queueId: string): string[] {
  const arn: string = deployed.resolve({ "Fn::GetAtt": [queueId, "Arn"] });
  return deployed.idsOfType("AWS::SQS::Queue").filter((id) => {
    const target: Json = deployed.properties(id).RedrivePolicy?.deadLetterTargetArn;
    return target !== undefined && deployed.resolve(target) === arn;
  });
}

/** The roles and service principals that send to or receive from the queue, each once per use. */
async function usersOf(deployed: DeployedTemplate, queueId: string): Promise<QueueUser[]> {
  const queueArn: string = deployed.resolve({ "Fn::GetAtt": [queueId, "Arn"] });
  const queuePolicy = resourcePolicyOf(deployed, queueId);
  const polled = rolesPollingFor(deployed, queueId);
  const users: QueueUser[] = [];
  for (const roleId of deployed.idsOfType("AWS::IAM::Role")) {
    const identityPolicies = identityPoliciesOf(deployed, roleId);
    const principal = roleArnOf(deployed, roleId);
    for (const use of ["send", "receive"] as const) {
      const decision: Decision = await evaluate({
        principal,
        action: QUEUE_ACTION_OF_USE[use],
        resource: queueArn,
        resourceAccount: deployed.account,
        identityPolicies,
        ...(queuePolicy ? { resourcePolicy: queuePolicy } : {}),
      });
      const polls = use === "receive" && polled.has(roleId);
      if (decision === "Allowed" || polls) {
        users.push({ label: `role ${roleId}`, kind: "role", principal, identityPolicies, use });
      }
    }
  }
  for (const service of servicesAllowedToSend(queuePolicy)) {
    users.push({
      label: `service ${service}`,
      kind: "service",
      principal: service,
      identityPolicies: [],
      use: "send",
    });
  }
  return users;
}

/** The roles of the functions an event source mapping receives the queue's messages for (Lambda's pollers). */
function rolesPollingFor(deployed: DeployedTemplate, queueId: string): Set<string> {
  const roles = new Set<string>();
  for (const mappingId of deployed.idsOfType("AWS::Lambda::EventSourceMapping")) {
    const props = deployed.properties(mappingId);
    if (props.EventSourceArn?.["Fn::GetAtt"]?.[0] !== queueId) continue;
    const functionId: Json = props.FunctionName?.Ref;
    const roleId: Json = deployed.properties(functionId).Role?.["Fn::GetAtt"]?.[0];
    if (typeof roleId !== "string") throw new Error(`${mappingId}: cannot tell the role of ${functionId}`);
    roles.add(roleId);
  }
  return roles;
}

/** The service principals a queue policy allows to SendMessage (an AWS service delivering to the queue). */
function servicesAllowedToSend(queuePolicy: Json): string[] {
  const statements: Json[] = queuePolicy ? [queuePolicy.Statement].flat() : [];
  return statements
    .filter((s) => s.Effect === "Allow")
    .filter((s) => [s.Action].flat().some((a: string) => actionPattern(a).test("sqs:SendMessage")))
    .flatMap((s) => [s.Principal?.Service ?? []].flat() as string[]);
}

/** An IAM action pattern as IAM reads it: case-insensitive, `*` any run of characters, `?` any one. */
function actionPattern(action: string): RegExp {
  const literal = action.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${literal.replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
}
