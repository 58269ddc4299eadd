import { afterAll, beforeAll } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "./dynalite-table.js";

/**
 * One dynalite for the calling file (started in its `beforeAll`, stopped in its `afterAll`) and a maker of task
 * stores over it, each on a fresh table named `${prefix}-${n}` (a filter replay reads the topic's every dead letter,
 * so cases share none), its clock at `nowMs`.
 */
export function dynaliteTaskStores(prefix: string, nowMs: number): () => Promise<DynamoTaskStore> {
  let dynamo: LocalDynamo | undefined;
  let tables = 0;
  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo?.stop();
  });
  return async () => {
    if (!dynamo) throw new Error("dynalite is not started: call freshStore inside a test");
    const tableName = `${prefix}-${++tables}`;
    await createTaskTable(dynamo.client, tableName);
    return new DynamoTaskStore({
      client: dynamo.client,
      tableName,
      nowSeconds: () => Math.floor(nowMs / 1000),
    });
  };
}
