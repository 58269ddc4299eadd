import { vi } from "vitest";

/** What the scheduled functions' modules (sweeper, schedule materializer) read at cold start, for local tests. */
export const SCHEDULED_FUNCTION_ENV: Readonly<Record<string, string>> = {
  PUNCTUAL_ENV: "local",
  TABLE_NAME: "punctual-test",
  AWS_REGION: "eu-west-1",
  TIMER_QUEUE_URL: "https://sqs.local/000000000000/timer",
  TIMER_QUEUE_ARN: "arn:aws:sqs:eu-west-1:000000000000:timer",
  TIMER_DLQ_URL: "https://sqs.local/000000000000/timer-dlq",
  SCHEDULE_DLQ_URL: "https://sqs.local/000000000000/schedule-dlq",
  SCHEDULE_DLQ_ARN: "arn:aws:sqs:eu-west-1:000000000000:schedule-dlq",
  SCHEDULE_GROUP_NAME: "punctual-test",
  SCHEDULER_ROLE_ARN: "arn:aws:iam::000000000000:role/scheduler",
  POWERTOOLS_LOG_LEVEL: "ERROR",
};

/** What the API functions' modules read at cold start in the local environment (each reads the part it needs). */
export const API_FUNCTION_ENV: Readonly<Record<string, string>> = {
  PUNCTUAL_ENV: "local",
  TABLE_NAME: "punctual-local-tasks",
  TIMER_QUEUE_URL: "http://127.0.0.1:4566/000000000000/timer",
  TIMER_QUEUE_ARN: "arn:aws:sqs:us-east-1:000000000000:timer",
  SCHEDULE_GROUP_NAME: "punctual-local",
  SCHEDULER_ROLE_ARN: "arn:aws:iam::000000000000:role/scheduler",
  SCHEDULE_DLQ_ARN: "arn:aws:sqs:us-east-1:000000000000:schedule-dlq",
  AWS_REGION: "us-east-1",
  POWERTOOLS_LOG_LEVEL: "SILENT",
};

/** Stubs SCHEDULED_FUNCTION_ENV (undone by `vi.unstubAllEnvs()`). */
export function stubScheduledFunctionEnv(): void {
  for (const [name, value] of Object.entries(SCHEDULED_FUNCTION_ENV)) vi.stubEnv(name, value);
}

/**
 * Imports a function module with `env` stubbed for its cold start (a module parses its environment once, when it is
 * first imported), then undoes every stub.
 */
export async function importWithEnv<T>(
  env: Readonly<Record<string, string>>,
  load: () => Promise<T>,
): Promise<T> {
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  try {
    return await load();
  } finally {
    vi.unstubAllEnvs();
  }
}
