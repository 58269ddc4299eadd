import http from "node:http";
import type { AddressInfo } from "node:net";
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
  const seed = options.seed ?? 1;
  const rates = options.rates ?? DEFAULT_BEHAVIOUR_RATES;
  const slowMs = options.slowMs ?? 500;
  const webhook = options.signingSecret ? new Webhook(options.signingSecret) : undefined;
  const receipts: Receipt[] = [];
  const arrivals = new Map<string, number>();
  const sockets = new Set<import("node:net").Socket>();
  let open = 0;

  const server = http.createServer((req, res) => {
    const arrivalMs = Date.now();
    open++;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: { task_id?: unknown; content?: { chaos_id?: unknown } } = {};
      try {
        json = JSON.parse(body);
      } catch {
        // counted with an empty task id
      }
      const path = req.url ?? "/";
      const taskId = typeof json.task_id === "string" ? json.task_id : "";
      const clientKey = typeof json.content?.chaos_id === "string" ? json.content.chaos_id : undefined;
      const key = clientKey ?? taskId;
      const nth = arrivals.get(key) ?? 0;
      arrivals.set(key, nth + 1);
      const random = mulberry32(hashSeed(seed, `${key}#${nth}`));
      const behaviour: CallbackBehaviour = path.startsWith("/ok")
        ? "ok"
        : path.startsWith("/fail")
          ? "error500"
          : draw(rates, random());
      let signatureValid: boolean | undefined;
      if (webhook) {
        try {
          webhook.verify(body, headersOf(req));
          signatureValid = true;
        } catch {
          signatureValid = false;
        }
      }
      const receipt: Receipt = {
        taskId,
        webhookId: String(req.headers["webhook-id"] ?? ""),
        attemptHeader: String(req.headers["punctual-attempt"] ?? ""),
        arrivalMs,
        path,
        behaviour,
        signatureValid,
        clientKey,
        success: false,
        done: false,
      };
      receipts.push(receipt);
      let settled = false;
      const settle = (success: boolean) => {
        if (settled) return;
        settled = true;
        receipt.success = success;
        receipt.done = true;
        open--;
      };
      res.on("finish", () => settle((SUCCESS_BEHAVIOURS as readonly string[]).includes(behaviour)));
      res.on("close", () => settle(false));
      answer(behaviour, req, res, Math.floor(random() * slowMs), settle);
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 10_000;
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    receipts,
    open: () => open,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function answer(
  behaviour: CallbackBehaviour,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  slowDelayMs: number,
  settle: (success: boolean) => void,
): void {
  const text = (status: number, headers: http.OutgoingHttpHeaders = {}): void => {
    res.writeHead(status, { "content-type": "text/plain", ...headers }).end(status < 300 ? "ok" : "nope");
  };
  switch (behaviour) {
    case "ok":
      text(200);
      return;
    case "ok202":
      text(202);
      return;
    case "ok204":
      res.writeHead(204).end();
      return;
    case "slow": {
      const timer = setTimeout(() => text(200), slowDelayMs);
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
      text(200);
      return;
    case "error500":
      text(500);
      return;
    case "error502":
      text(502);
      return;
    case "error503":
      text(503, { "retry-after": "1" });
      return;
    case "redirect":
      text(302, { location: "http://169.254.169.254/latest/meta-data/" });
      return;
    case "teapot":
      text(418);
      return;
    case "tooMany":
      text(429, { "retry-after": "1" });
      return;
    case "notFound":
      text(404);
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
