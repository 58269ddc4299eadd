import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CallbackClient, createCallbackClient } from "#shared/adapters/callback-client.js";
import { resolvedAddressAllowed } from "#shared/security/ssrf.js";

/**
 * The callback client with the deliver function's address rule (`resolvedAddressAllowed`), given URLs that spell
 * loopback or the unspecified address some other way: WHATWG URL (the parser both the rule and Node's request use)
 * turns each into its canonical address, so what is judged is what would be dialled. A receiver listens on
 * 127.0.0.1 to show that nothing reaches it unless the allow-list names that very literal.
 */

let receiver: Server;
let port: number;
let received = 0;

beforeAll(async () => {
  receiver = createServer((_req, res) => {
    received++;
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  port = (receiver.address() as AddressInfo).port;
});

afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

/** A client for a topic with `allowed` as its allow-list, whose lookup seam records every name it is asked. */
function clientFor(allowed: string[]): { client: CallbackClient; asked: string[] } {
  const asked: string[] = [];
  const topic = { allowedCallbackHosts: allowed, allowHttpCallbacks: true };
  const client = createCallbackClient({
    policy: { isAllowed: (host, ip) => resolvedAddressAllowed(host, ip, topic) },
    allowPlainHttp: true,
    lookup: async (host) => {
      asked.push(host);
      return [{ address: "127.0.0.1", family: 4 }];
    },
  });
  return { client, asked };
}

const LOOPBACK_SPELLINGS = [
  "2130706433",
  "0x7f.1",
  "0x7f000001",
  "0177.0.0.1",
  "127.1",
  "%31%32%37.0.0.1",
  "127。0。0。1",
  "[::ffff:127.0.0.1]",
  "[::ffff:7f00:1]",
  "[64:ff9b::7f00:1]",
];

describe("callback client: loopback spelled every way in the URL", () => {
  it.each([...LOOPBACK_SPELLINGS, "0", "0.0.0.0", "[::]"])(
    "http://%s:<port>/ under a `*` allow-list is refused before anything is dialled or resolved",
    async (host) => {
      // Prepare
      const { client, asked } = clientFor(["*"]);
      const before = received;
      try {
        // Act
        const result = await client.post({
          url: `http://${host}:${port}/hook`,
          body: "{}",
          headers: {},
          timeoutMs: 2_000,
        });

        // Assess: refused (dead-lettered at once: an address literal does not change), nothing sent, no lookup
        expect(result).toMatchObject({
          ok: false,
          refused: true,
          error:
            "destination refused by policy: a non-public address not named in the topic's allowed callback hosts",
        });
        expect(received).toBe(before);
        expect(asked).toEqual([]);
      } finally {
        await client.close();
      }
    },
  );

  it.each(["2130706433", "0x7f.1", "0177.0.0.1", "127.1"])(
    "http://%s:<port>/ is 127.0.0.1 itself: an allow-list naming that literal admits it, and it is dialled",
    async (host) => {
      // Prepare
      const { client } = clientFor(["127.0.0.1"]);
      const before = received;
      try {
        // Act
        const result = await client.post({
          url: `http://${host}:${port}/hook`,
          body: "{}",
          headers: {},
          timeoutMs: 2_000,
        });

        // Assess
        expect(result).toMatchObject({ ok: true, status: 204 });
        expect(received).toBe(before + 1);
      } finally {
        await client.close();
      }
    },
  );

  it.each(["[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]"])(
    "http://%s:<port>/ is another literal than 127.0.0.1: an allow-list naming 127.0.0.1 does not admit it",
    async (host) => {
      // Prepare
      const { client } = clientFor(["127.0.0.1"]);
      const before = received;
      try {
        // Act
        const result = await client.post({
          url: `http://${host}:${port}/hook`,
          body: "{}",
          headers: {},
          timeoutMs: 2_000,
        });

        // Assess
        expect(result).toMatchObject({ ok: false, refused: true });
        expect(received).toBe(before);
      } finally {
        await client.close();
      }
    },
  );
});
