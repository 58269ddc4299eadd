/**
 * An operator's action (replay, cancel, pause, reset…) ends in a line on the page: what it did, or why it did
 * not. A click handler that let a rejection escape showed nothing; every action goes through `runAction`, which
 * never rejects. No DOM here, so the unit tests (test/unit/console/) run it with a stubbed `fetch`.
 */
import * as z from "zod";
import { ApiError } from "./api.js";
import { visible } from "./format.js";

/** Asks the operator (the page's confirmation dialog); true to go ahead. */
export type Ask = (question: string, button: string) => Promise<boolean>;

/** An error's text on the page is cut here: an API or proxy may answer a page of HTML, or a very long message. */
export const MAX_ERROR_CHARS = 300;

/** The line as the page shows it: hidden characters visible (format.ts), then cut to `max`. */
export function cut(text: string, max = MAX_ERROR_CHARS): string {
  const shown = visible(text);
  return shown.length > max ? `${shown.slice(0, max - 1)}…` : shown;
}

/**
 * The API's structured error as `code: message` (a non-2xx without one: `HTTP n: body`), or the error's
 * message, cut to MAX_ERROR_CHARS. Rendered as text (Preact escapes it), never as HTML.
 */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code) return cut(`${error.code}: ${error.message}`);
    // An empty body's ApiError says only "HTTP n": not "HTTP n: HTTP n".
    const status = `HTTP ${error.status}`;
    return cut(error.message === status ? status : `${status}: ${error.message}`);
  }
  return cut(error instanceof Error ? error.message : String(error));
}

export interface Action<T> {
  /** Asked first (confirm, button); absent: no question. */
  readonly confirm?: { readonly question: string; readonly button: string };
  readonly run: () => Promise<T>;
  /** The line when it worked (may throw on a malformed answer: that is a failure too). */
  readonly done: (result: T) => string;
  /** The line's start when it was refused: "not replayed", "not cancelled". */
  readonly failed: string;
  /** The line's start when it may have acted all the same (`mayHaveActed`): "t1 may have been cancelled". */
  readonly unsure: string;
}

/**
 * Whether a failed call may have acted all the same. A refusal (4xx) changed nothing, nor did the API's own 503
 * `service_unavailable` (shared/api/contract.ts: nothing changed, or what a many-target route did stays done and a
 * repeat goes on). Anything else may follow the change: no answer (a connection lost after the request went), the
 * API's 500 ("may have been replayed", "may have been stored"), a gateway's 502 or 504 (API Gateway's 29 s
 * integration timeout, punctual console's proxy giving up at 30 s) while the function runs on.
 */
export function mayHaveActed(error: unknown): boolean {
  if (!(error instanceof ApiError))
    return error instanceof Error && error.message.startsWith("network error");
  // punctual console's own: the call was never sent (its signing failed, console/api-proxy.ts).
  if (error.status < 500 || error.code === "not_sent") return false;
  return !(error.status === 503 && error.code === "service_unavailable");
}

/**
 * Asks, runs, and answers the line to show; undefined when the operator declined. Never rejects. A failure that
 * may have acted says so, not "not cancelled": the operator would repeat a replay the receiver then gets twice.
 */
export async function runAction<T>(ask: Ask, action: Action<T>): Promise<string | undefined> {
  if (action.confirm && !(await ask(action.confirm.question, action.confirm.button))) return undefined;
  try {
    return action.done(await action.run());
  } catch (error) {
    if (mayHaveActed(error)) return `${action.unsure}; check before repeating: ${errorText(error)}`;
    return `${action.failed}: ${errorText(error)}`;
  }
}

/** The answer as `schema` says, or an Error saying it is malformed (a proxy's page, a changed API). */
export function parseAnswer<S extends z.ZodType>(schema: S, answer: unknown): z.output<S> {
  const parsed = schema.safeParse(answer);
  if (parsed.success) return parsed.data;
  throw new Error(
    `the API's answer is malformed: ${z.prettifyError(parsed.error).replace(/\s*\n\s*/g, " ")}`,
  );
}
