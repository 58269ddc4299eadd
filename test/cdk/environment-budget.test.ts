/**
 * The synthesis check's pseudo parameters (cdk/lib/environment-budget.ts) against every region aws-cdk-lib knows:
 * each must be bounded at least as long as it deploys in any of them, or a function near the 4 KB limit passes
 * synthesis and fails the deploy there. A plain Lambda function per value, so only that value is measured.
 */
import { App, Aws, Stack } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { RegionInfo } from "aws-cdk-lib/region-info";
import { describe, expect, it } from "vitest";
import { environmentUpperBoundBytes } from "#cdk/lib/environment-budget.js";

/** The bound for one variable `V` holding `value`, less the JSON around it (`{"V":""}`). */
function boundOf(value: string): number {
  const stack = new Stack(new App(), "Budget");
  const fn = new lambda.Function(stack, "Fn", {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: "index.handler",
    code: lambda.Code.fromInline("export const handler = () => {};"),
    environment: { V: value },
  });
  return environmentUpperBoundBytes(fn) - '{"V":""}'.length;
}

const longest = (values: readonly string[]) => Math.max(...values.map((value) => value.length));
const regions = RegionInfo.regions.filter((region) => region.partition !== undefined);

describe("the environment bound's pseudo parameters, in every region aws-cdk-lib knows", () => {
  it("AWS::Region is bounded by the longest region name (us-isof-south-1: 15 characters)", () => {
    expect(boundOf(Aws.REGION)).toBeGreaterThanOrEqual(longest(regions.map((region) => region.name)));
  });

  it("AWS::Partition and AWS::URLSuffix by the longest of each", () => {
    expect(boundOf(Aws.PARTITION)).toBeGreaterThanOrEqual(
      longest(regions.map((region) => region.partition as string)),
    );
    expect(boundOf(Aws.URL_SUFFIX)).toBeGreaterThanOrEqual(
      longest(regions.map((region) => region.domainSuffix as string)),
    );
  });
});
