import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Webhook } from "standardwebhooks";
import { hashSeed, mulberry32 } from "#local/aws/faults.js";

/**
 * How the receiver answers one callback request. The first group are answers the pipeline must count as a
 * delivery (any 2xx, however it arrives); the rest are failures it must retry, then dead-letter.
 */
export const SUCCESS_BEHAVIOURS = ["ok", "ok202", "ok204", "slow", "truncated", "earlyHints"] as const;
export const FAILURE_BEHAVIOURS = [
  "error500",
  "error502",
  "error503",
  "redirect",
  "teapot",
  "tooMany",
  "notFound",
  "continueThenClose",
  "reset",
  "hang",
] as const;
export type SuccessBehaviour = (typeof SUCCESS_BEHAVIOURS)[number];
export type FailureBehaviour = (typeof FAILURE_BEHAVIOURS)[number];
export type CallbackBehaviour = SuccessBehaviour | FailureBehaviour;

/** Probability of each behaviour on `/flaky/…` paths; whatever is left over answers a plain 200. */
export type BehaviourRates = Partial<Record<CallbackBehaviour, number>>;

/** A hostile-but-fair mix: about a quarter of requests fail, in every way the receiver knows. */
export const DEFAULT_BEHAVIOUR_RATES: BehaviourRates = {
  ok202: 0.03,
  ok204: 0.04,
  slow: 0.06,
  truncated: 0.02,
  earlyHints: 0.02,
  error500: 0.05,
  error502: 0.02,
  error503: 0.03,
  redirect: 0.02,
  teapot: 0.02,
  tooMany: 0.02,
  notFound: 0.01,
  continueThenClose: 0.02,
  reset: 0.03,
  hang: 0.02,
};

export interface Receipt {
  /** `task_id` of the body. */
  readonly taskId: string;
  /** The `webhook-id` header (Standard Webhooks: must equal the task id on every attempt). */
  readonly webhookId: string;
  readonly attemptHeader: string;
  /** When the request arrived (its headers), epoch ms. */
  readonly arrivalMs: number;
  readonly path: string;
  readonly behaviour: CallbackBehaviour;
  /** The signature verified against the signing secret (undefined when no secret was given). */
  readonly signatureValid: boolean | undefined;
  /** The `chaos_id` of the content, when it has one (the client's own name for the task). */
  readonly clientKey: string | undefined;
  /**
   * True once a 2xx answer was handed to the connection intact (for `truncated`: its status line and headers).
   * A 2xx that could not be written because the caller had given up stays false.
   */
  success: boolean;
  /** Settled: answered, failed or abandoned by the caller. */
  done: boolean;
}

export interface FlakyReceiver {
  readonly url: string;
  readonly receipts: readonly Receipt[];
  /** Requests still open (hanging or slow). */
  readonly open: () => number;
  stop(): Promise<void>;
}

export interface FlakyReceiverOptions {
  readonly seed?: number;
  readonly rates?: BehaviourRates;
  /** Longest delay of a `slow` answer (uniform in [0, slowMs]); keep it well under the callback timeout. */
  readonly slowMs?: number;
  /** Verify every request's Standard Webhooks signature with this secret. */
  readonly signingSecret?: string;
  readonly host?: string;
}

/**
 * A callback receiver with a seeded bad temper. Paths choose the mood: `/ok/…` always answers 200, `/fail/…`
 * always 500, `/flaky/…` draws a behaviour per request from `rates` (200 otherwise): slow answers, 202/204,
 * a 200 whose body is cut off, 103 Early Hints then 200, 500/502/503, a redirect to the metadata address (must
 * not be followed), 418, 429, 404, a bare `100 Continue` then a closed connection, a reset without an answer,
 * and a request that is never answered (the caller's timeout ends it).
 *
 * The draw depends only on the seed, the task's `chaos_id` (or task id) and how many requests for that task
 * came before, so a seed gives each task the same fate whatever the interleaving.
 */
export async function startFlakyReceiver(options: FlakyReceiverOptions = {}): Promise<FlakyReceiver> {
  const state: ReceiverState = {
    seed: options.seed ?? 1,
    rates: options.rates ?? DEFAULT_BEHAVIOUR_RATES,
    slowMs: options.slowMs ?? 500,
    webhook: options.signingSecret ? new Webhook(options.signingSecret) : undefined,
    receipts: [],
    arrivals: new Map(),
    open: 0,
  };
  const server = http.createServer((req, res) => {
    const arrivalMs = Date.now();
    state.open++;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => receive(state, req, res, Buffer.concat(chunks).toString("utf8"), arrivalMs));
  });
  const sockets = trackSockets(server);
  server.keepAliveTimeout = 10_000;
  const host = options.host ?? "127.0.0.1";
  const port = await listen(server, host);
  return {
    url: `http://${host}:${port}`,
    receipts: state.receipts,
    open: () => state.open,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface ReceiverState {
  readonly seed: number;
  readonly rates: BehaviourRates;
  readonly slowMs: number;
  readonly webhook: Webhook | undefined;
  readonly receipts: Receipt[];
  /** Requests seen so far per task (its `chaos_id`, or its task id). */
  readonly arrivals: Map<string, number>;
  /** Requests not yet settled. */
  open: number;
}

/** One whole request: draw its fate, record its receipt, answer it, and settle the receipt when it ends. */
function receive(
  state: ReceiverState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: string,
  arrivalMs: number,
): void {
  const path = req.url ?? "/";
  const { taskId, clientKey } = parseCallback(body);
  const key = clientKey ?? taskId;
  const nth = state.arrivals.get(key) ?? 0;
  state.arrivals.set(key, nth + 1);
  const random = mulberry32(hashSeed(state.seed, `${key}#${nth}`));
  const behaviour = behaviourFor(path, state.rates, random);
  const receipt: Receipt = {
    taskId,
    webhookId: String(req.headers["webhook-id"] ?? ""),
    attemptHeader: String(req.headers["punctual-attempt"] ?? ""),
    arrivalMs,
    path,
    behaviour,
    signatureValid: verifySignature(state.webhook, body, req),
    clientKey,
    success: false,
    done: false,
  };
  state.receipts.push(receipt);
  let settled = false;
  const settle = (success: boolean) => {
    if (settled) return;
    settled = true;
    receipt.success = success;
    receipt.done = true;
    state.open--;
  };
  res.on("finish", () => settle((SUCCESS_BEHAVIOURS as readonly string[]).includes(behaviour)));
  res.on("close", () => settle(false));
  answer(behaviour, req, res, Math.floor(random() * state.slowMs), settle);
}

/** The body's `task_id` and `content.chaos_id` (a body that is not JSON is counted with an empty task id). */
function parseCallback(body: string): { taskId: string; clientKey: string | undefined } {
  let json: { task_id?: unknown; content?: { chaos_id?: unknown } } = {};
  try {
    json = JSON.parse(body);
  } catch {
    // counted with an empty task id
  }
  return {
    taskId: typeof json.task_id === "string" ? json.task_id : "",
    clientKey: typeof json.content?.chaos_id === "string" ? json.content.chaos_id : undefined,
  };
}

/** The path chooses the mood; only `/flaky/…` draws (so only it consumes a random number). */
function behaviourFor(path: string, rates: BehaviourRates, random: () => number): CallbackBehaviour {
  if (path.startsWith("/ok")) return "ok";
  if (path.startsWith("/fail")) return "error500";
  return draw(rates, random());
}

/** Undefined when no signing secret was given. */
function verifySignature(
  webhook: Webhook | undefined,
  body: string,
  req: http.IncomingMessage,
): boolean | undefined {
  if (!webhook) return undefined;
  try {
    webhook.verify(body, headersOf(req));
    return true;
  } catch {
    return false;
  }
}

/** The server's open sockets, so that `stop` can end hanging requests rather than wait for them. */
function trackSockets(server: http.Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return sockets;
}

async function listen(server: http.Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  return (server.address() as AddressInfo).port;
}

/** Answers that are nothing but a status (and a header or two): text/plain, "ok" below 300, "nope" above. */
const PLAIN_ANSWERS: Partial<Record<CallbackBehaviour, readonly [number, http.OutgoingHttpHeaders?]>> = {
  ok: [200],
  ok202: [202],
  error500: [500],
  error502: [502],
  error503: [503, { "retry-after": "1" }],
  redirect: [302, { location: "http://169.254.169.254/latest/meta-data/" }],
  teapot: [418],
  tooMany: [429, { "retry-after": "1" }],
  notFound: [404],
};

function answer(
  behaviour: CallbackBehaviour,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  slowDelayMs: number,
  settle: (success: boolean) => void,
): void {
  const plain = PLAIN_ANSWERS[behaviour];
  if (plain) {
    answerText(res, ...plain);
    return;
  }
  switch (behaviour) {
    case "ok204":
      res.writeHead(204).end();
      return;
    case "slow": {
      const timer = setTimeout(() => answerText(res, 200), slowDelayMs);
      res.on("close", () => clearTimeout(timer));
      return;
    }
    case "truncated":
      // A 200 whose body never arrives in full: the status line counts, the connection then closes.
      res.writeHead(200, { "content-type": "text/plain", "content-length": "1000" });
      res.write("partial", () => {
        settle(true);
        res.socket?.end();
      });
      return;
    case "earlyHints":
      res.writeEarlyHints({ link: "</style.css>; rel=preload; as=style" });
      answerText(res, 200);
      return;
    case "continueThenClose":
      // An informational answer and nothing after it.
      res.writeContinue(() => req.socket.end());
      return;
    case "reset":
      req.socket.destroy();
      return;
    case "hang":
      // Never answered: the caller's timeout ends it (and `close` settles the receipt as a failure).
      return;
  }
}

function answerText(res: http.ServerResponse, status: number, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { "content-type": "text/plain", ...headers }).end(status < 300 ? "ok" : "nope");
}

function draw(rates: BehaviourRates, value: number): CallbackBehaviour {
  let cumulative = 0;
  for (const [behaviour, rate] of Object.entries(rates) as [CallbackBehaviour, number][]) {
    cumulative += rate;
    if (value < cumulative) return behaviour;
  }
  return "ok";
}

function headersOf(req: http.IncomingMessage): Record<string, string> {
  return Object.fromEntries(
    Object.entries(req.headers).map(([name, value]) => [
      name,
      Array.isArray(value) ? value.join(",") : String(value),
    ]),
  );
}
