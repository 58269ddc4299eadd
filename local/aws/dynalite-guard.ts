import { EventEmitter } from "node:events";
import type http from "node:http";
import { nullMemberIn, nullMemberMessage } from "./dynalite-nulls.js";
import type { RequestListener } from "./in-process.js";
import { readBody } from "./request-body.js";

/**
 * dynalite's request listener, kept from taking the local cloud down with it. Why: dynalite reads a request in
 * its `end` handler and rethrows whatever its validations throw that is not an AWS error (index.js: `throw err`),
 * and its `error` handler rethrows the request's own error. On a socket those handlers run from the stream's
 * events, outside any caller, so the throw was uncaught and stopped the emulators' thread — the whole local cloud
 * and every task in memory — for a hand-made request: a JSON `null` where dynalite expects an object (the body,
 * an attribute value, a map member, an `ExpressionAttributeValues` entry, a key, a `BatchWriteItem` entry, an
 * `AttributeValueList` member…) or a document nested too deep for its recursive checks.
 *
 * Here dynalite gets a request of its own (the surface its listener uses, as local/aws/in-process.ts gives it),
 * fed from the real one; the `end` that runs its handler is emitted inside a try. A throw on a JSON `null` is
 * answered as DynamoDB answers that null (`answerThrow` below: a 400, as AWS refuses it while reading the request);
 * any other as DynamoDB answers its own failures: 500 `InternalServerError` (an SDK retries it, then reports it),
 * with dynalite's message. The real request's errors (a client gone mid-body) end here. Only dynalite's synchronous
 * part is covered: a throw from its store callbacks cannot be caught by any caller, so the shapes known to cause
 * one are refused before dynalite acts on them (`CHECKED_FIRST` below; conditions, local/aws/dynalite-conditions.ts).
 */
export function guardingDynalite(dynalite: RequestListener): RequestListener {
  return (req, res) => {
    const inner = innerRequest(req);
    const run = (step: () => void) => {
      try {
        step();
      } catch (error) {
        answerFailure(res, error);
      }
    };
    run(() => dynalite(inner as unknown as http.IncomingMessage, res));
    // The body is kept (the chunks dynalite reads), to tell, when dynalite throws, a null it should have refused.
    const kept = new KeptBody();
    const end = () => {
      try {
        inner.emit("end");
      } catch (error) {
        answerThrow(dynalite, req, res, error, kept.text());
      }
    };
    const check = CHECKED_FIRST.get(String(req.headers["x-amz-target"]));
    if (check) {
      readBody(req).then(
        (body) => {
          const refusal = check(body);
          if (refusal !== undefined) return answerRefusal(res, refusal);
          kept.add(Buffer.from(body));
          run(() => inner.emit("data", Buffer.from(body)));
          end();
        },
        () => res.destroy?.(),
      );
      return;
    }
    req.on("data", (chunk: Buffer | string) => {
      kept.add(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
      run(() => inner.emit("data", chunk));
    });
    req.on("end", end);
    // A request that fails (the client gone mid-body) has no one to answer: the response is dropped with it.
    req.on("error", () => res.destroy?.());
  };
}

/**
 * dynalite's own bound on a request body (MAX_REQUEST_BYTES in its index.js): past it dynalite answers 413 and
 * reads no more, so a longer body is not kept — a client sending gigabytes to the loopback port is not held whole.
 */
const DYNALITE_MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/** A request body's chunks as dynalite reads them, dropped once past what dynalite takes (then read as empty). */
export class KeptBody {
  #chunks: Buffer[] | undefined = [];
  #bytes = 0;

  add(chunk: Buffer): void {
    if (this.#chunks === undefined) return;
    this.#bytes += chunk.length;
    if (this.#bytes > DYNALITE_MAX_REQUEST_BYTES) this.#chunks = undefined;
    else this.#chunks.push(chunk);
  }

  text(): string {
    return this.#chunks === undefined ? "" : Buffer.concat(this.#chunks).toString("utf8");
  }
}

/** The request dynalite is handed: the surface its listener uses, its body emitted by the guard. */
function innerRequest(req: http.IncomingMessage): EventEmitter {
  return Object.assign(new EventEmitter(), { method: req.method, url: req.url, headers: req.headers });
}

/**
 * dynalite threw while reading the request. A JSON `null` it should have refused is answered as DynamoDB answers
 * it (local/aws/dynalite-nulls.ts): a null in a list or map, a 400 SerializationException; a body of `null`, read
 * as the empty input, is handed to dynalite again as `{}`, which its validations answer (a missing table name…).
 * Anything else stays dynalite's failure, a 500.
 */
function answerThrow(
  dynalite: RequestListener,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  error: unknown,
  body: string,
): void {
  const request = parsedOrUndefined(body);
  if (request === null) {
    answerAgain(dynalite, req, res, "{}");
    return;
  }
  const action = String(req.headers["x-amz-target"]).split(".").pop() ?? "";
  let path: string | undefined;
  try {
    path = nullMemberIn(action, request);
  } catch {
    path = undefined; // the walk keeps its own stack (no RangeError); should it fail anyway, dynalite's failure stands
  }
  if (path === undefined) answerFailure(res, error);
  else answer(res, 400, { __type: SERIALIZATION_ERROR, Message: nullMemberMessage(path) });
}

function parsedOrUndefined(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** dynalite's answer to the same request with another body (it has answered nothing: it threw first). */
function answerAgain(
  dynalite: RequestListener,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: string,
): void {
  const inner = innerRequest(req);
  try {
    dynalite(inner as unknown as http.IncomingMessage, res);
    inner.emit("data", Buffer.from(body));
    inner.emit("end");
  } catch (error) {
    answerFailure(res, error);
  }
}

/**
 * Requests dynalite validates and then throws on in its store's callback, out of any caller's reach: refused
 * first, as DynamoDB's validation words it. TagResource: dynalite's type checks let a null tag, or a tag without
 * `Key` or `Value`, through, and its action then reads `tag.Key` or hands LevelDB an undefined key or value.
 */
const CHECKED_FIRST: ReadonlyMap<string, (body: string) => string | undefined> = new Map([
  ["DynamoDB_20120810.TagResource", missingTagMember],
]);

function missingTagMember(body: string): string | undefined {
  let tags: unknown;
  try {
    tags = (JSON.parse(body) as { Tags?: unknown } | null)?.Tags;
  } catch {
    return undefined; // dynalite answers a body that is not JSON itself (SerializationException)
  }
  if (!Array.isArray(tags)) return undefined;
  for (const [index, tag] of tags.entries()) {
    const at = `tags.${index + 1}.member`;
    if (tag === null) return `Value null at '${at}' failed to satisfy constraint: Member must not be null`;
    if (typeof tag !== "object") continue; // dynalite's type check refuses it
    const { Key, Value } = tag as { Key?: unknown; Value?: unknown };
    if (Key == null) return `Value null at '${at}.key' failed to satisfy constraint: Member must not be null`;
    if (Value == null)
      return `Value null at '${at}.value' failed to satisfy constraint: Member must not be null`;
  }
  return undefined;
}

/** A validation refusal, in dynalite's (and DynamoDB's) shape for one. */
function answerRefusal(res: http.ServerResponse, violation: string): void {
  answer(res, 400, { __type: VALIDATION_ERROR, message: `1 validation error detected: ${violation}` });
}

const INTERNAL_ERROR = "com.amazonaws.dynamodb.v20120810#InternalServerError";
const VALIDATION_ERROR = "com.amazon.coral.validate#ValidationException";
const SERIALIZATION_ERROR = "com.amazon.coral.service#SerializationException";

/** DynamoDB's own shape for a failure on its side, unless an answer has already started. */
function answerFailure(res: http.ServerResponse, error: unknown): void {
  if (res.headersSent || res.writableEnded) return;
  const reason = error instanceof Error ? error.message : String(error);
  const message = `The local DynamoDB emulator (dynalite) failed on this request: ${reason}`;
  answer(res, 500, { __type: INTERNAL_ERROR, message });
}

function answer(res: http.ServerResponse, status: number, json: Record<string, string>): void {
  const body = JSON.stringify(json);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/x-amz-json-1.0");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}
