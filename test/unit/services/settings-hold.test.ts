import { describe, expect, it } from "vitest";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { applyRuntimeSettings } from "#shared/config/runtime-settings.js";
import { holdPausedTopics } from "#shared/services/settings-hold.js";
import { FakeTopicSwitch, topicMapping } from "../../support/fakes/topic-switch.js";
import { memoryLogger } from "../../support/logger.js";

const deployed = loadEnvironmentConfig("local");

function withDemo(paused: boolean) {
  const result = applyRuntimeSettings(deployed, { topics: { demo: { paused } } });
  if (!result.ok) throw new Error(result.problems.join("; "));
  return result.config;
}

describe("holdPausedTopics (runtime `paused`)", () => {
  it("disables the mapping of a topic its settings pause, once", async () => {
    // Prepare
    const topicSwitch = new FakeTopicSwitch();
    const deps = { mappings: { demo: topicMapping("demo") }, topicSwitch, logger: memoryLogger() };

    // Act
    const first = await holdPausedTopics(deps, withDemo(true));
    const second = await holdPausedTopics(deps, withDemo(true));

    // Assess
    expect(first).toEqual(["demo"]);
    expect(second).toEqual([]);
    expect(topicSwitch.changes).toEqual([{ mappingUuid: topicMapping("demo").mappingUuid, paused: true }]);
  });

  it("never resumes a topic: `paused: false` leaves a paused mapping (the API may have paused it)", async () => {
    const topicSwitch = new FakeTopicSwitch();
    topicSwitch.paused.set(topicMapping("demo").mappingUuid, true);

    await holdPausedTopics(
      { mappings: { demo: topicMapping("demo") }, topicSwitch, logger: memoryLogger() },
      withDemo(false),
    );

    expect(topicSwitch.changes).toEqual([]);
    expect(topicSwitch.paused.get(topicMapping("demo").mappingUuid)).toBe(true);
  });

  it("a failing switch is logged and retried by the next sweep", async () => {
    const topicSwitch = new FakeTopicSwitch();
    topicSwitch.setPaused = async () => {
      throw new Error("TooManyRequestsException");
    };
    const logger = memoryLogger();

    const paused = await holdPausedTopics(
      { mappings: { demo: topicMapping("demo") }, topicSwitch, logger },
      withDemo(true),
    );

    expect(paused).toEqual([]);
    expect(logger.entries).toEqual([
      expect.objectContaining({ level: "warn", extra: expect.objectContaining({ topic: "demo" }) }),
    ]);
  });

  it("does not disable a mapping resumed within the settings' propagation window: its `paused: true` may be stale", async () => {
    // Prepare: the document was set back to `paused: false` and the topic resumed through the API at t = 100 s,
    // but this sweeper's copy of the document (a rollout step behind, or cached) still says `paused: true`.
    const topicSwitch = new FakeTopicSwitch();
    let now = 100_000;
    topicSwitch.now = () => now;
    await topicSwitch.setPaused(topicMapping("demo"), false);
    topicSwitch.changes.length = 0;
    const logger = memoryLogger();
    const deps = {
      mappings: { demo: topicMapping("demo") },
      topicSwitch,
      logger,
      settleMs: 165_000,
      now: () => now,
    };

    // Act 1: within the window
    now = 100_000 + 30_000;
    const early = await holdPausedTopics(deps, withDemo(true));

    // Assess 1: left running (a stale hold would pause it again with nobody to resume it), and said why
    expect(early).toEqual([]);
    expect(topicSwitch.changes).toEqual([]);
    expect(logger.entries).toContainEqual(
      expect.objectContaining({ level: "info", extra: expect.objectContaining({ topic: "demo" }) }),
    );

    // Act 2: the window over, every function's copy is newer than the resume: a `paused: true` still read is real
    now = 100_000 + 165_000;
    const late = await holdPausedTopics(deps, withDemo(true));

    // Assess 2
    expect(late).toEqual(["demo"]);
    expect(topicSwitch.changes).toEqual([{ mappingUuid: topicMapping("demo").mappingUuid, paused: true }]);
  });
});
