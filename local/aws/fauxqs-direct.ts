import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import { refuseUncheckedFauxqs } from "./fauxqs-fifo.js";
import type { InProcessAnswer, InProcessRequest } from "./in-process.js";

/**
 * The SQS actions the fast path calls without Fastify (file under fauxqs's dist/sqs/actions, exported name): the
 * pipeline's hot calls. Each reads only the parsed body and the store (never the request: CreateQueue and
 * GetQueueUrl read its host and authorization, and stay on Fastify) and returns an object.
 */
const DIRECT_ACTIONS: Readonly<Record<string, readonly [file: string, name: string]>> = {
  SendMessage: ["sendMessage", "sendMessage"],
  SendMessageBatch: ["sendMessageBatch", "sendMessageBatch"],
  ReceiveMessage: ["receiveMessage", "receiveMessage"],
  DeleteMessage: ["deleteMessage", "deleteMessage"],
  DeleteMessageBatch: ["deleteMessageBatch", "deleteMessageBatch"],
  ChangeMessageVisibility: ["changeMessageVisibility", "changeMessageVisibility"],
  ChangeMessageVisibilityBatch: ["changeMessageVisibilityBatch", "changeMessageVisibilityBatch"],
  GetQueueAttributes: ["getQueueAttributes", "getQueueAttributes"],
};

/** What fauxqs's app accepts as SQS's JSON protocol (its content-type parser, then its `POST /` route). */
const JSON_PROTOCOL = "application/x-amz-json-1.0";
const TARGET_PREFIX = "AmazonSQS.";
/** fauxqs's Fastify `bodyLimit`: a larger body is Fastify's 413, left to Fastify. */
const BODY_LIMIT = 11 * 1_048_576;

/** The part of Fastify's reply fauxqs's SqsRouter uses. */
interface RouterReply {
  statusCode: number;
  readonly headers: Record<string, string>;
  status(code: number): RouterReply;
  header(name: string, value: string): RouterReply;
}

interface SqsRouter {
  register(action: string, handler: unknown): void;
  handle(request: { headers: Record<string, string>; body: unknown }, reply: RouterReply): Promise<unknown>;
}

export interface FauxqsDirect {
  /** The SQS store to build fauxqs's app with (`buildApp({ stores })`): the one these calls act on. */
  readonly store: object;
  /** The call's answer, or undefined when it must take fauxqs's app. */
  call(request: InProcessRequest): Promise<InProcessAnswer> | undefined;
}

/**
 * A store for fauxqs's app, and calls of the actions above on it through an SqsRouter of their own, answered as
 * fauxqs's Fastify app answers them through light-my-request (status, headers, body:
 * `test/unit/local/fauxqs-direct.test.ts` compares the two, and test/unit/local/sqs-fidelity.test.ts runs over
 * both routes), or `undefined` for anything else (another action, an unexpected method, path or content type, a
 * body Fastify would refuse or one that is not JSON), which then takes the app as before.
 *
 * Make it where the app is built, after the fauxqs-* patches: the router's `register` is what
 * local/aws/fauxqs-visibility.ts wraps, so its handlers are the app's, wrappers included.
 *
 * Why: the fast path ran every SQS call through light-my-request and Fastify (a fake socket, request and response
 * streams, content-type parsing, the hook stages) to reach a handler that reads a parsed body; that machinery was
 * about an eighth of the emulators' thread in batched adds, several times fauxqs's own work per call.
 */
export async function createFauxqsDirect(): Promise<FauxqsDirect> {
  refuseUncheckedFauxqs();
  // fauxqs exports only its app; its modules are the same instances when imported by their resolved file URLs.
  const dist = import.meta.resolve("fauxqs");
  const load = async (file: string) => (await import(new URL(file, dist).href)) as Record<string, unknown>;
  const { SqsStore } = (await load("./sqs/sqsStore.js")) as { SqsStore: new () => object };
  const { SqsRouter } = (await load("./sqs/sqsRouter.js")) as { SqsRouter: new (store: object) => SqsRouter };
  const store = new SqsStore();
  const router = new SqsRouter(store);
  for (const [action, [file, name]] of Object.entries(DIRECT_ACTIONS)) {
    const handler = (await load(`./sqs/actions/${file}.js`))[name];
    if (typeof handler !== "function")
      throw new Error(
        `fauxqs changed: sqs/actions/${file}.js has no ${name}; local/aws/fauxqs-direct.ts needs a look`,
      );
    router.register(action, handler);
  }
  return {
    store,
    call: (request) => {
      const target = directTarget(request);
      if (target === undefined) return undefined;
      const body = parsedBody(request.body ?? "");
      if (body === undefined) return undefined;
      return answer(request.id, router, target, body);
    },
  };
}

/** The `X-Amz-Target` when Fastify would hand this request to fauxqs's SQS router unchanged, for an action above. */
function directTarget(request: InProcessRequest): string | undefined {
  if (request.method !== "POST" || request.url !== "/") return undefined;
  const headers = request.headers;
  if (headers["content-type"] !== JSON_PROTOCOL) return undefined;
  const target = headers["x-amz-target"];
  if (target === undefined || !target.startsWith(TARGET_PREFIX)) return undefined;
  if (!Object.hasOwn(DIRECT_ACTIONS, target.slice(TARGET_PREFIX.length))) return undefined;
  const body = request.body;
  if (body === undefined || body.length === 0) return undefined;
  const size = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
  // Fastify refuses a body whose size differs from its Content-Length (400) or passes the limit (413).
  if (size > BODY_LIMIT) return undefined;
  const length = headers["content-length"];
  if (length !== undefined && length !== String(size)) return undefined;
  return target;
}

/** The body as fauxqs's content-type parser gives it (`JSON.parse` of the UTF-8 text), undefined if not JSON. */
function parsedBody(body: string | Uint8Array): unknown {
  // Buffer's UTF-8 decoding keeps a byte-order mark, as Fastify's string body does (TextDecoder would drop it).
  const text =
    typeof body === "string"
      ? body
      : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** SqsRouter.handle's answer, then Fastify's serialization (and charset), error handler and fauxqs's onSend headers. */
async function answer(
  id: number,
  router: SqsRouter,
  target: string,
  body: unknown,
): Promise<InProcessAnswer> {
  const reply: RouterReply = {
    statusCode: 200,
    headers: {},
    status(code) {
      reply.statusCode = code;
      return reply;
    },
    header(name, value) {
      reply.headers[name.toLowerCase()] = value;
      return reply;
    },
  };
  try {
    const result = await router.handle({ headers: { "x-amz-target": target }, body }, reply);
    const { "content-type": contentType = "application/json", ...others } = reply.headers;
    const answered = respond(id, reply.statusCode, `${contentType}; charset=utf-8`, JSON.stringify(result));
    Object.assign(answered.headers, others);
    return answered;
  } catch (error) {
    return fastifyError(id, error);
  }
}

/** Fastify's default error handler: its status rule and `{ statusCode, code?, error, message }`. */
function fastifyError(id: number, error: unknown): InProcessAnswer & { headers: Record<string, string> } {
  const fields = (error ?? {}) as {
    statusCode?: unknown;
    status?: unknown;
    code?: unknown;
    message?: unknown;
  };
  const given = [fields.statusCode, fields.status].find((s) => typeof s === "number" && s >= 400);
  const statusCode = typeof given === "number" ? given : 500;
  const payload = {
    statusCode,
    ...(fields.code === undefined ? {} : { code: fields.code }),
    error: STATUS_CODES[statusCode] ?? "Unknown Error",
    message: typeof fields.message === "string" ? fields.message : "",
  };
  return respond(id, statusCode, "application/json; charset=utf-8", JSON.stringify(payload));
}

const utf8 = new TextEncoder();

function respond(
  id: number,
  statusCode: number,
  contentType: string,
  text: string,
): InProcessAnswer & { headers: Record<string, string> } {
  const body = utf8.encode(text);
  const headers: Record<string, string> = {
    "content-type": contentType,
    // fauxqs's onSend hook (every answer of its app).
    "x-amz-request-id": randomUUID().replaceAll("-", "").toUpperCase().slice(0, 16),
    "x-amz-id-2": "fauxqs",
    "content-length": String(body.byteLength),
    // What Node's ServerResponse adds (light-my-request's answers carry them).
    date: new Date().toUTCString(),
    connection: "keep-alive",
  };
  return { id, statusCode, headers, body };
}
