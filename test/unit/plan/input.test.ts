import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, withOverrides } from "../../../plan/config.js";
import { AWS_PROFILE } from "../../../plan/model/profile.js";
import { checkedWorkload, type Workload } from "../../../plan/model/workload.js";
import { predict } from "../../../plan/predict.js";

const burst = (over: Partial<Workload>): Workload => ({ burst: 10, groups: 10, delaySeconds: 13, ...over });
const rate = (over: Partial<Workload>): Workload => ({
  rate: 10,
  durationSeconds: 10,
  delaySeconds: 5,
  groups: 10,
  ...over,
});

describe("the planner's workload: what it refuses instead of predicting nonsense", () => {
  it.each([
    ["no task in the burst", burst({ burst: 0 }), /burst/],
    ["a fraction of a task", burst({ burst: 2.5 }), /burst/],
    ["no ordering group (every task would land in group 'gNaN')", burst({ groups: 0 }), /groups/],
    ["a fraction of a group", burst({ groups: 2.5 }), /groups/],
    ["no caller (nothing is ever added)", burst({ clients: 0 }), /clients/],
    ["a rate of nothing", rate({ rate: 0 }), /rate/],
    ["no duration", rate({ durationSeconds: 0 }), /duration/],
    ["a rate and duration that make no whole task", rate({ rate: 0.1, durationSeconds: 1 }), /task/],
    ["no add allowed in flight", rate({ maxInFlight: 0 }), /in-flight|maxInFlight/],
    ["a negative delay", rate({ delaySeconds: -1 }), /delay/],
    ["a delay no date can hold", rate({ delaySeconds: 1e300 }), /delay/],
    ["more tasks than the model can hold in memory", burst({ burst: 1e9 }), /task/],
    ["NaN", burst({ groups: Number.NaN }), /groups/],
  ])("refuses %s with a message naming the input", (_, workload, message) => {
    // Act + Assess
    expect(() => checkedWorkload(workload)).toThrow(message);
  });

  it("accepts the seeds' workloads unchanged", () => {
    // Prepare
    const seeds: Workload[] = [
      rate({ rate: 3_500, durationSeconds: 30, delaySeconds: 10, groups: 10_000, clients: 512 }),
      burst({ burst: 3_000, groups: 300, clients: 64 }),
      rate({
        rate: 100_000,
        durationSeconds: 2,
        delaySeconds: 120,
        groups: 100_000,
        clients: 20_000,
        maxInFlight: 100_000,
      }),
    ];

    // Act + Assess
    for (const seed of seeds) expect(checkedWorkload(seed)).toEqual(seed);
  });
});

describe("the planner's --config overrides: what they refuse instead of predicting for another configuration", () => {
  it.each([
    ["a JSON array", [1], /object/],
    ["JSON null", null, /object/],
    [
      "a misspelt section, which would be ignored",
      { eventsources: { relay: { batchSize: 100 } } },
      /eventsources/,
    ],
    [
      "no relay group concurrency (the relay would forward nothing)",
      { relayGroupConcurrency: 0 },
      /relayGroupConcurrency/,
    ],
    [
      "a fraction of a deliver group concurrency",
      { deliverGroupConcurrency: 2.5 },
      /deliverGroupConcurrency/,
    ],
    ["a negative timer horizon", { timer: { horizonSeconds: -5 } }, /horizonSeconds/],
    ["a lead beyond the horizon", { timer: { horizonSeconds: 60, leadSeconds: 120 } }, /leadSeconds/],
  ])("refuses %s", (_, overrides, message) => {
    // Act + Assess
    expect(() => withOverrides(DEFAULT_CONFIG, overrides as never)).toThrow(message);
  });
});

describe("npm run plan with a hostile input", () => {
  it("answers a usage error on one line and exit code 1: no stack trace, no prediction", async () => {
    // Act
    const run = promisify(execFile)("npx", ["tsx", "plan/cli.ts", "--burst", "0", "--json"], {
      cwd: process.cwd(),
    });

    // Assess
    const failure = await run.then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toBe("");
    expect(failure?.stderr.trim()).toMatch(/^plan: .*burst/);
    expect(failure?.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});

describe("a burst with more callers than tasks", () => {
  it("starts one caller per task, not one per connection: a billion connections answer at once", () => {
    // Prepare: the CLI takes --clients up to 2^53; the burst's driver used to start every caller.
    const workload = burst({ burst: 3, groups: 3, clients: 2 ** 40 });

    // Act
    const prediction = predict(checkedWorkload(workload), DEFAULT_CONFIG, AWS_PROFILE);

    // Assess
    expect(prediction.received).toBe(3);
  }, 10_000);
});
