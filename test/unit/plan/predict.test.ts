import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../../../plan/config.js";
import { AWS_PARAMETERS as P } from "../../../plan/parameters.js";
import { predict } from "../../../plan/predict.js";
import { handProfile, LATENCY as L } from "./fakes.js";

describe("predict: requests, write units and cost of one task, added up by hand", () => {
  it("charges one API request, three invocations, three standard and three FIFO requests, three WRU, one RRU and the billed time", () => {
    // Prepare: one task due 5 s after it is added; the relay receives it just under a second early.
    const relayStarts = -1000 + L.api + L.ddbPut + L.sqsSend + L.sqsReceive;
    const billedMs = {
      add: L.ddbPut + L.sqsSend,
      relay: L.ddbQuery + L.sqsSendBatch - relayStarts, // the relay writes nothing to the table
      deliver: L.ddbUpdate + L.callback + L.ddbUpdate,
    };
    const gbSeconds = ((billedMs.add + billedMs.relay + billedMs.deliver) / 1000) * P.lambdaMemoryGb.value;
    const expected =
      P.priceApiPerM.value +
      3 * P.priceLambdaRequestPerM.value +
      3 * P.priceSqsStandardPerM.value + // send, receive, delete
      3 * P.priceSqsFifoPerM.value + // send batch, receive, delete
      3 * P.priceDynamoWruPerM.value + // put, delivering, delivered
      1 * P.priceDynamoRruPerM.value + // the group's Query
      gbSeconds * P.priceLambdaGbSecond.value * 1e6;

    // Act
    const prediction = predict({ burst: 1, groups: 1, delaySeconds: 5 }, DEFAULT_CONFIG, handProfile());

    // Assess
    expect(prediction.perTask).toEqual({ awsRequests: 10, wru: 3, updateItems: 2 });
    expect(prediction.costPerMillion).toBeCloseTo(expected, 2);
    expect(prediction.peakConcurrency).toEqual({ add: 1, relay: 1, deliver: 1, total: 3 });
  });

  it("reports the per-group DynamoDB and FIFO limits as hard: exceeded, never offered as a quota to raise", () => {
    // Act
    const prediction = predict(
      { rate: 2_000, durationSeconds: 1, delaySeconds: 2, groups: 1 },
      DEFAULT_CONFIG,
      handProfile(),
    );

    // Assess
    const byName = new Map(prediction.quotas.map((q) => [q.quota, q]));
    const partition = byName.get("DynamoDB partition write units/s (hard)");
    expect(partition?.needed).toBeGreaterThan(partition?.limit ?? Number.POSITIVE_INFINITY);
    expect(partition?.raiseTo).toBeUndefined();
    const perGroup = byName.get("SQS FIFO messages/s per group (hard)");
    expect(perGroup?.needed).toBe(2_000);
    expect(perGroup?.raiseTo).toBeUndefined();
  });
});
