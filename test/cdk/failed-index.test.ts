/**
 * The failed index (shared/domain/failed-index.ts): in the template as a GSI on the attributes the store writes,
 * and sparse — of all the store's writes, only markFailed sets its partition key, so no happy-path write
 * (putNew, markQueued, startAttempt, markDelivered, …) ever touches the index.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { PROJECT_ROOT } from "#cdk/lib/constructs/punctual-function.js";
import {
  FAILED_INDEX_NAME,
  FAILED_SORT_ATTRIBUTE,
  FAILED_TOPIC_ATTRIBUTE,
} from "#shared/domain/failed-index.js";
import { stackConfig } from "../support/stack-config.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

let table: Json;

beforeAll(() => {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = addPunctualStack(app, stackConfig("prod"));
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, Json>;
  table = Object.values(resources).find((r) => r.Type === "AWS::DynamoDB::Table")?.Properties;
});

/**
 * The store's methods and their bodies (two-space indented members): of every layer, DynamoAddStore's onwards
 * (markFailed is DynamoDeliverStore's, which DynamoTaskStore extends).
 */
function storeMethods(): Map<string, string> {
  const source = readFileSync(path.join(PROJECT_ROOT, "shared/adapters/dynamo-task-store.ts"), "utf8");
  const classBody = source.slice(source.indexOf("export class DynamoAddStore"));
  const starts = [...classBody.matchAll(/^ {2}(?:private |protected )?(?:async )?(\w+)\(/gm)];
  return new Map(
    starts.map((m, i) => [
      m[1] as string,
      classBody.slice(m.index, starts[i + 1]?.index ?? classBody.length),
    ]),
  );
}

describe("failed index", () => {
  it("is a GSI on failedTopic (hash) and failedAtMs (range) projecting the whole task", () => {
    const index = table.GlobalSecondaryIndexes.find((i: Json) => i.IndexName === FAILED_INDEX_NAME);
    expect(index).toEqual({
      IndexName: FAILED_INDEX_NAME,
      KeySchema: [
        { AttributeName: FAILED_TOPIC_ATTRIBUTE, KeyType: "HASH" },
        { AttributeName: FAILED_SORT_ATTRIBUTE, KeyType: "RANGE" },
      ],
      Projection: { ProjectionType: "ALL" },
    });
  });

  it("is sparse: only the writes that make a task failed set its partition key, and putNew never writes it", () => {
    const setters = [...storeMethods()].filter(([, body]) =>
      // A SET clause written out, or the `set` part a method hands to its shared conditional write
      // (markFailed goes through transitionLogging, which adds the attempt condition).
      /(?:SET |set: `)[^`"]*\$\{FAILED_TOPIC_ATTRIBUTE\} =/.test(body),
    );
    // markFailed, and revertReplay (a replay whose send failed puts its dead letter back to failed).
    expect(setters.map(([name]) => name)).toEqual(["markFailed", "revertReplay"]);
    // putNew writes the record it is given; no producer of new records sets the attribute.
    for (const file of ["shared/services/add-task.ts", "shared/domain/task.ts"]) {
      const source = readFileSync(path.join(PROJECT_ROOT, file), "utf8");
      expect(source, file).not.toMatch(/failedTopic\s*:/);
    }
  });
});
