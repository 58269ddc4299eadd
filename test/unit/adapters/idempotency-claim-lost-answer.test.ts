import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoAddStore } from "#shared/adapters/dynamo-task-store.js";
import { addTask } from "#shared/services/add-task.js";
import { createKeyedTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { fixture, NOW } from "../api/fakes.js";

/**
 * DynamoDB applied a claim's conditional PutItem, but its answer never reached us (the connection was reset after
 * the write): the SDK sends the Put again, and that retry fails its condition on the claim it made itself. The
 * claim is this request's (its task id holds a ULID minted for it alone), so the add is a new task: 201, not the
 * 200 of a repeat.
 */
let dynamo: LocalDynamo;
/** How many of the next PutItems dynalite executes but answers by dropping the connection. */
let dropPutAnswers = 0;
let tableCount = 0;

function dropAnswers(listener: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (String(req.headers["x-amz-target"]).endsWith(".PutItem") && dropPutAnswers > 0) {
      dropPutAnswers--;
      // The write happens; the answer is lost on the way back.
      res.end = (() => {
        req.socket.destroy();
        return res;
      }) as typeof res.end;
    }
    listener(req, res);
  };
}

beforeAll(async () => {
  dynamo = await startDynalite({ wrap: dropAnswers });
});

afterAll(async () => {
  await dynamo?.stop();
});

async function store(): Promise<DynamoAddStore> {
  const tableName = `claims-${++tableCount}`;
  await createKeyedTable(dynamo.client, tableName);
  return new DynamoAddStore({ client: dynamo.client, tableName, nowSeconds: () => NOW / 1000 });
}

const claim = {
  topic: "demo",
  key: "k-lost",
  taskId: "demo._.x.01JD3ZZZZZZZZZZZZZZZZZZZZZ",
  requestHash: "h1",
  expiresAt: NOW / 1000 + 3600,
};

describe("an idempotency claim whose PutItem was written but its answer lost", () => {
  it("is claimed: the SDK's retry meets the very claim it sent, not another request's", async () => {
    const s = await store();
    dropPutAnswers = 1;
    expect(await s.claimIdempotencyKey(claim)).toEqual({ status: "claimed" });
    expect(dropPutAnswers).toBe(0);
    // Another request with the key still finds it held.
    expect(await s.claimIdempotencyKey({ ...claim, taskId: "demo._.x.other", requestHash: "h2" })).toEqual({
      status: "existing",
      taskId: claim.taskId,
      requestHash: "h1",
    });
  });

  it("makes the add a new task (201, counted as accepted), and a repeat of it a 200 with that task", async () => {
    const f = fixture();
    const deps = { ...f.deps, store: await store() };
    const body = {
      topic: "demo",
      delay_seconds: 10,
      content: { order_id: "o-1" },
      callback: { url: "https://hooks.example.com/n" },
      idempotency_key: "k-add",
    };
    dropPutAnswers = 1;
    const added = await addTask(deps, { body });
    expect(dropPutAnswers).toBe(0);
    expect(added.statusCode).toBe(201);
    expect(await deps.store.get(added.body.task_id)).toMatchObject({ status: "scheduled" });
    const repeat = await addTask(deps, { body });
    expect(repeat).toMatchObject({ statusCode: 200, body: { task_id: added.body.task_id } });
  });
});
