import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import { refuseUncheckedFauxqs } from "./fauxqs-fifo.js";
import type { InProcessAnswer, InProcessRequest } from "./in-process.js";

/**
 * The SQS actions the fast path calls without Fastify (file under fauxqs's dist/sqs/actions, exported name): the
 * pipeline's hot calls. Each reads only the parsed body and the store (never the request: CreateQueue and
 * GetQueueUrl read its host and authorization, and stay on Fastify) and returns an object, so its answer is
 * fully determined by what SqsRouter.handle does with it.
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
/** fauxqs's Fastify `bodyLimit`: a larger body is Fastify's 413, left to Fastify. */
const BODY_LIMIT = 11 * 1_048_576;

type SqsAction = (body: unknown, store: unknown) => unknown;
interface SqsErrorLike extends Error {
  statusCode: number;
  queryErrorHeader: string;
  toJSON(): unknown;
}

export interface FauxqsDirect {
  /** The SQS store to build fauxqs's app with (`buildApp({ stores })`): the one these calls act on. */
  readonly store: object;
  /** The call's answer, or undefined when it must take fauxqs's app. */
  call(request: InProcessRequest): Promise<InProcessAnswer> | undefined;
}

/**
 * A store for fauxqs's app and calls of one of the actions above on it, answered as fauxqs's Fastify app answers it through light-my-request
 * (status, headers, body: `test/unit/local/fauxqs-direct.test.ts` compares the two), or `undefined` for anything
 * else (another action, an unexpected method, path or content type, a body Fastify would refuse or one that is not
 * JSON), which then takes the app as before.
 *
 * Why: the fast path ran every SQS call through light-my-request and Fastify (a fake socket, request and response
 * streams, content-type parsing, six hook stages) to reach a handler that reads a parsed body; that machinery was
 * about an eighth of the emulators' thread in batched adds, several times fauxqs's own work per call.
 */
export async function createFauxqsDirect(): Promise<FauxqsDirect> {
  refuseUncheckedFauxqs();
  // fauxqs exports only its app; its modules are the same instances when imported by their resolved file URLs.
  const dist = import.meta.resolve("fauxqs");
  const load = async (file: string) => (await import(new URL(file, dist).href)) as Record<string, unknown>;
  const { SqsStore } = (await load("./sqs/sqsStore.js")) as { SqsStore: new () => object };
  const store = new SqsStore();
  const { SqsError } = (await load("./common/errors.js")) as { SqsError: new () => SqsErrorLike };
  const handlers = new Map<string, SqsAction>();
  for (const [action, [file, name]] of Object.entries(DIRECT_ACTIONS)) {
    const handler = (await load(`./sqs/actions/${file}.js`))[name];
    if (typeof handler !== "function")
      throw new Error(
        `fauxqs changed: sqs/actions/${file}.js has no ${name}; local/aws/fauxqs-direct.ts needs a look`,
      );
    handlers.set(action, handler as SqsAction);
  }
  return {
    store,
    call: (request) => {
      const handler = directHandler(request, handlers);
      if (!handler) return undefined;
      const body = parsedBody(request.body ?? "");
      if (body === undefined) return undefined;
      return answer(request.id, handler, body, store, SqsError);
    },
  };
}

/** The action's handler when Fastify would hand this request to fauxqs's SQS router unchanged, else undefined. */
function directHandler(
  request: InProcessRequest,
  handlers: ReadonlyMap<string, SqsAction>,
): SqsAction | undefined {
  if (request.method !== "POST" || request.url !== "/") return undefined;
  const headers = request.headers;
  if (headers["content-type"] !== JSON_PROTOCOL) return undefined;
  const target = headers["x-amz-target"];
  if (target === undefined || !target.startsWith("AmazonSQS.")) return undefined;
  const body = request.body;
  if (body === undefined || body.length === 0) return undefined;
  const size = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
  // Fastify refuses a body whose size differs from its Content-Length (400) or passes the limit (413).
  if (size > BODY_LIMIT) return undefined;
  const length = headers["content-length"];
  if (length !== undefined && length !== String(size)) return undefined;
  return handlers.get(target.slice("AmazonSQS.".length));
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

/** SqsRouter.handle's answer, then Fastify's serialization, error handler and fauxqs's onSend headers. */
async function answer(
  id: number,
  handler: SqsAction,
  body: unknown,
  store: unknown,
  SqsError: new () => SqsErrorLike,
): Promise<InProcessAnswer> {
  try {
    const result = await handler(body, store);
    return reply(id, 200, `${JSON_PROTOCOL}; charset=utf-8`, JSON.stringify(result));
  } catch (error) {
    if (error instanceof SqsError) {
      const answered = reply(
        id,
        error.statusCode,
        `${JSON_PROTOCOL}; charset=utf-8`,
        JSON.stringify(error.toJSON()),
      );
      answered.headers["x-amzn-query-error"] = error.queryErrorHeader;
      return answered;
    }
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
  return reply(id, statusCode, "application/json; charset=utf-8", JSON.stringify(payload));
}

const utf8 = new TextEncoder();

function reply(
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
