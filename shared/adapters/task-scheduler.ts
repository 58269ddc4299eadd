import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  type GetScheduleCommandOutput,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import { scheduleNameFor } from "#shared/domain/keys.js";
import { taskMessageBody } from "#shared/domain/messages.js";

export interface TaskScheduleRequest {
  readonly taskId: string;
  /** `at(yyyy-mm-ddThh:mm:ss)` in UTC (see `atExpression`). */
  readonly expression: string;
  /** Defaults to `scheduleNameFor(taskId)`; the name must be deterministic so a retry finds the same one. */
  readonly name?: string;
}

/** The coarse stage of the timer: a one-time EventBridge Scheduler schedule per far-future task. */
export interface TaskScheduler {
  createTaskSchedule(request: TaskScheduleRequest): Promise<void>;
  deleteTaskSchedule(name: string): Promise<void>;
}

export interface EventBridgeTaskSchedulerSettings {
  readonly groupName: string;
  /** The standard timer queue: a schedule only wakes the relay, which re-arms to the second. */
  readonly targetArn: string;
  readonly roleArn: string;
  /** Standard SQS queue for invocations Scheduler could not deliver after its retries. */
  readonly deadLetterArn: string;
  readonly retry: { readonly maximumRetryAttempts: number; readonly maximumEventAgeSeconds: number };
}

/**
 * Deletes task schedules only: what the functions that cancel tasks build (cancel, group cancel, schedule pause
 * and delete). Deleting needs only the group; such a function reads no queue or role variables, and its bundle
 * leaves out the create call (and the task message it sends).
 */
export class EventBridgeTaskDisarmer implements Pick<TaskScheduler, "deleteTaskSchedule"> {
  constructor(
    protected readonly client: SchedulerClient,
    protected readonly groupName: string,
  ) {}

  /** Idempotent: a schedule that already fired (ActionAfterCompletion DELETE) or was deleted is gone either way. */
  async deleteTaskSchedule(name: string): Promise<void> {
    try {
      await this.client.send(new DeleteScheduleCommand({ Name: name, GroupName: this.groupName }));
    } catch (error) {
      if (errorName(error) !== "ResourceNotFoundException") throw error;
    }
  }
}

export class EventBridgeTaskScheduler extends EventBridgeTaskDisarmer implements TaskScheduler {
  constructor(
    client: SchedulerClient,
    private readonly settings: EventBridgeTaskSchedulerSettings,
  ) {
    super(client, settings.groupName);
  }

  /**
   * Idempotent: the name derives from the task id, so a schedule of that name that fires our task message to our
   * timer queue is an earlier try's (its answer lost, or a replay re-arming), whatever second it names (see
   * `scheduleDifference`). CreateSchedule's ConflictException is documented only as "updating or deleting the
   * resource can cause an inconsistent state": besides a name taken it may be a group being deleted (AWS adds
   * schedules to an ACTIVE group only). So a conflict is confirmed with GetSchedule (one more call, on that path
   * only) and anything but ours throws, for the caller to answer 503 and the sweeper or the client to retry: taken
   * as created, the task would have no timer.
   */
  async createTaskSchedule(request: TaskScheduleRequest): Promise<void> {
    const s = this.settings;
    const name = request.name ?? scheduleNameFor(request.taskId);
    const input = taskMessageBody(request.taskId);
    try {
      await this.client.send(
        new CreateScheduleCommand({
          Name: name,
          GroupName: s.groupName,
          ScheduleExpression: request.expression,
          ScheduleExpressionTimezone: "UTC",
          // OFF: Scheduler's own lateness (up to 60 s) is already more than we want; the lead absorbs it.
          FlexibleTimeWindow: { Mode: "OFF" },
          ActionAfterCompletion: "DELETE",
          State: "ENABLED",
          Target: {
            Arn: s.targetArn,
            RoleArn: s.roleArn,
            Input: input,
            RetryPolicy: {
              MaximumRetryAttempts: s.retry.maximumRetryAttempts,
              MaximumEventAgeInSeconds: s.retry.maximumEventAgeSeconds,
            },
            DeadLetterConfig: { Arn: s.deadLetterArn },
          },
        }),
      );
    } catch (error) {
      if (errorName(error) !== "ConflictException") throw error;
      await this.confirmOurs(name, input, error);
    }
  }

  /** Resolves when the schedule named `name` is the one this call would have written; throws otherwise. */
  private async confirmOurs(name: string, input: string, conflict: unknown): Promise<void> {
    let found: GetScheduleCommandOutput;
    try {
      found = await this.client.send(
        new GetScheduleCommand({ Name: name, GroupName: this.settings.groupName }),
      );
    } catch (error) {
      // Gone since (fired, or deleted with its group) or unreadable (throttled, …): not a timer we can count on.
      throw new ScheduleConflictError(
        `CreateSchedule ${name} conflicted, and GetSchedule could not confirm it (${errorName(error) ?? "error"})`,
        conflict,
      );
    }
    const differs = scheduleDifference(found, { targetArn: this.settings.targetArn, input });
    if (differs !== undefined) {
      throw new ScheduleConflictError(
        `CreateSchedule ${name} conflicted with a schedule ${differs}`,
        conflict,
      );
    }
  }
}

/**
 * A CreateSchedule conflict that is not this task's timer already in place: transient for the caller (it arms
 * nothing, so the task is answered 503 and kept for the sweeper or a retry), never taken as armed.
 */
export class ScheduleConflictError extends Error {
  override readonly name = "ScheduleConflictError";

  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}

/**
 * What makes the found schedule another than this task's timer, or undefined when it is its timer. Its timer
 * fires our task message (it names the task) to our timer queue, enabled, as a one-time `at()` in UTC, at whatever
 * second: sooner than asked (planned under a longer lead) it wakes the relay early, which puts the task back on the
 * timer queue; later than asked but by due (planned under a shorter lead, before a deploy raised it) it is the
 * timer the task had from its first add; past due, it is still taken. No plan of ours names a second past due
 * (`planTimer` floors due − lead, lead ≥ 0, and the name and message are the task id's, which fixes its due time;
 * a move makes a new id, and the sweeper and the relay re-arm on the timer queue only), so such a schedule was
 * moved by hand (UpdateSchedule). A task armed through a schedule is in the sweep index from its write (one first
 * armed on the timer queue has its timer message there), so the sweeper forwards it once past due by its grace
 * whatever its schedule does, and the late firing then finds it no longer `scheduled` and forwards nothing of it.
 * Refusing it (503) left that same timer in place and only made every keyed repeat and re-arm fail until it fired,
 * days on for a task due days ahead (docs/RELIABILITY.md, "A CreateSchedule conflict").
 */
function scheduleDifference(
  found: GetScheduleCommandOutput,
  ours: { readonly targetArn: string; readonly input: string },
): string | undefined {
  if (found.Target?.Arn !== ours.targetArn) return "targeting another ARN";
  if (found.Target?.Input !== ours.input) return "sending another message";
  // GetSchedule names UTC when none was given; anything else reads the same at() as another instant.
  if ((found.ScheduleExpressionTimezone ?? "UTC") !== "UTC") return "in another time zone";
  if (found.State !== undefined && found.State !== "ENABLED") return "that is disabled";
  if (!isOneTime(found.ScheduleExpression)) {
    return `firing at ${found.ScheduleExpression ?? "no time"}, not once at a second`;
  }
  return undefined;
}

/** Whether an expression is a one-time `at(yyyy-mm-ddThh:mm:ss)`, the only kind we write. */
function isOneTime(expression: string | undefined): boolean {
  return /^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$/.test(expression ?? "");
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}
