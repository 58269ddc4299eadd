import { CfnResource, Stack, Token } from "aws-cdk-lib";
import type * as lambda from "aws-cdk-lib/aws-lambda";

/**
 * Lambda refuses a function whose environment variables exceed 4 KB ("…exceeded the 4KB limit. String measured:
 * {…}": the variables as one JSON object). CDK does not check it and the names CloudFormation generates are unknown
 * at synthesis, so a stack that synthesizes can fail to deploy, and the topology variable grows with every topic.
 * This check makes that a synthesis error: each variable is measured at its longest once deployed, every name
 * AWS generates at the longest it can be and the region, account and partition at their longest.
 *
 * Written here, not taken from a library: nothing published bounds a CloudFormation value's deployed length.
 */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4 * 1024;

type Json = unknown;

/**
 * The longest each pseudo parameter can be: AWS's longest region (us-isof-south-1, 15 characters; the commercial
 * ones reach 14, e.g. ap-southeast-5), partition and URL suffix (test/cdk/environment-budget.test.ts checks them
 * against every region aws-cdk-lib knows).
 */
const LONGEST_REGION = "xx-xxxx-xxxxx-9";
const LONGEST_PARTITION = "aws-us-gov";
const LONGEST_URL_SUFFIX = "amazonaws.com.cn";
const ACCOUNT = "000000000000";
/** What CloudFormation appends to a generated physical name: a hyphen and up to 13 random characters. */
const GENERATED_SUFFIX = "-XXXXXXXXXXXXX";

/** The longest deployed JSON of the function's variables, in bytes (see LAMBDA_ENVIRONMENT_LIMIT_BYTES). */
export function environmentUpperBoundBytes(fn: lambda.Function): number {
  const stack = Stack.of(fn);
  const cfn = fn.node.defaultChild as lambda.CfnFunction;
  // The L1's own property shape (camelCase), before CloudFormation casing.
  const environment = stack.resolve(cfn.environment) as { variables?: Record<string, Json> } | undefined;
  const longest = new LongestValues(stack);
  const variables = Object.fromEntries(
    Object.entries(environment?.variables ?? {}).map(([name, value]) => [name, longest.of(value)]),
  );
  return Buffer.byteLength(JSON.stringify(variables));
}

/** Fails synthesis when a function's variables may pass Lambda's 4 KB once deployed. */
export function checkEnvironmentBudget(fn: lambda.Function): void {
  fn.node.addValidation({
    validate: () => {
      const bytes = environmentUpperBoundBytes(fn);
      if (bytes <= LAMBDA_ENVIRONMENT_LIMIT_BYTES) return [];
      return [
        `the environment variables of ${fn.node.path} can reach ${bytes} bytes once deployed, over Lambda's limit of ${LAMBDA_ENVIRONMENT_LIMIT_BYTES}: the topology grows with every topic, so the deploy would fail. Split the topics across environments or shorten their names (README, "Honest limits": topics per environment).`,
      ];
    },
  });
}

/** Each intrinsic of a resolved template value replaced by the longest string it can deploy as. */
class LongestValues {
  private readonly resources = new Map<string, CfnResource>();
  private readonly stackName: string;

  constructor(private readonly stack: Stack) {
    this.stackName = Token.isUnresolved(stack.stackName) ? "x".repeat(128) : stack.stackName;
    for (const construct of stack.node.findAll()) {
      if (CfnResource.isCfnResource(construct) && Stack.of(construct) === stack) {
        this.resources.set(stack.resolve(construct.logicalId) as string, construct);
      }
    }
  }

  of(value: Json): string {
    const list = this.evaluate(value);
    if (typeof list !== "string") throw new Error(`cannot bound ${JSON.stringify(value)}: not a string`);
    return list;
  }

  private evaluate(value: Json): string | string[] {
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    const [[fn, args] = []] = Object.entries((value ?? {}) as Record<string, Json>);
    if (fn === "Ref") return this.ref(args as string);
    if (fn === "Fn::GetAtt") return this.attribute(...(args as [string, string]));
    if (fn === "Fn::Join") {
      const [separator, parts] = args as [string, Json[]];
      return parts.map((part) => this.of(part)).join(separator);
    }
    if (fn === "Fn::Split") {
      const [separator, source] = args as [string, Json];
      return this.of(source).split(separator);
    }
    if (fn === "Fn::Select") {
      const [index, list] = args as [number | string, Json];
      const values = this.evaluate(list);
      if (!Array.isArray(values)) throw new Error(`cannot bound Fn::Select over ${JSON.stringify(list)}`);
      return values[Number(index)] ?? "";
    }
    throw new Error(`cannot bound the deployed length of ${JSON.stringify(value)}`);
  }

  private ref(id: string): string {
    const pseudo = this.pseudo(id);
    if (pseudo !== undefined) return pseudo;
    const resource = this.resource(id);
    const rule = this.rule(resource);
    return rule.ref(this.nameOf(id, resource, rule));
  }

  private attribute(id: string, attribute: string): string {
    const resource = this.resource(id);
    const rule = this.rule(resource);
    const value = rule.attributes?.[attribute];
    if (!value)
      throw new Error(`cannot bound the deployed length of ${id}.${attribute} (${resource.cfnResourceType})`);
    return value(this.nameOf(id, resource, rule));
  }

  private pseudo(id: string): string | undefined {
    const stackId = `arn:${LONGEST_PARTITION}:cloudformation:${LONGEST_REGION}:${ACCOUNT}:stack/${this.stackName}/${"x".repeat(36)}`;
    const values: Record<string, string> = {
      "AWS::Region": LONGEST_REGION,
      "AWS::AccountId": ACCOUNT,
      "AWS::Partition": LONGEST_PARTITION,
      "AWS::URLSuffix": LONGEST_URL_SUFFIX,
      "AWS::StackName": this.stackName,
      "AWS::StackId": stackId,
    };
    return values[id];
  }

  private resource(id: string): CfnResource {
    const resource = this.resources.get(id);
    if (!resource) throw new Error(`cannot bound Ref ${id}: not a resource of ${this.stack.stackName}`);
    return resource;
  }

  private rule(resource: CfnResource): NameRule {
    const rule = NAME_RULES[resource.cfnResourceType];
    if (!rule) throw new Error(`cannot bound the deployed length of a ${resource.cfnResourceType}'s name`);
    return rule;
  }

  /** The explicit name at its longest, else the longest name CloudFormation or the service generates. */
  private nameOf(id: string, resource: CfnResource, rule: NameRule): string {
    // An L1 resource keeps its properties as public fields named in camelCase.
    const properties = resource as unknown as Record<string, Json>;
    const explicit = rule.nameProperty ? this.stack.resolve(properties[rule.nameProperty]) : undefined;
    if (explicit !== undefined) return this.of(explicit);
    if (rule.generatedLength) return "x".repeat(rule.generatedLength);
    const fifo =
      resource.cfnResourceType === "AWS::SQS::Queue" &&
      String(this.stack.resolve(properties.fifoQueue)) === "true";
    const generated = `${this.stackName}-${id}${GENERATED_SUFFIX}`.slice(
      0,
      rule.maxNameLength - (fifo ? 5 : 0),
    );
    return fifo ? `${generated}.fifo` : generated;
  }
}

interface NameRule {
  /** The L1 field that names the resource explicitly, if any. */
  readonly nameProperty?: string;
  /** The longest name of this type (CloudFormation shortens the parts of a generated name to fit it). */
  readonly maxNameLength: number;
  /** An id the service generates (not CloudFormation's stack-id-suffix name), at its fixed length. */
  readonly generatedLength?: number;
  readonly ref: (name: string) => string;
  readonly attributes?: Readonly<Record<string, (name: string) => string>>;
}

const arn = (service: string, resource: string, global = false) =>
  `arn:${LONGEST_PARTITION}:${service}:${global ? "" : LONGEST_REGION}:${ACCOUNT}:${resource}`;

/** What Ref and Fn::GetAtt return for each type a function's environment names (AWS's resource references). */
const NAME_RULES: Readonly<Record<string, NameRule>> = {
  "AWS::SQS::Queue": {
    nameProperty: "queueName",
    maxNameLength: 80,
    ref: (name) => `https://sqs.${LONGEST_REGION}.${LONGEST_URL_SUFFIX}/${ACCOUNT}/${name}`,
    attributes: { Arn: (name) => arn("sqs", name), QueueName: (name) => name },
  },
  "AWS::DynamoDB::Table": {
    nameProperty: "tableName",
    maxNameLength: 255,
    ref: (name) => name,
    attributes: { Arn: (name) => arn("dynamodb", `table/${name}`) },
  },
  "AWS::IAM::Role": {
    nameProperty: "roleName",
    maxNameLength: 64,
    ref: (name) => name,
    attributes: { Arn: (name) => arn("iam", `role/${name}`, true) },
  },
  "AWS::SecretsManager::Secret": {
    nameProperty: "name",
    maxNameLength: 512,
    // A secret's ARN ends in a hyphen and six random characters.
    ref: (name) => arn("secretsmanager", `secret:${name}-XXXXXX`),
  },
  "AWS::Lambda::EventSourceMapping": { maxNameLength: 36, generatedLength: 36, ref: (uuid) => uuid },
  "AWS::AppConfig::Application": { maxNameLength: 7, generatedLength: 7, ref: (id) => id },
  "AWS::AppConfig::Environment": { maxNameLength: 7, generatedLength: 7, ref: (id) => id },
  "AWS::AppConfig::ConfigurationProfile": { maxNameLength: 7, generatedLength: 7, ref: (id) => id },
};
