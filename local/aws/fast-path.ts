import type { MessagePort } from "node:worker_threads";
import { getSchemaSerdePlugin } from "@smithy/core/schema";
import type {
  FinalizeHandler,
  FinalizeHandlerArguments,
  HttpRequest,
  HttpResponse,
  MetadataBearer,
  MiddlewareStack,
} from "@smithy/types";
import type { LocalAwsTransport, SdkClient } from "#shared/adapters/aws-clients.js";
import type { AwsService } from "./faults.js";
import type { InProcessAnswer, InProcessRequest } from "./in-process.js";
import { Mailbox, onMailbox } from "./mailbox.js";

/** The SDK's `serviceId` of each emulated service; clients of any other service keep their sockets. */
const SERVICE_IDS: Readonly<Record<string, AwsService>> = {
  DynamoDB: "dynamodb",
  SQS: "sqs",
  Scheduler: "scheduler",
};

/**
 * Stands in for a SigV4 signature: nothing on this machine verifies one, but dynalite refuses a call without
 * an `AWS4-` Authorization header and fauxqs reads the region from its credential scope.
 */
const LOCAL_DATE = "20260101T000000Z";
const unsignedAuthorization = (region: string, service: AwsService) =>
  `AWS4-HMAC-SHA256 Credential=local/${LOCAL_DATE.slice(0, 8)}/${region}/${service}/aws4_request, ` +
  "SignedHeaders=host;x-amz-date, Signature=unsigned";

/**
 * What a call to an emulator on this machine does not need: a signature nobody verifies (replaced by the
 * placeholder below) and the choice of auth scheme and credentials made for it alone (its only readers are the
 * signer and the User-Agent's feature list, both gone; the endpoint middleware reads it only if it is there), a
 * User-Agent string built and escaped per call, and X-Ray trace propagation (Lambda's `_X_AMZN_TRACE_ID`, never set
 * here). Serialization, endpoint resolution, retries and parsing stay.
 */
const LOCALLY_USELESS_MIDDLEWARE = [
  "httpAuthSchemeMiddleware",
  "httpSigningMiddleware",
  "getUserAgentMiddleware",
  "recursionDetectionMiddleware",
];

interface AdaptableClient extends SdkClient {
  config: {
    serviceId?: string;
    /** SQS only: the digest class its MD5 middlewares use, `false` to skip them. */
    md5?: unknown;
    requestHandler?: { destroy?(): void };
    region?: () => Promise<string>;
  };
  readonly middlewareStack: SdkClient["middlewareStack"] &
    Pick<MiddlewareStack<object, object>, "addRelativeTo"> &
    Pick<MiddlewareStack<object, MetadataBearer>, "use">;
}

/**
 * The local runtime's fast path to the emulators (local mode only): its AWS clients (the functions', the
 * event-source pollers', the provisioner's) hand each serialized request over a MessagePort to the emulators'
 * thread (what one synchronous stretch calls, in one message), which runs it through the emulators' own request listeners (local/aws/in-process.ts), and skip SigV4
 * signing. Serialization, endpoint resolution, retries and response parsing stay the SDK's own, so the handlers
 * see the same errors and retries as over HTTP. What it saves per call: two HTTP stacks, the socket writes and
 * reads, and signing (hashing the payload plus four HMACs). The emulators keep their HTTP endpoints for
 * everything else (tests, the `aws` CLI), so what they accept on the wire is unchanged.
 */
export class LocalFastPath implements LocalAwsTransport {
  readonly #port: MessagePort;
  /** What one synchronous stretch calls leaves as one message (local/aws/mailbox.ts says why). */
  readonly #outbox: Mailbox<InProcessRequest>;
  readonly #waiting = new Map<number, (answer: InProcessAnswer) => void>();
  #next = 0;

  constructor(port: MessagePort) {
    this.#port = port;
    this.#outbox = new Mailbox(port);
    // Answers are handled after the I/O that was ready, not as they arrive (local/aws/mailbox.ts says why).
    onMailbox<InProcessAnswer>(port, (answer) => this.#waiting.get(answer.id)?.(answer), { yieldToIo: true });
    // Outstanding calls belong to work that keeps the process alive anyway; the port alone must not.
    port.unref();
  }

  /** Every client `createAwsClient` makes while this is registered: the functions' calls meet the faults. */
  adapt(client: SdkClient): void {
    this.route(client, { faults: true });
  }

  /** Routes one client through the fast path; `faults: false` for the runtime's own provisioning and pollers. */
  route<C extends SdkClient>(client: C, options: { faults: boolean }): C {
    const adaptable = client as unknown as AdaptableClient;
    const service = SERVICE_IDS[adaptable.config.serviceId ?? ""];
    if (!service) return client;
    adaptable.config.requestHandler?.destroy?.();
    adaptable.config.requestHandler = this.#handlerFor(service, options.faults);
    for (const name of LOCALLY_USELESS_MIDDLEWARE) adaptable.middlewareStack.remove(name);
    // SQS's MD5 checks guard message bodies against corruption on the wire; here the body crosses a MessagePort
    // by structured clone and the emulator still computes and returns the digests (the answer is unchanged).
    // Recomputing them per message only checked fauxqs's MD5 against the SDK's: 3 % of the add path's CPU
    // in batches. The middlewares read this flag per call (@aws-sdk/middleware-sdk-sqs: `options.md5 === false`).
    if (service === "sqs") adaptable.config.md5 = false;
    adaptable.middlewareStack.addRelativeTo(unsignedMiddleware(adaptable, service), {
      relation: "after",
      toMiddleware: "retryMiddleware",
      name: "localUnsignedMiddleware",
      override: true,
    });
    withFastConfig(adaptable);
    return client;
  }

  #handlerFor(service: AwsService, faults: boolean) {
    const send = (request: HttpRequest, signal?: AbortSignal) => this.#send(service, faults, request, signal);
    return {
      metadata: { handlerProtocol: "local/in-process" },
      handle: async (request: HttpRequest, options?: { abortSignal?: AbortSignal }) => ({
        response: await send(request, options?.abortSignal),
      }),
      updateHttpClientConfig: () => undefined,
      httpHandlerConfigs: () => ({}),
      destroy: () => undefined,
    };
  }

  #send(
    service: AwsService,
    faults: boolean,
    request: HttpRequest,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    if (signal?.aborted) return Promise.reject(abortError());
    const id = this.#next++;
    const message: InProcessRequest = {
      id,
      service,
      faults,
      method: request.method,
      url: pathAndQuery(request),
      headers: { host: hostOf(request), ...request.headers },
      ...(request.body === undefined || request.body === null ? {} : { body: ownBody(request.body) }),
    };
    return new Promise((resolve, reject) => {
      // Like a socket the SDK destroys: the caller stops waiting (a stopping poller's long poll, for one).
      const onAbort = () => {
        this.#waiting.delete(id);
        reject(abortError());
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.set(id, (answer) => {
        this.#waiting.delete(id);
        signal?.removeEventListener("abort", onAbort);
        if ("dropped" in answer) {
          reject(Object.assign(new Error("socket hang up"), { code: answer.dropped }));
          return;
        }
        resolve({ statusCode: answer.statusCode, headers: answer.headers, body: answer.body });
      });
      this.#outbox.send(message);
    });
  }

  /** Fails the calls still waiting (the emulators' thread is gone), as a closed connection would. */
  close(): void {
    for (const [id, settle] of [...this.#waiting]) settle({ id, dropped: "ECONNRESET" });
    this.#outbox.discard();
    this.#port.close();
  }
}

/** Sets the placeholder credential scope where SigV4 would have signed (after retries, like the signer). */
function unsignedMiddleware(client: AdaptableClient, service: AwsService) {
  let region: string | undefined;
  return (next: FinalizeHandler<object, object>) => async (args: FinalizeHandlerArguments<object>) => {
    region ??= (await client.config.region?.()) ?? "us-east-1";
    const request = args.request as HttpRequest;
    request.headers.authorization = unsignedAuthorization(region, service);
    request.headers["x-amz-date"] = LOCAL_DATE;
    return next(args);
  };
}

/**
 * Gives the client a copy of its resolved config that V8 keeps with fast properties. The SDK resolves a client's
 * config by assigning some fifty properties onto one object in turn, which V8 then holds as a dictionary; three
 * middlewares copy that object on every call (endpoint resolution, serialization, deserialization: `{ ...config }`),
 * about 10 µs each against 1 µs for an object with fast properties: 15 % of the main thread's CPU in the local
 * single-add bench. A spread copy has fast properties. The client hands its `config` to each command's middleware
 * (endpoint resolution among them) on its first call; the serde middlewares were made with the original at
 * construction, so they are made again with the copy (same names, `override`). The other plugins keep the
 * original, whose fields they only read: everything set on it above (request handler, MD5 flag) is set before the
 * copy, and later writes go to `client.config` (abort-signals.ts wraps the request handler the calls use).
 */
function withFastConfig(client: AdaptableClient): void {
  const config = { ...client.config } as Parameters<typeof getSchemaSerdePlugin>[0];
  client.config = config as AdaptableClient["config"];
  client.middlewareStack.use(getSchemaSerdePlugin(config));
}

/**
 * A request body as bytes with an ArrayBuffer of their own. Why: the SDK's JSON serializer writes into a
 * `Buffer.allocUnsafe` buffer and hands over a view of it, and a small one lies in Node's shared 8 KB pool;
 * posting a view over a MessagePort copies its whole ArrayBuffer, so every call of a few hundred bytes crossed
 * as 8 KB and left an 8 KB buffer on the emulators' thread (its answers had the same problem: in-process.ts
 * `ownBytes`). Copying the view's own bytes first costs a few hundred bytes instead.
 */
function ownBody(body: InProcessRequest["body"]): InProcessRequest["body"] {
  if (!ArrayBuffer.isView(body) || (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength))
    return body;
  return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
}

function abortError(): Error {
  return Object.assign(new Error("Request aborted"), { name: "AbortError" });
}

function hostOf(request: HttpRequest): string {
  return request.port ? `${request.hostname}:${request.port}` : request.hostname;
}

function pathAndQuery(request: HttpRequest): string {
  const query = Object.entries(request.query ?? {}).flatMap(([key, value]) =>
    (Array.isArray(value) ? value : [value]).map((v) =>
      v === null ? encodeURIComponent(key) : `${encodeURIComponent(key)}=${encodeURIComponent(v)}`,
    ),
  );
  return query.length > 0 ? `${request.path}?${query.join("&")}` : request.path;
}
