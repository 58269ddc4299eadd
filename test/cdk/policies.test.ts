import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { API_ROUTES, DEFAULT_ROUTE } from "#shared/api/routes.js";
import {
  type DeployedStack as Deployed,
  deployStack as deploy,
  logicalIdOf as idOf,
} from "../support/deployed-stack.js";
import {
  evaluate,
  evaluateWithEncryptionContext,
  OTHER_ACCOUNT,
  resourcePolicyOf,
  roleMay,
  serviceMayAssume,
} from "../support/iam.js";
import { stackConfig } from "../support/stack-config.js";

const arnOf = (d: Deployed, c: IConstruct): string => d.aws.resolve({ "Fn::GetAtt": [idOf(d, c), "Arn"] });

const environments: Record<string, Deployed> = {};
beforeAll(() => {
  for (const name of ["dev", "prod"]) environments[name] = deploy(stackConfig(name));
});
const each = () => Object.entries(environments);

describe("alarm topic policy", () => {
  /** What CloudWatch presents when an alarm's action publishes to the topic. */
  async function alarmMayPublish(d: Deployed, alarmArn: string, sourceAccount: string) {
    const topicId = idOf(d, d.stack.alarms.topic);
    return evaluate({
      principal: "cloudwatch.amazonaws.com",
      action: "sns:Publish",
      resource: d.aws.resolve({ Ref: topicId }),
      resourceAccount: d.aws.account,
      resourcePolicy: resourcePolicyOf(d.aws, topicId),
      context: { "aws:SourceArn": alarmArn, "aws:SourceAccount": sourceAccount },
    });
  }

  it("lets every alarm of the stack publish to the alarm topic", async () => {
    for (const [name, d] of each()) {
      const alarmIds = d.aws.idsOfType("AWS::CloudWatch::Alarm");
      expect(alarmIds.length, name).toBeGreaterThan(10);
      for (const alarmId of alarmIds) {
        const alarmArn: string = d.aws.resolve({ "Fn::GetAtt": [alarmId, "Arn"] });
        expect(alarmArn, alarmId).toMatch(/^arn:aws:cloudwatch:[a-z0-9-]+:\d{12}:alarm:[^/]+$/);
        expect(await alarmMayPublish(d, alarmArn, d.aws.account), `${name} ${alarmId}`).toBe("Allowed");
      }
    }
  });

  it("every alarm's actions notify the alarm topic, for ALARM and OK", () => {
    for (const [, d] of each()) {
      const topicArn = d.aws.resolve({ Ref: idOf(d, d.stack.alarms.topic) });
      for (const alarmId of d.aws.idsOfType("AWS::CloudWatch::Alarm")) {
        const props = d.aws.resolve(d.aws.properties(alarmId));
        expect(props.AlarmActions, alarmId).toEqual([topicArn]);
        expect(props.OKActions, alarmId).toEqual([topicArn]);
      }
    }
  });

  it("refuses another account's alarm, and a publish without TLS", async () => {
    const d = environments.dev as Deployed;
    const alarmId = d.aws.idsOfType("AWS::CloudWatch::Alarm")[0] as string;
    const ownArn: string = d.aws.resolve({ "Fn::GetAtt": [alarmId, "Arn"] });
    const foreignArn = ownArn.replace(`:${d.aws.account}:`, `:${OTHER_ACCOUNT}:`);
    expect(await alarmMayPublish(d, foreignArn, OTHER_ACCOUNT)).not.toBe("Allowed");
    expect(await alarmMayPublish(d, ownArn, OTHER_ACCOUNT)).not.toBe("Allowed");
    expect(await alarmMayPublish(d, foreignArn, d.aws.account)).not.toBe("Allowed");

    const topicId = idOf(d, d.stack.alarms.topic);
    const insecure = await evaluate({
      principal: "cloudwatch.amazonaws.com",
      action: "sns:Publish",
      resource: d.aws.resolve({ Ref: topicId }),
      resourceAccount: d.aws.account,
      resourcePolicy: resourcePolicyOf(d.aws, topicId),
      context: {
        "aws:SourceArn": ownArn,
        "aws:SourceAccount": d.aws.account,
        "aws:SecureTransport": "false",
      },
    });
    expect(insecure).toBe("ExplicitlyDenied");
  });

  /**
   * What KMS sees when SNS encrypts or decrypts a message CloudWatch publishes: the caller is CloudWatch, and SNS
   * sets the encryption context `aws:sns:topicArn` to the topic's ARN (given, or left out).
   */
  function cloudWatchMayUseKey(d: Deployed, action: string, topicArn?: string) {
    const keyId = idOf(d, d.stack.alarms.key);
    return evaluateWithEncryptionContext({
      principal: "cloudwatch.amazonaws.com",
      action,
      resource: d.aws.resolve({ "Fn::GetAtt": [keyId, "Arn"] }),
      resourceAccount: d.aws.account,
      resourcePolicy: d.aws.resolve(d.aws.properties(keyId).KeyPolicy),
      encryptionContext: topicArn ? { "aws:sns:topicArn": topicArn } : {},
    });
  }

  it("lets CloudWatch use the topic's KMS key (an encrypted topic needs it to accept the publish)", async () => {
    for (const [name, d] of each()) {
      const topicArn: string = d.aws.resolve({ Ref: idOf(d, d.stack.alarms.topic) });
      expect(topicArn).toMatch(/^arn:aws:sns:[a-z0-9-]+:\d{12}:[\w-]+$/);
      for (const action of ["kms:GenerateDataKey", "kms:Decrypt"]) {
        expect(await cloudWatchMayUseKey(d, action, topicArn), `${name} ${action}`).toBe("Allowed");
      }
    }
  });

  /**
   * KMS refuses to create a key (and CloudFormation the stack) whose policy would not let the creating principal
   * change that policy later, its "policy lockout safety check"
   * (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html, BypassPolicyLockoutSafetyCheck): the
   * key policy must leave the key to the account's IAM policies. Evaluated for CloudFormation's deployment role
   * (CDK's bootstrap cfn-exec role, administrator in its account) and for another account's administrator.
   */
  it("leaves the key to this account's administrators (KMS's lockout safety check), never to another account's", async () => {
    const admin = {
      name: "administrator",
      policy: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] },
    };
    for (const [name, d] of each()) {
      const keyId = idOf(d, d.stack.alarms.key);
      const keyArn: string = d.aws.resolve({ "Fn::GetAtt": [keyId, "Arn"] });
      const keyPolicy = d.aws.resolve(d.aws.properties(keyId).KeyPolicy);
      const may = (account: string, action: string) =>
        evaluate({
          principal: `arn:aws:iam::${account}:role/cdk-hnb659fds-cfn-exec-role-${account}-${d.aws.region}`,
          action,
          resource: keyArn,
          resourceAccount: d.aws.account,
          resourcePolicy: keyPolicy,
          identityPolicies: [admin],
        });
      for (const action of ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"]) {
        expect(await may(d.aws.account, action), `${name} ${action}`).toBe("Allowed");
        expect(await may(OTHER_ACCOUNT, action), `${name} ${action}`).not.toBe("Allowed");
      }
    }
  });

  it("refuses CloudWatch the key for another account's topic, and outside SNS (no topic in the context)", async () => {
    const d = environments.dev as Deployed;
    const ownTopic: string = d.aws.resolve({ Ref: idOf(d, d.stack.alarms.topic) });
    const foreignTopic = ownTopic.replace(`:${d.aws.account}:`, `:${OTHER_ACCOUNT}:`);
    const otherRegion = ownTopic.replace(`:${d.aws.region}:`, ":ap-south-2:");
    for (const action of ["kms:GenerateDataKey", "kms:Decrypt"]) {
      expect(await cloudWatchMayUseKey(d, action, foreignTopic), action).not.toBe("Allowed");
      expect(await cloudWatchMayUseKey(d, action, otherRegion), action).not.toBe("Allowed");
      expect(await cloudWatchMayUseKey(d, action), action).not.toBe("Allowed");
    }
  });
});

describe("scheduler role trust policy", () => {
  /** The schedule group's ARN as Scheduler presents it in `aws:SourceArn`. */
  const groupArn = (d: Deployed, account: string) =>
    `arn:aws:scheduler:${d.aws.region}:${account}:schedule-group/${d.aws.resolve({ Ref: idOf(d, d.stack.timerScheduler.group) })}`;
  const roleId = (d: Deployed) => idOf(d, d.stack.timerScheduler.role);

  it("lets EventBridge Scheduler assume the role for this account's schedule group", async () => {
    for (const [name, d] of each()) {
      const arn = groupArn(d, d.aws.account);
      expect(arn).toBe(arnOf(d, d.stack.timerScheduler.group));
      const decision = await serviceMayAssume(d.aws, roleId(d), "scheduler.amazonaws.com", {
        "aws:SourceAccount": d.aws.account,
        "aws:SourceArn": arn,
      });
      expect(decision, name).toBe("Allowed");
    }
  });

  it("refuses another account's schedule group, another group, and other services", async () => {
    const d = environments.dev as Deployed;
    const own = groupArn(d, d.aws.account);
    const cases: [string, Record<string, string>][] = [
      [
        "scheduler.amazonaws.com",
        { "aws:SourceAccount": OTHER_ACCOUNT, "aws:SourceArn": groupArn(d, OTHER_ACCOUNT) },
      ],
      ["scheduler.amazonaws.com", { "aws:SourceAccount": d.aws.account, "aws:SourceArn": `${own}-other` }],
      ["scheduler.amazonaws.com", { "aws:SourceAccount": OTHER_ACCOUNT, "aws:SourceArn": own }],
      ["events.amazonaws.com", { "aws:SourceAccount": d.aws.account, "aws:SourceArn": own }],
    ];
    for (const [service, context] of cases) {
      expect(await serviceMayAssume(d.aws, roleId(d), service, context), JSON.stringify(context)).not.toBe(
        "Allowed",
      );
    }
  });
});

describe("queue policies", () => {
  const queues = (d: Deployed) => [
    d.stack.timerQueues.queue,
    d.stack.timerQueues.deadLetterQueue,
    d.stack.timerQueues.scheduleDeadLetterQueue,
    ...d.stack.topics.flatMap((t) => [t.queue, t.deadLetterQueue]),
  ];

  it("every queue in the stack has a policy, and every policy is one of these queues'", () => {
    for (const [name, d] of each()) {
      const ids = queues(d).map((q) => idOf(d, q));
      expect(d.aws.idsOfType("AWS::SQS::Queue").sort(), name).toEqual([...ids].sort());
      for (const id of ids) expect(resourcePolicyOf(d.aws, id), id).toBeDefined();
    }
  });

  it("deny every request without TLS, even from a role the stack allows", async () => {
    const d = environments.dev as Deployed;
    const schedulerRole = idOf(d, d.stack.timerScheduler.role);
    const relayRole = idOf(d, d.stack.timerQueues.relayFunction.functionRole);
    for (const queue of queues(d)) {
      const queueId = idOf(d, queue);
      const resourcePolicy = resourcePolicyOf(d.aws, queueId);
      for (const [role, action] of [
        [schedulerRole, "sqs:SendMessage"],
        [relayRole, "sqs:ReceiveMessage"],
      ] as const) {
        const decision = await roleMay(d.aws, role, action, arnOf(d, queue), {
          resourcePolicy,
          context: { "aws:SecureTransport": "false" },
        });
        expect(decision, `${queueId} ${action}`).toBe("ExplicitlyDenied");
      }
    }
  });

  it("let the Scheduler role send to the timer queue and the schedule DLQ, and nowhere else", async () => {
    for (const [name, d] of each()) {
      const role = idOf(d, d.stack.timerScheduler.role);
      const allowed = new Set([d.stack.timerQueues.queue, d.stack.timerQueues.scheduleDeadLetterQueue]);
      for (const queue of queues(d)) {
        const decision = await roleMay(d.aws, role, "sqs:SendMessage", arnOf(d, queue), {
          resourcePolicy: resourcePolicyOf(d.aws, idOf(d, queue)),
        });
        expect(decision, `${name} ${idOf(d, queue)}`).toBe(
          allowed.has(queue) ? "Allowed" : "ImplicitlyDenied",
        );
      }
      const receive = await roleMay(d.aws, role, "sqs:ReceiveMessage", arnOf(d, d.stack.timerQueues.queue));
      expect(receive).toBe("ImplicitlyDenied");
    }
  });

  it("let each function consume only its own queue and send only where it must", async () => {
    for (const [name, d] of each()) {
      const relay = idOf(d, d.stack.timerQueues.relayFunction.functionRole);
      const timer = d.stack.timerQueues.queue;
      const may = (role: string, action: string, queue: IConstruct) =>
        roleMay(d.aws, role, action, arnOf(d, queue), {
          resourcePolicy: resourcePolicyOf(d.aws, idOf(d, queue)),
        });
      expect(await may(relay, "sqs:ReceiveMessage", timer), name).toBe("Allowed");
      expect(await may(relay, "sqs:SendMessage", timer), name).toBe("Allowed");
      for (const topic of d.stack.topics) {
        const deliver = idOf(d, topic.deliverFunction.functionRole);
        expect(await may(relay, "sqs:SendMessage", topic.queue)).toBe("Allowed");
        expect(await may(relay, "sqs:SendMessage", topic.deadLetterQueue)).toBe("ImplicitlyDenied");
        expect(await may(deliver, "sqs:ReceiveMessage", topic.queue)).toBe("Allowed");
        expect(await may(deliver, "sqs:ChangeMessageVisibility", topic.queue)).toBe("Allowed");
        expect(await may(deliver, "sqs:SendMessage", topic.deadLetterQueue)).toBe("Allowed");
        expect(await may(deliver, "sqs:SendMessage", topic.queue)).toBe("ImplicitlyDenied");
        expect(await may(deliver, "sqs:ReceiveMessage", timer)).toBe("ImplicitlyDenied");
        for (const other of d.stack.topics.filter((t) => t !== topic)) {
          expect(await may(deliver, "sqs:ReceiveMessage", other.queue)).toBe("ImplicitlyDenied");
          expect(await may(deliver, "sqs:SendMessage", other.deadLetterQueue)).toBe("ImplicitlyDenied");
        }
      }
    }
  });

  // --- issue 11, scope H: replay (appended block) ---
  it("let the replay functions send to the topic FIFO queues and nowhere else, and receive from none", async () => {
    for (const [name, d] of each()) {
      const topicQueues = new Set<IConstruct>(d.stack.topics.map((t) => t.queue));
      for (const [queue, replay] of queues(d).flatMap((q) =>
        (["replay-task", "replay-topic"] as const).map(
          (fn) => [q, idOf(d, d.stack.api.functions[fn].functionRole)] as const,
        ),
      )) {
        const options = { resourcePolicy: resourcePolicyOf(d.aws, idOf(d, queue)) };
        const send = await roleMay(d.aws, replay, "sqs:SendMessage", arnOf(d, queue), options);
        expect(send, `${name} ${idOf(d, queue)}`).toBe(
          topicQueues.has(queue) ? "Allowed" : "ImplicitlyDenied",
        );
        const receive = await roleMay(d.aws, replay, "sqs:ReceiveMessage", arnOf(d, queue), options);
        expect(receive, `${name} ${idOf(d, queue)}`).toBe("ImplicitlyDenied");
      }
    }
  });

  it("refuse another account's principals", async () => {
    const d = environments.dev as Deployed;
    for (const queue of queues(d)) {
      const decision = await evaluate({
        principal: `arn:aws:iam::${OTHER_ACCOUNT}:role/intruder`,
        action: "sqs:SendMessage",
        resource: arnOf(d, queue),
        resourceAccount: d.aws.account,
        resourcePolicy: resourcePolicyOf(d.aws, idOf(d, queue)),
        identityPolicies: [
          {
            name: "all-sqs",
            policy: {
              Version: "2012-10-17",
              Statement: [{ Effect: "Allow", Action: "sqs:*", Resource: "*" }],
            },
          },
        ],
      });
      expect(decision, idOf(d, queue)).not.toBe("Allowed");
    }
  });
});

describe("function policies (who may invoke)", () => {
  /**
   * A function's resource policy as Lambda builds it from its AWS::Lambda::Permission resources: the principal,
   * `ArnLike AWS:SourceArn` for SourceArn and `StringEquals AWS:SourceAccount` for SourceAccount.
   */
  function functionPolicy(d: Deployed, fn: IConstruct) {
    const fnArn = arnOf(d, fn);
    const Statement = d.aws
      .idsOfType("AWS::Lambda::Permission")
      .map((id) => d.aws.resolve(d.aws.properties(id)))
      .filter((p) => p.FunctionName === fnArn)
      .map((p) => ({
        Effect: "Allow",
        Principal: { Service: p.Principal },
        Action: p.Action,
        Resource: fnArn,
        ...(p.SourceArn || p.SourceAccount
          ? {
              Condition: {
                ...(p.SourceArn ? { ArnLike: { "AWS:SourceArn": p.SourceArn } } : {}),
                ...(p.SourceAccount ? { StringEquals: { "AWS:SourceAccount": p.SourceAccount } } : {}),
              },
            }
          : {}),
      }));
    return { Version: "2012-10-17", Statement };
  }
  const invoke = (d: Deployed, fn: IConstruct, principal: string, sourceArn: string) =>
    evaluate({
      principal,
      action: "lambda:InvokeFunction",
      resource: arnOf(d, fn),
      resourceAccount: d.aws.account,
      resourcePolicy: functionPolicy(d, fn),
      context: { "aws:SourceArn": sourceArn, "aws:SourceAccount": d.aws.account },
    });
  /** What API Gateway presents for a request a route of the HTTP API integrates: stage, method, route path. */
  const routeArn = (d: Deployed, apiId: string, routeKey: string, account = d.aws.account) => {
    const [method, path] = routeKey === "$default" ? ["$default", ""] : routeKey.split(" ");
    return `arn:aws:execute-api:${d.aws.region}:${account}:${apiId}/$default/${method}${path}`;
  };

  it("API Gateway may invoke each route's function for that route of this API only", async () => {
    for (const [name, d] of each()) {
      const apiId: string = d.aws.resolve({ Ref: idOf(d, d.stack.api.httpApi) });
      for (const route of [...API_ROUTES, DEFAULT_ROUTE]) {
        const fn = d.stack.api.functions[route.name];
        const via = (arn: string) => invoke(d, fn, "apigateway.amazonaws.com", arn);
        expect(await via(routeArn(d, apiId, route.routeKey)), `${name} ${route.routeKey}`).toBe("Allowed");
        expect(await via(routeArn(d, "otherapi01", route.routeKey)), route.routeKey).not.toBe("Allowed");
        expect(await via(routeArn(d, apiId, route.routeKey, OTHER_ACCOUNT)), route.routeKey).not.toBe(
          "Allowed",
        );
        if (route.routeKey !== "$default") {
          // Another path of the same API (the methods of one path share a permission: `*/*/<path>`).
          const other = API_ROUTES.find((r) => r.routeKey.split(" ")[1] !== route.routeKey.split(" ")[1]);
          expect(await via(routeArn(d, apiId, other?.routeKey ?? "")), route.routeKey).not.toBe("Allowed");
        }
        expect(await invoke(d, fn, "events.amazonaws.com", routeArn(d, apiId, route.routeKey))).not.toBe(
          "Allowed",
        );
      }
    }
  });

  it("EventBridge may invoke the sweeper and the materializer for their own rules only", async () => {
    for (const [name, d] of each()) {
      const pairs = [
        [d.stack.sweeper.sweeperFunction, d.stack.sweeper.rule],
        [d.stack.scheduleMaterializer.materializerFunction, d.stack.scheduleMaterializer.rule],
      ] as const;
      for (const [fn, rule] of pairs) {
        const own = `arn:aws:events:${d.aws.region}:${d.aws.account}:rule/${d.aws.resolve({ Ref: idOf(d, rule) })}`;
        expect(await invoke(d, fn, "events.amazonaws.com", own), `${name} ${idOf(d, fn)}`).toBe("Allowed");
        const others = pairs.filter(([, r]) => r !== rule).map(([, r]) => r);
        for (const other of others) {
          const arn = `arn:aws:events:${d.aws.region}:${d.aws.account}:rule/${d.aws.resolve({ Ref: idOf(d, other) })}`;
          expect(await invoke(d, fn, "events.amazonaws.com", arn), idOf(d, fn)).not.toBe("Allowed");
        }
        expect(await invoke(d, fn, "apigateway.amazonaws.com", own)).not.toBe("Allowed");
      }
    }
  });
});

describe("resource policies grant nothing the evaluations above do not cover", () => {
  type Statement = { Effect: string; Principal?: unknown; Action: string | string[] };
  /** Each statement that allows, as `<principal> <actions>`: who it lets in, and to do what. */
  const allowsOf = (d: Deployed, document: unknown): string[] =>
    [d.aws.resolve(document).Statement as Statement | Statement[]]
      .flat()
      .filter((st) => st.Effect === "Allow")
      .map((st) => `${JSON.stringify(st.Principal)} ${[st.Action].flat().sort().join(",")}`);
  const service = (name: string) => JSON.stringify({ Service: name });

  /**
   * The queue, topic and key policies allow only what "alarm topic policy" and "queue policies" evaluate: a queue
   * policy only denies requests without TLS (the functions' and Scheduler's own roles carry their access), the
   * topic lets CloudWatch publish, its key is the account's (IAM decides) and CloudWatch's. A statement letting
   * another principal in (a service without conditions, another account) would pass every evaluation above.
   */
  it("queues allow no one; the alarm topic, CloudWatch's publishing; its key, the account and CloudWatch", () => {
    for (const [name, d] of each()) {
      for (const id of d.aws.idsOfType("AWS::SQS::QueuePolicy"))
        expect(allowsOf(d, d.aws.properties(id).PolicyDocument), `${name} ${id}`).toEqual([]);
      const [topicPolicy, ...otherTopicPolicies] = d.aws.idsOfType("AWS::SNS::TopicPolicy");
      expect(otherTopicPolicies).toEqual([]);
      expect(allowsOf(d, d.aws.properties(topicPolicy as string).PolicyDocument), name).toEqual([
        `${service("cloudwatch.amazonaws.com")} sns:Publish`,
      ]);
      const keys = d.aws.idsOfType("AWS::KMS::Key");
      expect(keys, name).toEqual([idOf(d, d.stack.alarms.key)]);
      expect(allowsOf(d, d.aws.properties(keys[0] as string).KeyPolicy).sort(), name).toEqual(
        [
          `${JSON.stringify({ AWS: `arn:aws:iam::${d.aws.account}:root` })} kms:*`,
          `${service("cloudwatch.amazonaws.com")} kms:Decrypt,kms:GenerateDataKey*`,
        ].sort(),
      );
    }
  });

  /**
   * "function policies" evaluates API Gateway's and EventBridge's permissions, and runtime-settings.test.ts
   * AppConfig's on the validator: every permission of the stack is one of those, each with its source condition.
   * The queue consumers (relay, deliver) are invoked by their event source mappings with their own roles and
   * need none; a permission on them, or a second one elsewhere, would be evaluated by nothing.
   */
  it("lets API Gateway invoke the route functions, EventBridge the sweeper and the materializer, AppConfig the validator; nothing else", () => {
    for (const [name, d] of each()) {
      const { api, sweeper, scheduleMaterializer, runtimeSettings } = d.stack;
      const expected = new Map<string, string>([
        ...Object.values(api.functions).map((fn) => [idOf(d, fn), "apigateway.amazonaws.com"] as const),
        [idOf(d, sweeper.sweeperFunction), "events.amazonaws.com"],
        [idOf(d, scheduleMaterializer.materializerFunction), "events.amazonaws.com"],
        [idOf(d, runtimeSettings.validator), "appconfig.amazonaws.com"],
      ]);
      const granted = d.aws.idsOfType("AWS::Lambda::Permission").map((id) => {
        const p = d.aws.properties(id);
        expect(p.SourceArn ?? p.SourceAccount, `${name} ${id}: no source condition`).toBeDefined();
        expect(p.Action, id).toBe("lambda:InvokeFunction");
        return `${p.FunctionName["Fn::GetAtt"][0]} ${p.Principal}`;
      });
      expect(granted.sort(), name).toEqual(
        [...expected].map(([fn, principal]) => `${fn} ${principal}`).sort(),
      );
    }
  });
});
