import net, { type AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type CallbackClient, createCallbackClient } from "#shared/adapters/callback-client.js";

/**
 * The callback client watches the first bytes of each answer on a reused connection (`keepAnswerStart`) with a
 * listener of its own on the pooled socket: it must come off every time (one connection carries thousands of
 * callbacks), and seeing the answer a byte at a time must decide as seeing it whole.
 */
const ANSWER = "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30\r\n\r\n";

let server: net.Server | undefined;
let client: CallbackClient | undefined;
afterEach(async () => {
  await client?.close();
  server?.close();
  vi.restoreAllMocks();
});

/** A receiver answering each request on a connection (no body) with `answer`, written `chunk` bytes at a time. */
async function receiver(answer: (n: number) => string, chunk: number) {
  let requests = 0;
  let connections = 0;
  const listening = net.createServer((socket) => {
    connections++;
    socket.setNoDelay(true);
    let buffered = "";
    socket.on("data", async (data) => {
      buffered += data.toString("latin1");
      while (buffered.includes("\r\n\r\n")) {
        const end = buffered.indexOf("\r\n\r\n") + 4;
        const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + length) return;
        buffered = buffered.slice(end + length);
        const text = answer(++requests);
        for (let i = 0; i < text.length; i += chunk) {
          socket.write(text.slice(i, i + chunk));
          if (chunk < text.length) await new Promise((resolve) => setImmediate(resolve));
        }
      }
    });
  });
  server = listening;
  await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
  const port = (listening.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hook`, requests: () => requests, connections: () => connections };
}

function sockets(): Set<net.Socket> {
  const seen = new Set<net.Socket>();
  const original = net.Socket.prototype.prependListener;
  vi.spyOn(net.Socket.prototype, "prependListener").mockImplementation(function (
    this: net.Socket,
    ...args: Parameters<net.Socket["prependListener"]>
  ) {
    seen.add(this);
    return original.apply(this, args);
  });
  return seen;
}

describe("callback client: a kept-alive connection reused many times", () => {
  it.each([
    ["whole", 10_000],
    ["one byte at a time", 1],
  ])("leaves no listener behind on its socket after sequential callbacks (answer %s)", async (_, chunk) => {
    const at = await receiver(() => ANSWER, chunk);
    const seen = sockets();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    client = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });
    const post = () => client?.post({ url: at.url, body: '{"x":1}', headers: {}, timeoutMs: 5_000 });
    const first = await post();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const counts = () =>
      [...seen].map((s) => ({
        data: s.listenerCount("data"),
        close: s.listenerCount("close"),
        error: s.listenerCount("error"),
        end: s.listenerCount("end"),
      }));
    const n = chunk === 1 ? 200 : 1000;
    let before: ReturnType<typeof counts> | undefined;
    for (let i = 0; i < n; i++) {
      const r = await post();
      expect(r?.ok, JSON.stringify(r)).toBe(true);
      if (i === 0) before = counts();
    }
    process.off("warning", onWarning);
    expect(first?.ok).toBe(true);
    expect(at.connections()).toBe(1);
    expect(at.requests()).toBe(n + 1);
    // The one client socket, seen by the spy (the watch was put on it), carries what it carried after one reuse
    expect(seen.size).toBe(1);
    expect(counts()).toEqual(before);
    expect(warnings).toEqual([]);
  });

  it.each([
    ["a lowercase status line", "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false],
    ["ICY", "ICY 200 OK\r\n\r\n", false],
    ["leftovers ahead of the answer", `xyz${ANSWER}`, true],
    ["leftovers after CR/LF", `\r\n\r\n{"ok":1}${ANSWER}`, true],
    ["leftovers starting like a status line", `Hello${ANSWER}`, true],
  ])(
    "%s on a reused connection, one byte at a time: sent again only for leftovers",
    async (_, second, again) => {
      const at = await receiver((n) => (n === 2 ? second : ANSWER), 1);
      client = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });
      const post = () => client?.post({ url: at.url, body: '{"x":1}', headers: {}, timeoutMs: 5_000 });
      await post();
      await new Promise((resolve) => setTimeout(resolve, 5));
      const result = await post();
      expect(at.requests()).toBe(again ? 3 : 2);
      expect(result?.ok).toBe(again);
    },
  );
});
