import { describe, expect, it } from "vitest";
import { readTopicSettingsRoute } from "#shared/contract/topic-settings-route.js";
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

describe("queue names against queueUrlBase", () => {
  const base = "https://sqs.eu-west-1.amazonaws.com/111122223333/Punctual-prod-TimerQueue-A1B2.fifo";
  const sibling = (name: string) => `https://sqs.eu-west-1.amazonaws.com/111122223333/${name}`;

  it("resolves every queue name of every section to its full URL; full URLs stay; the base is not a section", () => {
    const topology = {
      queueUrlBase: base,
      topicQueues: { a: "Punctual-prod-A.fifo", b: sibling("Punctual-prod-B.fifo") },
      sweep: { a: { queueUrl: "A.fifo", dlqUrl: "A-dlq.fifo", stalledAfterMs: 1000, mappingUuid: "m-a" } },
      topicMappings: { a: { mappingUuid: "m-a", queueUrl: "A.fifo", dlqUrl: "A-dlq.fifo" } },
      deliveries: { arnA: { topic: "a", queueUrl: "A.fifo", dlqUrl: "A-dlq.fifo" } },
    };
    expect(readTopology("topicQueues", env(topology))).toEqual({
      a: sibling("Punctual-prod-A.fifo"),
      b: sibling("Punctual-prod-B.fifo"),
    });
    const full = { queueUrl: sibling("A.fifo"), dlqUrl: sibling("A-dlq.fifo") };
    expect(readTopology("sweep", env(topology))).toEqual({
      a: { ...full, stalledAfterMs: 1000, mappingUuid: "m-a" },
    });
    expect(readTopology("topicMappings", env(topology))).toEqual({ a: { ...full, mappingUuid: "m-a" } });
    expect(readTopology("deliveries", env(topology))).toEqual({ arnA: { ...full, topic: "a" } });
    expect(() => readTopology("queueUrlBase" as never, env(topology))).toThrow(/lists nothing/);
  });

  it("keeps a local cloud's queue URLs (host, port and account path) as they are", () => {
    const local = "http://127.0.0.1:4566/000000000000/Punctual-local-TimerQueue.fifo";
    expect(
      readTopology("topicQueues", env({ queueUrlBase: local, topicQueues: { a: "Punctual-local-A.fifo" } })),
    ).toEqual({
      a: "http://127.0.0.1:4566/000000000000/Punctual-local-A.fifo",
    });
  });

  it("refuses a base that is not a URL", () => {
    expect(() => readTopology("topicQueues", env({ queueUrlBase: "sqs", topicQueues: { a: "A" } }))).toThrow(
      /PUNCTUAL_TOPOLOGY\.queueUrlBase/,
    );
  });

  it("merges two functions' topologies written against different bases as full URLs", () => {
    const other = "https://sqs.eu-west-1.amazonaws.com/111122223333/Other.fifo";
    expect(
      mergeTopologies(
        { queueUrlBase: base, topicQueues: { a: "A.fifo" } },
        { queueUrlBase: other, topicQueues: { a: "A.fifo" } },
      ),
    ).toEqual({ topicQueues: { a: sibling("A.fifo") } });
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

describe("readTopicSettingsRoute (the one section the settings port reads, without the topology's schema)", () => {
  const ids = { applicationId: "app1234", environmentId: "env1234", profileId: "pro1234" };

  it("returns the ids, or nothing when the function has no topology or no settings section", () => {
    expect(readTopicSettingsRoute(env({ topicSettings: ids, topicQueues: { a: "https://q/a" } }))).toEqual(
      ids,
    );
    expect(readTopicSettingsRoute({})).toBeUndefined();
    expect(readTopicSettingsRoute(env({ topicQueues: { a: "https://q/a" } }))).toBeUndefined();
  });

  it("fails the cold start on bad JSON or a malformed section, naming the field", () => {
    expect(() => readTopicSettingsRoute({ PUNCTUAL_TOPOLOGY: "{" })).toThrow(/must hold JSON/);
    expect(() => readTopicSettingsRoute(env({ topicSettings: { ...ids, profileId: "" } }))).toThrow(
      /PUNCTUAL_TOPOLOGY\.topicSettings\.profileId/,
    );
    expect(() => readTopicSettingsRoute(env({ topicSettings: { ...ids, extra: 1 } }))).toThrow(
      MissingEnvironmentError,
    );
  });
});
