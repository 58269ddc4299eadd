import { describe, expect, it } from "vitest";
import { DEFAULT_SYSTEM_SETTINGS, loadEnvironmentConfig } from "#shared/config/index.js";
import { DEFAULT_CONFIG } from "../../../plan/config.js";
import { LOCAL_PARAMETERS } from "../../../plan/local-profile.js";
import { AWS_PARAMETERS, type Parameter } from "../../../plan/parameters.js";

const AWS_PAGE = /^https:\/\/(docs\.aws\.amazon\.com|aws\.amazon\.com)\//;

function problems(table: Record<string, Parameter>): string[] {
  return Object.entries(table).flatMap(([name, p]) => {
    const out: string[] = [];
    if (!Number.isFinite(p.value) || p.value < 0) out.push(`${name}: value ${p.value}`);
    if (p.unit.trim() === "") out.push(`${name}: no unit`);
    const s = p.source;
    if ("url" in s && !AWS_PAGE.test(s.url)) out.push(`${name}: ${s.url} is not an AWS page`);
    if ("assumption" in s && s.assumption.trim().length < 20)
      out.push(`${name}: assumption without a reason`);
    if ("measured" in s && s.measured.trim() === "") out.push(`${name}: measured, but not how`);
    return out;
  });
}

describe("the planner's parameter tables", () => {
  it("cite every AWS figure to an AWS page or say why it is assumed", () => {
    // Assess
    expect(problems(AWS_PARAMETERS)).toEqual([]);
    expect(Object.values(AWS_PARAMETERS).every((p) => !("measured" in p.source))).toBe(true);
  });

  it("say how every local figure was measured, or why it is assumed", () => {
    expect(problems(LOCAL_PARAMETERS)).toEqual([]);
  });
});

describe("the planner's default configuration", () => {
  it("is today's: the config's timer and the topic default MaximumConcurrency", () => {
    // Prepare
    const config = loadEnvironmentConfig("dev", "");

    // Assess
    expect(DEFAULT_CONFIG.timer).toEqual({
      horizonSeconds: config.timer.horizonSeconds,
      leadSeconds: config.timer.leadSeconds,
    });
    expect(DEFAULT_CONFIG.eventSources.deliver.maxConcurrency).toBe(DEFAULT_SYSTEM_SETTINGS.maxConcurrency);
  });
});

describe("the planner's provisioned-mode figures", () => {
  it("are the SQS ones: Lambda's SQS parameters page gives each SQS poller 1 MB/s and 10 concurrent invokes (the ≈ 5 MB/s on ProvisionedPollerConfig's page was written when provisioned mode served Kafka only)", () => {
    // Prepare
    const { provisionedPollerThroughput, provisionedBatchesPerPoller } = AWS_PARAMETERS;
    const sqsPage = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html";

    // Assess
    expect(provisionedPollerThroughput.value).toBe(1);
    expect(provisionedPollerThroughput.source).toMatchObject({ url: sqsPage });
    expect(provisionedBatchesPerPoller.value).toBe(10);
    expect(provisionedBatchesPerPoller.source).toMatchObject({ url: sqsPage });
  });
});

describe("the planner's event-source scaling figures", () => {
  it("are the current pages': default mode tops out at 1,250 concurrent invokes, provisioned mode adds up to 1,000 a minute", () => {
    // Prepare: services-sqs-scaling.html (the revision that documents provisioned mode for SQS) reads "The maximum
    // number of invokes that an event source mapping can process simultaneously is 1,250"; the launch post of
    // provisioned mode for SQS: "event pollers can auto scale up to 1000 … concurrent executions per minute".
    const { esmMaxBatches, provisionedScaleUpPerMinute } = AWS_PARAMETERS;

    // Assess
    expect(esmMaxBatches.value).toBe(1_250);
    expect(provisionedScaleUpPerMinute.value).toBe(1_000);
  });
});
