import { type ErrorIssue, validationFailed } from "#shared/api/errors.js";
import { createScheduleBodySchema } from "#shared/api/schemas/schedules.js";
import type { PunctualConfig } from "#shared/config/index.js";
import { isPlainObject, jsNumbersOutsideContent, toIssues } from "#shared/domain/add-task-request.js";
import { tooManyUnknownFields } from "#shared/domain/request-issues.js";
import { type CatchUpPolicy, timeZoneProblem } from "#shared/domain/schedule.js";
import {
  budgetedInlineLimit,
  type CronSpec,
  cronProblem,
  engineLimitProblem,
  inlineBudgetProblem,
  nextOccurrence,
  onlyDstGapsAhead,
} from "#shared/domain/schedule-cron.js";
import { notWellFormedIssues } from "#shared/domain/well-formed.js";
import { msAtOrAfterInstant } from "#shared/domain/whole-ms.js";
import { checkAddRequest } from "../add-task.js";
import { horizonOf } from "./materialize.js";

/** A validated `POST /v1/schedules` body: the cron spec and what each occurrence's task is made of. */
export interface CreateScheduleRequest {
  readonly topic: string;
  readonly spec: CronSpec;
  /** The content as JSON text, numbers as written (the add-task service's exact form). */
  readonly content: string;
  readonly callbackUrl?: string;
  readonly deliverBy?: string;
  /** Absent: `all`, stored as absent (as every schedule created before the field). */
  readonly catchUp?: CatchUpPolicy;
  /** How many occurrences the create makes inside the call (budgetedInlineLimit); the materializer, the rest. */
  readonly inlineLimit: number;
}

/**
 * Validates a schedule: its own fields (cron by croner, time zone by Intl, start before end, at least one
 * occurrence), then its occurrence template through the add-task checks (topic, content size and exact JSON,
 * ordering field, callback and its SSRF policy), so a schedule is refused for exactly what its tasks would be.
 */
export function parseCreateSchedule(
  config: PunctualConfig,
  body: unknown,
  nowMs: number,
  idempotencyKeyHeader?: string,
): CreateScheduleRequest {
  refuseIdempotencyKey(idempotencyKeyHeader);
  if (!isPlainObject(body))
    throw validationFailed([{ path: "", message: "the request body must be a JSON object" }]);
  const tooMany = tooManyUnknownFields(body, createScheduleBodySchema.shape);
  if (tooMany) throw validationFailed(tooMany);
  let issues: ErrorIssue[] = [];
  const fields = jsNumbersOutsideContent(body, issues);
  const parsed = createScheduleBodySchema.safeParse(fields);
  // concat, not push(...): spread, hundreds of thousands of issues (unknown fields) overflow the stack.
  if (!parsed.success) issues = issues.concat(toIssues(parsed.error.issues, fields));
  // Cron, time zone, callback and deliver_by are stored as DynamoDB strings, which cannot hold a lone surrogate.
  issues = issues.concat(notWellFormedIssues(fields, issues));
  if (!parsed.success || issues.length > 0) throw validationFailed(issues);
  const value = parsed.data;
  const spec = cronSpecOf(value, nowMs);
  const checked = checkAddRequest(config, occurrenceTemplate(body), nowMs);
  const write = {
    contentBytes: Buffer.byteLength(checked.request.content.text),
    tasksEach: 1 + (checked.topic.subscribers?.length ?? 0),
  };
  const horizonMs = horizonOf(config, checked.topic.name);
  const inlineLimit = budgetedInlineLimit(spec, write, nowMs, horizonMs);
  if (inlineLimit === undefined) {
    const problem = inlineBudgetProblem(spec, write, nowMs, horizonMs);
    throw validationFailed([{ path: "content", message: `the schedule: ${problem}` }]);
  }
  return {
    topic: checked.topic.name,
    spec,
    content: checked.request.content.text,
    ...(value.callback !== undefined ? { callbackUrl: value.callback.url } : {}),
    ...(value.deliver_by !== undefined ? { deliverBy: value.deliver_by } : {}),
    ...(value.catch_up !== undefined && value.catch_up !== "all" ? { catchUp: value.catch_up } : {}),
    inlineLimit,
  };
}

/**
 * A create takes no idempotency key (docs/API.md, "Recurring schedules", "Limits"). Ignored, the header `POST /v1/tasks` honours would promise
 * the caller a safe retry, and each retry would store one more schedule firing the same deliveries.
 */
function refuseIdempotencyKey(idempotencyKeyHeader: string | undefined): void {
  if (idempotencyKeyHeader === undefined) return;
  throw validationFailed([
    {
      path: "Idempotency-Key",
      message:
        "a schedule create takes no Idempotency-Key header (it would not be kept): send it without, and list the topic's schedules (GET /v1/schedules?topic=) before repeating a create whose outcome is unknown",
    },
  ]);
}

function cronSpecOf(
  value: { cron: string; timezone: string; start_at?: string | undefined; end_at?: string | undefined },
  nowMs: number,
): CronSpec {
  const issues: ErrorIssue[] = [];
  const problem = cronProblem(value.cron);
  if (problem) issues.push({ path: "cron", message: problem });
  const zoneProblem = timeZoneProblem(value.timezone);
  const knownZone = zoneProblem === undefined;
  if (zoneProblem) issues.push({ path: "timezone", message: zoneProblem });
  // Rounded up to the whole ms like a due time: occurrences are whole ms, so `≥ start_at` and `< end_at` (exclusive)
  // still hold exactly, and no occurrence comes before a start_at with a sub-ms part (truncated, it did).
  const startAtMs = value.start_at !== undefined ? msAtOrAfterInstant(value.start_at) : undefined;
  const endAtMs = value.end_at !== undefined ? msAtOrAfterInstant(value.end_at) : undefined;
  if (knownZone) issues.push(...engineLimitIssues(value.timezone, startAtMs, endAtMs));
  if (startAtMs !== undefined && endAtMs !== undefined && endAtMs <= startAtMs) {
    issues.push({ path: "end_at", message: "must be after start_at" });
  }
  if (issues.length > 0) throw validationFailed(issues);
  const spec: CronSpec = {
    cron: value.cron,
    timezone: value.timezone,
    ...(startAtMs !== undefined ? { startAtMs } : {}),
    ...(endAtMs !== undefined ? { endAtMs } : {}),
  };
  // The DST check first: it is what makes a gap-only pattern's "none" cheap, and it names the cause.
  if (onlyDstGapsAhead(spec, Math.max(nowMs, (spec.startAtMs ?? nowMs) - 1))) {
    throw validationFailed([
      {
        path: "cron",
        message:
          "has no occurrence: its times all fall in the time zone's daylight-saving gaps (times that do not exist there)",
      },
    ]);
  }
  if (nextOccurrence(spec, nowMs) === undefined) {
    throw validationFailed([
      { path: "cron", message: "has no occurrence between now (or start_at) and end_at" },
    ]);
  }
  return spec;
}

/**
 * start_at and end_at within what croner computes (engineLimitProblem): past it, a 400 naming the limit rather than
 * "no occurrence between now (or start_at) and end_at", or an end_at the schedule would never reach.
 */
function engineLimitIssues(
  timezone: string,
  startAtMs: number | undefined,
  endAtMs: number | undefined,
): ErrorIssue[] {
  const issues: ErrorIssue[] = [];
  for (const [path, ms] of [
    ["start_at", startAtMs],
    ["end_at", endAtMs],
  ] as const) {
    const problem = ms === undefined ? undefined : engineLimitProblem(path, ms, timezone);
    if (problem) issues.push({ path, message: problem });
  }
  return issues;
}

/** An add-task body with the schedule's task fields, due now: what every occurrence will be checked as. */
export function occurrenceTemplate(body: Record<string, unknown>): Record<string, unknown> {
  const template: Record<string, unknown> = { topic: body.topic, content: body.content, delay_seconds: 0 };
  if (body.callback !== undefined) template.callback = body.callback;
  if (body.deliver_by !== undefined) template.deliver_by = body.deliver_by;
  return template;
}
