/**
 * The page's only way out: same-origin calls to the Punctual API (`/v1/*`, proxied and signed by
 * `punctual console`, or served by the local API server) and to the console's own endpoints. Every call carries
 * the console header (the servers refuse calls without it), and every list call a page limit.
 */
export const PAGE_LIMIT = 20;

/** A non-2xx answer: the API's structured error (`{ error: { code, message } }`) when it gave one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: {
        "x-punctual-console": "1",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    // fetch rejects only when no answer came (offline, refused, a CORS or CSP block): say so, not "TypeError".
    throw new Error(`network error: ${error instanceof Error ? error.message : String(error)}`);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    if (!response.ok) throw new ApiError(response.status, text || `HTTP ${response.status}`);
    json = { message: text };
  }
  if (!response.ok) throw apiError(response.status, json);
  return json as T;
}

/** The API's `{ error: { code, message } }` (the console's own endpoints answer the same); anything else: HTTP n. */
function apiError(status: number, json: unknown): ApiError {
  const body = (typeof json === "object" && json !== null ? json : {}) as {
    error?: unknown;
    message?: unknown;
  };
  const error = (typeof body.error === "object" && body.error !== null ? body.error : {}) as {
    code?: unknown;
    message?: unknown;
  };
  const text = (value: unknown) => (typeof value === "string" && value ? value : undefined);
  const message = text(error.message) ?? text(body.message) ?? `HTTP ${status}`;
  return new ApiError(status, message, text(error.code));
}

export function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== "") search.set(key, String(value));
  return search.toString();
}

export interface TopicView {
  readonly topic: string;
  readonly paused: boolean;
  readonly backlog: { readonly waiting: number; readonly in_flight: number };
  readonly oldest_age_seconds: number | null;
  readonly dead_letter_count: number;
}

export interface AttemptView {
  readonly started_at: string;
  readonly duration_ms: number;
  readonly status?: number;
  readonly error?: string;
}

export interface TaskView {
  readonly task_id: string;
  readonly topic: string;
  readonly status: string;
  readonly due_at: string;
  readonly accepted_at: string;
  readonly attempts: number;
  readonly last_error?: string;
  readonly queued_at?: string;
  readonly delivered_at?: string;
  readonly failed_at?: string;
  readonly cancelled_at?: string;
  readonly replayed_at?: string;
  readonly rescheduled_to?: string;
  readonly lateness_ms?: number;
  readonly callback_url: string;
  readonly group?: string;
  readonly content?: string;
  readonly attempt_log: readonly AttemptView[];
  /** A fan-out task (issue 14, point 3): one row per subscriber. */
  readonly subscribers?: readonly SubscriberView[];
  readonly parent_task_id?: string;
  readonly subscriber?: string;
}

/** One subscriber of a fan-out task (shared/api/fan-out-view.ts). */
export interface SubscriberView {
  readonly id: string;
  readonly task_id: string;
  readonly callback_url: string;
  readonly status: string;
  readonly attempts: number;
  readonly last_error?: string;
}

export interface TaskPage {
  readonly tasks: readonly TaskView[];
  readonly next_cursor: string | null;
}

/** A recurring schedule as GET /v1/schedules answers (shared/api/schemas/schedules.ts; its module needs Node). */
export interface ScheduleView {
  readonly schedule_id: string;
  readonly topic: string;
  readonly cron: string;
  readonly timezone: string;
  readonly status: "active" | "paused" | "ended" | "deleted";
  readonly content: string;
  readonly callback_url?: string;
  readonly created_at: string;
  readonly paused_at?: string;
  readonly deleted_at?: string;
  readonly next_occurrences: readonly string[];
}

export interface SchedulePage {
  readonly schedules: readonly ScheduleView[];
  readonly next_cursor: string | null;
}
