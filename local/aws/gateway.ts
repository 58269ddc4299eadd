import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  allRefusedAnswer,
  isSendMessageBatch,
  QUEUE_PROBE_TARGET,
  splitSendMessageBatch,
  withRefusals,
} from "./batch-entry-faults.js";
import { type AwsService, errorAnswer, type FaultInjector, operationOf } from "./faults.js";
import { refusingWebPages } from "./web-pages.js";

export type { AwsService } from "./faults.js";

/**
 * One AWS-compatible endpoint for people and the `aws` CLI: it forwards each request to the emulator for the
 * service named in the request's SigV4 credential scope. Our own functions talk to each emulator directly
 * (service-specific AWS_ENDPOINT_URL_* variables) to save a hop, or — with faults on — through one
 * `startServiceProxy` per service. Given a `faults` injector, the gateway injects faults too.
 */
export async function startGateway(options: {
  readonly host: string;
  readonly port: number;
  readonly upstreams: Readonly<Record<AwsService, string>>;
  /** The local cloud's Lambda API (event source mappings, local/aws/lambda-emulator.ts), outside the fault set. */
  readonly lambdaUpstream?: string;
  readonly faults?: FaultInjector;
}): Promise<{ url: string; stop(): Promise<void> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  return listen(options.host, options.port, agent, (req, res) => {
    if (options.lambdaUpstream && isLambdaCall(req)) {
      pipeThrough(req, res, { service: "dynamodb", upstream: options.lambdaUpstream, agent });
      return;
    }
    const service = serviceOf(req);
    const upstream = service ? options.upstreams[service] : undefined;
    if (!service || !upstream) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ __type: "UnknownServiceException", message: "cannot tell which AWS service" }),
      );
      return;
    }
    forward(req, res, {
      service,
      upstream,
      agent,
      ...(options.faults ? { faults: options.faults } : {}),
    });
  });
}

/**
 * A fault-injecting proxy in front of one emulator. The functions are pointed at it (AWS_ENDPOINT_URL_*), so
 * they see throttling, 5xx, timeouts and dropped connections over the wire, with their SDK's own parsing and
 * retries, and no change to their code.
 *
 * SQS needs one more step: its SDK sends each call to the host of the call's QueueUrl, and fauxqs knows each
 * queue by its full URL. The functions are given queue URLs that name this proxy's port; the proxy rewrites
 * them to the emulator's port on the way in (and back on the way out, for CreateQueue / GetQueueUrl / …).
 */
export async function startServiceProxy(options: {
  readonly host: string;
  readonly port?: number;
  readonly service: AwsService;
  readonly upstream: string;
  readonly faults: FaultInjector;
}): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const sqsRewrite = queueUrlRewrite(options.upstream);
  let rewrite: ForwardOptions["rewrite"];
  const running = await listen(options.host, options.port ?? 0, agent, (req, res, port) => {
    if (options.service === "sqs") rewrite ??= sqsRewrite(port);
    forward(req, res, {
      service: options.service,
      upstream: options.upstream,
      agent,
      faults: options.faults,
      ...(rewrite ? { rewrite } : {}),
    });
  });
  return { ...running, port: Number(new URL(running.url).port) };
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, port: number) => void;

async function listen(
  host: string,
  port: number,
  agent: http.Agent,
  handler: Handler,
): Promise<{ url: string; stop(): Promise<void> }> {
  let boundPort = port;
  // They forward to the emulators with a loopback Host of their own, so they refuse web pages themselves.
  const server = http.createServer(refusingWebPages((req, res) => handler(req, res, boundPort)));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  boundPort = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${boundPort}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

interface ForwardOptions {
  readonly service: AwsService;
  readonly upstream: string;
  readonly agent: http.Agent;
  readonly faults?: FaultInjector;
  /** Another operation than the request's own (`X-Amz-Target`): the probe of an all-refused batch. */
  readonly target?: string;
  /** Rewrites of request and response bodies (SQS queue URLs). */
  readonly rewrite?: {
    readonly request: (body: string) => string;
    readonly response: (body: string) => string;
  };
}

/**
 * Forwards one request, injecting the fault the policy draws for it. Without faults and rewriting, bodies are
 * streamed through untouched (the gateway's plain path); otherwise the request body is read first (the
 * operation of an SQS query-protocol call is in it).
 */
function forward(req: http.IncomingMessage, res: http.ServerResponse, options: ForwardOptions): void {
  const { service, faults } = options;
  if (!faults && !options.rewrite) {
    pipeThrough(req, res, options);
    return;
  }
  readAll(req).then(
    (raw) => {
      const text = raw.toString("utf8");
      const decision = faults?.decide(service, operationOf(service, req, text));
      const forwarded = decision === undefined || decision.kind === "slow";
      const entryFaults = forwarded ? entryFaultsOf(req, text, options) : undefined;
      const body = entryFaults ? Buffer.from(entryFaults.body) : rewritten(text, raw, options);
      const sendOptions = entryFaults?.options ?? options;
      switch (decision?.kind) {
        case undefined:
          return send(req, res, body, sendOptions, "answer");
        case "throttle":
        case "error": {
          const answer = errorAnswer(service, decision.kind, decision.variant);
          res.writeHead(answer.status, {
            ...answer.headers,
            "content-length": Buffer.byteLength(answer.body),
          });
          res.end(answer.body);
          return;
        }
        case "reset":
          req.socket.destroy();
          return;
        case "timeout": {
          const timer = setTimeout(() => req.socket.destroy(), faults?.timeoutMs ?? 1000);
          req.socket.once("close", () => clearTimeout(timer));
          return;
        }
        case "slow": {
          const timer = setTimeout(() => send(req, res, body, sendOptions, "answer"), faults?.slowMs ?? 200);
          req.socket.once("close", () => clearTimeout(timer));
          return;
        }
        case "resetAfter":
          return send(req, res, body, options, "reset");
        case "errorAfter":
          return send(req, res, body, options, { error: decision.variant });
      }
    },
    () => req.socket.destroy(),
  );
}

function rewritten(text: string, raw: Buffer, options: ForwardOptions): Buffer {
  return options.rewrite ? Buffer.from(options.rewrite.request(text)) : raw;
}

/**
 * An SQS SendMessageBatch whose entries the policy refuses one by one (`batchEntryErrors`): the body to forward
 * and the options whose answer rewrite adds the refused entries to `Failed`. When every entry is refused, the
 * batch's probe goes instead (`splitSendMessageBatch`): its error stands, its success becomes the all-refused 200.
 * Undefined: nothing refused.
 */
function entryFaultsOf(
  req: http.IncomingMessage,
  text: string,
  options: ForwardOptions,
): { body: string; options: ForwardOptions } | undefined {
  const { faults, rewrite } = options;
  if (!faults || options.service !== "sqs" || !isSendMessageBatch(req.headers)) return undefined;
  const split = splitSendMessageBatch(text, faults);
  if (!split) return undefined;
  const request = rewrite?.request ?? ((b: string) => b);
  if (split.forward === undefined) {
    const probed = (body: string) =>
      isQueueAttributes(body) ? allRefusedAnswer(split.refused) : rewrite ? rewrite.response(body) : body;
    return {
      body: request(split.probe),
      options: { ...options, target: QUEUE_PROBE_TARGET, rewrite: { request, response: probed } },
    };
  }
  const respond = (body: string) => withRefusals(rewrite ? rewrite.response(body) : body, split, faults);
  return { body: request(split.forward), options: { ...options, rewrite: { request, response: respond } } };
}

/** Whether an answer is a GetQueueAttributes success (an error answer names its `__type` instead). */
function isQueueAttributes(body: string): boolean {
  try {
    const parsed = JSON.parse(body) as unknown;
    return parsed !== null && typeof parsed === "object" && "Attributes" in parsed;
  } catch {
    return false;
  }
}

/** Sends the (read) request upstream, then answers with the upstream's answer, a dropped connection or a 5xx. */
function send(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: Buffer,
  options: ForwardOptions,
  then: "answer" | "reset" | { error: number },
): void {
  const target = new URL(req.url ?? "/", options.upstream);
  const headers: http.OutgoingHttpHeaders = {
    ...req.headers,
    host: target.host,
    "content-length": String(body.length),
    ...(options.target === undefined ? {} : { "x-amz-target": options.target }),
  };
  delete headers["transfer-encoding"];
  const upstreamReq = http.request(
    target,
    { method: req.method, headers, agent: options.agent },
    (upstreamRes) => {
      readAll(upstreamRes).then(
        (answer) => {
          if (then === "reset") {
            req.socket.destroy();
            return;
          }
          if (then !== "answer") {
            const error = errorAnswer(options.service, "error", then.error);
            res.writeHead(error.status, {
              ...error.headers,
              "content-length": Buffer.byteLength(error.body),
            });
            res.end(error.body);
            return;
          }
          const out = options.rewrite
            ? Buffer.from(options.rewrite.response(answer.toString("utf8")))
            : answer;
          const outHeaders = { ...upstreamRes.headers, "content-length": String(out.length) };
          delete outHeaders["transfer-encoding"];
          res.writeHead(upstreamRes.statusCode ?? 502, outHeaders);
          res.end(out);
        },
        () => req.socket.destroy(),
      );
    },
  );
  upstreamReq.on("error", (error) => upstreamFailed(res, error));
  upstreamReq.end(body);
}

function pipeThrough(req: http.IncomingMessage, res: http.ServerResponse, options: ForwardOptions): void {
  const target = new URL(req.url ?? "/", options.upstream);
  const upstreamReq = http.request(
    target,
    { method: req.method, headers: { ...req.headers, host: target.host }, agent: options.agent },
    (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
      upstreamRes.pipe(res);
    },
  );
  upstreamReq.on("error", (error) => upstreamFailed(res, error));
  req.pipe(upstreamReq);
}

function upstreamFailed(res: http.ServerResponse, error: Error): void {
  if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
  res.end(JSON.stringify({ __type: "ServiceUnavailable", message: error.message }));
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

/**
 * Queue URLs name the port they were created through. Requests that name this proxy's port are rewritten to the
 * emulator's, and answers back, so a queue URL handed out here keeps working here.
 */
function queueUrlRewrite(upstream: string) {
  const upstreamPort = new URL(upstream).port;
  return (port: number) => {
    const inbound = new RegExp(`(//[A-Za-z0-9.-]+):${port}/`, "g");
    const outbound = new RegExp(`(//[A-Za-z0-9.-]+):${upstreamPort}/`, "g");
    return {
      request: (body: string) =>
        body.includes(`:${port}/`) ? body.replace(inbound, `$1:${upstreamPort}/`) : body,
      response: (body: string) =>
        body.includes(`:${upstreamPort}/`) ? body.replace(outbound, `$1:${port}/`) : body,
    };
  };
}

function serviceOf(req: http.IncomingMessage): AwsService | undefined {
  const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([a-z0-9-]+)\//.exec(req.headers.authorization ?? "")?.[1];
  if (scope === "dynamodb" || scope === "sqs" || scope === "scheduler") return scope;
  const target = String(req.headers["x-amz-target"] ?? "");
  if (target.startsWith("DynamoDB_")) return "dynamodb";
  if (target.startsWith("AmazonSQS")) return "sqs";
  if (req.url?.startsWith("/schedule")) return "scheduler";
  return undefined;
}

function isLambdaCall(req: http.IncomingMessage): boolean {
  const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([a-z0-9-]+)\//.exec(req.headers.authorization ?? "")?.[1];
  return scope === "lambda" || (scope === undefined && (req.url ?? "").startsWith("/2015-03-31/"));
}
