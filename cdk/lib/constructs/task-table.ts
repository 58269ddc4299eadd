import { RemovalPolicy, Validations } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import {
  type DynamoOperation,
  dynamoOperationsOf,
  type StoreMethod,
} from "#shared/adapters/dynamo-task-store.js";
import type { ProvisionedCapacity, PunctualConfig } from "#shared/config/index.js";
import {
  FAILED_INDEX_NAME,
  FAILED_SORT_ATTRIBUTE,
  FAILED_TOPIC_ATTRIBUTE,
} from "#shared/domain/failed-index.js";
import {
  SCHEDULE_INDEX_NAME,
  SCHEDULE_SHARD_ATTRIBUTE,
  SCHEDULE_SORT_ATTRIBUTE,
} from "#shared/domain/schedule.js";
import { SWEEP_INDEX_NAME, SWEEP_SHARD_ATTRIBUTE, SWEEP_SORT_ATTRIBUTE } from "#shared/domain/sweep.js";

export interface TaskTableProps {
  readonly config: PunctualConfig;
}

/**
 * The one task table: `pk`/`sk` strings, on-demand or provisioned with auto scaling (config `taskTable.capacity`,
 * docs/COST-AND-SCALE.md "Levers"), the sparse sweep index (unfinished tasks by shard and due
 * time, see shared/domain/sweep.ts), TTL on `expiresAt` (set when a task completes), encrypted
 * with the AWS managed key `aws/dynamodb`, point-in-time recovery and removal policy from the configuration,
 * deletion protection whenever the data is retained.
 *
 * Encryption: AWS managed key rather than a customer managed one. Every use of the key is in CloudTrail, there
 * is no key policy to get wrong (a CMK policy mistake locks the functions out of their own data) and no monthly
 * key charge; DynamoDB caches the table key, so KMS request costs stay negligible at any throughput. A CMK
 * would only pay off for cross-account access or crypto-shredding, neither of which Punctual needs.
 */
export class TaskTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: TaskTableProps) {
    super(scope, id);
    const { config } = props;
    const retain = config.removalPolicy === "retain";
    const provisioned =
      config.taskTable.capacity.mode === "provisioned" ? config.taskTable.capacity : undefined;
    this.table = new dynamodb.Table(this, "Table", {
      partitionKey: { name: "pk", type: dynamodb.AttributeType.STRING },
      sortKey: { name: "sk", type: dynamodb.AttributeType.STRING },
      ...(provisioned
        ? {
            billingMode: dynamodb.BillingMode.PROVISIONED,
            readCapacity: provisioned.table.read.min,
            writeCapacity: provisioned.table.write.min,
          }
        : { billingMode: dynamodb.BillingMode.PAY_PER_REQUEST }),
      timeToLiveAttribute: "expiresAt",
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: config.pointInTimeRecovery },
      deletionProtection: retain,
      removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    // Sparse: only items carrying `sweepShard` (unfinished tasks) are in it. Its keys never change while a task
    // is in it, so it costs one index write on accept and one on completion.
    this.table.addGlobalSecondaryIndex({
      indexName: SWEEP_INDEX_NAME,
      partitionKey: { name: SWEEP_SHARD_ATTRIBUTE, type: dynamodb.AttributeType.NUMBER },
      sortKey: { name: SWEEP_SORT_ATTRIBUTE, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: ["taskId"],
      ...indexCapacity(provisioned),
    });
    // Sparse too: only dead-lettered tasks carry `failedTopic` (markFailed sets it, a replay removes it), so
    // the happy path never writes it. ALL projection: the failed list answers full task views without a read
    // per item, and the index holds only the dead-letter backlog.
    this.table.addGlobalSecondaryIndex({
      indexName: FAILED_INDEX_NAME,
      partitionKey: { name: FAILED_TOPIC_ATTRIBUTE, type: dynamodb.AttributeType.STRING },
      sortKey: { name: FAILED_SORT_ATTRIBUTE, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.ALL,
      ...indexCapacity(provisioned),
    });
    // Issue 14, point 4. Sparse: only active schedules carry `scheduleShard` (pause, delete and the end of a
    // schedule remove it). Keys only: the materializer reads each due schedule from the table, strongly
    // consistent, so the index never holds a content. One index write per materialization (its sort key moves).
    this.table.addGlobalSecondaryIndex({
      indexName: SCHEDULE_INDEX_NAME,
      partitionKey: { name: SCHEDULE_SHARD_ATTRIBUTE, type: dynamodb.AttributeType.NUMBER },
      sortKey: { name: SCHEDULE_SORT_ATTRIBUTE, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
      ...indexCapacity(provisioned),
    });
    if (provisioned) this.scaleOnUtilization(provisioned);
    if (!config.pointInTimeRecovery) {
      Validations.of(this.table).acknowledge({
        id: "AwsSolutions-DDB3",
        reason: `Point-in-time recovery is switched off on purpose in the "${config.name}" environment (config pointInTimeRecovery: false): its tasks are disposable test data. Retained environments turn it on.`,
      });
    }
  }

  /**
   * Target tracking on the table and on each GSI, reads and writes apart (Application Auto Scaling: it raises
   * capacity after about two minutes above the target and lowers it after about fifteen well below it; DynamoDB
   * limits how often a day capacity may be lowered). Between the two, bursts ride on up to 300 s of unused capacity.
   */
  private scaleOnUtilization(capacity: ProvisionedCapacity): void {
    const target = { targetUtilizationPercent: capacity.targetUtilizationPercent };
    const bounds = (range: { min: number; max: number }) => ({
      minCapacity: range.min,
      maxCapacity: range.max,
    });
    this.table.autoScaleReadCapacity(bounds(capacity.table.read)).scaleOnUtilization(target);
    this.table.autoScaleWriteCapacity(bounds(capacity.table.write)).scaleOnUtilization(target);
    for (const indexName of [SWEEP_INDEX_NAME, FAILED_INDEX_NAME, SCHEDULE_INDEX_NAME]) {
      this.table
        .autoScaleGlobalSecondaryIndexReadCapacity(indexName, bounds(capacity.indexes.read))
        .scaleOnUtilization(target);
      this.table
        .autoScaleGlobalSecondaryIndexWriteCapacity(indexName, bounds(capacity.indexes.write))
        .scaleOnUtilization(target);
    }
  }

  get tableName(): string {
    return this.table.tableName;
  }

  /** The sweep index's ARN (`<table ARN>/index/<name>`). */
  get sweepIndexArn(): string {
    return `${this.table.tableArn}/index/${SWEEP_INDEX_NAME}`;
  }

  /** The failed index's ARN (`<table ARN>/index/<name>`). */
  get failedIndexArn(): string {
    return `${this.table.tableArn}/index/${FAILED_INDEX_NAME}`;
  }

  /** The schedule index's ARN (`<table ARN>/index/<name>`). */
  get scheduleIndexArn(): string {
    return `${this.table.tableArn}/index/${SCHEDULE_INDEX_NAME}`;
  }

  /**
   * Exactly the DynamoDB calls `functions/<fn>.ts` makes through the task store (TASK_STORE_OPERATIONS in
   * shared/adapters/dynamo-task-store.ts): item-level actions on the table, Query on the sweep index only for
   * the function that reads it. No Scan, no transaction actions, no table administration; batch actions only
   * where a method sends them (add's BatchWriteItem, deliver's BatchGetItem and PartiQLUpdate).
   */
  grantStoreAccess(grantee: iam.IGrantable, methods: readonly StoreMethod[]): void {
    const operations = dynamoOperationsOf(methods);
    const actionsOn = (target: DynamoOperation["on"]) =>
      operations.filter((op) => op.on === target).map((op) => `dynamodb:${op.action}`);
    for (const [target, resourceArn] of [
      ["table", this.table.tableArn],
      ["sweepIndex", this.sweepIndexArn],
      ["failedIndex", this.failedIndexArn],
      ["scheduleIndex", this.scheduleIndexArn],
    ] as const) {
      const actions = actionsOn(target);
      if (actions.length > 0) iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [resourceArn] });
    }
  }
}

/** A GSI's starting capacity in provisioned mode (auto scaling moves it from there); nothing when on-demand. */
function indexCapacity(
  provisioned: ProvisionedCapacity | undefined,
): Pick<dynamodb.GlobalSecondaryIndexProps, "readCapacity" | "writeCapacity"> {
  return provisioned
    ? { readCapacity: provisioned.indexes.read.min, writeCapacity: provisioned.indexes.write.min }
    : {};
}
