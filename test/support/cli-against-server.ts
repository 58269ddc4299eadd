import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { main } from "../../cli/main.js";

/** What a test's API answers one request with. */
export interface CannedAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * A real HTTP server on 127.0.0.1 standing in for the API, answering each request with the JSON `answer` gives for
 * its URL, and the CLI run against it: for CLI tests that read what a (broken or hostile) API sends over the wire.
 * `close` also ends kept-alive connections, which the CLI's fetch leaves open.
 */
export async function cliAgainstServer(
  answer: (url: URL, request: IncomingMessage) => CannedAnswer,
): Promise<{
  readonly apiUrl: string;
  readonly punctual: (argv: readonly string[]) => Promise<{ code: number; out: string; err: string }>;
  readonly close: () => Promise<void>;
}> {
  const server = createServer((req, res) => {
    req.resume();
    const { status, body } = answer(new URL(req.url ?? "/", "http://127.0.0.1"), req);
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    apiUrl,
    punctual: async (argv) => {
      const out: string[] = [];
      const err: string[] = [];
      const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {} };
      const code = await main(["--api", apiUrl, ...argv], io);
      return { code, out: out.join(""), err: err.join("") };
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
