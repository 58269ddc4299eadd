import { EventEmitter } from "node:events";
import type http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { MessagePort } from "node:worker_threads";
import inject from "light-my-request";
import {
  allRefusedAnswer,
  isSendMessageBatch,
  QUEUE_PROBE_TARGET,
  splitSendMessageBatch,
  withRefusals,
} from "./batch-entry-faults.js";
import { type AwsService, errorAnswer, type FaultInjector, operationOf } from "./faults.js";
import { Mailbox, onMailbox } from "./mailbox.js";

/**
 * The local fast path's wire format: one AWS call as the SDK serialized it, crossing from the local runtime's
 * thread to the emulators' thread (a MessagePort, local/aws/fast-path.ts), and the emulator's answer back.
 */
export interface InProcessRequest {
  readonly id: number;
  readonly service: AwsService;
  /** Whether this client's calls meet the fault policy (the runtime's own pollers may be spared). */
  readonly faults: boolean;
  readonly method: string;
  /** Path and query string. */
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body?: string | Uint8Array;
}

export type InProcessAnswer =
  | {
      readonly id: number;
      readonly statusCode: number;
      readonly headers: Record<string, string>;
      readonly body: Uint8Array;
    }
  /** The call failed as a dropped connection would (the code the SDK's retry strategy looks at). */
  | { readonly id: number; readonly dropped: "ECONNRESET" };

export type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A call served without the emulator's HTTP listener, or undefined to take the listener (local/aws/fauxqs-direct.ts). */
export type DirectCall = (request: InProcessRequest) => Promise<InProcessAnswer> | undefined;

/**
 * Serves fast-path calls with the emulators' own request listeners — the very functions their HTTP servers
 * run, so a call is parsed, validated and stored exactly as one arriving over a socket — through
 * light-my-request (Fastify's in-process request/response pair), without a socket or an HTTP parser. `sqsDirect`
 * may answer an SQS call itself, as fauxqs's app would (local/aws/fauxqs-direct.ts); what it leaves takes the app.
 *
 * Faults: the same injector and the same decisions as the fault proxies (local/aws/gateway.ts), so `npm run
 * chaos` meets the fast path with every fault kind: errors and throttling are answered in the service's shape,
 * `reset`/`timeout` fail the call as a dropped connection, `resetAfter`/`errorAfter` execute it first.
 */
export function createInProcessDispatcher(
  listeners: Readonly<Record<AwsService, RequestListener>>,
  faults?: FaultInjector,
  sqsDirect?: DirectCall,
): (request: InProcessRequest) => Promise<InProcessAnswer> {
  const callSqs = (request: InProcessRequest) => sqsDirect?.(request) ?? callListener(listeners.sqs, request);
  const call = (request: InProcessRequest) => {
    if (request.service === "dynamodb") return callDynalite(listeners.dynamodb, request);
    return request.service === "sqs" ? callSqs(request) : callListener(listeners[request.service], request);
  };
  // A call that is forwarded and answered may have batch entries refused one by one (as the gateway does).
  const answered = (request: InProcessRequest) =>
    faults && request.faults && request.service === "sqs" && isSendMessageBatch(request.headers)
      ? callWithEntryFaults(callSqs, request, faults)
      : call(request);
  return async (request) => {
    const decision =
      faults && request.faults ? faults.decide(request.service, operationOfRequest(request)) : undefined;
    switch (decision?.kind) {
      case undefined:
        return answered(request);
      case "throttle":
      case "error":
        return answerOf(request.id, errorAnswer(request.service, decision.kind, decision.variant));
      case "reset":
        return { id: request.id, dropped: "ECONNRESET" };
      case "timeout":
        await sleep(faults?.timeoutMs ?? 1000);
        return { id: request.id, dropped: "ECONNRESET" };
      case "slow":
        await sleep(faults?.slowMs ?? 200);
        return answered(request);
      case "resetAfter":
        await call(request);
        return { id: request.id, dropped: "ECONNRESET" };
      case "errorAfter":
        await call(request);
        return answerOf(request.id, errorAnswer(request.service, "error", decision.variant));
    }
  };
}

/**
 * The emulators' end of one fast-path port (local/aws/fast-path.ts is the other): runs each call through
 * `dispatch` and answers on the same port (answers settled in one synchronous stretch in one message).
 */
export function serveInProcess(
  port: MessagePort,
  dispatch: (request: InProcessRequest) => Promise<InProcessAnswer>,
): void {
  const outbox = new Mailbox<InProcessAnswer>(port);
  onMailbox<InProcessRequest>(port, (request) => {
    dispatch(request).then(
      (answer) => outbox.send(answer),
      // An emulator that throws closes its connection over HTTP; the caller sees the same.
      () => outbox.send({ id: request.id, dropped: "ECONNRESET" }),
    );
  });
}

/** A SendMessageBatch whose entries may be refused one by one (policy `batchEntryErrors`): the rest really land. */
async function callWithEntryFaults(
  callSqs: (request: InProcessRequest) => Promise<InProcessAnswer>,
  request: InProcessRequest,
  faults: FaultInjector,
): Promise<InProcessAnswer> {
  const text = typeof request.body === "string" ? request.body : new TextDecoder().decode(request.body);
  const split = splitSendMessageBatch(text, faults);
  if (!split) return callSqs(request);
  if (split.forward === undefined) {
    const probe = await callSqs(withTarget(withBody(request, split.probe), QUEUE_PROBE_TARGET));
    if ("dropped" in probe || probe.statusCode !== 200) return probe;
    const headers = { "content-type": "application/x-amz-json-1.0" };
    return { id: request.id, statusCode: 200, headers, body: ownBytes(allRefusedAnswer(split.refused)) };
  }
  const answer = await callSqs(withBody(request, split.forward));
  if ("dropped" in answer || answer.statusCode !== 200) return answer;
  const merged = withRefusals(new TextDecoder().decode(answer.body), split, faults);
  return { ...answer, body: ownBytes(merged) };
}

/**
 * The request with another body and its Content-Length to match. The SDK's header names the original body's
 * length, and fauxqs (Fastify) answers a body of another size with a 400 (FST_ERR_CTP_INVALID_CONTENT_LENGTH):
 * every partly refused batch on this path was a whole failed call, and no entry ever landed past a refused one of
 * its group. The gateway (gateway.ts `send`) sets its own length.
 */
function withBody(request: InProcessRequest, body: string): InProcessRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers))
    if (name.toLowerCase() !== "content-length") headers[name] = value;
  headers["content-length"] = String(Buffer.byteLength(body));
  return { ...request, headers, body };
}

/** The request as another operation of the same JSON-protocol service (`X-Amz-Target`). */
function withTarget(request: InProcessRequest, target: string): InProcessRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers))
    if (name.toLowerCase() !== "x-amz-target") headers[name] = value;
  headers["x-amz-target"] = target;
  return { ...request, headers };
}

async function callListener(listener: RequestListener, request: InProcessRequest): Promise<InProcessAnswer> {
  const response = await inject(listener, {
    method: request.method as "POST",
    url: request.url,
    headers: request.headers,
    ...(request.body === undefined ? {} : { payload: Buffer.from(request.body) }),
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return { id: request.id, statusCode: response.statusCode, headers, body: ownBytes(response.rawPayload) };
}

/**
 * dynalite carries most calls, and its listener uses a small surface of the request (`method`, `url`, `headers`,
 * `data`/`end` events, `removeAllListeners`) and of the response (`statusCode`, `setHeader`, `end`). A pair
 * with just that surface costs a fraction of light-my-request's full `ServerResponse`, which matters at a few
 * thousand calls a second; fauxqs (Fastify) and the Scheduler emulator keep the full pair, but for the SQS actions
 * the pipeline calls most, which skip Fastify altogether (local/aws/fauxqs-direct.ts).
 */
function callDynalite(listener: RequestListener, request: InProcessRequest): Promise<InProcessAnswer> {
  return new Promise((resolve) => {
    const req = Object.assign(new EventEmitter(), {
      method: request.method,
      url: request.url,
      headers: lowerCaseKeys(request.headers),
    });
    const headers: Record<string, string> = {};
    const res = {
      statusCode: 200,
      setHeader: (name: string, value: unknown) => {
        headers[name.toLowerCase()] = String(value);
      },
      end: (chunk?: string | Buffer) => {
        const body = ownBytes(chunk ?? "");
        resolve({ id: request.id, statusCode: res.statusCode, headers, body });
      },
    };
    listener(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse);
    if (request.body !== undefined && request.body.length > 0) req.emit("data", Buffer.from(request.body));
    req.emit("end");
  });
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  const lower: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value;
  return lower;
}

function operationOfRequest(request: InProcessRequest): string {
  const body = typeof request.body === "string" ? request.body : undefined;
  return operationOf(request.service, request, body);
}

function answerOf(
  id: number,
  answer: { status: number; headers: Record<string, string>; body: string },
): InProcessAnswer {
  return { id, statusCode: answer.status, headers: answer.headers, body: ownBytes(answer.body) };
}

const utf8 = new TextEncoder();

/**
 * An answer's body as bytes with an ArrayBuffer of their own. Why: a small Buffer (`Buffer.from`, Buffer.concat)
 * is a view into Node's shared 8 KB pool, and posting a view over a MessagePort copies its whole ArrayBuffer —
 * every answer of ~100 bytes crossed as 8 KB and left an 8 KB ArrayBuffer for the API thread's collector.
 */
function ownBytes(body: string | Uint8Array): Uint8Array {
  if (typeof body === "string") return utf8.encode(body);
  if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength) return body;
  return new Uint8Array(body);
}
