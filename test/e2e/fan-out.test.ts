import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type AttributeValue, QueryCommand } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { localVerificationKeys } from "#local/cloud/local-cloud.js";
import { parseTaskId } from "#shared/domain/keys.js";
import {
  SWEEP_INDEX_NAME,
  SWEEP_SHARD_ATTRIBUTE,
  SWEEP_SORT_ATTRIBUTE,
  sweepShardOf,
} from "#shared/domain/sweep.js";
import { subscriberSigningKey, topicSigningKey } from "#shared/security/signing.js";
import { type MeteringReceiver, startMeteringReceiver } from "../support/metering-receiver.js";
import { type ReceivedCallback, startCallbackReceiver } from "./support/callback-receiver.js";
import { e2eTarget, type Harness, startHarness } from "./support/harness.js";
import { runPunctual } from "./support/punctual-cli.js";

/**
 * Fan-out (issue 14, point 3) through the local cloud: the real add, relay and deliver functions, dynalite,
 * fauxqs, and a real HTTP receiver on 127.0.0.1 standing in for every subscriber (one path each).
 *
 * - `fanout`: three healthy subscribers.
 * - `fanout-failing`: two healthy subscribers and `broken`, which answers 500 until the test repairs it; 3
 *   attempts, 1 s apart.
 * - `fanout-hostile`: `fast` answers at once; `hanging` holds every request past the 1 s callback timeout;
 *   `throttling` answers each task's first request 429 with `Retry-After: 3`. Each on a receiver (host:port) of its
 *   own: limits and the circuit breaker are per destination host, which subscribers on one host share.
 * - `fanout-live` (subscribers `alpha`, `beta`) and the plain `live-plain`: their subscribers are changed through
 *   the runtime settings document (the local AppConfig) while tasks are pending.
 *
 * Local cloud only: subscribers are config, added through the local config overrides.
 */
const local = e2eTarget() === "local";
let h: Harness;
let subscribers: Awaited<ReturnType<typeof startCallbackReceiver>>;
let hostile: Record<"fast" | "hanging" | "throttling", MeteringReceiver>;
let settingsDir: string;
let settingsFile: string;
/** How long the functions cache the runtime settings here (the harness's default, stated for the waits). */
const SETTINGS_MAX_AGE_SECONDS = 1;
const MAX_ATTEMPTS = 3;
const HOSTILE_ATTEMPTS = 2;
const RETRY_AFTER_SECONDS = 3;

beforeAll(async () => {
  if (!local) return;
  subscribers = await startCallbackReceiver({ defaultTimeoutMs: 60_000 });
  const url = (path: string) => `${subscribers.url}${path}`;
  const [fast, hanging, throttling] = await Promise.all([
    startMeteringReceiver(),
    startMeteringReceiver(),
    startMeteringReceiver(),
  ]);
  hostile = { fast, hanging, throttling };
  settingsDir = mkdtempSync(path.join(tmpdir(), "punctual-fan-out-e2e-"));
  settingsFile = path.join(settingsDir, "settings.json");
  h = await startHarness({
    settingsFile,
    settingsMaxAgeSeconds: SETTINGS_MAX_AGE_SECONDS,
    configOverrides: {
      topics: {
        fanout: {
          deliverBy: "order_id",
          subscribers: [
            { id: "billing", url: url("/ok/fanout/billing") },
            { id: "audit", url: url("/ok/fanout/audit") },
            { id: "search", url: url("/ok/fanout/search") },
          ],
        },
        "fanout-failing": {
          deliverBy: "order_id",
          maxAttempts: MAX_ATTEMPTS,
          backoff: { initialSeconds: 1, maxSeconds: 1, multiplier: 1, jitter: "none" },
          subscribers: [
            { id: "billing", url: url("/ok/failing/billing") },
            { id: "audit", url: url("/ok/failing/audit") },
            { id: "broken", url: url("/until-fixed/broken/failing") },
          ],
        },
        "fanout-live": {
          deliverBy: "order_id",
          subscribers: [
            { id: "alpha", url: url("/ok/live/alpha") },
            { id: "beta", url: url("/ok/live/beta") },
          ],
        },
        "live-plain": { deliverBy: "order_id" },
        "fanout-hostile": {
          deliverBy: "order_id",
          maxAttempts: HOSTILE_ATTEMPTS,
          callbackTimeoutSeconds: 1,
          backoff: { initialSeconds: 1, maxSeconds: 1, multiplier: 1, jitter: "none" },
          subscribers: [
            { id: "fast", url: `${fast.url}/ok/fast` },
            { id: "hanging", url: `${hanging.url}/hold/5000/hanging` },
            { id: "throttling", url: `${throttling.url}/retry-after/${RETRY_AFTER_SECONDS}/throttling` },
          ],
        },
      },
    },
  });
});

afterAll(async () => {
  await subscribers?.stop();
  await Promise.all(Object.values(hostile ?? {}).map((receiver) => receiver.stop()));
  await h?.stop();
  if (settingsDir) rmSync(settingsDir, { recursive: true, force: true });
});

interface SubscriberRow {
  id: string;
  task_id: string;
  status: string;
  attempts: number;
  last_error?: string;
}

interface FanOutView {
  task_id: string;
  status: string;
  attempts: number;
  subscribers: SubscriberRow[];
}

const cliApi = () => ["--api", h.cloud.apiUrl];

async function view(taskId: string): Promise<FanOutView> {
  const { status, json } = await h.api("GET", `/v1/tasks/${encodeURIComponent(taskId)}`);
  expect(status).toBe(200);
  return json as unknown as FanOutView;
}

/** The callbacks one task's copy for one subscriber received (the body names parent and subscriber). */
function callbacksOf(parentId: string, subscriber: string): ReceivedCallback[] {
  return subscribers.received.filter(
    (r) => r.json.parent_task_id === parentId && r.json.subscriber === subscriber,
  );
}

async function add(body: string | Record<string, unknown>) {
  const response = await h.api("POST", "/v1/tasks", body);
  expect(response.status, response.text).toBe(201);
  return String(response.json.task_id);
}

/** Polls the fan-out view until every subscriber's row is in one of the given statuses. */
async function waitForRows(taskId: string, want: Record<string, string>): Promise<FanOutView> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const current = await view(taskId);
    if (current.subscribers.every((row) => want[row.id] === row.status)) return current;
    if (Date.now() > deadline)
      throw new Error(`rows never ${JSON.stringify(want)}: ${JSON.stringify(current)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.runIf(local)("fan-out: every subscriber gets its own copy", () => {
  it("one task reaches each of three subscribers once, content exactly as sent, each signed with its own key", async () => {
    // Prepare: content whose text a re-serialisation would change (1.0, a 20-digit integer, key order).
    const group = `o-${randomUUID()}`;
    const contentText = `{"order_id":"${group}","z":1.0,"big":12345678901234567890,"a":[0.10,"é"]}`;
    const body = `{"topic":"fanout","delay_seconds":0,"content":${contentText}}`;

    // Act
    const parentId = await add(body);
    const final = await waitForRows(parentId, {
      billing: "delivered",
      audit: "delivered",
      search: "delivered",
    });

    // Assess: one callback per subscriber, content as sent, distinct ids and signatures
    const ids = ["billing", "audit", "search"];
    const calls = ids.map((id) => callbacksOf(parentId, id));
    expect(calls.map((c) => c.length)).toEqual([1, 1, 1]);
    const received = calls.map((c) => c[0] as ReceivedCallback);
    for (const callback of received) expect(callback.body).toContain(`"content":${contentText}}`);
    expect(new Set(received.map((c) => c.headers["webhook-id"])).size).toBe(3);
    expect(received.map((c) => c.headers["webhook-id"])).toEqual(final.subscribers.map((s) => s.task_id));
    expect(final).toMatchObject({ task_id: parentId, status: "delivered", attempts: 3 });

    const topicKey = topicSigningKey(h.cloud.signingSecret, "fanout");
    const keys = ids.map((id) => new Webhook(subscriberSigningKey(topicKey, id)));
    received.forEach((callback, i) => {
      keys.forEach((key, j) => {
        const verify = () => key.verify(callback.body, callback.headers);
        if (i === j) expect(verify).not.toThrow();
        else expect(verify).toThrow(WebhookVerificationError);
      });
      expect(() => new Webhook(topicKey).verify(callback.body, callback.headers)).toThrow(
        WebhookVerificationError,
      );
    });
    // What an operator hands the billing receiver: `punctual key --subscriber`
    const printed = await runPunctual(["key", "--topic", "fanout", "--subscriber", "billing"], {
      PUNCTUAL_SIGNING_SECRET: h.cloud.signingSecret,
    });
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout.trim()).toBe(subscriberSigningKey(topicKey, "billing"));
    // …and what `npm start` prints for each subscriber (the local cloud's keys): the one its receiver verifies with
    if (local) {
      const shown = localVerificationKeys(h.cloud.signingSecret).subscriberVerificationKeys.fanout;
      expect(shown).toEqual(Object.fromEntries(ids.map((id) => [id, subscriberSigningKey(topicKey, id)])));
    }
  });
});

describe.runIf(local)("fan-out: copies and the sweep index (issue 13.2)", () => {
  /** Whether a copy is in the sweep index, asked of the GSI itself (its shard and due time) with a real client. */
  async function inSweepIndex(copyId: string): Promise<boolean> {
    const page = await h.dynamodb.send(
      new QueryCommand({
        TableName: h.cloud.tableName,
        IndexName: SWEEP_INDEX_NAME,
        KeyConditionExpression: "#shard = :shard AND #due = :due",
        ExpressionAttributeNames: { "#shard": SWEEP_SHARD_ATTRIBUTE, "#due": SWEEP_SORT_ATTRIBUTE },
        ExpressionAttributeValues: {
          ":shard": { N: String(sweepShardOf(copyId)) },
          ":due": { N: String(parseTaskId(copyId)?.dueAtMs) },
        },
      }),
    );
    return (page.Items ?? []).some((item) => item.taskId?.S === copyId);
  }

  it("a near-term copy is written outside the sweep index (its timer message carries it), a schedule-timer copy inside", async () => {
    // Prepare / Act: one task due within the timer horizon (300 s), one beyond it; both cancelled afterwards, so
    // nothing reaches the shared receivers later.
    const near = await add({ topic: "fanout", delay_seconds: 60, content: { order_id: randomUUID() } });
    const far = await add({ topic: "fanout", delay_seconds: 3_600, content: { order_id: randomUUID() } });
    onTestFinished(async () => {
      for (const parent of [near, far]) {
        const { status } = await h.api("DELETE", `/v1/tasks/${encodeURIComponent(parent)}`);
        expect(status).toBe(200);
      }
    });
    const [nearView, farView] = [await view(near), await view(far)];

    // Assess: every copy exists and is pending; only the far ones are in the index.
    for (const v of [nearView, farView])
      expect(v.subscribers.map((s) => s.status)).toEqual(Array(3).fill("scheduled"));
    const indexed = (v: FanOutView) => Promise.all(v.subscribers.map((s) => inSweepIndex(s.task_id)));
    expect(await indexed(nearView)).toEqual([false, false, false]);
    expect(await indexed(farView)).toEqual([true, true, true]);
  });
});

describe.runIf(local)("fan-out: a failing subscriber holds back only itself", () => {
  const group = `o-${randomUUID()}`;
  const parents: string[] = [];

  it("the healthy subscribers get every task of the group in order while the broken one retries and dead-letters on its own", async () => {
    // Prepare / Act: three tasks of one group, all due at the same instant (so how fast they are added matters not)
    const dueAt = new Date(Date.now() + 3_000).toISOString();
    for (const seq of [1, 2, 3]) {
      parents.push(await add({ topic: "fanout-failing", due_at: dueAt, content: { order_id: group, seq } }));
    }
    const finals = await Promise.all(
      parents.map((id) => waitForRows(id, { billing: "delivered", audit: "delivered", broken: "failed" })),
    );

    // Assess: each healthy subscriber saw seq 1, 2, 3 in order, once each, on its first attempt
    for (const subscriber of ["billing", "audit"]) {
      const seen = parents.flatMap((id) => callbacksOf(id, subscriber));
      const bySeq = [...seen].sort((a, b) => a.receivedAtMs - b.receivedAtMs).map((c) => c.json.content.seq);
      expect(bySeq).toEqual([1, 2, 3]);
      expect(seen.map((c) => c.json.attempt)).toEqual([1, 1, 1]);
    }
    // Never delayed by the broken lane: every healthy delivery came before the broken copy of seq 1 gave up
    // (its last attempt), and the broken lane kept its own order: seq 2 only after seq 1 was dead-lettered.
    const broken = parents.map((id) => callbacksOf(id, "broken"));
    expect(broken.map((calls) => calls.length)).toEqual([MAX_ATTEMPTS, MAX_ATTEMPTS, MAX_ATTEMPTS]);
    const brokenFirstGaveUpAt = Math.max(...(broken[0] ?? []).map((c) => c.receivedAtMs));
    const healthy = parents.flatMap((id) => [...callbacksOf(id, "billing"), ...callbacksOf(id, "audit")]);
    for (const call of healthy) expect(call.receivedAtMs).toBeLessThan(brokenFirstGaveUpAt);
    expect(Math.min(...(broken[1] ?? []).map((c) => c.receivedAtMs))).toBeGreaterThanOrEqual(
      brokenFirstGaveUpAt,
    );
    // The parent's view: per-subscriber status, the parent failed (someone must look)
    for (const final of finals) {
      expect(final.status).toBe("failed");
      const rows = Object.fromEntries(final.subscribers.map((s) => [s.id, s]));
      expect(rows.billing).toMatchObject({ status: "delivered", attempts: 1 });
      expect(rows.audit).toMatchObject({ status: "delivered", attempts: 1 });
      expect(rows.broken).toMatchObject({ status: "failed", attempts: MAX_ATTEMPTS, last_error: "HTTP 500" });
    }
  });

  it("a DELETE of a task whose broken copy was dead-lettered discards that copy: a bulk replay then finds nothing of it to replay", async () => {
    // Prepare: a task of its own group; the broken subscriber dead-letters its copy (the earlier tasks' broken
    // copies are dead-lettered too, and stay so for the tests below)
    const mine = await add({
      topic: "fanout-failing",
      delay_seconds: 0,
      content: { order_id: `d-${randomUUID()}` },
    });
    await waitForRows(mine, { billing: "delivered", audit: "delivered", broken: "failed" });

    // Act
    const deleted = await h.api("DELETE", `/v1/tasks/${encodeURIComponent(mine)}`);
    const byId = await h.api("POST", "/v1/topics/fanout-failing/replay", { task_ids: [mine] });
    const everything = await h.api("POST", "/v1/topics/fanout-failing/replay", { dry_run: true });

    // Assess: 200, as a dead-lettered task's DELETE; its copy out of the dead-letter list, so neither a replay by its
    // id nor one of every dead letter (`{}`, counted here) would deliver it; the other tasks' dead letters are left
    expect(deleted.status, deleted.text).toBe(200);
    const rows = Object.fromEntries(
      (deleted.json as unknown as FanOutView).subscribers.map((r) => [r.id, r.status]),
    );
    expect(rows).toEqual({ billing: "delivered", audit: "delivered", broken: "cancelled" });
    expect(byId.json).toEqual({
      matched: 0,
      replayed: 0,
      failed: [{ task_id: mine, reason: "fan-out task: no subscriber's copy is failed" }],
      next_cursor: null,
    });
    expect(everything.json).toMatchObject({ matched: parents.length, replayed: 0 });
    expect(callbacksOf(mine, "broken")).toHaveLength(MAX_ATTEMPTS);
  });

  it("replay targeting the broken subscriber re-delivers only to it", async () => {
    // Prepare: the receiver is repaired; what each subscriber received so far
    subscribers.fix("broken");
    const [first] = parents;
    if (!first) throw new Error("the previous test added no tasks");
    const before = {
      billing: callbacksOf(first, "billing").length,
      audit: callbacksOf(first, "audit").length,
      broken: callbacksOf(first, "broken").length,
    };

    // Act: through the CLI (typed client → POST /v1/tasks/{id}/replay?subscriber=broken), then `tasks show`
    const replay = await runPunctual([
      ...cliApi(),
      "--json",
      "tasks",
      "replay",
      first,
      "--subscriber",
      "broken",
    ]);
    const final = await waitForRows(first, { billing: "delivered", audit: "delivered", broken: "delivered" });
    const shown = await runPunctual([...cliApi(), "tasks", "show", first]);

    // Assess
    expect(replay.code, replay.stderr).toBe(0);
    expect(
      JSON.parse(replay.stdout).subscribers.find((s: SubscriberRow) => s.id === "broken").status,
    ).toMatch(/^(queued|delivering|delivered)$/);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/subscriber\s*│\s*status\s*│\s*attempts/);
    for (const row of final.subscribers) {
      expect(shown.stdout).toMatch(new RegExp(`${row.id}\\s*│\\s*delivered\\s*│\\s*${row.attempts}\\s*│`));
    }
    expect(final.status).toBe("delivered");
    expect(callbacksOf(first, "broken").length).toBe(before.broken + 1);
    expect(callbacksOf(first, "billing").length).toBe(before.billing);
    expect(callbacksOf(first, "audit").length).toBe(before.audit);
    expect(final.subscribers.find((s) => s.id === "broken")).toMatchObject({
      status: "delivered",
      attempts: 1,
    });
  });

  it("a bulk replay naming the other parents replays their dead-lettered copies, and only those", async () => {
    // Prepare: seq 2 and 3's broken copies are still dead-lettered; the receiver is repaired
    const rest = parents.slice(1);
    const before = rest.map((id) => callbacksOf(id, "billing").length + callbacksOf(id, "audit").length);

    // Act
    const bulk = await h.api("POST", "/v1/topics/fanout-failing/replay", { task_ids: rest });
    const finals = await Promise.all(
      rest.map((id) => waitForRows(id, { billing: "delivered", audit: "delivered", broken: "delivered" })),
    );

    // Assess
    expect(bulk.status).toBe(200);
    expect(bulk.json).toEqual({ matched: 2, replayed: 2, failed: [], next_cursor: null });
    expect(finals.map((final) => final.status)).toEqual(["delivered", "delivered"]);
    expect(rest.map((id) => callbacksOf(id, "broken").length)).toEqual([MAX_ATTEMPTS + 1, MAX_ATTEMPTS + 1]);
    expect(rest.map((id) => callbacksOf(id, "billing").length + callbacksOf(id, "audit").length)).toEqual(
      before,
    );
  });
});

describe.runIf(local)("fan-out: a hanging or throttling subscriber delays nobody else", () => {
  it("the fast subscriber gets the group in order before the others' lanes move on; each lane keeps its order", async () => {
    // Prepare / Act: three tasks of one group, due at one instant
    const group = `o-${randomUUID()}`;
    const dueAt = new Date(Date.now() + 2_000).toISOString();
    const parents: string[] = [];
    for (const seq of [1, 2, 3]) {
      parents.push(await add({ topic: "fanout-hostile", due_at: dueAt, content: { order_id: group, seq } }));
    }
    const finals = await Promise.all(
      parents.map((id) => waitForRows(id, { fast: "delivered", hanging: "failed", throttling: "delivered" })),
    );

    // Assess: each receiver's requests per copy, in the order they arrived
    const copyOf = (subscriber: string) =>
      finals.map((f) => f.subscribers.find((s) => s.id === subscriber)?.task_id);
    const seqOf = (subscriber: keyof typeof hostile) =>
      hostile[subscriber].requests.map((r) => copyOf(subscriber).indexOf(r.taskId) + 1);
    expect(seqOf("fast")).toEqual([1, 2, 3]);
    expect(seqOf("hanging")).toEqual([1, 1, 2, 2, 3, 3]);
    expect(seqOf("throttling")).toEqual([1, 1, 2, 2, 3, 3]);
    expect(hostile.throttling.requests.map((r) => r.status)).toEqual([429, 200, 429, 200, 429, 200]);
    // Never delayed: every fast delivery arrived before either slow lane got past its first task's first answer.
    const lastFast = Math.max(...hostile.fast.requests.map((r) => r.arrivedAtMs));
    expect(lastFast).toBeLessThan(hostile.hanging.requests[1]?.arrivedAtMs ?? 0);
    expect(lastFast).toBeLessThan(hostile.throttling.requests[1]?.arrivedAtMs ?? 0);
    for (const final of finals) {
      const rows = Object.fromEntries(final.subscribers.map((s) => [s.id, s]));
      expect(rows.fast).toMatchObject({ status: "delivered", attempts: 1 });
      expect(rows.hanging).toMatchObject({ status: "failed", attempts: HOSTILE_ATTEMPTS });
      expect(rows.hanging?.last_error).toMatch(/^timeout after 1000 ms/);
      expect(rows.throttling).toMatchObject({ status: "delivered" });
    }
  });
});

describe.runIf(local)("fan-out: subscribers changed at runtime", () => {
  /** Until every function reads the topic's new subscribers (the topic routes first, then one cache age). */
  async function untilSubscribersAre(topic: string, ids: string[]): Promise<void> {
    for (;;) {
      const { json } = await h.api("GET", `/v1/topics/${topic}`);
      const now = (json.settings as { subscribers?: { id: string }[] } | undefined)?.subscribers;
      if (JSON.stringify(now?.map((s) => s.id)) === JSON.stringify(ids)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, SETTINGS_MAX_AGE_SECONDS * 1000));
  }

  it("pending copies keep the subscribers and URLs they were made with; a plain topic turned fan-out delivers its plain tasks without their group's parents", async () => {
    // Prepare: tasks pending on both topics, then the change: alpha moves, beta leaves, gamma joins; live-plain
    // gains a subscriber. Q (a parent) is due before P (a plain task of the same group): P's relay sweeps Q's span.
    const defaults = readFileSync(settingsFile, "utf8");
    const group = `o-${randomUUID()}`;
    const start = Date.now();
    const at = (ms: number) => new Date(start + ms).toISOString();
    const before = await add({
      topic: "fanout-live",
      due_at: at(10_000),
      content: { order_id: group, n: 1 },
    });
    const plain = await add({
      topic: "live-plain",
      due_at: at(10_000),
      content: { order_id: group },
      callback: { url: `${subscribers.url}/ok/live/plain` },
    });
    writeFileSync(
      settingsFile,
      JSON.stringify({
        topics: {
          "fanout-live": {
            subscribers: [
              { id: "alpha", url: `${subscribers.url}/ok/live/alpha-moved` },
              { id: "gamma", url: `${subscribers.url}/ok/live/gamma` },
            ],
          },
          "live-plain": { subscribers: [{ id: "delta", url: `${subscribers.url}/ok/live/delta` }] },
        },
      }),
    );
    await untilSubscribersAre("fanout-live", ["alpha", "gamma"]);
    await untilSubscribersAre("live-plain", ["delta"]);

    // Act
    const after = await add({ topic: "fanout-live", delay_seconds: 0, content: { order_id: group, n: 2 } });
    const parent = await add({ topic: "live-plain", due_at: at(9_000), content: { order_id: group } });
    await waitForRows(before, { alpha: "delivered", beta: "delivered" });
    await waitForRows(after, { alpha: "delivered", gamma: "delivered" });
    await waitForRows(parent, { delta: "delivered" });
    await h.waitForStatus(plain, ["delivered"], 30_000);
    writeFileSync(settingsFile, defaults);

    // Assess: each copy went where its subscriber pointed when the task was added, once
    const paths = (parentId: string) =>
      subscribers.received
        .filter((r) => r.json.parent_task_id === parentId)
        .map((r) => r.path)
        .sort();
    expect(paths(before)).toEqual(["/ok/live/alpha", "/ok/live/beta"]);
    expect(paths(after)).toEqual(["/ok/live/alpha-moved", "/ok/live/gamma"]);
    expect(paths(parent)).toEqual(["/ok/live/delta"]);
    expect(subscribers.forTask(plain).map((r) => r.path)).toEqual(["/ok/live/plain"]);
    // The parent was never handed to delivery itself (it would have been tried at callback "" and failed)
    const items = (await h.tableItems()).map((i) => unmarshall(i as Record<string, AttributeValue>));
    const item = items.find((i) => i.taskId === parent);
    expect(item).toMatchObject({ status: "scheduled", attempts: 0 });
  });
});

describe.runIf(local)("fan-out: one subscriber's lane cancelled in bulk", () => {
  it("groups cancel --subscriber cancels only that subscriber's pending copies of the group; a bad subscriber, a plain topic or a bad cursor is a 400 that changes nothing", async () => {
    // Prepare: two tasks of one group and one of another, due in an hour (none is delivered during the test)
    const group = `lane-${randomUUID()}`;
    const later = { topic: "fanout", delay_seconds: 3600 };
    const mine = [
      await add({ ...later, content: { order_id: group, seq: 1 } }),
      await add({ ...later, content: { order_id: group, seq: 2 } }),
    ];
    const other = await add({ ...later, content: { order_id: `other-${randomUUID()}` } });
    const rows = async (id: string) =>
      Object.fromEntries((await view(id)).subscribers.map((r) => [r.id, r.status]));

    // Act: the CLI follows the cursor (one task per call) through the local cloud
    const run = await runPunctual([
      ...cliApi(),
      "--json",
      ...["groups", "cancel", "--topic", "fanout", "--group", group, "--subscriber", "audit", "--limit", "1"],
    ]);

    // Assess: audit's copies of the group cancelled; billing's, search's, the other group's and the parents' not
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ cancelled: 2, not_cancelled: [], cancel_requested: [] });
    for (const id of mine) {
      expect(await rows(id)).toEqual({ billing: "scheduled", audit: "cancelled", search: "scheduled" });
      // The rolled-up status: the task still goes to its other subscribers
      expect((await view(id)).status).toBe("scheduled");
    }
    expect(await rows(other)).toEqual({ billing: "scheduled", audit: "scheduled", search: "scheduled" });

    // Act: hostile calls on the other group's lane
    const before = await Promise.all([...mine, other].map(view));
    const lane = (query: string, topic = "fanout") =>
      h.api("POST", `/v1/topics/${topic}/groups/-/cancel?group=${encodeURIComponent(group)}&${query}`);
    const refused = await Promise.all([
      lane("subscriber=nobody"),
      lane("subscriber=audit", "demo"),
      lane("subscriber=billing&cursor=bm90LWEtY3Vyc29y"),
      lane(`subscriber=${"a".repeat(65)}`),
    ]);

    // Assess
    expect(refused.map((r) => [r.status, r.json.error?.code])).toEqual([
      [400, "unknown_subscriber"],
      [400, "not_fan_out"],
      [400, "validation_failed"],
      [400, "validation_failed"],
    ]);
    expect(await Promise.all([...mine, other].map(view))).toEqual(before);
  });
});

describe.runIf(local)("fan-out: hostile input changes nothing", () => {
  it("a callback on a fan-out topic, a subscriber for a plain task, an unknown subscriber: structured 4xx", async () => {
    // Prepare: one delivered fan-out task, one plain task
    const parentId = await add({ topic: "fanout", delay_seconds: 0, content: { order_id: randomUUID() } });
    await waitForRows(parentId, { billing: "delivered", audit: "delivered", search: "delivered" });
    const plainId = await add({
      topic: "demo",
      delay_seconds: 0,
      content: { order_id: randomUUID() },
      callback: { url: `${h.receiver.url}/ok/fan-out-plain` },
    });
    const plainBefore = await h.waitForStatus(plainId, ["delivered"]);
    const parentBefore = await view(parentId);
    const itemsBefore = (await h.tableItems()).length;
    const callsBefore = subscribers.received.length;

    // Act
    const withCallback = await h.api("POST", "/v1/tasks", {
      topic: "fanout",
      delay_seconds: 0,
      content: { order_id: randomUUID() },
      callback: { url: `${h.receiver.url}/ok/elsewhere` },
    });
    const notFanOut = await h.api(
      "POST",
      `/v1/tasks/${encodeURIComponent(plainId)}/replay?subscriber=billing`,
    );
    const unknown = await h.api("POST", `/v1/tasks/${encodeURIComponent(parentId)}/replay?subscriber=nobody`);

    // Assess
    expect(withCallback.status).toBe(400);
    expect(withCallback.json.error?.code).toBe("fan_out_callback");
    expect(notFanOut.status).toBe(400);
    expect(notFanOut.json.error?.code).toBe("not_fan_out");
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatchObject({
      code: "unknown_subscriber",
      issues: [{ path: "subscriber", message: "must be one of: billing, audit, search" }],
    });
    expect((await h.tableItems()).length).toBe(itemsBefore);
    expect(await view(parentId)).toEqual(parentBefore);
    expect((await h.api("GET", `/v1/tasks/${encodeURIComponent(plainId)}`)).json).toEqual(plainBefore);
    expect(subscribers.received.length).toBe(callsBefore);
  });
});
