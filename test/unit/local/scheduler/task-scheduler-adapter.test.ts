import {
  CreateScheduleCommand,
  CreateScheduleGroupCommand,
  DeleteScheduleGroupCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  ResourceNotFoundException,
  type SchedulerClient,
  ValidationException,
} from "@aws-sdk/client-scheduler";
import { describe, expect, it } from "vitest";
import { EventBridgeTaskScheduler, ScheduleConflictError } from "#shared/adapters/task-scheduler.js";
import { scheduleNameFor } from "#shared/domain/keys.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import { ManualClock } from "../../../support/clock.js";
import { createQueue, ROLE_ARN, receive, unique, useEmulatorFixtures } from "./support.js";

/**
 * Our Scheduler adapter (shared/adapters/task-scheduler.ts) against the emulator through a real SDK client: the
 * answers the adapter relies on are the ones AWS documents (ConflictException 409 for a name that exists,
 * ResourceNotFoundException 404 for a schedule that does not, ValidationException 400 for a bad request), and the
 * firing delivers the task message exactly as sent, then removes the schedule (ActionAfterCompletion DELETE).
 * https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html#API_CreateSchedule_Errors
 */
const fixtures = useEmulatorFixtures();

const T0 = Date.parse("2026-07-01T09:00:00Z");

async function setUp() {
  const clock = new ManualClock(T0);
  // A deleted group's deletion finishes when a test says so (finishGroupDeletions), never on the clock under it.
  const { emulator, client } = await fixtures.start({ now: clock.now, groupDeletionMs: 3_600_000 });
  const groupName = unique("group");
  await client.send(new CreateScheduleGroupCommand({ Name: groupName }));
  const timer = await createQueue(fixtures.sqs().sqs, unique("timer"));
  const deadLetters = await createQueue(fixtures.sqs().sqs, unique("schedule-dlq"));
  const scheduler = new EventBridgeTaskScheduler(client, {
    groupName,
    targetArn: timer.arn,
    roleArn: ROLE_ARN,
    deadLetterArn: deadLetters.arn,
    retry: { maximumRetryAttempts: 185, maximumEventAgeSeconds: 86_400 },
  });
  return { clock, emulator, client, groupName, timer, scheduler, sent: commandsSent(client) };
}

/** The names of the commands the client sends from now on (a middleware of the real client, nothing stubbed). */
function commandsSent(client: SchedulerClient): string[] {
  const names: string[] = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      names.push(String(context.commandName));
      return next(args);
    },
    { step: "initialize" },
  );
  return names;
}

describe("EventBridgeTaskScheduler against the Scheduler emulator", () => {
  it("creates once for two calls (the second meets ConflictException), fires the task message as sent, then the schedule is gone and deleting it is a no-op", async () => {
    const { clock, emulator, client, groupName, timer, scheduler } = await setUp();
    const taskId = "demo._.abc.01JD";
    const request = { taskId, expression: "at(2026-07-01T09:10:00)" };
    await scheduler.createTaskSchedule(request);
    // A second call is a new SDK request with a new ClientToken: the emulator answers 409, the adapter takes it as done.
    await scheduler.createTaskSchedule(request);
    const listed = await client.send(new ListSchedulesCommand({ GroupName: groupName }));
    expect(listed.Schedules?.map((s) => s.Name)).toEqual([scheduleNameFor(taskId)]);

    clock.set("2026-07-01T09:09:59.999Z");
    expect(await emulator.fireDueNow()).toBe(0);
    clock.set("2026-07-01T09:10:00Z");
    expect(await emulator.fireDueNow()).toBe(1);

    const [message, ...more] = await receive(fixtures.sqs().sqs, timer.url, 1, 1);
    expect(message?.Body).toBe(taskMessageBody(taskId));
    expect(message?.MessageAttributes).toBeUndefined();
    expect(more).toEqual([]);
    await expect(
      client.send(new GetScheduleCommand({ Name: scheduleNameFor(taskId), GroupName: groupName })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(scheduler.deleteTaskSchedule(scheduleNameFor(taskId))).resolves.toBeUndefined();
  });

  it("deletes a pending schedule so it never fires, and a second delete resolves", async () => {
    const { clock, emulator, timer, scheduler } = await setUp();
    const taskId = "demo._.abc.02JD";
    await scheduler.createTaskSchedule({ taskId, expression: "at(2026-07-01T09:10:00)" });
    await scheduler.deleteTaskSchedule(scheduleNameFor(taskId));
    await expect(scheduler.deleteTaskSchedule(scheduleNameFor(taskId))).resolves.toBeUndefined();

    clock.set("2026-07-01T10:00:00Z");
    expect(await emulator.fireDueNow()).toBe(0);
    expect(await receive(fixtures.sqs().sqs, timer.url, 1, 0)).toEqual([]);
  });

  it("sends one CreateSchedule when nothing conflicts, and confirms a conflict with one GetSchedule", async () => {
    const { scheduler, sent } = await setUp();
    const request = { taskId: "demo._.abc.04JD", expression: "at(2026-07-01T09:10:00)" };
    await scheduler.createTaskSchedule(request);
    expect(sent).toEqual(["CreateScheduleCommand"]);
    await scheduler.createTaskSchedule(request);
    expect(sent).toEqual(["CreateScheduleCommand", "CreateScheduleCommand", "GetScheduleCommand"]);
  });

  it("throws when the name is taken by a schedule that is not this task's timer, and leaves that schedule alone", async () => {
    const { clock, emulator, client, groupName, timer, scheduler } = await setUp();
    const taskId = "demo._.abc.05JD";
    const name = scheduleNameFor(taskId);
    const other = await createQueue(fixtures.sqs().sqs, unique("elsewhere"));
    // Another writer's schedule under the name (an older stack's queue, say): not a timer for this task.
    await client.send(
      new CreateScheduleCommand({
        Name: name,
        GroupName: groupName,
        ScheduleExpression: "at(2026-07-01T09:10:00)",
        FlexibleTimeWindow: { Mode: "OFF" },
        Target: { Arn: other.arn, RoleArn: ROLE_ARN, Input: taskMessageBody(taskId) },
      }),
    );

    const error = await scheduler
      .createTaskSchedule({ taskId, expression: "at(2026-07-01T09:10:00)" })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ScheduleConflictError);
    expect((error as Error).message).toContain("targeting another ARN");
    const found = await client.send(new GetScheduleCommand({ Name: name, GroupName: groupName }));
    expect(found.Target?.Arn).toBe(other.arn);
    clock.set("2026-07-01T09:10:00Z");
    expect(await emulator.fireDueNow()).toBe(1);
    expect(await receive(fixtures.sqs().sqs, timer.url, 1, 0)).toEqual([]);
  });

  it("takes this task's schedule whatever second it names, sooner or later than asked, and leaves it as it was", async () => {
    const { client, groupName, scheduler } = await setUp();
    const taskId = "demo._.abc.06JD";
    await scheduler.createTaskSchedule({ taskId, expression: "at(2026-07-01T09:10:00)" });

    // Later than the schedule in place (a longer lead's plan), and sooner (it fires after the asked second: the
    // sweeper bounds how late the task can be, shared/adapters/task-scheduler.ts, scheduleDifference).
    await expect(
      scheduler.createTaskSchedule({ taskId, expression: "at(2026-07-01T09:09:59)" }),
    ).resolves.toBeUndefined();
    await expect(
      scheduler.createTaskSchedule({ taskId, expression: "at(2026-07-01T09:10:01)" }),
    ).resolves.toBeUndefined();
    const found = await client.send(
      new GetScheduleCommand({ Name: scheduleNameFor(taskId), GroupName: groupName }),
    );
    expect(found.ScheduleExpression).toBe("at(2026-07-01T09:10:00)");
  });

  // Nothing of ours deletes a group (the CDK owns it; a stack deleted with removalPolicy destroy does): AWS keeps it
  // DELETING while it deletes its schedules, and adds schedules to an ACTIVE group only.
  it("arming into a group being deleted is a transient refusal, never taken as armed; its own schedule there still counts until the group is gone", async () => {
    // Prepare: one task armed before the group's deletion; the group then deleted (DELETING).
    const { clock, emulator, client, groupName, timer, scheduler } = await setUp();
    const armed = "demo._.abc.07JD";
    const fresh = "demo._.abc.08JD";
    await scheduler.createTaskSchedule({ taskId: armed, expression: "at(2026-07-01T09:10:00)" });
    await client.send(new DeleteScheduleGroupCommand({ Name: groupName }));

    // Act
    const refused = await scheduler
      .createTaskSchedule({ taskId: fresh, expression: "at(2026-07-01T09:10:00)" })
      .catch((e: unknown) => e);
    const repeat = await scheduler.createTaskSchedule({
      taskId: armed,
      expression: "at(2026-07-01T09:10:00)",
    });
    clock.set("2026-07-01T09:10:00Z");
    const firedWhileDeleting = await emulator.fireDueNow();
    emulator.finishGroupDeletions();
    const afterwards = await scheduler
      .createTaskSchedule({ taskId: fresh, expression: "at(2026-07-01T09:20:00)" })
      .catch((e: unknown) => e);

    // Assess: the fresh task is refused as a ScheduleConflictError (the caller's 503, the task kept for its retry and
    // the sweeper), then, the group gone, as ResourceNotFoundException (also a 503 from the arming path).
    expect(refused).toBeInstanceOf(ScheduleConflictError);
    expect((refused as Error).message).toContain("ResourceNotFoundException");
    expect((refused as Error).cause).toMatchObject({ name: "ConflictException" });
    expect(repeat).toBeUndefined();
    expect(firedWhileDeleting).toBe(1);
    const [message, ...more] = await receive(fixtures.sqs().sqs, timer.url, 1, 1);
    expect(message?.Body).toBe(taskMessageBody(armed));
    expect(more).toEqual([]);
    expect(afterwards).toBeInstanceOf(ResourceNotFoundException);
  });

  it("lets a ValidationException through: only a name that exists counts as created", async () => {
    const { scheduler } = await setUp();
    const error = await scheduler
      .createTaskSchedule({ taskId: "demo._.abc.03JD", expression: "at(2026-02-30T00:00:00)" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationException);
    expect((error as ValidationException).$metadata.httpStatusCode).toBe(400);
  });
});
