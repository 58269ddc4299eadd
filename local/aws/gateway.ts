import http from "node:http";
import type { AddressInfo } from "node:net";

export type AwsService = "dynamodb" | "sqs" | "scheduler";

/**
 * One AWS-compatible endpoint for people and the `aws` CLI: it forwards each request to the emulator for the
 * service named in the request's SigV4 credential scope. Our own functions talk to each emulator directly
 * (service-specific AWS_ENDPOINT_URL_* variables) to save a hop; this is also where faults can be injected.
 */
export async function startGateway(options: {
  readonly host: string;
  readonly port: number;
  readonly upstreams: Readonly<Record<AwsService, string>>;
}): Promise<{ url: string; stop(): Promise<void> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const server = http.createServer((req, res) => {
    const service = serviceOf(req);
    const upstream = service ? options.upstreams[service] : undefined;
    if (!upstream) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ __type: "UnknownServiceException", message: "cannot tell which AWS service" }),
      );
      return;
    }
    const target = new URL(req.url ?? "/", upstream);
    const forward = http.request(
      target,
      { method: req.method, headers: { ...req.headers, host: target.host }, agent },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on("error", (error) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ __type: "ServiceUnavailable", message: error.message }));
    });
    req.pipe(forward);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
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
