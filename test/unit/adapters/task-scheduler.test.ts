import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  type GetScheduleCommandOutput,
  ResourceNotFoundException,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import { describe, expect, it } from "vitest";
import {
  EventBridgeTaskDisarmer,
  EventBridgeTaskScheduler,
  ScheduleConflictError,
} from "#shared/adapters/task-scheduler.js";
import { makeTaskKey, scheduleNameFor } from "#shared/domain/keys.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import { planTimer } from "#shared/domain/timing.js";
import { arm } from "#shared/services/add-task.js";

/** The client seam: records commands and answers with whatever the test scripts (no SDK mocking library). */
function fakeClient(answer: (command: unknown) => unknown) {
  const sent: unknown[] = [];
  const client = {
    send: async (command: unknown) => {
      sent.push(command);
      const result = answer(command);
      if (result instanceof Error) throw result;
      return result;
    },
  } as unknown as SchedulerClient;
  return { client, sent };
}

const settings = {
  groupName: "punctual-dev",
  targetArn: "arn:aws:sqs:eu-west-1:123456789012:punctual-dev-timer",
  roleArn: "arn:aws:iam::123456789012:role/punctual-dev-scheduler",
  deadLetterArn: "arn:aws:sqs:eu-west-1:123456789012:punctual-dev-schedule-dlq",
  retry: { maximumRetryAttempts: 185, maximumEventAgeSeconds: 86_400 },
};

describe("EventBridgeTaskScheduler", () => {
  it("creates a one-time schedule targeting the timer queue with the task message", async () => {
    const { client, sent } = fakeClient(() => ({}));
    await new EventBridgeTaskScheduler(client, settings).createTaskSchedule({
      taskId: "demo._.abc.01JD",
      expression: "at(2026-12-01T10:00:00)",
    });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toBeInstanceOf(CreateScheduleCommand);
    expect((sent[0] as CreateScheduleCommand).input).toEqual({
      Name: scheduleNameFor("demo._.abc.01JD"),
      GroupName: "punctual-dev",
      ScheduleExpression: "at(2026-12-01T10:00:00)",
      ScheduleExpressionTimezone: "UTC",
      FlexibleTimeWindow: { Mode: "OFF" },
      ActionAfterCompletion: "DELETE",
      State: "ENABLED",
      Target: {
        Arn: settings.targetArn,
        RoleArn: settings.roleArn,
        Input: '{"v":1,"taskId":"demo._.abc.01JD"}',
        RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
        DeadLetterConfig: { Arn: settings.deadLetterArn },
      },
    });
  });

  describe("a ConflictException on create (documented only as 'can cause an inconsistent state')", () => {
    const request = { taskId: "demo._.abc.01JD", expression: "at(2026-12-01T10:00:00)" };
    const conflict = () => new ConflictException({ message: "exists", Message: "exists", $metadata: {} });
    /** The schedule GetSchedule returns: the one createTaskSchedule writes for `request`, with `changes` over it. */
    const existing = (changes: Partial<GetScheduleCommandOutput> = {}): GetScheduleCommandOutput => ({
      $metadata: {},
      Name: scheduleNameFor(request.taskId),
      GroupName: settings.groupName,
      ScheduleExpression: request.expression,
      ScheduleExpressionTimezone: "UTC",
      State: "ENABLED",
      ActionAfterCompletion: "DELETE",
      FlexibleTimeWindow: { Mode: "OFF" },
      Target: {
        Arn: settings.targetArn,
        RoleArn: settings.roleArn,
        Input: '{"v":1,"taskId":"demo._.abc.01JD"}',
      },
      ...changes,
    });
    const answering = (found: () => unknown) =>
      fakeClient((command) => (command instanceof GetScheduleCommand ? found() : conflict()));

    it("is an earlier try's schedule once GetSchedule shows our target, message and a one-time at(): resolved", async () => {
      const { client, sent } = answering(() => existing());
      await expect(
        new EventBridgeTaskScheduler(client, settings).createTaskSchedule(request),
      ).resolves.toBeUndefined();
      expect(sent).toHaveLength(2);
      expect(sent[1]).toBeInstanceOf(GetScheduleCommand);
      expect((sent[1] as GetScheduleCommand).input).toEqual({
        Name: scheduleNameFor(request.taskId),
        GroupName: "punctual-dev",
      });
    });

    it("is ours too when it fires sooner (planned under another lead): the relay re-arms an early wake", async () => {
      const { client } = answering(() => existing({ ScheduleExpression: "at(2026-12-01T09:59:30)" }));
      await expect(
        new EventBridgeTaskScheduler(client, settings).createTaskSchedule(request),
      ).resolves.toBeUndefined();
    });

    it("is ours when armed under a shorter lead (a deploy raised timer.leadSeconds since): a keyed replay's arm resolves", async () => {
      // Before: the schedule of the first add fires at due − 120 s, later than the replay's due − 300 s, and the
      // confirmation threw — a keyed repeat of a scheduled task answered 503 on every retry until due − horizon.
      const dueAtMs = Date.parse("2026-12-01T10:00:00.000Z");
      const { taskId } = makeTaskKey("demo", undefined, dueAtMs, "01JDXXXXXXXXXXXXXXXXXXXXXX");
      const firstAdd = planTimer(dueAtMs, dueAtMs - 86_400_000, { horizonSeconds: 300, leadSeconds: 120 });
      const replay = planTimer(dueAtMs, dueAtMs - 3_600_000, { horizonSeconds: 300, leadSeconds: 300 });
      const found = (expression: string) => ({
        ...existing({ ScheduleExpression: expression }),
        Target: { Arn: settings.targetArn, RoleArn: settings.roleArn, Input: taskMessageBody(taskId) },
      });
      const armed = answering(() => found((firstAdd as { expression: string }).expression));
      const scheduler = new EventBridgeTaskScheduler(armed.client, settings);
      const timerQueue = { arm: async () => undefined };
      await expect(arm({ scheduler, timerQueue } as never, taskId, replay)).resolves.toBeUndefined();
    });

    it("is ours even when it fires past the task's due second (moved by hand): a keyed repeat's arm resolves, as it would have had it kept its own time", async () => {
      // Before: thrown (ScheduleConflictError), so every keyed repeat and re-arm answered 503 until the schedule
      // fired — an hour here, days for one moved days on — while the task kept that very timer either way. No plan
      // of ours names a second past due (planTimer floors due − lead); the sweeper forwards such a task once past
      // due by its grace (test/unit/services/sweeper/sweeper.test.ts, crash point 3: "a schedule that fires past due").
      const dueAtMs = Date.parse("2026-12-01T10:00:00.000Z");
      const { taskId } = makeTaskKey("demo", undefined, dueAtMs, "01JDXXXXXXXXXXXXXXXXXXXXXX");
      const replay = planTimer(dueAtMs, dueAtMs - 3_600_000, { horizonSeconds: 300, leadSeconds: 120 });
      const timerQueue = { arm: async () => undefined };
      for (const late of ["at(2026-12-01T10:00:01)", "at(2026-12-01T11:00:00)", "at(2027-12-01T10:00:00)"]) {
        const { client, sent } = answering(() => ({
          ...existing({ ScheduleExpression: late }),
          Target: { Arn: settings.targetArn, RoleArn: settings.roleArn, Input: taskMessageBody(taskId) },
        }));
        const scheduler = new EventBridgeTaskScheduler(client, settings);
        await expect(arm({ scheduler, timerQueue } as never, taskId, replay)).resolves.toBeUndefined();
        // Confirmed and left as found: no write beyond the CreateSchedule that conflicted.
        expect(sent.map((c) => (c as object).constructor.name)).toEqual([
          "CreateScheduleCommand",
          "GetScheduleCommand",
        ]);
      }
    });

    it.each([
      [
        "targets another queue",
        {
          Target: {
            Arn: `${settings.targetArn}-old`,
            RoleArn: settings.roleArn,
            Input: '{"v":1,"taskId":"demo._.abc.01JD"}',
          },
        },
      ],
      [
        "sends another message",
        { Target: { Arn: settings.targetArn, RoleArn: settings.roleArn, Input: '{"v":1,"taskId":"other"}' } },
      ],
      ["is a recurring schedule", { ScheduleExpression: "rate(5 minutes)" }],
      ["reads its at() in another time zone", { ScheduleExpressionTimezone: "Europe/Paris" }],
      ["is disabled", { State: "DISABLED" as const }],
    ])(
      "is not ours when the schedule of that name %s: thrown, not taken as armed",
      async (_label, changes) => {
        const { client } = answering(() => existing(changes));
        const error = await new EventBridgeTaskScheduler(client, settings)
          .createTaskSchedule(request)
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ScheduleConflictError);
        expect((error as Error).cause).toBeInstanceOf(ConflictException);
      },
    );

    it("is not ours when GetSchedule finds nothing (a group being deleted, or the schedule gone since): thrown", async () => {
      const { client, sent } = answering(
        () => new ResourceNotFoundException({ message: "gone", Message: "gone", $metadata: {} }),
      );
      await expect(
        new EventBridgeTaskScheduler(client, settings).createTaskSchedule(request),
      ).rejects.toBeInstanceOf(ScheduleConflictError);
      expect(sent).toHaveLength(2);
    });

    it("is not confirmed when GetSchedule itself fails: thrown, for a retry", async () => {
      const { client } = answering(() =>
        Object.assign(new Error("slow down"), { name: "ThrottlingException" }),
      );
      await expect(
        new EventBridgeTaskScheduler(client, settings).createTaskSchedule(request),
      ).rejects.toBeInstanceOf(ScheduleConflictError);
    });
  });

  it("propagates other create errors", async () => {
    const { client } = fakeClient(() =>
      Object.assign(new Error("slow down"), { name: "ThrottlingException" }),
    );
    await expect(
      new EventBridgeTaskScheduler(client, settings).createTaskSchedule({
        taskId: "t",
        expression: "at(2026-12-01T10:00:00)",
      }),
    ).rejects.toThrow("slow down");
  });

  it("deletes by name in the group; a missing schedule is already deleted", async () => {
    const ok = fakeClient(() => ({}));
    await new EventBridgeTaskScheduler(ok.client, settings).deleteTaskSchedule("t-abc");
    expect(ok.sent[0]).toBeInstanceOf(DeleteScheduleCommand);
    expect((ok.sent[0] as DeleteScheduleCommand).input).toEqual({ Name: "t-abc", GroupName: "punctual-dev" });

    const gone = fakeClient(
      () => new ResourceNotFoundException({ message: "gone", Message: "gone", $metadata: {} }),
    );
    await expect(
      new EventBridgeTaskScheduler(gone.client, settings).deleteTaskSchedule("t-abc"),
    ).resolves.toBeUndefined();

    const down = fakeClient(() => new Error("boom"));
    await expect(
      new EventBridgeTaskScheduler(down.client, settings).deleteTaskSchedule("t-abc"),
    ).rejects.toThrow("boom");
  });
});

describe("EventBridgeTaskDisarmer (the cancelling functions' scheduler)", () => {
  it("deletes by name in its group as the scheduler does, and has no create call", async () => {
    const ok = fakeClient(() => ({}));
    const disarmer = new EventBridgeTaskDisarmer(ok.client, "punctual-dev");
    await disarmer.deleteTaskSchedule("t-abc");
    expect((ok.sent[0] as DeleteScheduleCommand).input).toEqual({ Name: "t-abc", GroupName: "punctual-dev" });
    expect("createTaskSchedule" in disarmer).toBe(false);

    const gone = fakeClient(
      () => new ResourceNotFoundException({ message: "gone", Message: "gone", $metadata: {} }),
    );
    await expect(
      new EventBridgeTaskDisarmer(gone.client, "punctual-dev").deleteTaskSchedule("t-abc"),
    ).resolves.toBeUndefined();
  });
});
