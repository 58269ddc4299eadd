import { describe, expect, it } from "vitest";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { DEFAULT_CONFIG, plannerConfigFor, withOverrides } from "../../../plan/config.js";
import { AWS_PROFILE } from "../../../plan/model/profile.js";
import { AWS_PARAMETERS as P } from "../../../plan/parameters.js";
import { predict } from "../../../plan/predict.js";
import { handProfile, LATENCY as L } from "./fakes.js";

describe("predict: requests, write units and cost of one task, added up by hand", () => {
  it("charges one API request, three invocations, three standard and three FIFO requests, three WRU, one RRU and the billed time (a batch of one: its own UpdateItem start, the finishing call's one statement)", () => {
    // Prepare: one task due 5 s after it is added; the relay receives it just under a second early.
    const relayStarts = -1000 + L.api + L.ddbPut + L.sqsSend + L.sqsReceive;
    const billedMs = {
      add: L.ddbPut + L.sqsSend,
      relay: L.ddbQuery + L.sqsSendBatch - relayStarts, // the relay writes nothing to the table
      deliver: L.ddbUpdate + L.callback + L.ddbBatchStatement,
    };
    const gbSeconds = ((billedMs.add + billedMs.relay + billedMs.deliver) / 1000) * P.lambdaMemoryGb.value;
    const expected =
      P.priceApiPerM.value +
      3 * P.priceLambdaRequestPerM.value +
      3 * P.priceSqsStandardPerM.value + // send, receive, delete
      3 * P.priceSqsFifoPerM.value + // send batch, receive, delete
      3 * P.priceDynamoWruPerM.value + // put, delivering (UpdateItem), delivered (one statement)
      1 * P.priceDynamoRruPerM.value + // the group's Query
      gbSeconds * P.priceLambdaGbSecond.value * 1e6;

    // Act
    const prediction = predict({ burst: 1, groups: 1, delaySeconds: 5 }, DEFAULT_CONFIG, handProfile());

    // Assess
    // PutItem, UpdateItem, BatchExecuteStatement, Query, and six SQS requests; three of them DynamoDB writes.
    expect(prediction.perTask).toEqual({ awsRequests: 10, wru: 3, rru: 1, ddbWriteCalls: 3 });
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

describe("predict: the quota rows of a burst", () => {
  it("hold API Gateway to the rate the adds came at, not the rate the burst was delivered at", () => {
    // Prepare: 64 callers add 3,000 tasks 13 s ahead, all due in the same second: prod's pollers deliver them far
    // faster than they were added.
    const prod = plannerConfigFor("prod");

    // Act
    const prediction = predict({ burst: 3_000, groups: 3_000, delaySeconds: 13 }, prod, AWS_PROFILE);

    // Assess
    expect(prediction.deliveryRate).toBeGreaterThan(2 * prediction.addRate);
    const api = prediction.quotas.find((q) => q.quota === "API Gateway requests/s (account)");
    expect(api?.needed).toBe(prediction.addRate);
  });

  it("hold CreateSchedule to the rate the adds came at: each add beyond the horizon creates its schedule then", () => {
    // Prepare: a 5 s horizon puts every task of a burst added 13 s ahead on a one-time schedule.
    const config = withOverrides(DEFAULT_CONFIG, { timer: { horizonSeconds: 5, leadSeconds: 5 } });

    // Act
    const prediction = predict({ burst: 2_000, groups: 2_000, delaySeconds: 13 }, config, AWS_PROFILE);

    // Assess
    expect(prediction.deliveryRate).not.toBe(prediction.addRate);
    const creates = prediction.quotas.find((q) => q.quota === "Scheduler CreateSchedule/s");
    expect(creates?.needed).toBe(prediction.addRate);
  });
});

describe("predict: the deliver mapping's concurrency", () => {
  it("is a quota row: a topic held to its MaximumConcurrency is flagged, not only seen falling behind", () => {
    // Prepare: deliver capped at 2 batches, a burst of 200 tasks in 200 groups.
    const config = withOverrides(DEFAULT_CONFIG, { eventSources: { deliver: { maxConcurrency: 2 } } });

    // Act
    const prediction = predict({ burst: 200, groups: 200, delaySeconds: 13 }, config, handProfile());

    // Assess
    const row = prediction.quotas.find((q) => q.quota.startsWith("deliver event source concurrent batches"));
    expect(row).toMatchObject({ needed: 2, limit: 2 });
    expect(row?.raiseTo).toBeGreaterThan(2);
  });

  it("is bounded in provisioned mode by the maximum pollers' batches", () => {
    // Prepare
    const config = withOverrides(DEFAULT_CONFIG, {
      eventSources: { deliver: { provisionedPollers: { min: 2, max: 7 } } },
    });

    // Act
    const prediction = predict({ burst: 50, groups: 50, delaySeconds: 13 }, config, handProfile());

    // Assess
    const row = prediction.quotas.find((q) => q.quota.startsWith("deliver event source concurrent batches"));
    expect(row?.limit).toBe(7 * P.provisionedBatchesPerPoller.value);
  });
});

describe("predict: deliver's batch read in the read units", () => {
  it("counts two read units per task at full batches (the group Query and the batch read) and checks the table's read quota", () => {
    // Prepare: ten groups, one task each per second: every relay wave Queries each group once, deliver batches fill.
    const workload = { burst: 10, groups: 10, delaySeconds: 5 };

    // Act
    const prediction = predict(workload, DEFAULT_CONFIG, handProfile());

    // Assess: one Query and one batch read per task; one BatchGetItem and two BatchExecuteStatement per ten.
    expect(prediction.perTask.rru).toBe(2);
    expect(prediction.perTask.ddbWriteCalls).toBe(1.2);
    const reads = prediction.quotas.find((q) => q.quota === "DynamoDB table read units/s");
    expect(reads?.limit).toBe(40_000);
    expect(reads?.needed).toBeCloseTo(prediction.deliveryRate * 2, 0); // both rounded to 0.1
  });
});

describe("predict: the task table's capacity mode", () => {
  const provisioned = {
    mode: "provisioned",
    targetUtilizationPercent: 70,
    table: { read: { min: 5, max: 1_000 }, write: { min: 10, max: 6_000 } },
    indexes: { read: { min: 1, max: 100 }, write: { min: 1, max: 100 } },
  } as const;

  it("charges a provisioned table's units as capacity-seconds at the target utilization, its minimum as idle cost", () => {
    // Prepare: the same one-task run as above, on-demand and provisioned
    const workload = { burst: 1, groups: 1, delaySeconds: 5 } as const;
    const config = withOverrides(DEFAULT_CONFIG, { tableCapacity: provisioned });
    const onDemandTable = 3 * P.priceDynamoWruPerM.value + 1 * P.priceDynamoRruPerM.value;
    const perUnitSecond = (hourPrice: number) => (hourPrice / 3600 / 0.7) * 1e6;
    const provisionedTable =
      3 * perUnitSecond(P.priceDynamoWcuHour.value) + perUnitSecond(P.priceDynamoRcuHour.value);
    const idle = 720 * ((10 + 3 * 1) * P.priceDynamoWcuHour.value + (5 + 3 * 1) * P.priceDynamoRcuHour.value);

    // Act
    const onDemand = predict(workload, DEFAULT_CONFIG, handProfile());
    const inProvisioned = predict(workload, config, handProfile());

    // Assess: both figures are rounded to cents, so their difference is good to ± 1 cent
    const expected = onDemand.costPerMillion - onDemandTable + provisionedTable;
    expect(Math.abs(inProvisioned.costPerMillion - expected)).toBeLessThanOrEqual(0.01);
    expect(inProvisioned.idleMonthlyCost).toBeCloseTo(idle, 2);
    expect(onDemand.idleMonthlyCost).toBe(0);
  });

  it("bills a month of a sustained rate at the capacity it needs at the target, never below the minimum", () => {
    // Prepare
    const workload = { rate: 1_000, durationSeconds: 1, delaySeconds: 2, groups: 1_000 } as const;
    const config = withOverrides(DEFAULT_CONFIG, { tableCapacity: provisioned });

    // Act
    const inProvisioned = predict(workload, config, handProfile());
    const onDemand = predict(workload, DEFAULT_CONFIG, handProfile());

    // Assess: the two months differ by exactly the table's bill in each mode (± the per-task rounding)
    const { wru, rru } = inProvisioned.perTask;
    const taskMonth = 30 * 86_400 * 1_000;
    const onDemandTable =
      (taskMonth * (wru * P.priceDynamoWruPerM.value + rru * P.priceDynamoRruPerM.value)) / 1e6;
    const wcu = Math.max(10, (1_000 * wru) / 0.7) + 3 * 1;
    const rcu = Math.max(5, (1_000 * rru) / 0.7) + 3 * 1;
    const provisionedTable = 720 * (wcu * P.priceDynamoWcuHour.value + rcu * P.priceDynamoRcuHour.value);
    const difference = (onDemand.monthlyCost as number) - (inProvisioned.monthlyCost as number);
    expect(Math.abs(difference - (onDemandTable - provisionedTable))).toBeLessThan(20);
    expect(provisionedTable).toBeLessThan(onDemandTable / 2);
  });

  it("reports a provisioned table's maximum capacity as the limit its reads and writes meet, to raise in the config", () => {
    // Prepare: 1,000 tasks/s need ≈ 3,000 write and 2,000 read units a second; the table may scale to 1,000 each.
    const small = { ...provisioned, table: { read: { min: 5, max: 1_000 }, write: { min: 10, max: 1_000 } } };
    const config = withOverrides(DEFAULT_CONFIG, { tableCapacity: small });
    const workload = { rate: 1_000, durationSeconds: 1, delaySeconds: 2, groups: 1_000 } as const;

    // Act
    const prediction = predict(workload, config, handProfile());

    // Assess: the on-demand table quota does not apply; the configured maximum does, and is exceeded
    const byName = new Map(prediction.quotas.map((q) => [q.quota, q]));
    const writes = byName.get("DynamoDB provisioned write capacity (taskTable.capacity.table.write.max)");
    const reads = byName.get("DynamoDB provisioned read capacity (taskTable.capacity.table.read.max)");
    expect(writes?.limit).toBe(1_000);
    expect(writes?.needed).toBeGreaterThan(2_500);
    expect(writes?.raiseTo).toBeGreaterThan(writes?.needed ?? Number.POSITIVE_INFINITY);
    expect(reads?.limit).toBe(1_000);
    expect(reads?.needed).toBeGreaterThan(1_500);
    expect(byName.has("DynamoDB table write units/s")).toBe(false);
  });

  it("refuses a capacity override the config schema refuses", () => {
    expect(() =>
      withOverrides(DEFAULT_CONFIG, { tableCapacity: { ...provisioned, targetUtilizationPercent: 95 } }),
    ).toThrow(/20–90 %/);
  });
});

describe("predict: the provisioned pollers' idle cost", () => {
  it("bills every topic's deliver mapping its minimum pollers, not only the topic the run models (prod has several)", () => {
    // Prepare: prod's relay and deliver mappings are provisioned; the stack builds one deliver mapping per topic.
    const prod = loadEnvironmentConfig("prod", "");
    const topics = Object.keys(prod.resolvedTopics).length;
    const { relay, deliver } = prod.eventSources;
    const pollers = (relay.provisionedPollers?.min ?? 0) + topics * (deliver.provisionedPollers?.min ?? 0);
    const config = plannerConfigFor("prod");

    // Act
    const prediction = predict({ burst: 1, groups: 1, delaySeconds: 5 }, config, handProfile());

    // Assess
    expect(topics).toBeGreaterThan(1);
    expect(prediction.idleMonthlyCost).toBeCloseTo(pollers * 720 * P.provisionedPollerHourPrice.value, 2);
  });
});

describe("the planner's configuration overrides", () => {
  it.each([
    ["a FIFO deliver batch above 10", { eventSources: { deliver: { batchSize: 50 } } }, /deliver\.batchSize/],
    [
      "a relay batch above 10 without a batching window",
      { eventSources: { relay: { batchSize: 100 } } },
      /maxBatchingWindowSeconds/,
    ],
    [
      "more than 2,000 maximum pollers",
      { eventSources: { relay: { provisionedPollers: { min: 2, max: 5_000 } } } },
      /provisionedPollers\.max/,
    ],
    [
      "an early wake shorter than the relay's window",
      { eventSources: { earlyWakeSeconds: 0, relay: { batchSize: 100, maxBatchingWindowSeconds: 1 } } },
      /earlyWakeSeconds/,
    ],
    [
      "a MaximumConcurrency of 1",
      { eventSources: { deliver: { maxConcurrency: 1 } } },
      /deliver\.maxConcurrency/,
    ],
    ["no deliver mapping to bill", { deliverMappings: 0 }, /deliverMappings/],
  ])("refuses what Lambda or the config schema refuses: %s", (_name, overrides, message) => {
    expect(() => withOverrides(DEFAULT_CONFIG, overrides as never)).toThrow(message);
  });

  it("accepts the recommended configurations docs/COST-AND-SCALE.md quotes", () => {
    const prod = plannerConfigFor("prod");
    const recommended = {
      eventSources: { earlyWakeSeconds: 1, relay: { provisionedPollers: { min: 2, max: 10 } } },
    };
    const seed4 = {
      eventSources: {
        earlyWakeSeconds: 1,
        relay: { provisionedPollers: { min: 100, max: 1_000 } },
        deliver: { provisionedPollers: { min: 100, max: 1_000 } },
      },
    };
    expect(withOverrides(prod, recommended).eventSources.relay.provisionedPollers).toEqual({
      min: 2,
      max: 10,
    });
    expect(withOverrides(prod, seed4).eventSources.deliver.provisionedPollers).toEqual({
      min: 100,
      max: 1_000,
    });
  });
});
