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
