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
 * - `abortableCall(client, command, signal)` files the signal under the command's input object (a WeakMap: the
 *   entry goes with the input) and answers `undefined`, the options that keep the cache;
 * - a middleware at the end of the stack (after retries and signing, so once per attempt) reads it back for the
 *   attempt's final request, and the client's request handler, wrapped, hands it on as the SDK itself would.
 *
 * What a signal guarantees stays the SDK's: an aborted in-flight request is torn down, and no attempt leaves after
 * the abort (the wrapper refuses it before the transport sees it). One thing differs: the retry strategy no longer
 * sees the signal, so an abort during a retry's back-off is noticed when the back-off ends (the next attempt is
 * refused then, nothing is sent). Our callers never wait for an aborted call: they race it (`inTime`, deliver's
 * watchdog). A client this module did not prepare (a test's stand-in) gets the SDK's own options instead.
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

/** What `prepareAbortSignals` needs of an SDK client. */
export interface AbortableClient {
  readonly config: { requestHandler?: unknown };
  readonly middlewareStack: {
    add(
      middleware: unknown,
      options: { step: "deserialize"; priority: "low"; name: string; override: boolean },
    ): void;
  };
}

const signalOfInput = new WeakMap<object, Signal>();
const signalOfRequest = new WeakMap<object, Signal>();
const prepared = new WeakSet<object>();

/**
 * `client.send(...abortableCall(client, command, signal))`: the arguments that let `signal` abort `command`
 * without per-call options where the client was prepared here.
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
  if (!prepared.has(client)) return { abortSignal: signal };
  signalOfInput.set(command.input, signal);
  return undefined;
}

/** Makes `client` carry signals filed by `abortOptions`; called once, after its request handler is final. */
export function prepareAbortSignals(client: AbortableClient): void {
  const handler = client.config.requestHandler as RequestHandler | undefined;
  if (!handler) return;
  client.config.requestHandler = withFiledSignals(handler);
  client.middlewareStack.add(fileSignalForRequest, {
    step: "deserialize",
    priority: "low",
    name: "punctualAbortSignalMiddleware",
    override: true,
  });
  prepared.add(client);
}

type Next = (args: { input: object; request: object }) => Promise<unknown>;

/** Innermost: `args.request` is the request the handler is about to be given for this attempt. */
const fileSignalForRequest = (next: Next) => (args: { input: object; request: object }) => {
  const signal = signalOfInput.get(args.input);
  if (signal) signalOfRequest.set(args.request, signal);
  return next(args);
};

function withFiledSignals(handler: RequestHandler): RequestHandler {
  return {
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
}

/** As the SDK's own handlers reject an aborted request (name `AbortError`, which no retry strategy retries). */
function abortError(): Error {
  const error = new Error("Request aborted");
  error.name = "AbortError";
  return error;
}
