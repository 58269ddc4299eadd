import { describe, expect, it } from "vitest";
import { billedCalls, perTask } from "../../../bench/lib/calls.js";

describe("the call counter's tally (bench/lib/calls.ts)", () => {
  it("counts a PartiQL batch as one request and each of its statements as one write unit", () => {
    // Prepare: 10 tasks: 10 puts, 2 UpdateItems, one batch of 10 starts and one of 10 finishes, a BatchGetItem
    const stats = {
      "dynamodb.PutItem": { requests: 10, faults: {} },
      "dynamodb.UpdateItem": { requests: 2, faults: {} },
      "dynamodb.BatchExecuteStatement": { requests: 2, faults: {}, statements: 18 },
      "dynamodb.BatchGetItem": { requests: 1, faults: {} },
      "sqs.SendMessage": { requests: 10, faults: {} },
    };

    // Act
    const calls = billedCalls(stats);

    // Assess
    expect(calls.requests).toBe(25);
    expect(calls.writeUnits).toBe(30);
    expect(perTask(calls, 10)).toMatchObject({
      requests: 2.5,
      writeUnits: 3,
      "dynamodb.BatchExecuteStatement": 0.2,
    });
    expect(calls.unitsUnknown).toEqual([]);
  });

  it("says when a call's write units cannot be told from the stats", () => {
    const calls = billedCalls({ "dynamodb.BatchWriteItem": { requests: 1, faults: {} } });

    expect(calls.unitsUnknown).toEqual(["dynamodb.BatchWriteItem"]);
  });
});
