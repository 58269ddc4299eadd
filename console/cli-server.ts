/**
 * The server `punctual console` runs on loopback: the console page, its metrics from CloudWatch, and a signing
 * proxy to the deployed API. Kept beside the page (not in cli/) because it is the console's server; the CLI
 * command only parses options and prints the URL.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { Authorizer } from "../client/auth.js";
import { apiProxy } from "./api-proxy.js";
import { cloudWatchMetricsSource } from "./cloudwatch-metrics.js";
import type { ConsoleMetrics } from "./schemas.js";
import {
  answerParserRefusals,
  type ConsoleSources,
  consoleHandler,
  SECURITY_HEADERS,
  sendJson,
  targetParses,
} from "./server.js";
import { type ConsoleSession, consoleSession } from "./session-token.js";

export interface ConsoleServerOptions {
  readonly apiUrl: URL;
  readonly authorize: Authorizer;
  /** The metrics' `service` dimension (`punctual-<env>`); without it the metrics endpoint explains why not. */
  readonly metricsService?: string;
  readonly region?: string;
  readonly host?: string;
  readonly port: number;
  readonly log?: (line: string) => void;
  /** Tests: where the page's counts come from instead of CloudWatch. */
  readonly metrics?: ConsoleSources["metrics"];
}

export async function startConsoleServer(
  options: ConsoleServerOptions,
): Promise<{ url: string; stop(): Promise<void> }> {
  const cloudwatch = options.metricsService
    ? new CloudWatchClient(options.region ? { region: options.region } : {})
    : undefined;
  const metrics =
    options.metrics ??
    (cloudwatch && options.metricsService
      ? cloudWatchMetricsSource(cloudwatch, options.metricsService)
      : async (): Promise<ConsoleMetrics> => {
          throw new Error(
            "no metrics: start the console with --env NAME (or --metrics-service punctual-NAME)",
          );
        });
  const serveConsole = consoleHandler({ sources: { metrics }, ...(options.log ? { log: options.log } : {}) });
  const proxy = apiProxy({ apiUrl: options.apiUrl, authorize: options.authorize });
  const session: ConsoleSession = consoleSession();
  const server = http.createServer(async (req, res) => {
    try {
      if (!targetParses(req, res) || session.gate(req, res)) return;
      if (await serveConsole(req, res)) return;
      if (await proxy(req, res)) return;
      if (req.url === "/") {
        // Its own answer too carries the console's headers: no answer of this server may be framed or sniffed.
        res.writeHead(302, { ...SECURITY_HEADERS, "cache-control": "no-store", location: "/console" }).end();
        return;
      }
      sendJson(res, 404, { error: { code: "not_found", message: "the console is at /console" } });
    } catch (error) {
      options.log?.(`[console] ${(error as Error).message}`);
      if (!res.headersSent)
        sendJson(res, 502, { error: { code: "upstream_failed", message: (error as Error).message } });
    }
  });
  answerParserRefusals(server, SECURITY_HEADERS);
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}${session.urlFor("/console")}`,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      cloudwatch?.destroy();
    },
  };
}
