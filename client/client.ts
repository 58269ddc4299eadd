import { randomUUID } from "node:crypto";
import type * as z from "zod";
import { type Authorizer, authorizer, defaultAuthFor, type PunctualAuth } from "./auth.js";
import { errorFromResponse, PunctualError, parseJson } from "./errors.js";
import { DEFAULT_RETRY, RETRYABLE_STATUSES, type RetryPolicy, retryDelayMs } from "./retry.js";
import {
  type CallOptions,
  pathParamNames,
  ROUTES,
  type RouteDescriptor,
  type RouteInput,
  type RouteMethods,
} from "./routes.js";

export interface PunctualClientOptions {
  /** The API's base URL: the stack's `ApiUrl` output, or the local cloud's `http://127.0.0.1:3000`. */
  readonly apiUrl: string | URL;
  /** Default: `none` for a loopback URL, `iam` (standard credential chain) otherwise. */
  readonly auth?: PunctualAuth;
  /** Per-attempt timeout. Default 30 s. */
  readonly timeoutMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  /** Seams for tests. */
  readonly fetch?: typeof globalThis.fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly now?: () => number;
  readonly newIdempotencyKey?: () => string;
  /** Where `iam` auth reads AWS_REGION; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

interface Attempt {
  readonly url: URL;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The client's engine; its route methods are added from ROUTES (see `PunctualClient` below). */
class PunctualClientCore {
  readonly apiUrl: URL;
  readonly #authorize: Authorizer;
  readonly #fetch: typeof globalThis.fetch;
  readonly #retry: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #newKey: () => string;

  constructor(options: PunctualClientOptions) {
    this.apiUrl = new URL(options.apiUrl);
    this.#authorize = authorizer(options.auth ?? defaultAuthFor(this.apiUrl), this.apiUrl, options.env);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#sleep = options.sleep ?? sleepFor;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#newKey = options.newIdempotencyKey ?? randomUUID;
    for (const [name, descriptor] of Object.entries(ROUTES)) {
      Object.defineProperty(this, name, {
        value: (...args: unknown[]) => this.call(descriptor as RouteDescriptor, args),
        enumerable: false,
      });
    }
  }

  /** Calls one route with its method's arguments: path parameters, then the input if any, then options. */
  async call<R extends z.ZodType>(
    route: RouteDescriptor<string, RouteInput<unknown> | undefined, R>,
    args: unknown[],
  ) {
    const names = pathParamNames(route.path);
    const params = args.slice(0, names.length) as string[];
    const input = route.input ? args[names.length] : undefined;
    const options = (args[names.length + (route.input ? 1 : 0)] ?? {}) as CallOptions;
    const attempt = this.#prepare(route, names, params, input, options);
    const { status, text } = await this.#sendWithRetries(attempt, route.retry !== "never", options.signal);
    const parsed = route.response.safeParse(parseJson(text));
    if (!parsed.success) {
      throw new PunctualError({
        code: "invalid_response",
        status,
        message: `the API's answer to ${route.method} ${route.path} does not match its schema: ${parsed.error.message}`,
      });
    }
    return parsed.data as z.output<R>;
  }

  #prepare(
    route: RouteDescriptor,
    names: string[],
    params: string[],
    input: unknown,
    options: CallOptions,
  ): Attempt {
    let path = route.path;
    names.forEach((name, i) => {
      path = path.replace(`{${name}}`, encodeURIComponent(params[i] ?? ""));
    });
    const url = new URL(`${this.apiUrl.pathname.replace(/\/+$/, "")}${path}`, this.apiUrl);
    const headers: Record<string, string> = { accept: "application/json" };
    for (const [key, value] of Object.entries(route.fixedQuery ?? {})) url.searchParams.set(key, value);
    if (route.input?.in === "query" && input) {
      for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
        if (value !== undefined) url.searchParams.set(key, String(value));
      }
    }
    if (route.input?.in !== "body") return { url, method: route.method, headers };
    headers["content-type"] = "application/json";
    if (route.retry === "idempotency-key") {
      const inBody = (input as { idempotency_key?: unknown } | undefined)?.idempotency_key;
      // A key in the body is the caller's; one in the header too would have to be equal, so send none.
      if (inBody === undefined) headers["idempotency-key"] = options.idempotencyKey ?? this.#newKey();
    }
    const body = route.retry === "item-keys" ? this.#withItemKeys(input) : input;
    return { url, method: route.method, headers, body: JSON.stringify(body) };
  }

  /** A batch whose every item carries an idempotency key: the caller's where given, else a new one. */
  #withItemKeys(input: unknown): unknown {
    const batch = input as { tasks?: unknown } | undefined;
    if (!batch || !Array.isArray(batch.tasks)) return input;
    const tasks = batch.tasks.map((task: unknown) =>
      task !== null &&
      typeof task === "object" &&
      (task as { idempotency_key?: unknown }).idempotency_key === undefined
        ? { ...task, idempotency_key: this.#newKey() }
        : task,
    );
    return { ...batch, tasks };
  }

  /** Sends until a final answer: a 2xx is returned; an error answer or a network failure thrown as PunctualError. */
  async #sendWithRetries(attempt: Attempt, retryable: boolean, signal: AbortSignal | undefined) {
    for (let n = 1; ; n++) {
      const last = !retryable || n >= this.#retry.maxAttempts;
      let response: Response;
      let text: string;
      try {
        response = await this.#send(attempt, signal);
        text = await response.text();
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (error instanceof PunctualError || last) throw asNetworkError(error, n);
        await this.#sleep(retryDelayMs(this.#retry, n, undefined, this.#random, this.#now()));
        continue;
      }
      if (response.ok) return { status: response.status, text };
      if (last || !RETRYABLE_STATUSES.has(response.status)) {
        throw errorFromResponse(response.status, text, response.headers.get("x-amzn-requestid") ?? undefined);
      }
      const retryAfter = response.headers.get("retry-after");
      await this.#sleep(retryDelayMs(this.#retry, n, retryAfter, this.#random, this.#now()));
    }
  }

  /** One attempt, signed afresh (a SigV4 signature carries its time). */
  async #send(attempt: Attempt, signal: AbortSignal | undefined): Promise<Response> {
    const auth = await this.#authorize(attempt);
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    return this.#fetch(attempt.url, {
      method: attempt.method,
      headers: { ...attempt.headers, ...auth },
      ...(attempt.body !== undefined ? { body: attempt.body } : {}),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      redirect: "manual",
    });
  }
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
