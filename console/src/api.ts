/**
 * The page's only way out: same-origin calls to the Punctual API (`/v1/*`, proxied and signed by
 * `punctual console`, or served by the local API server) and to the console's own endpoints. Every call carries
 * the console header (the servers refuse calls without it), and every list call a page limit.
 */
import { sessionHeaders } from "./session.js";

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

export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      ...(signal ? { signal } : {}),
      headers: {
        "x-punctual-console": "1",
        ...sessionHeaders(),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    // fetch rejects only when no answer came (offline, refused, a CORS or CSP block): say so, not "TypeError".
    throw new Error(`network error: ${error instanceof Error ? error.message : String(error)}`);
  }
  const text = await answerText(response);
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    if (!response.ok) throw new ApiError(response.status, text);
    // A 2xx that is not JSON is no answer of the API's (a proxy's sign-in page): an error, as a malformed answer
    // is (action.ts parseAnswer), not a value to show.
    throw new Error(`the API's answer is not JSON: ${text}`);
  }
  if (!response.ok) throw apiError(response.status, json);
  return json as T;
}

/**
 * The answer's body. Lost while read (the connection dropped: Firefox's "NetworkError when attempting to fetch
 * resource.", Node's "terminated"), it is a network error as fetch's own rejection is: the request reached the API,
 * which may have acted (action.ts `mayHaveActed`), so the line must not say "not cancelled".
 */
async function answerText(response: Response): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    throw new Error(`network error: ${error instanceof Error ? error.message : String(error)}`);
  }
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

/**
 * GET one page of a list, asked for with `params.limit` rows, the answer's rows under `rows`: refused, as a
 * malformed answer is (the panel's error line, nothing of it rendered), when it holds more rows than asked for. The
 * API never answers more than the limit: such an answer is a broken API's, or a proxy's or cache's answer to another
 * request. Refused rather than cut to the limit: the rows past it would be dropped unseen while the page's cursor
 * goes on after them, and the rows kept would carry Replay, Cancel and Delete buttons for tasks the page was never
 * asked about; rendered whole, a broken API's tens of thousands of rows would freeze the page.
 */
export async function callPage(
  route: string,
  params: { readonly limit: number } & Record<string, string | number | undefined>,
  rows: string,
): Promise<unknown> {
  const answer = await call<unknown>("GET", `${route}?${query(params)}`);
  const items =
    typeof answer === "object" && answer !== null ? (answer as Record<string, unknown>)[rows] : [];
  if (Array.isArray(items) && items.length > params.limit) {
    throw new Error(
      `the API answered ${items.length} ${rows} where at most ${params.limit} were asked for: not shown (a broken API, or a proxy answering another request)`,
    );
  }
  return answer;
}

/** The query string of `params`, each value exactly as given: an empty string is a value (`group=`), undefined none. */
export function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
  return search.toString();
}

/** The shapes of what the page loads, parsed on each load (answers.ts). */
export type {
  AttemptView,
  SchedulePage,
  ScheduleView,
  SubscriberView,
  TaskPage,
  TaskView,
  TopicView,
} from "./answers.js";
