import { abortError } from "#shared/runtime/async.js";

/**
 * Abortable AWS calls that keep the client's cached middleware stack.
 *
 * The SDK takes a call's AbortSignal only as `send(command, { abortSignal })`, and any per-call options make
 * `send` resolve the command's whole middleware stack again and drop the client's cache of resolved stacks
 * (@smithy/core `Client.send`: the cache is used only when `options === undefined`). Our add and deliver paths
 * hand a signal to nearly every call, so `cacheMiddleware` (aws-clients.ts) saved nothing there: resolving the
 * stack was ~100 µs of a local add's ~1 ms of main-thread CPU, the largest part of that path's growth since the
 * 11-30 benchmark. Nothing in the SDK carries a signal per call without options, hence this small seam:
 *
 * - `abortableCall(client, command, signal)` files the signal under the command's input object and answers no
 *   options, which keeps the cache;
 * - a middleware first in the stack takes the entry back as the call starts (in the same synchronous run as the
 *   filing, so no other call can take or replace it, and nothing is left for a later call of the same command or
 *   input) and gives the call an input object of its own, filed under that;
 * - a middleware last in the stack (after retries and signing, so once per attempt) files it for the attempt's
 *   final request, and the client's request handler, wrapped, hands it on as the SDK itself would.
 *
 * What a signal guarantees stays the SDK's: an aborted in-flight request is torn down, and no attempt leaves after
 * the abort (the wrapper refuses it before the transport sees it). One thing differs: the retry strategy no longer
 * sees the signal, so an abort during a retry's back-off is noticed when the back-off ends (the next attempt is
 * refused then, nothing is sent). Our callers never wait for an aborted call: they race it (`inTime`, deliver's
 * watchdog). A client whose request handler is not our wrapper (a test's stand-in, or a client whose handler was
 * replaced after it was prepared) gets the SDK's own options instead.
 */

type Signal = AbortSignal;

interface RequestOptions {
  readonly abortSignal?: Signal;
  readonly [option: string]: unknown;
}

interface RequestHandler {
  handle(request: object, options?: RequestOptions): Promise<unknown>;
  updateHttpClientConfig?(key: never, value: never): void;
  httpHandlerConfigs?(): object;
  destroy?(): void;
  readonly metadata?: unknown;
  /** The handler a wrapper from here hands requests to (the SDK's sockets, or the local cloud's transport). */
  readonly transport?: RequestHandler;
}

type MiddlewareOptions =
  | { step: "initialize"; priority: "high"; name: string; override: boolean }
  | { step: "deserialize"; priority: "low"; name: string; override: boolean };

/** What `prepareAbortSignals` needs of an SDK client. */
export interface AbortableClient {
  readonly config: { requestHandler?: unknown };
  readonly middlewareStack: { add(middleware: unknown, options: MiddlewareOptions): void };
}

/** Filed by `abortableCall`, taken back as the call starts. */
const signalOfCommandInput = new WeakMap<object, Signal>();
/** Under the input object each signalled call gets of its own. */
const signalOfCall = new WeakMap<object, Signal>();
/** Under each attempt's final request. */
const signalOfRequest = new WeakMap<object, Signal>();
const wrappers = new WeakSet<object>();

/**
 * `client.send(...abortableCall(client, command, signal))`: the arguments that let `signal` abort `command`
 * without per-call options where the client's request handler is our wrapper.
 */
export function abortableCall<C extends { readonly input: object }>(
  client: object,
  command: C,
  signal: Signal | undefined,
): [C, { abortSignal: Signal } | undefined] {
  return [command, abortOptions(client, command, signal)];
}

/** The options to send `command` with on `client` so that `signal` can abort it. */
export function abortOptions(
  client: object,
  command: { readonly input: object },
  signal: Signal | undefined,
): { abortSignal: Signal } | undefined {
  if (!signal) return undefined;
  const handler = (client as { config?: { requestHandler?: unknown } }).config?.requestHandler;
  if (typeof handler !== "object" || handler === null || !wrappers.has(handler))
    return { abortSignal: signal };
  signalOfCommandInput.set(command.input, signal);
  return undefined;
}

/** Makes `client` carry signals filed by `abortableCall`; called once, after its request handler is final. */
export function prepareAbortSignals(client: AbortableClient): void {
  const handler = client.config.requestHandler as RequestHandler | undefined;
  if (!handler) return;
  client.config.requestHandler = withFiledSignals(handler);
  client.middlewareStack.add(takeSignalForCall, {
    step: "initialize",
    priority: "high",
    name: "punctualAbortSignalCallMiddleware",
    override: true,
  });
  client.middlewareStack.add(fileSignalForRequest, {
    step: "deserialize",
    priority: "low",
    name: "punctualAbortSignalMiddleware",
    override: true,
  });
}

type Args = { input: object; request?: object };
type Next = (args: Args) => Promise<unknown>;

/** Outermost, so it runs within `send` itself: the entry `abortableCall` just filed is this call's. */
const takeSignalForCall = (next: Next) => (args: Args) => {
  const signal = signalOfCommandInput.get(args.input);
  if (!signal) return next(args);
  signalOfCommandInput.delete(args.input);
  const input = { ...args.input };
  signalOfCall.set(input, signal);
  return next({ ...args, input });
};

/** Innermost: `args.request` is the request the handler is about to be given for this attempt. */
const fileSignalForRequest = (next: Next) => (args: Args) => {
  const signal = signalOfCall.get(args.input);
  if (signal && args.request) signalOfRequest.set(args.request, signal);
  return next(args);
};

function withFiledSignals(handler: RequestHandler): RequestHandler {
  const wrapper: RequestHandler = {
    metadata: handler.metadata,
    transport: handler,
    handle(request, options = {}) {
      const signal = options.abortSignal ?? signalOfRequest.get(request);
      if (!signal || options.abortSignal) return handler.handle(request, options);
      if (signal.aborted) return Promise.reject(abortError());
      return handler.handle(request, { ...options, abortSignal: signal });
    },
    updateHttpClientConfig: (key, value) => handler.updateHttpClientConfig?.(key, value),
    httpHandlerConfigs: () => handler.httpHandlerConfigs?.() ?? {},
    destroy: () => handler.destroy?.(),
  };
  wrappers.add(wrapper);
  return wrapper;
}
