import { createHash } from "node:crypto";
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
} from "@aws-sdk/client-dynamodb";
import {
  ConflictException,
  CreateScheduleGroupCommand,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import {
  type CfnTemplate,
  type LocalTopology,
  type PhysicalResource,
  type QueueSpec,
  resolveIntrinsics,
  type ScheduleGroupSpec,
  type TableSpec,
} from "./template.js";

export interface ProvisionContext {
  readonly region: string;
  readonly accountId: string;
  readonly stackName: string;
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly scheduler: SchedulerClient;
}

/**
 * Creates the topology's tables, queues (dead-letter queues first) and schedule groups in the emulators and
 * returns what every logical id resolves to. Creation is idempotent, so a persisted data directory is reused.
 */
export async function provision(
  template: CfnTemplate,
  topology: LocalTopology,
  ctx: ProvisionContext,
): Promise<Map<string, PhysicalResource>> {
  const physical = new Map<string, PhysicalResource>();
  // Anything we do not emulate still needs a stable name and a well-formed ARN for environment variables.
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    physical.set(logicalId, placeholder(resource.Type, logicalId, ctx));
  }
  for (const table of topology.tables) physical.set(table.logicalId, await createTable(table, ctx));
  await createQueues(topology.queues, physical, ctx);
  for (const group of topology.scheduleGroups) {
    physical.set(group.logicalId, await createScheduleGroup(group, physical, ctx));
  }
  return physical;
}

function regionalArn(ctx: ProvisionContext, service: string, resource: string): string {
  return `arn:aws:${service}:${ctx.region}:${ctx.accountId}:${resource}`;
}

async function createTable(table: TableSpec, ctx: ProvisionContext): Promise<PhysicalResource> {
  const name = `${ctx.stackName}-${table.logicalId}`;
  try {
    await ctx.dynamodb.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: table.keySchema as never,
        AttributeDefinitions: table.attributeDefinitions as never,
        BillingMode: "PAY_PER_REQUEST",
        ...(table.globalSecondaryIndexes
          ? { GlobalSecondaryIndexes: table.globalSecondaryIndexes as never }
          : {}),
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
    await requireIndexes(ctx.dynamodb, name, table.globalSecondaryIndexes ?? []);
  }
  const tableArn = regionalArn(ctx, "dynamodb", `table/${name}`);
  return { ref: name, attributes: { Arn: tableArn, StreamArn: `${tableArn}/stream/local` } };
}

/** Dead-letter queues first: a queue's redrive policy names its dead-letter queue's ARN. */
async function createQueues(
  queues: readonly QueueSpec[],
  physical: Map<string, PhysicalResource>,
  ctx: ProvisionContext,
): Promise<void> {
  const pending = [...queues];
  const created = new Set<string>();
  while (pending.length > 0) {
    const index = pending.findIndex((q) => !q.redrive || created.has(q.redrive.deadLetterLogicalId));
    if (index < 0) throw new Error("queue redrive policies form a cycle");
    const [queue] = pending.splice(index, 1) as [QueueSpec];
    physical.set(queue.logicalId, await createQueue(queue, physical, ctx));
    created.add(queue.logicalId);
  }
}

async function createScheduleGroup(
  group: ScheduleGroupSpec,
  physical: Map<string, PhysicalResource>,
  ctx: ProvisionContext,
): Promise<PhysicalResource> {
  const name =
    group.name === undefined
      ? `${ctx.stackName}-${group.logicalId}`
      : String(resolveIntrinsics(group.name, { ...ctx, physical }));
  try {
    await ctx.scheduler.send(new CreateScheduleGroupCommand({ Name: name }));
  } catch (error) {
    if (!(error instanceof ConflictException)) throw error;
  }
  return { ref: name, attributes: { Arn: regionalArn(ctx, "scheduler", `schedule-group/${name}`) } };
}

/**
 * A table kept in a `--data` directory from before an index was added lacks it, and dynalite cannot add an index
 * to an existing table: say so plainly rather than fail later on every query of the index.
 */
async function requireIndexes(
  dynamodb: DynamoDBClient,
  tableName: string,
  indexes: readonly { IndexName: string }[],
): Promise<void> {
  if (indexes.length === 0) return;
  const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
  const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  const missing = indexes.filter((i) => !present.has(i.IndexName)).map((i) => i.IndexName);
  if (missing.length > 0) throw new OutdatedDataDirError(tableName, missing);
}

/** `npm start` prints it as one line (local/cloud/start-failure.ts): the developer's fix, not a stack trace. */
export class OutdatedDataDirError extends Error {
  constructor(tableName: string, missingIndexes: readonly string[]) {
    super(
      `table ${tableName} in the data directory has no index ${missingIndexes.join(", ")} (it was created by an ` +
        "older version of Punctual, and the emulator cannot add indexes): start with a new --data directory",
    );
    this.name = "OutdatedDataDirError";
  }
}

async function createQueue(
  queue: QueueSpec,
  physical: ReadonlyMap<string, PhysicalResource>,
  ctx: ProvisionContext,
): Promise<PhysicalResource> {
  const name = `${ctx.stackName}-${queue.logicalId}${queue.fifo ? ".fifo" : ""}`;
  const attributes: Record<string, string> = { ...queue.attributes };
  if (queue.redrive) {
    const dlqArn = physical.get(queue.redrive.deadLetterLogicalId)?.attributes.Arn;
    attributes.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: queue.redrive.maxReceiveCount,
    });
  }
  const { QueueUrl } = await ctx.sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
  );
  if (!QueueUrl) throw new Error(`CreateQueue returned no URL for ${name}`);
  const { Attributes } = await ctx.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
  );
  const queueArn = Attributes?.QueueArn ?? `arn:aws:sqs:${ctx.region}:${ctx.accountId}:${name}`;
  return { ref: QueueUrl, attributes: { Arn: queueArn, QueueName: name, QueueUrl } };
}

function placeholder(type: string, logicalId: string, ctx: ProvisionContext): PhysicalResource {
  const name = `${ctx.stackName}-${logicalId}`;
  const regional = (service: string, resource: string) =>
    `arn:aws:${service}:${ctx.region}:${ctx.accountId}:${resource}`;
  switch (type) {
    case "AWS::IAM::Role":
      return {
        ref: name,
        attributes: { Arn: `arn:aws:iam::${ctx.accountId}:role/${name}`, RoleId: logicalId },
      };
    case "AWS::Lambda::Function":
      return { ref: name, attributes: { Arn: regional("lambda", `function:${name}`) } };
    case "AWS::Lambda::EventSourceMapping": {
      // Its Ref is the mapping's UUID; locally a stable one per logical id, so a --data restart keeps its state.
      const uuid = localMappingUuid(`${ctx.stackName}/${logicalId}`);
      return {
        ref: uuid,
        attributes: { Id: uuid, EventSourceMappingArn: regional("lambda", `event-source-mapping:${uuid}`) },
      };
    }
    case "AWS::SecretsManager::Secret": {
      const secretArn = regional("secretsmanager", `secret:${name}-local`);
      return { ref: secretArn, attributes: { Arn: secretArn } };
    }
    case "AWS::SNS::Topic": {
      const topicArn = regional("sns", name);
      return { ref: topicArn, attributes: { Arn: topicArn, TopicName: name } };
    }
    case "AWS::KMS::Key":
      return { ref: logicalId, attributes: { Arn: regional("kms", `key/${logicalId}`), KeyId: logicalId } };
    case "AWS::Logs::LogGroup":
      return { ref: name, attributes: { Arn: regional("logs", `log-group:${name}:*`) } };
    default: {
      const service = type.split("::")[1]?.toLowerCase() ?? "unknown";
      return { ref: name, attributes: { Arn: regional(service, name) } };
    }
  }
}

/** A UUID-shaped id derived from a name (the local stand-in for the UUID Lambda gives a mapping). */
export function localMappingUuid(name: string): string {
  const hex = createHash("sha256").update(name).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
