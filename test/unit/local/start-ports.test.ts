import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startLocalCloud } from "#local/cloud/local-cloud.js";
import { startFailureMessage } from "#local/cloud/start-failure.js";

/** A port held by another server on loopback, as a local cloud still running would hold it. */
async function takenPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe("npm start with a port already taken", () => {
  it.each([
    ["the API's (--port)", "apiPort", "--port <port>"],
    ["the AWS endpoint's (--aws-port)", "awsPort", "--aws-port <port>"],
  ] as const)(
    "refuses %s before it starts anything or touches --data",
    async (_which, option, named) => {
      // Prepare
      const taken = await takenPort();
      cleanups.push(taken.close);
      const parent = await mkdtemp(path.join(tmpdir(), "punctual-ports-"));
      cleanups.push(() => rm(parent, { recursive: true, force: true }));
      const dataDir = path.join(parent, "data");
      const free = { apiPort: 0, awsPort: 0 };

      // Act
      const error = await startLocalCloud({ ...free, [option]: taken.port, dataDir }).then(
        async (cloud) => {
          await cloud.stop();
          return undefined;
        },
        (reason: unknown) => reason,
      );

      // Assess: before, the API's port was found taken only after everything else had started (and --data written)
      const ports = {
        port: option === "apiPort" ? taken.port : 1,
        awsPort: option === "awsPort" ? taken.port : 1,
      };
      expect(startFailureMessage(error, ports)).toContain(named);
      expect(existsSync(dataDir)).toBe(false);
    },
    60_000,
  );
});
