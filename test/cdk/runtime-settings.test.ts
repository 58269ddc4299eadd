import { beforeAll, describe, expect, it } from "vitest";
import { TOPIC_SETTINGS_PROFILE_NAME } from "#cdk/lib/constructs/runtime-settings.js";
import { applyRuntimeSettingsText, settingsDocumentOf } from "#shared/config/runtime-settings.js";
import { TOPOLOGY_VARIABLE } from "#shared/contract/topology.js";
import {
  type DeployedStack as Deployed,
  deployStack as deploy,
  logicalIdOf as idOf,
} from "../support/deployed-stack.js";
import { evaluate, OTHER_ACCOUNT, roleMay, serviceMayAssume } from "../support/iam.js";
import { stackConfig } from "../support/stack-config.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

const only = (d: Deployed, type: string): [string, Json] => {
  const ids = d.aws.idsOfType(type);
  expect(ids, type).toHaveLength(1);
  const id = ids[0] as string;
  return [id, d.aws.properties(id)];
};

/** The ARN AppConfig Data authorizes StartConfigurationSession / GetLatestConfiguration against. */
function configurationArn(d: Deployed, ids: { app?: string; env?: string; profile?: string } = {}): string {
  const app = ids.app ?? d.aws.resolve({ Ref: only(d, "AWS::AppConfig::Application")[0] });
  const env = ids.env ?? d.aws.resolve({ Ref: only(d, "AWS::AppConfig::Environment")[0] });
  const profile = ids.profile ?? d.aws.resolve({ Ref: only(d, "AWS::AppConfig::ConfigurationProfile")[0] });
  return `arn:aws:appconfig:${d.aws.region}:${d.aws.account}:application/${app}/environment/${env}/configuration/${profile}`;
}

/** Every Lambda function of the template, with its role and its topology's `topicSettings` section (if any). */
function functionsOf(d: Deployed): { id: string; role: string; topicSettings?: Json }[] {
  return d.aws.idsOfType("AWS::Lambda::Function").flatMap((id) => {
    const p = d.aws.properties(id);
    const role = p.Role?.["Fn::GetAtt"]?.[0];
    if (!role) return [];
    const raw = p.Environment?.Variables?.[TOPOLOGY_VARIABLE];
    const topology = raw === undefined ? {} : JSON.parse(d.aws.resolve(raw));
    return [{ id, role, topicSettings: topology.topicSettings }];
  });
}

const environments: Record<string, Deployed> = {};
beforeAll(() => {
  for (const name of ["dev", "prod"]) environments[name] = deploy(stackConfig(name));
});
const each = () => Object.entries(environments);

describe("AppConfig resources", () => {
  it("one application and environment, a hosted freeform profile whose initial version is the CDK-resolved settings", () => {
    for (const [, d] of each()) {
      const [appId] = only(d, "AWS::AppConfig::Application");
      const [, env] = only(d, "AWS::AppConfig::Environment");
      const [profileId, profile] = only(d, "AWS::AppConfig::ConfigurationProfile");
      const [, version] = only(d, "AWS::AppConfig::HostedConfigurationVersion");

      expect(env.ApplicationId).toEqual({ Ref: appId });
      expect(profile).toMatchObject({
        ApplicationId: { Ref: appId },
        Name: TOPIC_SETTINGS_PROFILE_NAME,
        LocationUri: "hosted",
        Type: "AWS.Freeform",
      });
      expect(version.ConfigurationProfileId).toEqual({ Ref: profileId });
      expect(version.ContentType).toBe("application/json");
      expect(JSON.parse(version.Content)).toEqual(settingsDocumentOf(d.config));
      // The initial version is one the functions apply to exactly the deployed settings.
      expect(applyRuntimeSettingsText(d.config, version.Content)).toEqual({ ok: true, config: d.config });
      // AppConfig caps a hosted version at 2 MB by default (the account quota); ours is far below.
      expect(Buffer.byteLength(version.Content)).toBeLessThan(64 * 1024);
    }
  });

  it("the profile's only validator is the stack's validator function, which only AppConfig of this account may invoke", async () => {
    for (const [, d] of each()) {
      const [, profile] = only(d, "AWS::AppConfig::ConfigurationProfile");
      const validatorId = idOf(d, d.stack.runtimeSettings.validator);
      expect(profile.Validators).toEqual([
        { Type: "LAMBDA", Content: { "Fn::GetAtt": [validatorId, "Arn"] } },
      ]);
      expect(d.aws.properties(validatorId).Handler).toBe("index.handler");
      expect(d.template.Resources[validatorId]).toMatchObject({
        Metadata: { "punctual:entry": "functions/validate-topic-settings.ts" },
      });

      const permissions = d.aws
        .idsOfType("AWS::Lambda::Permission")
        .map((id) => d.aws.properties(id))
        .filter((p) => p.Principal === "appconfig.amazonaws.com");
      expect(permissions).toHaveLength(1);
      const functionArn: string = d.aws.resolve({ "Fn::GetAtt": [validatorId, "Arn"] });
      const statement = {
        Effect: "Allow",
        Principal: { Service: "appconfig.amazonaws.com" },
        Action: permissions[0].Action,
        Resource: d.aws.resolve(permissions[0].FunctionName),
        Condition: { StringEquals: { "AWS:SourceAccount": d.aws.resolve(permissions[0].SourceAccount) } },
      };
      const invoke = (account: string) =>
        evaluate({
          principal: "appconfig.amazonaws.com",
          action: "lambda:InvokeFunction",
          resource: functionArn,
          resourceAccount: d.aws.account,
          context: { "aws:SourceAccount": account },
          resourcePolicy: { Version: "2012-10-17", Statement: [statement] },
        });
      expect(await invoke(d.aws.account)).toBe("Allowed");
      expect(await invoke(OTHER_ACCOUNT)).not.toBe("Allowed");
    }
  });

  it("the validator's errors alarm leaves its refusals out (it must throw to refuse): it counts only crashes and timeouts", () => {
    for (const [name, d] of each()) {
      const validatorId = idOf(d, d.stack.runtimeSettings.validator);
      const onValidatorErrors = d.aws
        .idsOfType("AWS::CloudWatch::Alarm")
        .map((id) => d.aws.properties(id))
        .filter((p) =>
          [p, ...(p.Metrics ?? []).map((m: Json) => m.MetricStat?.Metric ?? {})].some(
            (m: Json) => m.MetricName === "Errors" && m.Dimensions?.[0]?.Value?.Ref === validatorId,
          ),
        );
      expect(onValidatorErrors).toHaveLength(1);
      const alarm = onValidatorErrors[0];
      const metric = (id: string) => alarm.Metrics.find((m: Json) => m.Id === id);
      const result = alarm.Metrics.find((m: Json) => m.ReturnData !== false);
      expect(result.Expression).toBe("errors - FILL(refused, 0)");
      expect(metric("refused").MetricStat).toMatchObject({
        Metric: {
          Namespace: "Punctual",
          MetricName: "TopicSettingsRefused",
          Dimensions: [{ Name: "service", Value: `punctual-${name}` }],
        },
        Period: 300,
        Stat: "Sum",
      });
      expect(metric("errors").MetricStat).toMatchObject({ Period: 300, Stat: "Sum" });
      expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: "GreaterThanOrEqualToThreshold" });
    }
  });

  it("leaves the application, environment, profile and hosted version in place when the stack is deleted, in every environment", () => {
    // AppConfig refuses to delete a configuration profile that still has hosted versions ("Cannot delete
    // configuration profile … because there are still hosted configuration versions existing under it",
    // aws/aws-cdk#26804), and it always has some: CDK retains the version it makes, every settings change a deploy
    // makes leaves the previous one, and every runtime edit adds one outside CloudFormation. Deleted with the
    // stack, the profile (then its application) would fail the stack's deletion half-way.
    for (const [, d] of each()) {
      for (const type of [
        "AWS::AppConfig::Application",
        "AWS::AppConfig::Environment",
        "AWS::AppConfig::ConfigurationProfile",
        "AWS::AppConfig::HostedConfigurationVersion",
      ]) {
        const [id] = only(d, type);
        const resource = d.template.Resources[id] as { DeletionPolicy?: string };
        expect(resource.DeletionPolicy, type).toBe("Retain");
      }
    }
  });

  it("deploys the hosted version to the environment with a linear strategy within AppConfig's documented ranges", () => {
    for (const [, d] of each()) {
      const [strategyId, strategy] = only(d, "AWS::AppConfig::DeploymentStrategy");
      const [, deployment] = only(d, "AWS::AppConfig::Deployment");
      const [versionId] = only(d, "AWS::AppConfig::HostedConfigurationVersion");
      const [envId] = only(d, "AWS::AppConfig::Environment");

      expect(deployment).toMatchObject({
        EnvironmentId: { Ref: envId },
        DeploymentStrategyId: { Ref: strategyId },
        ConfigurationVersion: { Ref: versionId },
      });
      expect(strategy.GrowthType).toBe("LINEAR");
      expect(strategy.ReplicateTo).toBe("NONE");
      // AWS: DeploymentDurationInMinutes 0–1440, FinalBakeTimeInMinutes 0–1440, GrowthFactor 1–100.
      expect(strategy.DeploymentDurationInMinutes).toBeGreaterThanOrEqual(0);
      expect(strategy.DeploymentDurationInMinutes).toBeLessThanOrEqual(1440);
      expect(strategy.FinalBakeTimeInMinutes).toBeGreaterThan(0);
      expect(strategy.FinalBakeTimeInMinutes).toBeLessThanOrEqual(1440);
      expect(strategy.GrowthFactor).toBeGreaterThanOrEqual(1);
      expect(strategy.GrowthFactor).toBeLessThanOrEqual(100);
    }
  });

  it("rolls back on the failed-attempts alarm, read through a role only AppConfig assumes, allowed to describe that alarm only", async () => {
    for (const [, d] of each()) {
      const [, env] = only(d, "AWS::AppConfig::Environment");
      const alarmId = idOf(d, d.stack.runtimeSettings.rollbackAlarm);
      expect(env.Monitors).toHaveLength(1);
      const [monitor] = env.Monitors;
      expect(monitor.AlarmArn).toEqual({ "Fn::GetAtt": [alarmId, "Arn"] });
      const roleId = monitor.AlarmRoleArn["Fn::GetAtt"][0];
      const alarmArn: string = d.aws.resolve(monitor.AlarmArn);
      const otherAlarm = alarmArn.replace(/alarm:.*/, "alarm:someone-elses");

      expect(await serviceMayAssume(d.aws, roleId, "appconfig.amazonaws.com", {})).toBe("Allowed");
      expect(await serviceMayAssume(d.aws, roleId, "lambda.amazonaws.com", {})).not.toBe("Allowed");
      expect(await roleMay(d.aws, roleId, "cloudwatch:DescribeAlarms", alarmArn)).toBe("Allowed");
      expect(await roleMay(d.aws, roleId, "cloudwatch:DescribeAlarms", otherAlarm)).not.toBe("Allowed");
    }
  });
});

/**
 * What CloudFormation creates before `id`: its DependsOn and every resource its properties name (Ref, GetAtt, Sub),
 * and theirs in turn. Resources outside this set may be created in parallel with it, or after it.
 */
function createdBefore(d: Deployed, id: string): Set<string> {
  const named = (value: unknown, into: Set<string>): void => {
    if (Array.isArray(value)) for (const v of value) named(v, into);
    else if (typeof value === "string") {
      for (const [, ref] of value.matchAll(/\$\{([A-Za-z0-9]+)[.}]/g)) into.add(ref as string);
    } else if (value && typeof value === "object") {
      for (const [key, v] of Object.entries(value)) {
        if (key === "Ref" && typeof v === "string") into.add(v);
        else if (key === "Fn::GetAtt") into.add(String(Array.isArray(v) ? v[0] : String(v).split(".")[0]));
        else named(v, into);
      }
    }
  };
  const seen = new Set<string>();
  const pending = [id];
  while (pending.length > 0) {
    const resource = d.template.Resources[pending.pop() as string] as Json;
    if (!resource) continue;
    const direct = new Set<string>([resource.DependsOn ?? []].flat());
    named(resource.Properties, direct);
    for (const dep of direct) {
      if (seen.has(dep) || !d.template.Resources[dep]) continue;
      seen.add(dep);
      pending.push(dep);
    }
  }
  return seen;
}

describe("the first settings deployment (stack creation)", () => {
  /**
   * StartDeployment runs the profile's validators (AppConfig invokes the Lambda validator, which needs the invoke
   * permission) and watches the rollback alarm through the monitor role (which needs its DescribeAlarms policy).
   * Neither the permission nor that policy is named by the AppConfig resources, so without an explicit dependency
   * CloudFormation may create the Deployment first, and the stack's creation fails and rolls back.
   */
  it("starts only once AppConfig may invoke the validator and read the rollback alarm", () => {
    for (const [name, d] of each()) {
      const [deploymentId] = only(d, "AWS::AppConfig::Deployment");
      const [, environment] = only(d, "AWS::AppConfig::Environment");
      const before = createdBefore(d, deploymentId);
      const validatorPermissions = d.aws
        .idsOfType("AWS::Lambda::Permission")
        .filter((id) => d.aws.properties(id).Principal === "appconfig.amazonaws.com");
      expect(validatorPermissions, name).toHaveLength(1);
      expect(
        before.has(validatorPermissions[0] as string),
        `${name}: the validator's invoke permission`,
      ).toBe(true);
      const monitorRole = environment.Monitors[0].AlarmRoleArn["Fn::GetAtt"][0];
      const monitorPolicies = d.aws
        .idsOfType("AWS::IAM::Policy")
        .filter((id) => (d.aws.properties(id).Roles as Json[]).some((r) => r?.Ref === monitorRole));
      expect(monitorPolicies, name).toHaveLength(1);
      expect(before.has(monitorPolicies[0] as string), `${name}: the monitor role's policy`).toBe(true);
    }
  });
});

describe("who reads the topic settings", () => {
  it("every function that reads topic settings: deliver, sweeper, add, batch add, reschedule, run, cancel, group cancel, task read, task list, task and topic replay, topic views, topic resume, schedule create/pause/resume/delete and the materializer", () => {
    for (const [, d] of each()) {
      const readers = functionsOf(d)
        .filter((f) => f.topicSettings)
        .map((f) => f.id)
        .sort();
      const expected = [
        ...d.stack.topics.map((t) => t.deliverFunction),
        d.stack.sweeper.sweeperFunction,
        d.stack.scheduleMaterializer.materializerFunction,
        ...(
          [
            "create-schedule",
            "pause-schedule",
            "resume-schedule",
            "delete-schedule",
            "add-task",
            "add-tasks-batch",
            "reschedule-task",
            "run-task",
            "cancel-task",
            "cancel-group",
            "get-task",
            "list-tasks",
            "replay-task",
            "replay-topic",
            "get-topic",
            "list-topics",
            "resume-topic",
          ] as const
        ).map((name) => d.stack.api.functions[name]),
      ]
        .map((fn) => idOf(d, fn))
        .sort();
      expect(readers).toEqual(expected);
      for (const f of functionsOf(d).filter((x) => x.topicSettings)) {
        expect(f.topicSettings, f.id).toEqual({
          applicationId: d.aws.resolve({ Ref: only(d, "AWS::AppConfig::Application")[0] }),
          environmentId: d.aws.resolve({ Ref: only(d, "AWS::AppConfig::Environment")[0] }),
          profileId: d.aws.resolve({ Ref: only(d, "AWS::AppConfig::ConfigurationProfile")[0] }),
        });
      }
    }
  });

  it("readers may start a session on and poll exactly the settings profile; other functions nothing in AppConfig", async () => {
    for (const [, d] of each()) {
      const arn = configurationArn(d);
      expect(arn).toMatch(
        /^arn:aws:appconfig:[a-z0-9-]+:\d{12}:application\/[a-z0-9]{7}\/environment\/[a-z0-9]{7}\/configuration\/[a-z0-9]{7}$/,
      );
      const elsewhere = [
        configurationArn(d, { profile: "zzzzzzz" }),
        configurationArn(d, { env: "zzzzzzz" }),
        configurationArn(d, { app: "zzzzzzz" }),
      ];
      for (const f of functionsOf(d)) {
        for (const action of ["appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"]) {
          expect(await roleMay(d.aws, f.role, action, arn), `${f.id} ${action}`).toBe(
            f.topicSettings ? "Allowed" : "ImplicitlyDenied",
          );
          for (const other of elsewhere) {
            expect(await roleMay(d.aws, f.role, action, other), `${f.id} ${action} ${other}`).toBe(
              "ImplicitlyDenied",
            );
          }
        }
      }
    }
  });
});
