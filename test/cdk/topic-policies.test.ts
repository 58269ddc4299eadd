/**
 * The topic routes' grants (pause-topic, resume-topic, list-topics, get-topic), evaluated as AWS evaluates them
 * (test/support/iam.ts) against the ARNs AWS presents: an event source mapping is authorized by
 * `arn:aws:lambda:<region>:<account>:event-source-mapping:<UUID>`, a queue by its queue ARN.
 */
import { randomUUID } from "node:crypto";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import type { Topic } from "#cdk/lib/constructs/topic.js";
import type { ApiRouteName } from "#shared/api/routes.js";
import { prod } from "#shared/config/environments/prod.js";
import { parseConfig } from "#shared/config/index.js";
import {
  type DeployedStack as Deployed,
  deployStack as deploy,
  logicalIdOf as idOf,
} from "../support/deployed-stack.js";
import { roleMay } from "../support/iam.js";
import { stackConfig } from "../support/stack-config.js";

const arnOf = (d: Deployed, c: IConstruct): string => d.aws.resolve({ "Fn::GetAtt": [idOf(d, c), "Arn"] });
const roleOf = (d: Deployed, name: ApiRouteName) => idOf(d, d.stack.api.functions[name].functionRole);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The ARN Lambda presents to IAM for the topic's deliver mapping: built from the mapping's UUID, as AWS does. */
function mappingArnOf(d: Deployed, topic: Topic): string {
  const deliver = idOf(d, topic.deliverFunction);
  const [mapping, ...others] = d.aws
    .idsOfType("AWS::Lambda::EventSourceMapping")
    .filter((id) => d.aws.properties(id).FunctionName?.Ref === deliver);
  expect(others, topic.name).toEqual([]);
  const uuid: string = d.aws.resolve({ Ref: mapping });
  expect(uuid, topic.name).toMatch(UUID);
  return `arn:aws:lambda:${d.aws.region}:${d.aws.account}:event-source-mapping:${uuid}`;
}

/**
 * What Lambda presents with a request on a topic's mapping: `lambda:FunctionArn`, the function it invokes (the
 * topic's deliver function) — https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html.
 */
const invoking = (d: Deployed, topic: Topic) => ({
  context: { "lambda:FunctionArn": arnOf(d, topic.deliverFunction) },
});

const otherMappingArn = (d: Deployed) =>
  `arn:aws:lambda:${d.aws.region}:${d.aws.account}:event-source-mapping:${randomUUID()}`;

const environments: Record<string, Deployed> = {};
beforeAll(() => {
  for (const name of ["dev", "prod"]) environments[name] = deploy(stackConfig(name));
});
const each = () => Object.entries(environments);

const SWITCHES: ApiRouteName[] = ["pause-topic", "resume-topic"];
const READERS: ApiRouteName[] = ["list-topics", "get-topic"];

describe("topic routes' grants", () => {
  it("let pause/resume get and update exactly the topics' deliver mappings, no other mapping", async () => {
    for (const [name, d] of each()) {
      expect(d.stack.topics.length, name).toBeGreaterThan(0);
      for (const fn of SWITCHES) {
        const role = roleOf(d, fn);
        for (const topic of d.stack.topics) {
          const arn = mappingArnOf(d, topic);
          for (const action of ["lambda:UpdateEventSourceMapping", "lambda:GetEventSourceMapping"]) {
            expect(
              await roleMay(d.aws, role, action, arn, invoking(d, topic)),
              `${name} ${fn} ${action} ${topic.name}`,
            ).toBe("Allowed");
          }
        }
        const first = d.stack.topics[0] as Topic;
        const other = otherMappingArn(d);
        expect(
          await roleMay(d.aws, role, "lambda:UpdateEventSourceMapping", other, invoking(d, first)),
          `${name} ${fn}`,
        ).toBe("ImplicitlyDenied");
        expect(
          await roleMay(
            d.aws,
            role,
            "lambda:DeleteEventSourceMapping",
            mappingArnOf(d, first),
            invoking(d, first),
          ),
        ).toBe("ImplicitlyDenied");
      }
    }
  });

  it("let list/get read the topics' mappings but update none; no other API function may update one", async () => {
    for (const [name, d] of each()) {
      for (const topic of d.stack.topics) {
        const arn = mappingArnOf(d, topic);
        for (const fn of READERS) {
          expect(
            await roleMay(d.aws, roleOf(d, fn), "lambda:GetEventSourceMapping", arn, invoking(d, topic)),
            `${name} ${fn}`,
          ).toBe("Allowed");
        }
        const others = Object.keys(d.stack.api.functions).filter(
          (fn) => !SWITCHES.includes(fn as ApiRouteName),
        ) as ApiRouteName[];
        expect(others).toEqual(expect.arrayContaining(READERS));
        for (const fn of others) {
          expect(
            await roleMay(d.aws, roleOf(d, fn), "lambda:UpdateEventSourceMapping", arn, invoking(d, topic)),
            `${name} ${fn} ${topic.name}`,
          ).toBe("ImplicitlyDenied");
        }
      }
    }
  });

  it("let list/get read queue attributes of the topic queues and DLQs only; pause/resume read none", async () => {
    for (const [name, d] of each()) {
      const topicQueues = new Set<IConstruct>(d.stack.topics.flatMap((t) => [t.queue, t.deadLetterQueue]));
      const queues = [
        d.stack.timerQueues.queue,
        d.stack.timerQueues.deadLetterQueue,
        d.stack.timerQueues.scheduleDeadLetterQueue,
        ...topicQueues,
      ];
      for (const queue of queues) {
        const arn = arnOf(d, queue);
        for (const fn of READERS) {
          expect(
            await roleMay(d.aws, roleOf(d, fn), "sqs:GetQueueAttributes", arn),
            `${name} ${fn} ${arn}`,
          ).toBe(topicQueues.has(queue) ? "Allowed" : "ImplicitlyDenied");
          for (const action of ["sqs:ReceiveMessage", "sqs:SendMessage", "sqs:PurgeQueue"]) {
            expect(await roleMay(d.aws, roleOf(d, fn), action, arn), `${name} ${fn} ${action}`).toBe(
              "ImplicitlyDenied",
            );
          }
        }
        for (const fn of SWITCHES) {
          expect(await roleMay(d.aws, roleOf(d, fn), "sqs:GetQueueAttributes", arn), `${name} ${fn}`).toBe(
            "ImplicitlyDenied",
          );
        }
      }
    }
  });

  it("with 13 topics, the most an environment takes, every topic's mapping is switched by its own grant alone", async () => {
    // Prepare: more topics than one switch policy holds (cdk/lib/constructs/topic-switch.ts), so they span two.
    const topics = Object.fromEntries(Array.from({ length: 13 }, (_, i) => [`t${i}`, {}]));
    const d = deploy(
      parseConfig({ ...prod, topics, alarmSubscribers: { emails: ["oncall@punctual.test"], httpsUrls: [] } }),
    );
    const switchers = [
      ...SWITCHES.map((fn) => roleOf(d, fn)),
      idOf(d, d.stack.sweeper.sweeperFunction.functionRole),
    ];

    // Act & Assess
    expect(d.aws.idsOfType("AWS::IAM::ManagedPolicy").length).toBeGreaterThan(1);
    for (const [index, topic] of d.stack.topics.entries()) {
      const arn = mappingArnOf(d, topic);
      const neighbour = d.stack.topics[(index + 1) % d.stack.topics.length] as Topic;
      for (const role of switchers) {
        expect(
          await roleMay(d.aws, role, "lambda:UpdateEventSourceMapping", arn, invoking(d, topic)),
          `${role} ${topic.name}`,
        ).toBe("Allowed");
        // Never re-pointed at another topic's deliver function.
        expect(
          await roleMay(d.aws, role, "lambda:UpdateEventSourceMapping", arn, invoking(d, neighbour)),
          `${role} ${topic.name} → ${neighbour.name}`,
        ).toBe("ImplicitlyDenied");
      }
    }
  });
});
