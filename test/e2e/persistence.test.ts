import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCloud, startLocalCloud } from "#local/cloud/local-cloud.js";
import { startCallbackReceiver } from "./support/callback-receiver.js";
import { validatingFetch } from "./support/harness.js";

/**
 * `npm start -- --data <dir>`: tasks and schedules survive a restart, and what came due while the local cloud
 * was down is delivered when it comes back — late, but delivered, in order.
 */
let dataDir: string;
let receiver: Awaited<ReturnType<typeof startCallbackReceiver>>;
let cloud: LocalCloud | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "punctual-data-"));
  receiver = await startCallbackReceiver();
});

afterAll(async () => {
  await cloud?.stop();
  await receiver?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function post(apiUrl: string, body: unknown) {
  const response = await validatingFetch(`${apiUrl}/v1/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { task_id: string; due_at: string };
}

describe("persistence", () => {
  it("delivers tasks that came due while the local cloud was stopped, after it restarts", async () => {
    // Prepare: a near-term group and a Scheduler-path task (horizon shrunk to 2 s), then stop before either is due.
    // Due 2 s and 4 s out: adding four tasks and stopping took over a second at load ~7, and a task due in 1 s was
    // delivered before the stop.
    const options = {
      apiPort: 0,
      awsPort: 0,
      dataDir,
      configOverrides: { timer: { horizonSeconds: 2, leadSeconds: 1 } },
    };
    cloud = await startLocalCloud(options);
    const url = `${receiver.url}/ok/persist`;
    const ordered = [];
    for (let seq = 0; seq < 3; seq++) {
      ordered.push(
        await post(cloud.apiUrl, {
          topic: "demo",
          delay_seconds: 2,
          content: { order_id: "p-1", seq },
          callback: { url },
        }),
      );
    }
    const viaSchedule = await post(cloud.apiUrl, {
      topic: "demo",
      delay_seconds: 4,
      content: { n: 1 },
      callback: { url },
    });
    await cloud.stop();
    cloud = undefined;
    // Until every task has come due while stopped (the last one's due time, plus a little).
    const lastDueMs = Math.max(...[...ordered, viaSchedule].map((task) => Date.parse(task.due_at)));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastDueMs + 200 - Date.now())));
    expect(receiver.received).toEqual([]);

    // Act
    cloud = await startLocalCloud(options);
    const all = [...ordered, viaSchedule].map((t) => t.task_id);
    await receiver.waitFor(() => all.every((id) => receiver.forTask(id).length > 0));

    // Assess
    const seqs = receiver.received
      .filter((r) => r.json.content?.order_id === "p-1")
      .map((r) => r.json.content.seq);
    expect(seqs).toEqual([0, 1, 2]);
    for (const task of [...ordered, viaSchedule]) {
      expect(receiver.forTask(task.task_id)[0]?.receivedAtMs).toBeGreaterThanOrEqual(Date.parse(task.due_at));
      const status = (await (await validatingFetch(`${cloud.apiUrl}/v1/tasks/${task.task_id}`)).json()) as {
        status: string;
      };
      expect(["delivering", "delivered"]).toContain(status.status);
    }
  });

  it("recovers before any poller starts: each group's requeued head is delivered before its re-armed follower", async () => {
    // Prepare: in each of GROUPS groups a head whose first attempt fails (its retry 12 s away: still ahead when the
    // local cloud restarts) and a follower that comes due while the local cloud is stopped, behind it.
    await cloud?.stop();
    cloud = undefined;
    const GROUPS = 20;
    const RETRY_SECONDS = 12;
    const ownDir = mkdtempSync(path.join(tmpdir(), "punctual-data-"));
    const options = {
      apiPort: 0,
      awsPort: 0,
      dataDir: ownDir,
      configOverrides: {
        topics: {
          demo: {
            maxAttempts: 5,
            backoff: { initialSeconds: RETRY_SECONDS, maxSeconds: RETRY_SECONDS, jitter: "none" as const },
          },
        },
      },
    };
    try {
      cloud = await startLocalCloud(options);
      const heads: { task_id: string; due_at: string }[] = [];
      const followers: { task_id: string; due_at: string }[] = [];
      for (let g = 0; g < GROUPS; g++) {
        heads.push(
          await post(cloud.apiUrl, {
            topic: "demo",
            delay_seconds: 0,
            content: { order_id: `r-${g}`, n: "head" },
            callback: { url: `${receiver.url}/flaky/1/recover` },
          }),
        );
      }
      for (let g = 0; g < GROUPS; g++) {
        followers.push(
          await post(cloud.apiUrl, {
            topic: "demo",
            delay_seconds: 6,
            content: { order_id: `r-${g}`, n: "follower" },
            callback: { url: `${receiver.url}/ok/recover` },
          }),
        );
      }
      await receiver.waitFor(() => heads.every((t) => receiver.forTask(t.task_id).length > 0));
      await cloud.stop();
      cloud = undefined;
      const lastDue = Math.max(...followers.map((t) => Date.parse(t.due_at)));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastDue - Date.now()) + 200));

      // Act
      cloud = await startLocalCloud(options);
      await receiver.waitFor(() => followers.every((t) => receiver.forTask(t.task_id).length > 0));

      // Assess: no follower reached its receiver before its head's delivery.
      const outOfOrder = heads.flatMap((head, g) => {
        const delivered = receiver.forTask(head.task_id).find((r) => r.status === 200);
        const follower = receiver.forTask(followers[g]?.task_id ?? "")[0];
        const before =
          delivered && follower && receiver.received.indexOf(delivered) < receiver.received.indexOf(follower);
        return before ? [] : [`r-${g}`];
      });
      expect(outOfOrder).toEqual([]);
      // ...and the recovery's requeue did not cut a head's retry wait short: no second attempt before it ended
      // (a requeued head back early is hidden again for the rest, its follower behind it).
      const retriedEarly = heads.flatMap((head, g) => {
        const [first, second] = receiver.forTask(head.task_id);
        const early =
          !first || !second || second.receivedAtMs < first.receivedAtMs + RETRY_SECONDS * 1000 - 100;
        return early ? [`r-${g}`] : [];
      });
      expect(retriedEarly).toEqual([]);
    } finally {
      await cloud?.stop();
      cloud = undefined;
      rmSync(ownDir, { recursive: true, force: true });
    }
  });
});
