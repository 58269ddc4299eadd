import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import type * as z from "zod/mini";
import { laneTaskIdPrefix } from "#shared/domain/lane-hash.js";
import { notWellFormedIssues } from "#shared/domain/well-formed.js";
import { safeParseBounded } from "#shared/zod.js";
import {
  AddBatcher,
  type AddBatchingOptions,
  addedItemProblem,
  invalidBatchAnswer,
  isTaskOfTopic,
  type LoneAdd,
  resultsMismatch,
  type SentBatch,
  type SentItem,
  sentItemOf,
} from "./add-batching.js";
import { addInBatches, type BatchSender, batchItems } from "./add-tasks.js";
import { apiRouteUrl, apiUrlProblem, parsedApiUrl, pathSegment, withPercentEncodedQuery } from "./api-url.js";
import { type Authorizer, authorizer, defaultAuthFor, InvalidTokenError, type PunctualAuth } from "./auth.js";
import { BatchCaps } from "./batch-caps.js";
import { bodyText } from "./body-text.js";
import {
  checkKeyOption,
  errorFromResponse,
  invalidAnswer,
  MAX_ANSWER_DEPTH,
  nestedTooDeep,
  PunctualError,
  parseJson,
  redirectError,
} from "./errors.js";
import { inexactNumber } from "./inexact-number.js";
import { withItemKeys } from "./item-keys.js";
import { readAnswerText, requestIdOf } from "./read-body.js";
import {
  checkedRetryPolicy,
  DEFAULT_RETRY,
  isRedirect,
  RETRYABLE_STATUSES,
  type RetryPolicy,
  retryDelayMs,
} from "./retry.js";
import {
  type AddTaskInput,
  type CallOptions,
  pathParamNames,
  ROUTES,
  type RouteDescriptor,
  type RouteInput,
  type RouteMethods,
} from "./routes.js";
import type { AddTaskResponse, AddTasksBatchResponse } from "./schemas.js";

export interface PunctualClientOptions {
  /** The API's base URL: the stack's `ApiUrl` output, or the local cloud's `http://127.0.0.1:3000`. */
  readonly apiUrl: string | URL;
  /** Default: `none` for a loopback URL, `iam` (standard credential chain) otherwise. */
  readonly auth?: PunctualAuth;
  /** Per-attempt timeout of every request but a batch add's. Default 30 s. */
  readonly timeoutMs?: number;
  /**
   * Per-attempt timeout of a batch add (`POST /v1/tasks/batch`: `addTasks`, and the batches `addTask` forms), which
   * legitimately takes longer than one add: up to 100 adds in one call. Default: the larger of `timeoutMs` and 30 s,
   * API Gateway's longest integration time, so a batch is never abandoned (and sent again whole) while the API may
   * still answer it, and never waited for past the time API Gateway itself answers by.
   */
  readonly batchTimeoutMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  /**
   * Natural batching of `addTask` (client/add-batching.ts), on by default: adds made while `maxInFlight` (default
   * 4) are in flight wait and go together as one `POST /v1/tasks/batch`; each caller still gets its own add's
   * answer or error. `false`: every `addTask` is its own `POST /v1/tasks`.
   */
  readonly addBatching?: boolean | AddBatchingOptions;
  /** Seams for tests. */
  readonly fetch?: typeof globalThis.fetch;
  /** Waits before a retry; may end early, rejecting, when `signal` (the call's) aborts. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random?: () => number;
  readonly now?: () => number;
  readonly newIdempotencyKey?: () => string;
  /** Where `iam` auth reads AWS_REGION; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A final answer, and how many attempts it took (the first included). */
interface Answer {
  readonly status: number;
  readonly text: string;
  /** Whether its bytes were UTF-8 (`text` has U+FFFD for each that was not). */
  readonly utf8: boolean;
  readonly attempts: number;
  readonly requestId: string | undefined;
}

/** A 2xx answer as read: its value, or why it cannot be read and whether a repeat may read it. */
type Read<T> = { readonly value: T } | { readonly error: PunctualError; readonly transient: boolean };

/** What a 2xx answer must say to be the one to this request (`readAnswer`). */
interface Expected {
  /** The object a route that `answersFor` one asks for. */
  readonly asked?: string | undefined;
  /** Fields the call's options ask the answer to hold (`content` for `includeContent`). */
  readonly fields?: readonly string[];
  /** The topic (and group) every item of a list route's answer is of. */
  readonly listed?: Readonly<Record<string, string>> | undefined;
  /** The path's topic, whose tasks a route that `listsTopicTasks` lists, and the task ids the call named. */
  readonly tasksOf?: TasksOf | undefined;
  /** A list page's array and the most rows it may hold: the `limit` the call sent. */
  readonly page?: PageBound | undefined;
  /** The arrays of a route that `listsAtMost` and the most entries the API lists in them for this call. */
  readonly listBound?: ListBound | undefined;
}

interface ListBound {
  readonly items: readonly string[];
  readonly of: string;
  readonly most: number;
  readonly counts: readonly string[];
}

interface PageBound {
  readonly items: string;
  readonly limit: number;
}

interface TasksOf {
  readonly topic: string;
  readonly named: ReadonlySet<string>;
  /** A lane cancel's subscriber and the start of every id in its lane of the group (`listsLaneOf`). */
  readonly lane?: { readonly subscriber: string; readonly idPrefix: string };
}

/** A final answer and its value. */
type ReadAnswer<T> = Answer & { readonly value: T };

interface Attempt {
  readonly url: URL;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  /** Each try's timeout (ms). */
  readonly timeoutMs: number;
}

/** API Gateway answers every request within 30 s (its HTTP API integration timeout at most): a 504 past it. */
const API_GATEWAY_MAX_MS = 30_000;

const sleepFor = (ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : {});

/** The client's engine; its route methods are added from ROUTES (see `PunctualClient` below). */
class PunctualClientCore {
  readonly apiUrl: URL;
  readonly #authorize: Authorizer;
  readonly #fetch: typeof globalThis.fetch;
  readonly #retry: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #batchTimeoutMs: number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #newKey: () => string;
  /** What batches the API takes, shared by `addTasks` and the batcher. */
  readonly #caps: BatchCaps;

  constructor(options: PunctualClientOptions) {
    this.apiUrl = parsedApiUrl(options.apiUrl);
    const problem = apiUrlProblem(this.apiUrl);
    if (problem) throw new TypeError(problem);
    this.#authorize = authorizer(options.auth ?? defaultAuthFor(this.apiUrl), this.apiUrl, options.env);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#retry = checkedRetryPolicy({ ...DEFAULT_RETRY, ...options.retry });
    this.#timeoutMs = checkedTimeout("timeoutMs", options.timeoutMs ?? API_GATEWAY_MAX_MS);
    this.#batchTimeoutMs = checkedTimeout(
      "batchTimeoutMs",
      options.batchTimeoutMs ?? Math.max(this.#timeoutMs, API_GATEWAY_MAX_MS),
    );
    this.#sleep = options.sleep ?? sleepFor;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#newKey = options.newIdempotencyKey ?? randomUUID;
    this.#caps = new BatchCaps(() => this.#now());
    const batchedAdd = options.addBatching === false ? undefined : this.#batchedAdd(options.addBatching);
    for (const [name, descriptor] of Object.entries(ROUTES)) {
      Object.defineProperty(this, name, {
        value:
          name === "addTask" && batchedAdd
            ? batchedAdd
            : (...args: unknown[]) => this.call(descriptor as RouteDescriptor, args),
        enumerable: false,
      });
    }
  }

  /** `addTask` through the batcher: its lone requests through `#sendAdd`, its batches through `#sendBatch`. */
  #batchedAdd(options: true | AddBatchingOptions | undefined) {
    const batcher = new AddBatcher(
      {
        single: (add, attemptsUsed) => this.#sendAdd(add, attemptsUsed),
        batch: (body) => this.#sendBatch(body),
        backoff: (attempt) =>
          this.#sleep(retryDelayMs(this.#retry, attempt, undefined, this.#random, this.#now())),
        maxAttempts: this.#retry.maxAttempts,
        caps: this.#caps,
        newKey: () => this.#newKey(),
        now: () => this.#now(),
      },
      options === true ? {} : options,
    );
    return (input: AddTaskInput, callOptions?: CallOptions) => batcher.add(input, callOptions);
  }

  /** Calls one route with its method's arguments: path parameters, then the input if any, then options. */
  async call<R extends z.ZodMiniType>(
    route: RouteDescriptor<string, RouteInput<unknown> | undefined, R>,
    args: unknown[],
  ): Promise<z.output<R>> {
    const names = pathParamNames(route.path);
    const params = args.slice(0, names.length) as string[];
    const input = route.input ? args[names.length] : undefined;
    const options = (args[names.length + (route.input ? 1 : 0)] ?? {}) as CallOptions;
    checkNoKeyOption(route, options);
    checkUrlValues(route, names, params, input);
    const attempt = this.#prepare(route, names, params, input, options);
    if ((route as RouteDescriptor) === ROUTES.addTasks) {
      return (await this.#addTasks(attempt, input, options.signal)) as z.output<R>;
    }
    const expected: Expected = {
      asked: askedOf(route, names, params, input),
      fields: answerFieldsOf(route, options),
      listed: listedOf(route, input),
      tasksOf: tasksOfTopic(route, names, params, input),
      page: pageBoundOf(route, input),
      listBound: listBoundOf(route, input),
    };
    return this.#answerOf(route, attempt, options.signal, 0, expected);
  }

  /**
   * `addTasks`: the batch in parts under the caps shared with the batcher, its items answered 503 (or another
   * retryable status) sent again, in request order, each with the very key it carried, after a backoff, until each
   * has had `maxAttempts` requests (client/add-tasks.ts). The caller cannot do this: the keys the client made are in
   * no answer, and a keyed item answered 503 may still be written and delivered, so the same body sent again with a
   * new key could make a second task. A body the API refuses whole is sent as it is, for its 400.
   */
  async #addTasks(
    attempt: Attempt,
    input: unknown,
    signal: AbortSignal | undefined,
  ): Promise<AddTasksBatchResponse> {
    const items = batchItems(attempt.body);
    if (!items) return (await this.#sentBatch(attempt, sentItemsOf(input), signal, 0)).answer;
    const sender: BatchSender = {
      send: (body, items, attemptsUsed, numbers) =>
        this.#sentBatch({ ...attempt, body }, items, signal, attemptsUsed, numbers),
      backoff: (used) =>
        this.#wait(retryDelayMs(this.#retry, used, undefined, this.#random, this.#now()), signal),
      maxAttempts: this.#retry.maxAttempts,
      caps: this.#caps,
      signal,
    };
    return addInBatches(sender, items);
  }

  /**
   * One batch request with its retries, its answer read and checked against these items by position (unless
   * undefined): one whose results cannot be its items' (`resultsMismatch`), or that names an item added without
   * its task (`addedItemProblem`), is an `invalid_response`; it names an item by `numbers` (its place in the
   * caller's batch, when this request is a part of it), else by its place in this request.
   */
  async #sentBatch(
    attempt: Attempt,
    items: readonly SentItem[] | undefined,
    signal: AbortSignal | undefined,
    attemptsUsed: number,
    numbers?: readonly number[],
  ): Promise<SentBatch> {
    const read = (answer: Answer) => readAnswer(ROUTES.addTasks, answer);
    const answer = await this.#sendWithRetries(attempt, true, signal, attemptsUsed, read);
    const batch = answer.value;
    const mismatch =
      items && (resultsMismatch(items, batch.results, numbers) ?? addedItemProblem(batch.results, numbers));
    if (mismatch) throw invalidBatchAnswer({ requestId: answer.requestId }, mismatch);
    return { answer: batch, attempts: answer.attempts, requestId: answer.requestId };
  }

  /**
   * A batched `addTask`'s `POST /v1/tasks`, as `#prepare` makes a lone add's, from the body text the batcher wrote
   * when the call was made; `attemptsUsed` of the retry budget already spent (a batch item sent again alone).
   */
  #sendAdd(add: LoneAdd, attemptsUsed: number): Promise<AddTaskResponse> {
    const headers: Record<string, string> = {
      accept: "application/json",
      "content-type": "application/json",
    };
    if (add.idempotencyKey !== undefined) headers["idempotency-key"] = add.idempotencyKey;
    const attempt: Attempt = {
      url: this.#urlOf(ROUTES.addTask.path),
      method: "POST",
      headers,
      body: add.body,
      timeoutMs: this.#timeoutMs,
    };
    return this.#answerOf(ROUTES.addTask, attempt, add.signal, attemptsUsed, { asked: add.topic });
  }

  /** Sends the attempt with the route's retries and reads its answer with the route's response schema. */
  async #answerOf<R extends z.ZodMiniType>(
    route: RouteDescriptor<string, RouteInput<unknown> | undefined, R>,
    attempt: Attempt,
    signal: AbortSignal | undefined,
    attemptsUsed: number,
    expected: Expected = {},
  ): Promise<z.output<R>> {
    const retryable = route.retry !== "never";
    const read = (answer: Answer) => readAnswer(route, answer, expected);
    return (await this.#sendWithRetries(attempt, retryable, signal, attemptsUsed, read)).value;
  }

  #prepare(
    route: RouteDescriptor,
    names: string[],
    params: string[],
    input: unknown,
    options: CallOptions,
  ): Attempt {
    let path = route.path;
    const inQuery = route.pathParamsInQuery ?? {};
    names.forEach((name, i) => {
      path = path.replace(`{${name}}`, inQuery[name]?.segment ?? pathSegment(params[i] ?? ""));
    });
    const url = this.#urlOf(path);
    const headers: Record<string, string> = { accept: "application/json" };
    const timeoutMs = route === ROUTES.addTasks ? this.#batchTimeoutMs : this.#timeoutMs;
    names.forEach((name, i) => {
      const moved = inQuery[name];
      if (moved) url.searchParams.set(moved.query, params[i] ?? "");
    });
    for (const [key, value] of Object.entries(route.fixedQuery ?? {})) url.searchParams.set(key, value);
    for (const [key, value] of Object.entries(optionQueryOf(route, options)))
      url.searchParams.set(key, value);
    if (route.input?.in === "query") {
      for (const [key, value] of Object.entries(queryOf(route, input))) {
        if (value !== undefined) url.searchParams.set(key, String(value));
      }
    }
    withPercentEncodedQuery(url);
    if (route.input?.in !== "body") return { url, method: route.method, headers, timeoutMs };
    headers["content-type"] = "application/json";
    if (route.retry === "idempotency-key") {
      const inBody = (input as { idempotency_key?: unknown } | undefined)?.idempotency_key;
      // A key in the body is the caller's; one in the header too would have to be equal, so send none.
      if (inBody === undefined) {
        checkKeyOption(options.idempotencyKey);
        headers["idempotency-key"] = options.idempotencyKey ?? this.#newKey();
      }
    }
    const body = route.retry === "item-keys" ? this.#withItemKeys(input) : input;
    return { url, method: route.method, headers, body: bodyText(body), timeoutMs };
  }

  #urlOf(path: string): URL {
    return apiRouteUrl(this.apiUrl, path);
  }

  /**
   * `POST /v1/tasks/batch` with this exact body (the batcher measured its bytes; its items carry their keys), with
   * the retries of `addTasks`.
   */
  async #sendBatch(body: string): Promise<SentBatch> {
    const headers = { accept: "application/json", "content-type": "application/json" };
    const url = this.#urlOf(ROUTES.addTasks.path);
    const attempt: Attempt = { url, method: "POST", headers, body, timeoutMs: this.#batchTimeoutMs };
    // Its results are checked against its items by the batcher, which knows them.
    return this.#sentBatch(attempt, undefined, undefined, 0);
  }

  /** A batch whose every item carries an idempotency key: the caller's where given, else a new one. */
  #withItemKeys(input: unknown): unknown {
    const batch = input as { tasks?: unknown } | undefined;
    if (!batch || !Array.isArray(batch.tasks)) return input;
    return { ...batch, tasks: withItemKeys(batch.tasks, this.#newKey) };
  }

  /**
   * Sends until a final answer: a 2xx read by `read` is returned; an error answer, a network failure, or a 2xx that
   * cannot be read, thrown as PunctualError. A retryable route repeats a retryable status, a network failure, and a
   * 2xx whose body a repeat may read (cut short or garbled on its way, by a proxy or a dropped connection): such a
   * route is safe to repeat, and an add carries its idempotency key, so a repeat finds the task the first made.
   * `attemptsUsed` of the budget were spent before (a batch item's earlier attempts in its batches).
   */
  async #sendWithRetries<T>(
    attempt: Attempt,
    retryable: boolean,
    signal: AbortSignal | undefined,
    attemptsUsed: number,
    read: (answer: Answer) => Read<T>,
  ): Promise<ReadAnswer<T>> {
    const reread = new RereadRefusal();
    for (let n = attemptsUsed + 1; ; n++) {
      const last = !retryable || n >= this.#retry.maxAttempts;
      let response: Response;
      let text: string;
      let utf8: boolean;
      try {
        ({ response, text, utf8 } = await this.#exchange(attempt, signal));
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        // Nothing was sent, and the same token would be refused again. After an attempt that was sent (this call's,
        // or a batch item's before), though, the request may have been applied: the caller must not read it as unsent.
        if (error instanceof InvalidTokenError) throw n === 1 ? error : unsendableRetry(error, n);
        if (error instanceof PunctualError || last) throw asNetworkError(error, n);
        await this.#wait(retryDelayMs(this.#retry, n, undefined, this.#random, this.#now()), signal);
        continue;
      }
      const requestId = requestIdOf(response);
      let retryAfter: string | null = null;
      if (response.ok) {
        const answer: Answer = { status: response.status, text, utf8, attempts: n - attemptsUsed, requestId };
        const outcome = reread.read(answer, read);
        if ("value" in outcome) return { ...answer, value: outcome.value };
        if (last || !outcome.transient) throw outcome.error;
      } else {
        if (isRedirect(response.status)) {
          throw redirectError(response.status, response.headers.get("location"), attempt.url, requestId);
        }
        if (last || !RETRYABLE_STATUSES.has(response.status)) {
          throw errorFromResponse(response.status, text, requestId);
        }
        retryAfter = response.headers.get("retry-after");
      }
      await this.#wait(retryDelayMs(this.#retry, n, retryAfter, this.#random, this.#now()), signal);
    }
  }

  /**
   * The wait before a retry, cut short by the call's signal: aborted then, the call rejects with the signal's
   * reason at once (nothing more is sent), not after a backoff or a `Retry-After` of up to `maxDelayMs`.
   */
  async #wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (!signal) return this.#sleep(ms);
    signal.throwIfAborted();
    try {
      await untilAborted(this.#sleep(ms, signal), signal);
    } catch (error) {
      throw signal.aborted ? signal.reason : error;
    }
  }

  /**
   * One attempt, signed afresh (a SigV4 signature carries its time), and its answer read. Its timeout and the call's
   * signal cover the wait for credentials too: a token function or credential source that never answers (an
   * identity provider, SSO, a container's credentials endpoint) otherwise held the call forever, deaf to its
   * caller's abort; and the answer's body, so that one that drips for ever is cut.
   */
  async #exchange(
    attempt: Attempt,
    signal: AbortSignal | undefined,
  ): Promise<{ response: Response; text: string; utf8: boolean }> {
    const bound = attemptSignal(signal, attempt.timeoutMs);
    try {
      bound.signal.throwIfAborted();
      const auth = await untilAborted(this.#authorize(attempt), bound.signal);
      const response = await this.#fetch(attempt.url, {
        method: attempt.method,
        headers: { ...attempt.headers, ...auth },
        ...(attempt.body !== undefined ? { body: attempt.body } : {}),
        signal: bound.signal,
        redirect: "manual",
      });
      return { response, ...(await readAnswerText(response)) };
    } finally {
      bound.release();
    }
  }
}

/**
 * An attempt's signal: aborted when the call's `signal` is (with its reason) or after `ms` (a TimeoutError, as
 * AbortSignal.timeout's), and its release once the attempt is over, which unhooks it from the call's signal. Not
 * AbortSignal.any: Node keeps each signal made so among its sources' followers for as long as they live
 * (nodejs/node#55351, #64476), so one long-lived signal given to every call (a server's shutdown signal) grew by an
 * entry per request, for good.
 */
function attemptSignal(
  signal: AbortSignal | undefined,
  ms: number,
): { readonly signal: AbortSignal; readonly release: () => void } {
  const bound = new AbortController();
  const timeout = () =>
    bound.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
  // Unreferenced, as AbortSignal.timeout's: a pending attempt alone does not keep the process alive.
  const timer = setTimeout(timeout, ms).unref();
  const onAbort = () => bound.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  const release = () => {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  };
  return { signal: bound.signal, release };
}

/**
 * The topics and keys of `addTasks`' items, by which its answer is read by position (result i is task i's), or
 * undefined when it holds no list of items.
 */
function sentItemsOf(input: unknown): SentItem[] | undefined {
  const tasks = (input as { tasks?: unknown } | undefined)?.tasks;
  return Array.isArray(tasks) ? tasks.map(sentItemOf) : undefined;
}

/**
 * The object a route that `answersFor` one asks for: its path parameter of that name, or else the input's field of
 * that name (an add's `topic`; undefined when not a string, which the API refuses anyway).
 */
function askedOf(
  route: RouteDescriptor,
  names: readonly string[],
  params: readonly string[],
  input: unknown,
): string | undefined {
  const field = route.answersFor;
  if (field === undefined) return undefined;
  if (names.includes(field)) return String(params[names.indexOf(field)] ?? "");
  const named = (input as Record<string, unknown> | null | undefined)?.[field];
  return typeof named === "string" ? named : undefined;
}

/**
 * An `idempotencyKey` option on a call that takes none is refused, not dropped: the caller would believe the
 * call keyed and repeat it. On `addTasks` as the API refuses a batch-wide key (it would key no item, and a repeat
 * would add every keyless item again); on another route (`createSchedule`: schedules have no key) a TypeError.
 */
function checkNoKeyOption(route: RouteDescriptor, options: CallOptions): void {
  if (options.idempotencyKey === undefined || route.retry === "idempotency-key") return;
  if (route === ROUTES.addTasks) {
    throw new PunctualError({
      code: "validation_failed",
      status: 400,
      message: "the request is invalid",
      issues: [
        {
          path: "Idempotency-Key",
          message: "a batch takes no Idempotency-Key header: give each item its own idempotency_key",
        },
      ],
    });
  }
  throw new TypeError(
    `idempotencyKey: ${route.method} ${route.path} takes no idempotency key; only addTask does`,
  );
}

/**
 * A 2xx answer refused by `read` as transient, remembered for the repeats of one call: a repeat answered the very
 * same bytes is refused as it was, with the repeat's request id, without reading them again. `read` gives the same
 * outcome for the same answer; reading a 3.6 MB answer of 300,000 fields (another task's view, a proxy's answer to
 * another request) takes ~0.3 s to parse and ~0.3 s to check against the schema, on each of the route's 4 tries. (An
 * answer that is not the route's schema is not tried again at all: `readAnswer`.) Only the last refusal is kept: one
 * answer's text, the call's own.
 */
class RereadRefusal {
  #last:
    | {
        readonly status: number;
        readonly text: string;
        readonly utf8: boolean;
        readonly error: PunctualError;
      }
    | undefined;

  read<T>(answer: Answer, read: (answer: Answer) => Read<T>): Read<T> {
    const last = this.#last;
    if (last && last.status === answer.status && last.utf8 === answer.utf8 && last.text === answer.text) {
      return { error: sameRefusal(last.error, answer.requestId), transient: true };
    }
    const outcome = read(answer);
    this.#last =
      "error" in outcome && outcome.transient
        ? { status: answer.status, text: answer.text, utf8: answer.utf8, error: outcome.error }
        : undefined;
    return outcome;
  }
}

/** `error` as a repeat's refusal: the same error, under the request id of the attempt that met it. */
function sameRefusal(error: PunctualError, requestId: string | undefined): PunctualError {
  const { code, status, message, issues, details } = error;
  return new PunctualError({ code, status, message, issues, details, ...(requestId ? { requestId } : {}) });
}

/**
 * A 2xx answer read with the route's response schema: its value, or the `invalid_response` it is, `transient` when
 * the body could be one cut short or garbled on its way (not UTF-8, not JSON), or another request's (a route that
 * `answersFor` the `asked` path parameter, or lists another topic's or group's items), or one without a field the
 * call's options ask for (`fields`: `content` for `includeContent`): a mix-up on the way, which a repeat may fix. Not
 * transient: JSON that is not the route's schema, or that lists or counts more than the call allows. The server
 * answered 2xx with a whole body that parsed: that is what it answers (a broken API, or one of another version), and
 * a repeat gets the same, after seconds of backoff and a multi-MB answer read and checked again on each try.
 */
function readAnswer<R extends z.ZodMiniType>(
  route: RouteDescriptor<string, RouteInput<unknown> | undefined, R>,
  { status, text, utf8, requestId }: Answer,
  expected: Expected = {},
): Read<z.output<R>> {
  const what = `the API's answer to ${route.method} ${route.path}`;
  const refused = (message: string, transient: boolean): Read<never> => ({
    error: new PunctualError({
      code: "invalid_response",
      status,
      message: `${what} ${message}`,
      ...(requestId ? { requestId } : {}),
    }),
    transient,
  });
  if (!utf8) return refused("is not UTF-8 text (re-encoded on its way?): not used", true);
  const body = parseJson(text);
  if (body === undefined && nestedTooDeep(text)) {
    return refused(
      `is nested deeper than ${MAX_ANSWER_DEPTH} levels, which none of its answers is: not read`,
      false,
    );
  }
  const inexact = body === undefined ? undefined : inexactNumber(text);
  if (inexact !== undefined) {
    return refused(
      `holds the number ${inexact.slice(0, 40)}, which no JavaScript number holds exactly (read as ${Number(inexact)}): not read`,
      false,
    );
  }
  // An overlong list is refused before the schema is checked (and only here: the schema keeps every list as it
  // is): checked after, a list of 600,000 wrong items (a broken API's, 4 MB) cost seconds of zod issues, one each,
  // where its length alone refuses it.
  const overlong = isRecord(body) ? overlongProblem(body, expected) : undefined;
  if (overlong !== undefined) return refused(`${overlong}: not used`, false);
  const parsed = safeParseBounded(route.response, body);
  if (parsed.success) {
    const data = parsed.data as Record<string, unknown>;
    const overcounted = overcount(data, expected.listBound);
    if (overcounted !== undefined) return refused(`counts ${overcounted}: not used`, false);
    const problem = answerProblem(route, data, expected);
    if (problem === undefined) return { value: parsed.data as z.output<R> };
    return refused(`${problem}: not used`, true);
  }
  const problems = parsed.error.issues;
  // Not JSON (`body` undefined): a body cut short or garbled on its way, which a repeat may get whole.
  return { error: invalidAnswer({ what, body, problems, status, requestId }), transient: body === undefined };
}

/**
 * Why a 2xx answer of the route's schema is not the answer to this request (`is for task_id "…", not the one asked
 * for`), or undefined when it is; its lists' lengths were checked before the schema (`overlongProblem`), its counts
 * after it (`overcount`).
 */
function answerProblem(
  route: RouteDescriptor,
  data: Record<string, unknown>,
  { asked, fields = [], listed, tasksOf }: Expected,
): string | undefined {
  const other =
    otherThanAsked(route, data, asked) ??
    otherThanListed(route, data, listed) ??
    otherTopicsTask(route, data, tasksOf);
  if (other !== undefined) return `is for ${other}, not the one asked for`;
  const missing = fields.find((field) => data[field] === undefined);
  return missing === undefined ? undefined : `has no \`${missing}\`, which the request asked for`;
}

/**
 * What an answer names instead of the `asked` object of a route that `answersFor` it (`task_id "…"`), or undefined
 * when it names that one: its field of that name, and, for a topic, its `task_id`'s topic too (an add's answer).
 */
function otherThanAsked(
  route: RouteDescriptor,
  data: Record<string, unknown>,
  asked: string | undefined,
): string | undefined {
  const field = route.answersFor;
  if (field === undefined || asked === undefined) return undefined;
  const quoted = (value: unknown) => JSON.stringify(String(value).slice(0, 100));
  const moved = route.answersMoved === true && data.rescheduled_from === asked;
  if (data[field] !== asked && !moved) return `${field} ${quoted(data[field])}`;
  const taskId = data.task_id;
  if (field === "topic" && typeof taskId === "string" && !isTaskOfTopic(taskId, asked)) {
    return `task_id ${quoted(taskId)}, another topic's task`;
  }
  return undefined;
}

/**
 * The topic, group and subscriber a list route's items must be of: the input's. A group's task list (a fan-out
 * topic's: its parents) holds no subscriber's copy, which lives in that subscriber's lane (`subscriber` "": none),
 * and a lane (`subscriber`) only that subscriber's copies of the group; the dead-letter list holds any subscriber's.
 */
function listedOf(route: RouteDescriptor, input: unknown): Record<string, string> | undefined {
  const query = input as { topic?: unknown; group?: unknown; subscriber?: unknown } | undefined;
  if (route.lists === undefined || typeof query?.topic !== "string") return;
  if (typeof query.group !== "string") return { topic: query.topic };
  const subscriber = typeof query.subscriber === "string" ? query.subscriber : "";
  return { topic: query.topic, group: query.group, ...(route.lists === "tasks" ? { subscriber } : {}) };
}

/** The fields a listed item must name exactly (`subscriber` "" is none); a `group` only when it names one. */
const NAMED_BY_EVERY_ITEM: ReadonlySet<string> = new Set(["topic", "subscriber"]);

/**
 * What a list's item names instead of the `listed` topic, group or subscriber (`topic "…"`), or undefined when
 * every item is of them. A task without a `group` is not held against the group: only one naming another is.
 */
function otherThanListed(
  route: RouteDescriptor,
  data: Record<string, unknown>,
  listed: Readonly<Record<string, string>> | undefined,
): string | undefined {
  const items = route.lists === undefined ? undefined : data[route.lists];
  if (!listed || !Array.isArray(items)) return undefined;
  for (const item of items as Record<string, unknown>[]) {
    for (const [field, value] of Object.entries(listed)) {
      const named = field === "subscriber" ? (item[field] ?? "") : item[field];
      if (named !== value && (NAMED_BY_EVERY_ITEM.has(field) || named !== undefined)) {
        return `${field} ${JSON.stringify(String(named).slice(0, 100))}`;
      }
    }
  }
  return undefined;
}

/**
 * A path parameter or query value holding half a surrogate pair (an emoji cut in two) has no UTF-8 form: in a path
 * encodeURIComponent throws a bare URIError, in a query URLSearchParams writes U+FFFD, another value (a group cancel
 * would cancel the group `A-\uFFFD`, or answer `cancelled: 0` for a group it never read). Refused as the API refuses
 * such a value in a body (400 `validation_failed` naming it, shared/domain/well-formed.ts), nothing sent.
 */
function checkUrlValues(route: RouteDescriptor, names: string[], params: string[], input: unknown): void {
  const inQuery = route.pathParamsInQuery ?? {};
  const values = names.map((name, i): [string, unknown] => [inQuery[name]?.query ?? name, params[i]]);
  if (route.input?.in === "query") values.push(...Object.entries((input ?? {}) as Record<string, unknown>));
  const issues = notWellFormedIssues(Object.fromEntries(values));
  if (issues.length === 0) return;
  throw new PunctualError({
    code: "validation_failed",
    status: 400,
    message: "the request is invalid",
    issues,
  });
}

/**
 * A query route's input as sent: a list page's `limit` the route's default when the call gives none, so the most
 * rows its answer may hold is known (`pageBoundOf`).
 */
function queryOf(route: RouteDescriptor, input: unknown): Record<string, unknown> {
  const query = (input ?? {}) as Record<string, unknown>;
  if (route.page === undefined || query.limit !== undefined) return query;
  return { ...query, limit: route.page.defaultLimit };
}

/** The array a list page's answer holds and the `limit` the call sent, which it may not exceed. */
function pageBoundOf(route: RouteDescriptor, input: unknown): PageBound | undefined {
  if (route.page === undefined) return undefined;
  const limit = Number(queryOf(route, input).limit);
  // A limit the API refuses (not a whole number from 1 to 100) is its 400, never a page: no bound to check.
  return Number.isFinite(limit) ? { items: route.page.items, limit } : undefined;
}

/**
 * An answer's list longer than the call allows (`holds 3 tasks where at most 2 were asked for`, `lists 101 topics
 * where the API lists at most 100`), or undefined: read from the lists' lengths alone, so it holds for the JSON value
 * before its schema is checked as for the value read.
 */
function overlongProblem(
  data: Record<string, unknown>,
  { page, listBound }: Pick<Expected, "page" | "listBound">,
): string | undefined {
  const overfull = overfullPage(data, page);
  if (overfull !== undefined) return `holds ${overfull}`;
  const overlong = overlongLists(data, listBound);
  return overlong === undefined ? undefined : `lists ${overlong}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * What is wrong with a list page holding more rows than the `limit` asked for (`3 tasks where at most 2 were asked
 * for`), or undefined. The API never answers more; refused rather than cut, as the console refuses it: cut, the
 * rows past the limit would be dropped unseen while the page's cursor goes on after them.
 */
function overfullPage(data: Record<string, unknown>, page: PageBound | undefined): string | undefined {
  const items = page === undefined ? undefined : data[page.items];
  if (!page || !Array.isArray(items) || items.length <= page.limit) return undefined;
  return `${items.length} ${page.items} where at most ${page.limit} were asked for`;
}

/** The arrays of a route that `listsAtMost` and the most entries the API lists in them for this call's input. */
function listBoundOf(route: RouteDescriptor, input: unknown): ListBound | undefined {
  const bound = route.listsAtMost;
  return bound && { items: bound.items, of: bound.of, most: bound.atMost(input), counts: bound.counts ?? [] };
}

/**
 * What is wrong with an answer whose `listsAtMost` arrays hold more entries together than the API lists for this
 * call (`101 topics where the API lists at most 100`), or undefined. Refused whole, as an overfull page is: cut, the
 * entries past the bound would be dropped unseen.
 */
function overlongLists(data: Record<string, unknown>, bound: ListBound | undefined): string | undefined {
  if (!bound) return undefined;
  const lists = bound.items.map((name) => data[name]);
  const count = lists.reduce<number>((sum, list) => sum + (Array.isArray(list) ? list.length : 0), 0);
  if (count <= bound.most) return undefined;
  const what = bound.items.join() === bound.of ? bound.of : `${bound.of} (${bound.items.join(", ")})`;
  return `${count} ${what} where the API lists at most ${bound.most}`;
}

/**
 * What is wrong with an answer whose `listsAtMost` counts one exceeds the bound (`5000 replayed where the API
 * handles at most 22 tasks in this call`), or undefined.
 */
function overcount(data: Record<string, unknown>, bound: ListBound | undefined): string | undefined {
  const name = bound?.counts.find((count) => typeof data[count] === "number" && data[count] > bound.most);
  if (!bound || name === undefined) return undefined;
  return `${data[name]} ${name} where the API handles at most ${bound.most} ${bound.of} in this call`;
}

/** The path's topic of a route that `listsTopicTasks`, and the task ids the call named (a replay's `task_ids`). */
function tasksOfTopic(
  route: RouteDescriptor,
  names: readonly string[],
  params: readonly string[],
  input: unknown,
): TasksOf | undefined {
  if (route.listsTopicTasks === undefined || !names.includes("topic")) return undefined;
  const ids = (input as { task_ids?: unknown } | null | undefined)?.task_ids;
  const named = Array.isArray(ids) ? ids.filter((id): id is string => typeof id === "string") : [];
  const topic = String(params[names.indexOf("topic")] ?? "");
  return { topic, named: new Set(named), ...laneOf(route, names, params, input, topic) };
}

/** A lane cancel's lane (`listsLaneOf`): the subscriber its input names and its lane's task id prefix. */
function laneOf(
  route: RouteDescriptor,
  names: readonly string[],
  params: readonly string[],
  input: unknown,
  topic: string,
): Pick<TasksOf, "lane"> {
  const subscriber = (input as { subscriber?: unknown } | null | undefined)?.subscriber;
  const at = route.listsLaneOf === undefined ? -1 : names.indexOf(route.listsLaneOf);
  const group = params[at];
  if (typeof subscriber !== "string" || group === undefined) return {};
  return { lane: { subscriber, idPrefix: laneTaskIdPrefix(topic, subscriber, group, "") } };
}

/**
 * The first task of another topic than the path's in the answer's `listsTopicTasks` arrays (`task_id "…", another
 * topic's task`), or, for a lane cancel, outside that lane (`tasksOf.lane`), unless the call named it; undefined when
 * there is none.
 */
function otherTopicsTask(
  route: RouteDescriptor,
  data: Record<string, unknown>,
  tasksOf: TasksOf | undefined,
): string | undefined {
  if (!tasksOf) return undefined;
  for (const name of route.listsTopicTasks ?? []) {
    const items = data[name];
    if (!Array.isArray(items)) continue;
    for (const { task_id: id } of items as { task_id?: unknown }[]) {
      if (typeof id !== "string" || tasksOf.named.has(id)) continue;
      if (!isTaskOfTopic(id, tasksOf.topic))
        return `task_id ${JSON.stringify(id.slice(0, 100))}, another topic's task`;
      const { lane } = tasksOf;
      if (lane && !id.startsWith(lane.idPrefix)) {
        return `task_id ${JSON.stringify(id.slice(0, 100))}, a task outside ${JSON.stringify(lane.subscriber)}'s lane of the group`;
      }
    }
  }
  return undefined;
}

/** The answer's fields the call's options ask for (`includeContent: true` → `content`): its answer must hold them. */
function answerFieldsOf(route: RouteDescriptor, options: CallOptions): string[] {
  const fields = Object.entries(route.optionAnswers ?? {});
  return fields.filter(([name]) => (options as Record<string, unknown>)[name] === true).map(([, f]) => f);
}

/** The query the route's switches among the call's options send (`includeContent: true` → `include=content`). */
function optionQueryOf(route: RouteDescriptor, options: CallOptions): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [name, sends] of Object.entries(route.optionQuery ?? {})) {
    const on = (options as Record<string, unknown>)[name];
    // A JS caller's `"false"` would otherwise turn it on, and its `1` be dropped without a word.
    if (on !== undefined && typeof on !== "boolean") throw new TypeError(`${name} must be true or false`);
    if (on) Object.assign(query, sends);
  }
  return query;
}

/** The promise's outcome, or a rejection with the signal's reason once it aborts, whichever comes first. */
async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
  });
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** A per-attempt timeout AbortSignal.timeout can take: a NaN there would fail every attempt as a network error. */
function checkedTimeout(name: string, ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new RangeError(`${name} must be a whole number of milliseconds ≥ 1, got ${ms}`);
  }
  return ms;
}

/**
 * A retry whose credentials cannot go in a header (a token function's or a credential source's, changed since the
 * attempt before), after an attempt that was sent: that one may have been applied, so this is no InvalidTokenError
 * ("nothing sent": the CLI's exit 1, no key named, no rerun file) but a failure without an answer, as a lost one is.
 */
function unsendableRetry(error: InvalidTokenError, attempts: number): PunctualError {
  return new PunctualError({
    code: "network_error",
    status: 0,
    message: `attempt ${attempts} could not be sent (${error.message}); an earlier attempt was sent and may have been applied`,
    cause: error,
  });
}

function asNetworkError(error: unknown, attempts: number): PunctualError {
  if (error instanceof PunctualError) return error;
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const detail = cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
  return new PunctualError({
    code: "network_error",
    status: 0,
    message: `no answer from the API after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${detail}`,
    cause: error,
  });
}

/** A client of one Punctual API: one method per route (ROUTES), typed from the route's schemas. */
export type PunctualClient = PunctualClientCore & RouteMethods;

// The route methods are defined in the constructor from ROUTES, which TypeScript cannot see through; this is the
// one place their types are attached.
export const PunctualClient = PunctualClientCore as new (options: PunctualClientOptions) => PunctualClient;
