import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CANCEL_CHECK_AFTER_MS } from "#shared/services/deliver/types.js";
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
 * A task started with its batch behind its group's head (deliver's batch start) is `delivering` from then on, so its
 * DELETE while the head's callback is held is a 202 too; but its own callback was not under way, and must never be
 * made: deliver reads a follower that waited at least DEFAULT_CANCEL_CHECK_AFTER_MS (a second, as deployed) again
 * before its callback and ends it `cancelled`; the test holds the head that long after its callback arrived (the
 * batch started before it), so the follower's wait passes the threshold whatever the machine's speed. Its topic is paused while both wait in its queue, so that one
 * batch takes them both.
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
        // Its own queue, paused and resumed by one test: what waits there is that test's two tasks alone.
        "inflight-followers": {
          deliverBy: "order_id",
          callbackTimeoutSeconds: 60,
          maxAttempts: 5,
          backoff: { initialSeconds: 1, maxSeconds: 1, multiplier: 1, jitter: "none" },
        },
        // The same for the test whose head fails: a retry a minute on, so its group's records stay away meanwhile
        // (a follower's given-back start reads as it was left, not as its record's return leaves it).
        "inflight-followers-fail": {
          deliverBy: "order_id",
          callbackTimeoutSeconds: 60,
          maxAttempts: 5,
          backoff: { initialSeconds: 60, maxSeconds: 60, multiplier: 1, jitter: "none" },
        },
        // Its copies' `delivered` written at once (a protected topic's are), so the `ok` copy reads delivered while
        // the held one is in flight. Unprotected, both copies often came in one deliver batch, whose `delivered`
        // writes wait for its last callback: the held one, released only once `ok` read delivered (a 20 s hang).
        "fanout-inflight": {
          deliverBy: "order_id",
          maxConcurrencyPerHost: 50,
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
  await h?.api("POST", "/v1/topics/inflight-followers/resume");
  await h?.api("POST", "/v1/topics/inflight-followers-fail/resume");
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

  it("DELETE of a task started with its batch behind its group's held head answers 202, and that task is never called: it ends cancelled, the head delivered", async () => {
    // Prepare: the topic paused while the head and its follower wait in its queue, so one batch takes both (the
    // follower started up front with the head); the head's callback held
    const name = `inflight-waiting-${randomUUID()}`;
    const group = `order-${randomUUID()}`;
    const add = async (path: string, n: number) => {
      const added = await h.api("POST", "/v1/tasks", {
        topic: "inflight-followers",
        delay_seconds: 0,
        content: { order_id: group, n },
        callback: { url: `${h.receiver.url}${path}` },
      });
      expect(added.status, added.text).toBe(201);
      return String(added.json.task_id);
    };
    expect((await h.api("POST", "/v1/topics/inflight-followers/pause")).status).toBe(200);
    const head = await add(`/held/${name}/head`, 1);
    const follower = await add("/ok/inflight-waiting-follower", 2);
    await h.waitForBacklog("inflight-followers", 2);
    expect((await h.api("POST", "/v1/topics/inflight-followers/resume")).status).toBe(200);
    await h.receiver.waitFor((all) => all.some((r) => r.json.task_id === head));
    const headArrivedAtMs = Date.now();

    // Act: the follower's DELETE while the head's callback is held; then, once the follower has waited past the
    // threshold, the head answers 200
    const answer = await h.api("DELETE", `/v1/tasks/${follower}`);
    await sleep(Math.max(0, headArrivedAtMs + DEFAULT_CANCEL_CHECK_AFTER_MS + 50 - Date.now()));
    h.receiver.fix(name);
    const ended = await h.waitForStatus(follower, ["cancelled", "delivered"]);
    await h.waitForStatus(head, ["delivered"]);

    // Assess: the 202 of a started attempt; no callback made on it (its attempt given back), the head's once
    expect(answer.status).toBe(202);
    expect(answer.json).toMatchObject({ task_id: follower, status: "delivering", cancel_requested: true });
    expect(ended).toMatchObject({ status: "cancelled", attempts: 0 });
    expect(h.receiver.forTask(follower)).toHaveLength(0);
    expect(h.receiver.forTask(head)).toHaveLength(1);
    expect(await client.getTask(head)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("DELETE of a task started with its batch behind its group's held head answers 202; the head then fails, and the give-back of the task's unused start ends it cancelled at once, never called", async () => {
    // Prepare: as above (one batch takes both, the follower started up front), on a topic whose retry comes a
    // minute later; the head's callback held, then answered 500
    const name = `inflight-fail-${randomUUID()}`;
    const group = `order-${randomUUID()}`;
    const add = async (path: string, n: number) => {
      const added = await h.api("POST", "/v1/tasks", {
        topic: "inflight-followers-fail",
        delay_seconds: 0,
        content: { order_id: group, n },
        callback: { url: `${h.receiver.url}${path}` },
      });
      expect(added.status, added.text).toBe(201);
      return String(added.json.task_id);
    };
    expect((await h.api("POST", "/v1/topics/inflight-followers-fail/pause")).status).toBe(200);
    const head = await add(`/held-fail/${name}/head`, 1);
    const follower = await add("/ok/inflight-fail-follower", 2);
    await h.waitForBacklog("inflight-followers-fail", 2);
    expect((await h.api("POST", "/v1/topics/inflight-followers-fail/resume")).status).toBe(200);
    await h.receiver.waitFor((all) => all.some((r) => r.json.task_id === head));

    // Act: the follower's DELETE while the head's callback is held; then the head answers 500, so the follower's
    // turn never comes and its start is given back in the batch's finishing call
    const answer = await h.api("DELETE", `/v1/tasks/${follower}`);
    h.receiver.fix(name);
    const ended = await h.waitForStatus(follower, ["cancelled", "scheduled"]);

    // Assess: cancelled by the give-back (before, `scheduled` with its request until its record came back a minute
    // later); no callback made on it, its attempt not counted; the head waits for its retry
    expect(answer.status).toBe(202);
    expect(answer.json).toMatchObject({ task_id: follower, status: "delivering", cancel_requested: true });
    expect(ended).toMatchObject({ status: "cancelled", attempts: 0 });
    expect(h.receiver.forTask(follower)).toHaveLength(0);
    expect(await client.getTask(head)).toMatchObject({
      status: "delivering",
      attempts: 1,
      last_error: "HTTP 500",
    });
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
