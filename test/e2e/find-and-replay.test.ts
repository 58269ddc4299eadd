import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { PunctualClient, type TaskView } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTopology } from "#shared/contract/topology.js";
import { groupPartitionKey } from "#shared/domain/keys.js";
import { type Harness, localSqsClient, startHarness } from "./support/harness.js";

/**
 * Issue 11 scope H, one story through the local cloud: a receiver that fails, its tasks dead-lettered, found by
 * `status=failed` and by their group (raw API, client and CLI), the receiver fixed, the tasks replayed (client
 * and CLI) and delivered, with `replays` and the attempt log showing every attempt. Issue 12: a dead-lettered
 * task discarded with DELETE leaves the failed list, and the sweeper removes its DLQ message.
 */
const BIN = fileURLToPath(new URL("../../cli/bin/punctual.mjs", import.meta.url));

let h: Harness;
let client: PunctualClient;
let sqs: SQSClient;

beforeAll(async () => {
  // The sweeper runs often so the topic DLQ is reconciled with the table within the test.
  h = await startHarness({ sweeperIntervalMs: 500 });
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl });
  sqs = localSqsClient(h.cloud);
});

afterAll(async () => {
  sqs?.destroy();
  await h?.stop();
});

/** Messages in the demo topic's DLQ, visible or in flight. */
async function demoDlqDepth(): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: readTopology("sweep").demo?.dlqUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

/** Polls until `read` gives `expected` (a correctness bound of 20 s, not a speed target). */
async function eventually<T>(read: () => Promise<T>, expected: T): Promise<T> {
  let last = await read();
  for (let i = 0; i < 100 && last !== expected; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    last = await read();
  }
  return last;
}

function punctual(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, PUNCTUAL_API_URL: "", PUNCTUAL_SIGNING_SECRET: "" };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, "--api", h.cloud.apiUrl, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

async function addFailing(group: string, receiverName: string, n: number): Promise<string> {
  const added = await client.addTask({
    topic: "demo",
    delay_seconds: 0,
    content: { order_id: group, n },
    callback: { url: `${h.receiver.url}/until-fixed/${receiverName}/hook` },
  });
  return added.task_id;
}

/** Every page of the topic's failed list, through the client. */
async function allFailed(): Promise<TaskView[]> {
  const tasks: TaskView[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listFailedTasks({ topic: "demo", limit: 1, ...(cursor ? { cursor } : {}) });
    tasks.push(...page.tasks);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return tasks;
}

describe("find and replay dead-lettered tasks", () => {
  it("dead-letters, lists, replays (client and CLI) after the receiver is fixed, and delivers", async () => {
    // Prepare: two tasks of one group whose receiver fails until fixed, both dead-lettered after 3 attempts.
    const group = `order-${randomUUID()}`;
    const receiverName = `r-${randomUUID()}`;
    const first = await addFailing(group, receiverName, 1);
    const second = await addFailing(group, receiverName, 2);
    await h.waitForStatus(first, ["failed"]);
    await h.waitForStatus(second, ["failed"]);
    // Still failed: the sweeper keeps both DLQ messages.
    expect(await eventually(demoDlqDepth, 2)).toBe(2);

    // Act + Assess: found by status=failed (newest first, page by page) and by group (delivery order).
    const failed = (await allFailed()).filter((t) => t.group === group);
    expect(failed.map((t) => t.task_id)).toEqual([second, first]);
    expect(failed[0]).toMatchObject({ status: "failed", attempts: 3, last_error: "HTTP 500" });
    const byGroup = await client.listGroupTasks({ topic: "demo", group });
    expect(byGroup).toMatchObject({ next_cursor: null });
    expect(byGroup.tasks.map((t) => t.task_id)).toEqual([first, second]);
    const cliList = await punctual(["--json", "tasks", "list", "--topic", "demo", "--group", group]);
    expect(cliList.code).toBe(0);
    expect(JSON.parse(cliList.stdout).tasks.map((t: TaskView) => t.task_id)).toEqual([first, second]);

    // Act: the receiver is fixed; one task replayed through the client, the other through the CLI.
    h.receiver.fix(receiverName);
    const replayed = await client.replayTask(first);
    await h.waitForStatus(first, ["delivered"]);
    const cliReplay = await punctual(["--json", "tasks", "replay", second]);
    await h.waitForStatus(second, ["delivered"]);

    // Assess: delivered once more each, same id, replays = 1, the attempt log shows 3 failures then the success.
    expect(replayed).toMatchObject({ task_id: first, status: "queued", replays: 1, attempts: 0 });
    expect(cliReplay.code).toBe(0);
    expect(JSON.parse(cliReplay.stdout)).toMatchObject({ task_id: second, replays: 1 });
    for (const id of [first, second]) {
      const task = await client.getTask(id);
      expect(task).toMatchObject({ status: "delivered", replays: 1, attempts: 1 });
      expect(task.attempt_log.map((a) => a.status)).toEqual([500, 500, 500, 200]);
      expect(task.attempt_log.slice(0, 3).every((a) => a.error === "HTTP 500")).toBe(true);
      expect(h.receiver.forTask(id).map((r) => r.status)).toEqual([500, 500, 500, 200]);
    }
    expect((await allFailed()).filter((t) => t.group === group)).toEqual([]);
    // The DLQ agrees with the table: the replayed tasks' messages are gone after the sweeper's next runs.
    expect(await eventually(demoDlqDepth, 0)).toBe(0);
  });

  it("bulk-replays dead-lettered tasks in group order: a dry run, by ids through the CLI, by filter through the client", async () => {
    // Prepare: group x (two tasks) and group y (one) dead-lettered by a receiver that fails until fixed.
    const since = new Date().toISOString();
    const receiverName = `r-${randomUUID()}`;
    const [gx, gy] = [`order-${randomUUID()}`, `order-${randomUUID()}`];
    const x1 = await addFailing(gx, receiverName, 1);
    const x2 = await addFailing(gx, receiverName, 2);
    const y1 = await addFailing(gy, receiverName, 1);
    for (const id of [x1, x2, y1]) await h.waitForStatus(id, ["failed"]);

    // Act
    const dry = await client.replayTopic("demo", { task_ids: [x1, x2, y1], dry_run: true });
    h.receiver.fix(receiverName);
    const byCli = await punctual(["--json", "topics", "replay", "demo", "--task-id", x1, "--task-id", x2]);
    const byFilter = await client.replayTopic("demo", { failed_after: since, error_contains: "HTTP 500" });
    for (const id of [x1, x2, y1]) await h.waitForStatus(id, ["delivered"]);

    // Assess: the dry run changed nothing; each call replayed what it named; group x delivered in its order.
    expect(dry).toEqual({ matched: 3, replayed: 0, failed: [], next_cursor: null });
    expect(byCli.code).toBe(0);
    expect(JSON.parse(byCli.stdout)).toEqual({ matched: 2, replayed: 2, failed: [] });
    expect(byFilter).toEqual({ matched: 1, replayed: 1, failed: [], next_cursor: null });
    const delivered = (id: string) => h.receiver.forTask(id).find((r) => r.status === 200)?.receivedAtMs ?? 0;
    expect(delivered(x1)).toBeLessThanOrEqual(delivered(x2));
    for (const id of [x1, x2, y1])
      expect(await client.getTask(id)).toMatchObject({ status: "delivered", replays: 1 });
    expect(await eventually(demoDlqDepth, 0)).toBe(0);
  });

  it("discards a dead-lettered task with DELETE: cancelled, off the failed list, its DLQ message gone with the next sweeps", async () => {
    // Prepare: one task dead-lettered by a receiver that fails until fixed (never fixed here).
    const group = `order-${randomUUID()}`;
    const id = await addFailing(group, `r-${randomUUID()}`, 1);
    await h.waitForStatus(id, ["failed"]);
    expect(await eventually(demoDlqDepth, 1)).toBe(1);

    // Act
    const discarded = await h.api("DELETE", `/v1/tasks/${id}`);
    const again = await h.api("DELETE", `/v1/tasks/${id}`);
    const replay = await h.api("POST", `/v1/tasks/${id}/replay`);

    // Assess: cancelled with its history, idempotent, no longer replayable, off the failed list, DLQ emptied.
    expect(discarded.status, discarded.text).toBe(200);
    expect(discarded.json).toMatchObject({
      task_id: id,
      status: "cancelled",
      attempts: 3,
      last_error: "HTTP 500",
    });
    expect(again.status).toBe(200);
    expect(again.json).toEqual(discarded.json);
    expect(replay.status).toBe(409);
    expect(replay.json.error).toMatchObject({ code: "conflict", task_status: "cancelled" });
    expect((await allFailed()).map((t) => t.task_id)).not.toContain(id);
    expect(await eventually(demoDlqDepth, 0)).toBe(0);
    expect((await client.getTask(id)).status).toBe("cancelled");
  });

  it("replays a task delivered seconds after its first send: neither FIFO deduplication nor the relay's memory swallows it", async () => {
    // Prepare: delivered at once, so its relay send (dedup id = task id) is seconds old.
    const added = await client.addTask({
      topic: "demo",
      delay_seconds: 0,
      content: { order_id: `order-${randomUUID()}` },
      callback: { url: `${h.receiver.url}/ok/replay-soon` },
    });
    await h.waitForStatus(added.task_id, ["delivered"]);

    // Act
    const replayed = await client.replayTask(added.task_id);
    await h.receiver.waitFor(() => h.receiver.forTask(added.task_id).length >= 2);
    const after = await h.waitForStatus(added.task_id, ["delivered"]);

    // Assess
    expect(replayed).toMatchObject({ status: "queued", replays: 1 });
    expect(after).toMatchObject({ status: "delivered", replays: 1, attempts: 1 });
    expect(h.receiver.forTask(added.task_id)).toHaveLength(2);
  });

  it("still refuses to cancel a delivered task (409 with its status, nothing changed)", async () => {
    const added = await client.addTask({
      topic: "demo",
      delay_seconds: 0,
      content: { order_id: `order-${randomUUID()}` },
      callback: { url: `${h.receiver.url}/ok/cancel-409` },
    });
    await h.waitForStatus(added.task_id, ["delivered"]);

    const answer = await h.api("DELETE", `/v1/tasks/${added.task_id}`);

    expect(answer.status).toBe(409);
    expect(answer.json.error).toMatchObject({ code: "conflict", task_status: "delivered" });
    expect((await client.getTask(added.task_id)).status).toBe("delivered");
  });

  it("refuses to replay a task that is not finished (409, nothing changed) and an unknown one (404)", async () => {
    const added = await client.addTask({
      topic: "demo",
      delay_seconds: 600,
      content: { order_id: `order-${randomUUID()}` },
      callback: { url: `${h.receiver.url}/ok/replay-409` },
    });

    const early = await h.api("POST", `/v1/tasks/${added.task_id}/replay`);
    const unknown = await h.api(
      "POST",
      `/v1/tasks/demo._.${Date.now().toString(36)}.01JD3ZZZZZZZZZZZZZZZZZZZZZ/replay`,
    );

    expect(early.status).toBe(409);
    expect(early.json.error).toMatchObject({ code: "conflict", task_status: "scheduled" });
    expect(unknown.status).toBe(404);
    expect((await client.getTask(added.task_id)).status).toBe("scheduled");
    await client.cancelTask(added.task_id);
  });

  it("answers bad list requests with a structured 400", async () => {
    const forged = Buffer.from(JSON.stringify({ pk: "demo#x", sk: "y" })).toString("base64url");
    for (const query of [
      "topic=demo",
      "topic=demo&group=a&status=failed",
      "topic=demo&status=failed&limit=0",
      "topic=demo&status=failed&limit=101",
      "topic=nope&status=failed",
      `topic=demo&group=a&cursor=${forged}`,
      "topic=demo&status=failed&cursor=%25%25",
    ]) {
      const answer = await h.api("GET", `/v1/tasks?${query}`);
      expect(answer.status, query).toBe(400);
      expect(answer.json.error?.code, query).toMatch(/^(validation_failed|unknown_topic)$/);
    }
  });

  it("answers a bulk replay of an unknown topic 404 and one with an empty time range 400, replaying nothing; takes a lower-case t and z", async () => {
    const json = { "content-type": "application/json" };
    const unknown = await h.api("POST", "/v1/topics/nope/replay", {}, json);
    const empty = await h.api(
      "POST",
      "/v1/topics/demo/replay",
      { failed_after: "2026-11-23T12:00:00Z", failed_before: "2026-11-23T12:00:00Z" },
      json,
    );
    const lower = await h.api(
      "POST",
      "/v1/topics/demo/replay",
      { failed_after: "2026-11-23t12:00:00z", failed_before: "2026-11-23t12:00:01z", dry_run: true },
      json,
    );

    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: "not_found" });
    expect(empty.status).toBe(400);
    expect(empty.json.error).toMatchObject({
      code: "validation_failed",
      issues: [{ path: "failed_before" }],
    });
    expect(lower.status).toBe(200);
    expect(lower.json).toMatchObject({ replayed: 0 });
  });

  it("answers a forged cursor of the right shape but a key no task can have with a 400, never DynamoDB's 500", async () => {
    const group = `forged-${randomUUID()}`;
    const pk = groupPartitionKey("demo", group, "");
    const cursor = (key: object) => Buffer.from(JSON.stringify(key)).toString("base64url");
    // A sort key longer than DynamoDB's 1,024 bytes (the list's own partition, so only the key's size is wrong).
    const oversize = "9".repeat(1_050);
    const groupCursor = cursor({ pk, sk: oversize });
    const failedCursor = cursor({ pk, sk: oversize, failedTopic: "demo", failedAtMs: 1 });
    const requests: [string, string, unknown?][] = [
      ["GET", `/v1/tasks?topic=demo&group=${group}&cursor=${groupCursor}`],
      ["GET", `/v1/tasks?topic=demo&status=failed&cursor=${failedCursor}`],
      ["POST", "/v1/topics/demo/replay", { cursor: failedCursor, dry_run: true }],
    ];
    for (const [method, path, body] of requests) {
      const answer = await h.api(method, path, body);
      expect(answer.status, path).toBe(400);
      expect(answer.json.error?.issues, path).toEqual([
        { path: "cursor", message: "not a cursor this list gave out" },
      ]);
    }
  });
  it('lists and cancels the group of the deliverBy value "" (client and CLI): the tasks an add put there', async () => {
    // Prepare: two tasks whose order_id is the empty string (one ordering group, not tasks of their own), an hour out.
    const add = async (n: number) =>
      (
        await client.addTask({
          topic: "demo",
          delay_seconds: 3600 + n,
          content: { order_id: "", n },
          callback: { url: `${h.receiver.url}/hook` },
        })
      ).task_id;
    const ids = [await add(1), await add(2)];

    // Act
    const listed = await client.listGroupTasks({ topic: "demo", group: "" });
    const cliList = await punctual(["--json", "tasks", "list", "--topic", "demo", "--group", ""]);
    const cancelled = await client.cancelGroup("demo", "");

    // Assess
    expect(listed.tasks.map((t) => [t.task_id, t.group])).toEqual(ids.map((id) => [id, ""]));
    expect(cliList.code).toBe(0);
    expect(JSON.parse(cliList.stdout).tasks.map((t: TaskView) => t.task_id)).toEqual(ids);
    expect(cancelled).toMatchObject({ cancelled: 2, more: false });
    for (const id of ids) expect((await client.getTask(id)).status).toBe("cancelled");
  });
});
