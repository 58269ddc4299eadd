import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HostileReceiver, startHostileReceiver } from "../support/hostile-receiver.js";
import { e2eTarget, type Harness, startHarness } from "./support/harness.js";

/**
 * A receiver that answers `101 Switching Protocols`, through the local cloud: the real deliver function and
 * callback client, real SQS FIFO semantics (fauxqs), a raw-socket receiver on 127.0.0.1. Before the fix the
 * attempt never settled: the task stayed `delivering` with no `last_error`, came back only after the queue's
 * visibility timeout (minutes, beyond this test's timeout), and held the rest of its batch.
 *
 * Local cloud only: a stack in LocalStack runs its functions in containers that cannot reach this receiver.
 */
let h: Harness;
let hostile: HostileReceiver;
const local = e2eTarget() === "local";

beforeAll(async () => {
  if (!local) return;
  h = await startHarness();
  hostile = await startHostileReceiver();
});

afterAll(async () => {
  await hostile?.stop();
  await h?.stop();
});

async function addTask(body: Record<string, unknown>) {
  const response = await h.api("POST", "/v1/tasks", { topic: "demo", delay_seconds: 0, ...body });
  expect(response.status, response.text).toBe(201);
  return response.json as { task_id: string };
}

/** Polls GET /v1/tasks/{id} until `predicate` holds (a correctness bound, not a speed target). */
async function waitForTask(taskId: string, predicate: (task: Record<string, unknown>) => boolean) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { json } = await h.api("GET", `/v1/tasks/${encodeURIComponent(taskId)}`);
    if (predicate(json)) return json;
    if (Date.now() > deadline) throw new Error(`task ${taskId} never matched; last: ${JSON.stringify(json)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.runIf(local)("a receiver answering 101 Switching Protocols cannot stall its topic", () => {
  it("the attempt records last_error and is retried by backoff; delivered once the receiver is fixed; another group is delivered meanwhile", async () => {
    // Prepare: the receiver switches protocols on the first two requests to this path, then answers 200.
    const path = `/upgrade/2/${randomUUID()}`;

    // Act
    const stuck = await addTask({
      content: { order_id: `o-${randomUUID()}` },
      callback: { url: `${hostile.url}${path}` },
    });
    const other = await addTask({
      content: { order_id: `o-${randomUUID()}` },
      callback: { url: `${h.receiver.url}/ok/other` },
    });
    const failing = await waitForTask(stuck.task_id, (t) => t.last_error !== undefined);
    await h.receiver.waitFor(() => h.receiver.forTask(other.task_id).length > 0);
    const delivered = await h.waitForStatus(stuck.task_id, ["delivered"], 30_000);

    // Assess
    expect(failing).toMatchObject({ status: "delivering", last_error: "receiver switched protocols (101)" });
    expect(delivered).toMatchObject({ status: "delivered", attempts: 3 });
    const requests = hostile.requests.filter((r) => r.path === path);
    expect(requests.map((r) => [r.mode, r.headers["punctual-attempt"]])).toEqual([
      ["upgrade", "1"],
      ["upgrade", "2"],
      ["ok", "3"],
    ]);
    // The other group did not wait for the stuck one.
    const otherArrival = h.receiver.forTask(other.task_id)[0]?.receivedAtMs ?? Number.POSITIVE_INFINITY;
    expect(otherArrival).toBeLessThan(requests[2]?.receivedAtMs ?? 0);
    expect(await h.waitForStatus(other.task_id, ["delivered"])).toMatchObject({ attempts: 1 });
  });

  it("a receiver that always answers 101 ends dead-lettered after maxAttempts with that reason", async () => {
    const path = `/upgrade/${randomUUID()}`;

    const task = await addTask({
      content: { order_id: `o-${randomUUID()}` },
      callback: { url: `${hostile.url}${path}` },
    });
    const failed = await h.waitForStatus(task.task_id, ["failed"], 30_000);

    expect(failed).toMatchObject({
      status: "failed",
      attempts: 3,
      last_error: "receiver switched protocols (101)",
    });
    expect(hostile.requests.filter((r) => r.path === path).map((r) => r.mode)).toEqual([
      "upgrade",
      "upgrade",
      "upgrade",
    ]);
  });
});
