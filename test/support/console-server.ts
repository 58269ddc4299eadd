import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ConsoleHandler } from "../../console/server.js";

/** Serves `handle` on a free loopback port (anything it does not take: 418); `close` stops it. */
export async function serveOnLoopback(
  handle: ConsoleHandler,
): Promise<{ readonly origin: string; readonly close: () => Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    if (!(await handle(req, res))) res.writeHead(418).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
