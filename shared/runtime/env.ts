/** Environment variables the functions read at cold start; the CDK stack and the local cloud set them. */
export const ENV = {
  environment: "PUNCTUAL_ENV",
  tableName: "TABLE_NAME",
  timerQueueUrl: "TIMER_QUEUE_URL",
  timerQueueArn: "TIMER_QUEUE_ARN",
  scheduleGroupName: "SCHEDULE_GROUP_NAME",
  schedulerRoleArn: "SCHEDULER_ROLE_ARN",
  scheduleDlqArn: "SCHEDULE_DLQ_ARN",
  /** JSON: this function's section of the topology contract (shared/contract/topology.ts). */
  topology: "PUNCTUAL_TOPOLOGY",
  /** The timer queue's dead-letter queue (sweeper: drained). */
  timerDlqUrl: "TIMER_DLQ_URL",
  /** EventBridge Scheduler's dead-letter queue (sweeper: drained). */
  scheduleDlqUrl: "SCHEDULE_DLQ_URL",
  /** The signing secret itself (local cloud), `whsec_…` base64. */
  signingSecret: "PUNCTUAL_SIGNING_SECRET",
  /** Secrets Manager ARN of the signing secret (AWS). */
  signingSecretArn: "SIGNING_SECRET_ARN",
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];

export class MissingEnvironmentError extends Error {
  override readonly name = "MissingEnvironmentError";
}

/** Reads required variables, failing fast at cold start with every missing name at once. */
export function requireEnv<const K extends EnvName>(
  names: readonly K[],
  env: NodeJS.ProcessEnv = process.env,
): Record<K, string> {
  const missing = names.filter((name) => !env[name]);
  if (missing.length > 0)
    throw new MissingEnvironmentError(`missing environment variables: ${missing.join(", ")}`);
  return Object.fromEntries(names.map((name) => [name, env[name] as string])) as Record<K, string>;
}
