import { describe, expect, it } from "vitest";
import { parseTaskMessage, scheduleIdsOf, taskMessageBody } from "#shared/domain/messages.js";

/**
 * The task message (shared/domain/messages.ts): an occurrence's carries its schedule id, a hint deliver uses to skip
 * the start that would refuse it; a plain task's is the old message byte for byte, and a reader takes either.
 */
const TASK_ID = "demo.TtAgP4ILPMpWT5RZ.mwt7tc40.01JD3ZK4Q9V8X7W6T5S4R3P2N1";
const SCHEDULE_ID = "demo.schedule.01JD3ZK4Q9V8X7W6T5S4R3P2N2";

describe("task messages", () => {
  it("a plain task's body is the old one, byte for byte; an occurrence's adds its scheduleId", () => {
    expect(taskMessageBody(TASK_ID)).toBe(`{"v":1,"taskId":"${TASK_ID}"}`);
    expect(taskMessageBody(TASK_ID, undefined)).toBe(`{"v":1,"taskId":"${TASK_ID}"}`);
    expect(taskMessageBody(TASK_ID, SCHEDULE_ID)).toBe(
      `{"v":1,"taskId":"${TASK_ID}","scheduleId":"${SCHEDULE_ID}"}`,
    );
  });

  it("reads both back; a message without the field (sent before it existed) has no scheduleId", () => {
    expect(parseTaskMessage(taskMessageBody(TASK_ID, SCHEDULE_ID))).toEqual({
      v: 1,
      taskId: TASK_ID,
      scheduleId: SCHEDULE_ID,
    });
    const old = parseTaskMessage(`{"v":1,"taskId":"${TASK_ID}"}`);
    expect(old).toEqual({ v: 1, taskId: TASK_ID });
    expect(old?.scheduleId).toBeUndefined();
  });

  it.each([
    ["a number", 7],
    ["an empty string", ""],
    ["too long", "s".repeat(201)],
    ["null", null],
  ])(
    "a malformed scheduleId (%s) is dropped, not the message: the task is still delivered",
    (_, scheduleId) => {
      const parsed = parseTaskMessage(JSON.stringify({ v: 1, taskId: TASK_ID, scheduleId }));
      expect(parsed).toEqual({ v: 1, taskId: TASK_ID });
      expect(parsed?.scheduleId).toBeUndefined();
    },
  );

  it("still refuses what is not a task message", () => {
    expect(parseTaskMessage(JSON.stringify({ v: 1, scheduleId: SCHEDULE_ID }))).toBeUndefined();
    expect(
      parseTaskMessage(JSON.stringify({ v: 2, taskId: TASK_ID, scheduleId: SCHEDULE_ID })),
    ).toBeUndefined();
    expect(parseTaskMessage("not json")).toBeUndefined();
  });

  it("scheduleIdsOf names the occurrences among a send's tasks", () => {
    const ids = scheduleIdsOf([
      { taskId: "a" },
      { taskId: "b", scheduleId: "s-1" },
      { taskId: "c", scheduleId: undefined },
    ]);
    expect([...ids]).toEqual([["b", "s-1"]]);
  });
});
