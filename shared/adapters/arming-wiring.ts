import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SQSClient } from "@aws-sdk/client-sqs";
import { loadEnvironmentConfig, type PunctualConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createAwsClient } from "./aws-clients.js";
import { DynamoTaskStore, type DynamoTaskStoreOptions } from "./dynamo-task-store.js";
import { EventBridgeTaskDisarmer, EventBridgeTaskScheduler } from "./task-scheduler.js";
import { SqsTimerQueue } from "./timer-queue.js";

/** The variables a function that stores tasks and arms their timers reads (route grants `schedules:arm` etc.). */
const ARMING_VARIABLES = [
  ENV.environment,
  ENV.tableName,
  ENV.timerQueueUrl,
  ENV.timerQueueArn,
  ENV.scheduleGroupName,
  ENV.schedulerRoleArn,
  ENV.scheduleDlqArn,
] as const;

/** A task store class: DynamoTaskStore, or one of the narrower classes it extends. */
type StoreClass<S> = new (options: DynamoTaskStoreOptions) => S;

/**
 * What every function that writes a task and arms its timer (add, batch add, reschedule, run now, the schedule
 * routes) builds once at cold start: its config, the task store, the timer queue and the scheduler. A missing
 * variable fails the cold start.
 */
export function armingDepsFromEnvironment(env: NodeJS.ProcessEnv = process.env) {
  return armingDepsWith(DynamoTaskStore, env);
}

/**
 * The same with a narrower store (DynamoAddStore, DynamoScheduleStore, DynamoBatchAddStore,
 * DynamoMaterializerStore: the add, schedule and batch add routes, the schedule materializer), so that their
 * bundles leave out the store methods their services never call (~13–22 KB).
 */
export function armingDepsWith<S>(Store: StoreClass<S>, env: NodeJS.ProcessEnv = process.env) {
  const vars = requireEnv(ARMING_VARIABLES, env);
  const config: PunctualConfig = loadEnvironmentConfig(vars.PUNCTUAL_ENV);
  return {
    config,
    store: new Store({ client: createAwsClient(DynamoDBClient), tableName: vars.TABLE_NAME }),
    timerQueue: new SqsTimerQueue(createAwsClient(SQSClient), vars.TIMER_QUEUE_URL),
    scheduler: new EventBridgeTaskScheduler(createAwsClient(SchedulerClient), {
      groupName: vars.SCHEDULE_GROUP_NAME,
      targetArn: vars.TIMER_QUEUE_ARN,
      roleArn: vars.SCHEDULER_ROLE_ARN,
      deadLetterArn: vars.SCHEDULE_DLQ_ARN,
      retry: config.timer.scheduleRetry,
    }),
    now: Date.now,
  };
}

/** The variables a function that only cancels tasks (and deletes their schedules) reads (`schedules:disarm`). */
const DISARMING_VARIABLES = [ENV.environment, ENV.tableName, ENV.scheduleGroupName] as const;

/**
 * What every function that cancels tasks builds once at cold start (cancel, group cancel, schedule pause and
 * delete): its config, the task store and a scheduler that may only delete schedules — deleting needs only the
 * group, so such a function reads no queue or role variables.
 */
export function disarmingDepsFromEnvironment(env: NodeJS.ProcessEnv = process.env) {
  return disarmingDepsWith(DynamoTaskStore, env);
}

/** The same with a narrower store (schedule pause and delete: DynamoScheduleStore), as `armingDepsWith`. */
export function disarmingDepsWith<S>(Store: StoreClass<S>, env: NodeJS.ProcessEnv = process.env) {
  const vars = requireEnv(DISARMING_VARIABLES, env);
  const config: PunctualConfig = loadEnvironmentConfig(vars.PUNCTUAL_ENV);
  return {
    config,
    store: new Store({ client: createAwsClient(DynamoDBClient), tableName: vars.TABLE_NAME }),
    scheduler: new EventBridgeTaskDisarmer(createAwsClient(SchedulerClient), vars.SCHEDULE_GROUP_NAME),
    now: Date.now,
  };
}
