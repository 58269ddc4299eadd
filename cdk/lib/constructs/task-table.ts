import { RemovalPolicy, Validations } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import type { PunctualConfig } from "#shared/config/index.js";

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
 * The one task table: `pk`/`sk` strings, on-demand, TTL on `expiresAt` (set when a task completes), encrypted
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

  private grant(grantee: iam.IGrantable, actions: string[]): void {
    iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.table.tableArn] });
  }
}
