import http from "node:http";
import type { AddressInfo } from "node:net";
import { PunctualClient, type PunctualClientOptions } from "punctual/client";
import { afterEach, describe, expect, it } from "vitest";
import { addAnswer, batchOf, taskIdOfBody } from "./fakes.js";

/**
 * The batch request's own per-attempt timeout, at the client's HTTP seam: a real loopback HTTP server that answers
 * a single add at once and holds a batch's answer for a while (a full batch legitimately takes longer).
 */
interface SlowApi {
  readonly url: string;
  /** The paths of the requests the server received, in order. */
  readonly paths: string[];
  close(): Promise<void>;
}

let api: SlowApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function slowBatchApi(batchAnswerAfterMs: number): Promise<SlowApi> {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    // Recorded on arrival: an attempt the client gives up on may not be read to its end.
    paths.push(req.url ?? "");
    let text = "";
    req.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
    });
    req.on("end", () => {
      const body = JSON.parse(text) as { tasks?: Record<string, unknown>[] };
      const answer = body.tasks
        ? batchOf(body.tasks.map((task) => ({ httpStatus: 201, answer: addAnswer(taskIdOfBody(task)) })))
        : addAnswer(taskIdOfBody(body));
      const reply = () => {
        if (res.destroyed) return;
        res.writeHead(body.tasks ? 200 : 201, { "content-type": "application/json" });
        res.end(JSON.stringify(answer));
      };
      if (body.tasks) setTimeout(reply, batchAnswerAfterMs);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One add sent alone, then three made while it is in flight, which go together as one batch. */
async function addFourAsOneAndABatch(options: Omit<PunctualClientOptions, "apiUrl">) {
  const client = new PunctualClient({
    apiUrl: api?.url ?? "",
    addBatching: { maxInFlight: 1 },
    sleep: async () => {},
    ...options,
  });
  const calls = [0, 1, 2, 3].map((n) =>
    client.addTask({ topic: "demo", delay_seconds: 90, content: { n } }).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
  );
  return Promise.all(calls);
}

describe("addTask batching: a batch request's per-attempt timeout", () => {
  it("by default waits for a slow batch even when the per-attempt timeout of a single add is shorter", async () => {
    // Prepare: each try of a single add must answer within 200 ms; the batch answers after 1 s.
    api = await slowBatchApi(1000);

    // Act
    const outcomes = await addFourAsOneAndABatch({ timeoutMs: 200 });

    // Assess: one batch request, not retried, and every caller got its own task.
    expect(api.paths.filter((p) => p === "/v1/tasks/batch")).toHaveLength(1);
    expect(outcomes.map((o) => ("value" in o ? o.value.task_id : o.error))).toEqual(
      [0, 1, 2, 3].map((n) => taskIdOfBody({ content: { n } })),
    );
  });

  it("`batchTimeoutMs` sets it: a batch slower than it is aborted and retried, a single add is not held to it", async () => {
    // Prepare
    api = await slowBatchApi(250);

    // Act
    const outcomes = await addFourAsOneAndABatch({
      timeoutMs: 30_000,
      batchTimeoutMs: 50,
      retry: { maxAttempts: 2 },
    });

    // Assess: the lone add answered; the batch tried twice, then its callers see the timeout as a network error.
    expect(api.paths).toEqual(["/v1/tasks", "/v1/tasks/batch", "/v1/tasks/batch"]);
    const [first, ...batched] = outcomes;
    expect(first && "value" in first && first.value.task_id).toBe(taskIdOfBody({ content: { n: 0 } }));
    for (const outcome of batched) {
      expect("error" in outcome && outcome.error).toMatchObject({ code: "network_error", status: 0 });
    }
  });

  it("`addTasks` (the batch route called directly) has the batch's timeout too", async () => {
    // Prepare
    api = await slowBatchApi(1000);
    const client = new PunctualClient({ apiUrl: api.url, timeoutMs: 200, sleep: async () => {} });

    // Act
    const answer = await client.addTasks({
      tasks: [{ topic: "demo", delay_seconds: 90, content: { n: 7 } }],
    });

    // Assess
    expect(api.paths).toEqual(["/v1/tasks/batch"]);
    expect(answer.results.map((r) => r.task_id)).toEqual([taskIdOfBody({ content: { n: 7 } })]);
  });
});
