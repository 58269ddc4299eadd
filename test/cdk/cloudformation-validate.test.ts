import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { App, CfnResource, CloudFormationValidatePlugin, Stack, Validations } from "aws-cdk-lib";
import { afterEach, describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { ENVIRONMENTS } from "#shared/config/environments/index.js";
import { stackConfig } from "../support/stack-config.js";

/**
 * CDK's CloudFormation validation (the resource providers' schemas: types, required properties, documented
 * minimums and maximums, unknown properties) over every environment's template. The other tests synthesize without
 * it (vitest.config.ts sets CDK_VALIDATION=false: it costs seconds per synthesis), so this file registers the plugin
 * itself, which runs whatever that variable says, and reads its report. A warning counts: CDK reports the schemas'
 * errors as warnings unless a feature flag is set, and a template AWS refuses must fail here, not at deploy.
 */
interface ValidationReport {
  readonly pluginReports: ReadonlyArray<{
    readonly pluginName: string;
    readonly violations: ReadonlyArray<{
      readonly ruleName: string;
      readonly description: string;
      readonly violatingConstructs: ReadonlyArray<{ readonly constructPath?: string }>;
    }>;
  }>;
}

const outdirs: string[] = [];

afterEach(() => {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Synthesizes what `build` adds to a fresh app with the validation plugin registered; its violations, one line each. */
function violationsOf(build: (app: App) => Stack): string[] {
  const outdir = mkdtempSync(path.join(tmpdir(), "punctual-validate-"));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { "aws:cdk:bundling-stacks": [] } });
  Validations.of(app).addPlugins(new CloudFormationValidatePlugin());
  build(app);
  const assembly = app.synth();
  const report = JSON.parse(
    readFileSync(path.join(assembly.directory, "validation-report.json"), "utf8"),
  ) as ValidationReport;
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations.map(
      (v) =>
        `${plugin.pluginName} ${v.ruleName}: ${v.description} at ${v.violatingConstructs.map((c) => c.constructPath).join(", ")}`,
    ),
  );
}

describe("every environment's template passes CloudFormation's own validation", () => {
  it.each(Object.keys(ENVIRONMENTS))("%s: no violation, not even a warning", (environment) => {
    // Act
    const violations = violationsOf((app) => addPunctualStack(app, stackConfig(environment)));

    // Assess
    expect(violations).toEqual([]);
  });

  it("the check sees a property below its documented minimum (the plugin runs with CDK_VALIDATION=false)", () => {
    // Prepare: 60 s is SQS's least MessageRetentionPeriod.
    const build = (app: App) => {
      const stack = new Stack(app, "Probe");
      new CfnResource(stack, "TooShortRetention", {
        type: "AWS::SQS::Queue",
        properties: { MessageRetentionPeriod: 59 },
      });
      return stack;
    };

    // Act
    const violations = violationsOf(build);

    // Assess
    expect(violations).toEqual([
      expect.stringMatching(/MessageRetentionPeriod: 59 is less than the minimum of 60/),
    ]);
  });
});
