import type { SchedulerClient } from "@aws-sdk/client-scheduler";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localViewSource } from "../../../console/local-view.js";
import { consoleHandler } from "../../../console/server.js";
import { quietMetrics, serveOnLoopback } from "../../support/console-server.js";

/**
 * `/console/api/local?cursor=` against the Scheduler emulator's answer to a cursor it never gave: the caller's
 * mistake (a 400 naming the parameter), not an upstream failure (502).
 */
let origin: string;
let closeServer: () => Promise<void>;

beforeAll(async () => {
  const scheduler = {
    send: async () => {
      throw Object.assign(new Error("The NextToken is not valid."), { name: "ValidationException" });
    },
  } as unknown as SchedulerClient;
  const sqs = { send: async () => ({ Attributes: {} }) } as unknown as SQSClient;
  const handle = consoleHandler({
    distDir: "/nonexistent",
    sources: {
      metrics: async (q) => quietMetrics(q.topic),
      local: localViewSource({
        scheduler,
        sqs,
        scheduleGroupName: "g",
        timerQueueUrl: "http://127.0.0.1:9/q",
      }),
    },
  });
  ({ origin, close: closeServer } = await serveOnLoopback(handle));
});

afterAll(async () => {
  await closeServer();
});

describe("/console/api/local", () => {
  it("answers a cursor the Scheduler emulator refuses with a 400 naming the cursor", async () => {
    // Act
    const answer = await fetch(`${origin}/console/api/local?cursor=%21%21`, {
      headers: { "x-punctual-console": "1" },
    });

    // Assess
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({
      error: { code: "validation_failed", message: expect.stringMatching(/^cursor: /) },
    });
  });
});
