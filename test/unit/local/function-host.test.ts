import { randomUUID } from "node:crypto";
import { MessageChannel } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FunctionHost, startFunctionHost } from "#local/runtime/function-host.js";
import { createLambdaContext } from "#local/runtime/lambda-context.js";

/** A function host (a worker thread) running a fixture handler, invoked as the local runtime invokes functions. */
let host: FunctionHost;
const channel = new MessageChannel();
const emfDocuments: unknown[] = [];

beforeAll(async () => {
  host = await startFunctionHost(
    [
      {
        logicalId: "Echo",
        moduleUrl: new URL("../../support/fixtures/echo-handler.ts", import.meta.url).href,
      },
    ],
    channel.port2,
    { record: (document) => emfDocuments.push(document), print: false },
  );
}, 30_000);

afterAll(async () => {
  await host.stop();
  channel.port1.close();
});

describe("function host", () => {
  it("runs the handler in its thread with the event, the context's deadline and the environment", async () => {
    // Prepare
    const event = { id: randomUUID(), body: "exactly as sent ✓" };
    const context = createLambdaContext("Echo", 30);
    // Act
    const result = (await host.handlerFor("Echo")(event as never, context)) as Record<string, unknown>;
    // Assess
    expect(result.event).toEqual(event);
    expect(result.functionName).toBe("Echo");
    expect(result.remainingMs).toBeGreaterThan(0);
    expect(result.remainingMs).toBeLessThanOrEqual(30_000);
    expect(result.region).toBe(process.env.AWS_REGION);
  });

  it("rejects the invocation with the handler's error, as a failed Lambda invocation", async () => {
    // Prepare
    const message = `boom ${randomUUID()}`;
    // Act
    const invocation = host.handlerFor("Echo")({ fail: message } as never, createLambdaContext("Echo", 30));
    // Assess
    await expect(invocation).rejects.toMatchObject({ name: "TypeError", message });
  });

  it("hands the EMF documents its functions print to the cloud's sink (the console's metrics)", async () => {
    // Prepare
    const emf = { _aws: { Timestamp: Date.now(), CloudWatchMetrics: [] }, marker: randomUUID() };
    // Act
    await host.handlerFor("Echo")({ emf } as never, createLambdaContext("Echo", 30));
    // Assess: the result crosses after the document, on the same port, so it has arrived.
    expect(emfDocuments).toContainEqual(emf);
  });

  it("rejects an invocation of a function it does not host", async () => {
    await expect(host.handlerFor("Missing")({} as never, createLambdaContext("Missing", 30))).rejects.toThrow(
      /no local function Missing/,
    );
  });
});
