import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A real HTTP server on 127.0.0.1 answering each request with the JSON body `answer` gives for its method and path
 * (200; 404 when it gives none): for tests that read an answer the way a deployed API sends it, through `fetch`.
 */
export async function answeringServer(
  answer: (method: string, path: string) => unknown,
): Promise<{ readonly url: string; readonly close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const body = answer(req.method ?? "", new URL(req.url ?? "/", "http://127.0.0.1").pathname);
      res.writeHead(body === undefined ? 404 : 200, { "content-type": "application/json" });
      res.end(
        JSON.stringify(body ?? { error: { code: "not_found", message: "no such route in this test" } }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
