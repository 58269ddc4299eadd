/**
 * How every function creates its SDK clients: `createAwsClient(SQSClient)`. Region, credentials and endpoints
 * come from the environment (Lambda's, or the local cloud's AWS_ENDPOINT_URL_*); the local runtime's own clients
 * pass theirs as `config`. Two settings, both from the local burst's CPU profile, where the SDK was the largest
 * consumer:
 *
 * - `cacheMiddleware`: resolve each command's middleware stack once per client instead of on every call. Nothing
 *   here changes a client's middleware after its first call, the option's one condition. It roughly halves the
 *   SDK's own CPU per call (a GetItem against dynalite: ~0.4 → ~0.25 ms of client CPU), which is also why the
 *   task store marshals items itself: lib-dynamodb's document client refuses the option.
 * - no `loggerMiddleware`: it exists to hand every call's input and output to the client's logger, and it runs the
 *   sensitive-field filter over both even for the default no-op logger (~5 % of the functions' CPU in the burst
 *   profile). We never give the SDK a logger; our own logs say what matters, without task content.
 *
 * And every client carries abort signals without per-call options (abort-signals.ts), which would cost the cache.
 */
import { type AbortableClient, prepareAbortSignals } from "./abort-signals.js";

export interface SdkClient {
  readonly middlewareStack: { remove(toRemove: string): boolean };
}

export function createAwsClient<C extends SdkClient, Config extends object = object>(
  Client: new (config: Config & { cacheMiddleware: boolean }) => C,
  config?: Config,
): C {
  const client = new Client({ ...(config as Config), cacheMiddleware: true });
  client.middlewareStack.remove("loggerMiddleware");
  localAwsTransport()?.adapt(client);
  prepareAbortSignals(client as unknown as AbortableClient);
  return client;
}

/**
 * The local cloud's fast path (local/aws/fast-path.ts) registers here, in its own process only: every client
 * created afterwards is handed to it, and it may replace the client's transport (sockets) and signer. Nothing in
 * the deployed code registers one, so there `createAwsClient` builds exactly the clients above. Kept on
 * `globalThis` because the local cloud imports each handler as a fresh module instance (one per cloud), and
 * they must all see the one registration.
 */
export interface LocalAwsTransport {
  adapt(client: SdkClient): void;
}

const LOCAL_TRANSPORT = Symbol.for("punctual.localAwsTransport");
type WithLocalTransport = { [LOCAL_TRANSPORT]?: LocalAwsTransport };

/** Local cloud only: route the clients created from now on through `transport` (undefined: back to sockets). */
export function setLocalAwsTransport(transport: LocalAwsTransport | undefined): void {
  (globalThis as WithLocalTransport)[LOCAL_TRANSPORT] = transport;
}

export function localAwsTransport(): LocalAwsTransport | undefined {
  return (globalThis as WithLocalTransport)[LOCAL_TRANSPORT];
}
