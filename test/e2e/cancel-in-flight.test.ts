import { randomUUID } from "node:crypto";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCallbackReceiver } from "./support/callback-receiver.js";
import { e2eTarget, type Harness, startHarness } from "./support/harness.js";

/**
 * Cancelling a task whose callback is in flight, through the local cloud: the real API, relay and deliver functions,
 * dynalite, fauxqs, and a real HTTP receiver on loopback that holds the callback open until the test releases it
 * (`/held-fail/<name>/…`: released, it answers 500). The DELETE lands while the callback is held: 202, the task still
 * `delivering` with `cancel_requested: true`. The held callback then fails, and the task must end `cancelled` with
 * no second callback — before, the DELETE was a 409 and the failure was retried (a fan-out parent's cancel answered
 * 200 and left the copy retrying). No sleeps: the test waits for the held request to arrive, and for the group's
 * follower (delivered only once the head's record is done: FIFO order) or the copy's terminal status.
 *
 * Local cloud only: the fan-out topic's subscribers are config, set through the local config overrides.
 */
const local = e2eTarget() === "local";
let h: Harness;
let client: PunctualClient;
let subscribers: Awaited<ReturnType<typeof startCallbackReceiver>>;
const heldSubscriber = `inflight-copy-${randomUUID()}`;

beforeAll(async () => {
  if (!local) return;
  subscribers = await startCallbackReceiver({ defaultTimeoutMs: 60_000 });
  h = await startHarness({
    configOverrides: {
      topics: {
        // Retries soon after a failure: a retry the cancel failed to stop would come within the test's waits.
        // A held callback stays in flight until the test releases it: under the default 10 s callback timeout a
        // loaded machine saw the attempt time out (a failure recorded, the cancel then a plain 200) before the DELETE.
        demo: {
          callbackTimeoutSeconds: 60,
          maxAttempts: 5,
          backoff: { initialSeconds: 1, maxSeconds: 1, multiplier: 1, jitter: "none" },
        },
        "fanout-inflight": {
          deliverBy: "order_id",
          callbackTimeoutSeconds: 60,
          maxAttempts: 5,
          backoff: { initialSeconds: 1, maxSeconds: 1, multiplier: 1, jitter: "none" },
          subscribers: [
            { id: "held", url: `${subscribers.url}/held-fail/${heldSubscriber}/copy` },
            { id: "ok", url: `${subscribers.url}/ok/inflight/copy` },
          ],
        },
      },
    },
  });
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl });
});

afterAll(async () => {
  await subscribers?.stop();
  await h?.stop();
});

describe.runIf(local)("cancel of a task whose callback is in flight", () => {
  it("DELETE answers 202 (cancel_requested, still delivering), a repeat the same; the held callback then fails and the task ends cancelled with no second callback, its group's follower delivered", async () => {
    // Prepare: a head whose callback the receiver holds, and a follower in its group (it waits for the head)
    const name = `inflight-${randomUUID()}`;
    const group = `order-${randomUUID()}`;
    const add = (path: string, n: number) =>
      client.addTask({
        topic: "demo",
        delay_seconds: 0,
        content: { order_id: group, n },
        callback: { url: `${h.receiver.url}${path}` },
      });
    const head = await add(`/held-fail/${name}/head`, 1);
    const follower = await add("/ok/inflight-follower", 2);
    await h.receiver.waitFor((all) => all.some((r) => r.json.task_id === head.task_id));

    // Act: the DELETE (and its repeat) while the callback is held; then the receiver answers 500
    const answer = await h.api("DELETE", `/v1/tasks/${head.task_id}`);
    const repeat = await h.api("DELETE", `/v1/tasks/${head.task_id}`);
    h.receiver.fix(name);
    await h.waitForStatus(follower.task_id, ["delivered"]);

    // Assess: the follower was delivered after the head's record ended, so a retry would have come before it
    expect(answer.status).toBe(202);
    expect(answer.json).toMatchObject({
      task_id: head.task_id,
      status: "delivering",
      attempts: 1,
      cancel_requested: true,
    });
    expect(repeat.status).toBe(202);
    expect(repeat.json).toMatchObject({ status: "delivering", cancel_requested: true });
    const view = await client.getTask(head.task_id);
    expect(view).toMatchObject({ status: "cancelled", attempts: 1, last_error: "HTTP 500" });
    expect(view.cancel_requested).toBeUndefined();
    expect(view.attempt_log).toMatchObject([{ attempt: 1, status: 500 }]);
    expect(h.receiver.forTask(head.task_id)).toHaveLength(1);
    expect(h.receiver.forTask(follower.task_id)).toHaveLength(1);
    // A DELETE after the end answers the cancelled task (200), as for any cancelled task.
    const after = await h.api("DELETE", `/v1/tasks/${head.task_id}`);
    expect(after.status).toBe(200);
    expect(after.json).toMatchObject({ status: "cancelled" });
  });

  it("a fan-out task's DELETE with a copy's callback in flight answers 202: that copy ends cancelled after its failed attempt, never called again", async () => {
    // Prepare: the `held` subscriber's copy is held at the receiver; the `ok` one is delivered
    const added = await h.api("POST", "/v1/tasks", {
      topic: "fanout-inflight",
      delay_seconds: 0,
      content: { order_id: `fan-${randomUUID()}` },
    });
    expect(added.status).toBe(201);
    const copies = added.json.subscribers as { id: string; task_id: string }[];
    const held = copies.find((c) => c.id === "held")?.task_id ?? "";
    const ok = copies.find((c) => c.id === "ok")?.task_id ?? "";
    await subscribers.waitFor((all) => all.some((r) => r.headers["webhook-id"] === held));
    await h.waitForStatus(ok, ["delivered"]);

    // Act
    const answer = await h.api("DELETE", `/v1/tasks/${added.json.task_id as string}`);
    subscribers.fix(heldSubscriber);
    await h.waitForStatus(held, ["cancelled"]);

    // Assess: a cancelled copy is never started again (its start is a conditional write refusing it)
    expect(answer.status).toBe(202);
    expect(answer.json).toMatchObject({ cancel_requested: true });
    expect(answer.json.subscribers).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: "held", status: "delivering", cancel_requested: true }),
        expect.objectContaining({ id: "ok", status: "delivered" }),
      ]),
    );
    expect(subscribers.forTask(held)).toHaveLength(1);
    expect(await client.getTask(held)).toMatchObject({ status: "cancelled", attempts: 1 });
  });
});
