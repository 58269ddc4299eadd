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
});
