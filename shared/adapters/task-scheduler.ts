import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
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

  /** Idempotent: the name derives from the task id, so "already exists" means an earlier try succeeded. */
  async createTaskSchedule(request: TaskScheduleRequest): Promise<void> {
    const s = this.settings;
    try {
      await this.client.send(
        new CreateScheduleCommand({
          Name: request.name ?? scheduleNameFor(request.taskId),
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
            Input: taskMessageBody(request.taskId),
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
    }
  }
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}
