import { describe, expect, it } from "vitest";
import { mergeTopologies, readTopology, type Topology } from "#shared/contract/topology.js";
import { MissingEnvironmentError } from "#shared/runtime/env.js";

const env = (topology: unknown) => ({ PUNCTUAL_TOPOLOGY: JSON.stringify(topology) });
const route = (topic: string) => ({
  topic,
  queueUrl: `https://q/${topic}.fifo`,
  dlqUrl: `https://q/${topic}-dlq.fifo`,
});

describe("readTopology", () => {
  it("returns the function's section", () => {
    expect(readTopology("topicQueues", env({ topicQueues: { demo: "https://q/demo.fifo" } }))).toEqual({
      demo: "https://q/demo.fifo",
    });
  });

  it("fails fast on a missing variable, bad JSON, an unknown section, a wrong shape or an empty section", () => {
    expect(() => readTopology("sweep", {})).toThrow(MissingEnvironmentError);
    expect(() => readTopology("sweep", { PUNCTUAL_TOPOLOGY: "{" })).toThrow(/must hold JSON/);
    expect(() => readTopology("sweep", env({ sweeps: {} }))).toThrow(/invalid PUNCTUAL_TOPOLOGY/);
    expect(() => readTopology("deliveries", env({ deliveries: { arn: { topic: "demo" } } }))).toThrow(
      /PUNCTUAL_TOPOLOGY\.deliveries\.arn\.queueUrl/,
    );
    expect(() => readTopology("sweep", env({ topicQueues: { demo: "u" } }))).toThrow(/sweep lists nothing/);
  });
});

describe("mergeTopologies", () => {
  it("joins sections entry by entry (the local cloud runs every function in one process)", () => {
    const a: Topology = { deliveries: { arnA: route("a") }, topicQueues: { a: "qa" } };
    const b: Topology = { deliveries: { arnB: route("b") }, topicQueues: { a: "qa", b: "qb" } };
    expect(mergeTopologies(a, b)).toEqual({
      deliveries: { arnA: route("a"), arnB: route("b") },
      topicQueues: { a: "qa", b: "qb" },
    });
  });

  it("refuses two functions that disagree on an entry", () => {
    expect(() => mergeTopologies({ topicQueues: { a: "qa" } }, { topicQueues: { a: "other" } })).toThrow(
      /disagree on PUNCTUAL_TOPOLOGY\.topicQueues\["a"\]/,
    );
  });
});
