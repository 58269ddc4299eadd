import type { TaskScheduleRequest, TaskScheduler } from "#shared/adapters/task-scheduler.js";

/** The TaskScheduler port (EventBridge Scheduler): records what was created and deleted; hooks make calls fail. */
export class FakeScheduler implements TaskScheduler {
  readonly created: TaskScheduleRequest[] = [];
  readonly deleted: string[] = [];
  failCreate = false;
  failDelete = false;

  async createTaskSchedule(request: TaskScheduleRequest): Promise<void> {
    if (this.failCreate) throw Object.assign(new Error("throttled"), { name: "ThrottlingException" });
    this.created.push(request);
  }

  async deleteTaskSchedule(name: string): Promise<void> {
    if (this.failDelete) throw new Error("scheduler unavailable");
    this.deleted.push(name);
  }
}
