import { RemovalPolicy, Validations } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import type { PunctualConfig } from "#shared/config/index.js";
import { SWEEP_INDEX_NAME, SWEEP_SHARD_ATTRIBUTE, SWEEP_SORT_ATTRIBUTE } from "#shared/domain/sweep.js";

export interface TaskTableProps {
  readonly config: PunctualConfig;
}

/** Item-level actions only; no Scan, no streams, no table administration. */
const READ_ACTIONS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"];
const WRITE_ACTIONS = [
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
  "dynamodb:BatchWriteItem",
  "dynamodb:ConditionCheckItem",
];

/**
 * The one task table: `pk`/`sk` strings, on-demand, the sparse sweep index (unfinished tasks by shard and due
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
    this.table = new dynamodb.Table(this, "Table", {
      partitionKey: { name: "pk", type: dynamodb.AttributeType.STRING },
      sortKey: { name: "sk", type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
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
    });
    if (!config.pointInTimeRecovery) {
      Validations.of(this.table).acknowledge({
        id: "AwsSolutions-DDB3",
        reason: `Point-in-time recovery is switched off on purpose in the "${config.name}" environment (config pointInTimeRecovery: false): its tasks are disposable test data. Retained environments turn it on.`,
      });
    }
  }

  get tableName(): string {
    return this.table.tableName;
  }

  /** Item reads on this table (no Scan). */
  grantTaskRead(grantee: iam.IGrantable): void {
    this.grant(grantee, READ_ACTIONS);
  }

  /** Item reads and conditional writes on this table (no Scan, no administration). */
  grantTaskReadWrite(grantee: iam.IGrantable): void {
    this.grant(grantee, [...READ_ACTIONS, ...WRITE_ACTIONS]);
  }

  /** The sweep index's ARN (`<table ARN>/index/<name>`). */
  get sweepIndexArn(): string {
    return `${this.table.tableArn}/index/${SWEEP_INDEX_NAME}`;
  }

  /**
   * The sweeper: Query the sweep index and the table (a group's unfinished tasks), GetItem (a dead-lettered
   * task) and conditional UpdateItem (queued / requeued / failed marks). No Put, no Delete, no Scan.
   */
  grantSweep(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["dynamodb:Query"],
      resourceArns: [this.table.tableArn, this.sweepIndexArn],
    });
    this.grant(grantee, ["dynamodb:GetItem", "dynamodb:UpdateItem"]);
  }

  private grant(grantee: iam.IGrantable, actions: string[]): void {
    iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.table.tableArn] });
  }
}
