import type { SQSRecord } from "aws-lambda";
import { BATCH_STATEMENT_SIZE } from "#shared/adapters/partiql.js";
import { readsAgainAfterWaiting } from "#shared/services/deliver/cancel-while-waiting.js";
import { groupsInBatchOrder } from "#shared/services/deliver/group-runner.js";
import { followersOf, MIN_UP_FRONT } from "#shared/services/deliver/up-front.js";
import { bounded, sequence } from "./engine.js";
import type { LambdaFunction } from "./lambda.js";
import type { Call, CallSite } from "./profile.js";
import type { FifoMessage } from "./queues.js";
import type { SimTask, TaskTable } from "./table.js";
import type { World } from "./world.js";

export interface DeliverParts {
  readonly world: World;
  readonly fn: LambdaFunction;
  readonly table: TaskTable;
  /** Told when the receiver sees a callback. */
  readonly onReceived: (task: SimTask) => void;
}

/**
 * One deliver invocation over a FIFO batch, as shared/services/deliver runs it (docs/RELIABILITY.md "Deliver's
 * writes in batches"): with at least MIN_UP_FRONT records, one BatchGetItem reads their tasks and one
 * BatchExecuteStatement starts them all; then the batch's groups in `groupsInBatchOrder`, up to
 * deliverGroupConcurrency side by side, each group's records one after another (a record not started up front
 * starts with its own UpdateItem first), each calling back; then one BatchExecuteStatement writes every
 * `delivered`. A follower started up front (behind an earlier record of its group in the batch, up-front.ts
 * `followersOf`) that waited a second or more for its turn reads its task again first, as cancel-while-waiting.ts
 * decides (`readsAgainAfterWaiting`): one strongly consistent GetItem. The relay forwards tasks when due to an
 * unprotected topic, and the model's FIFO queue drops a task id sent twice, so every record of a batch is a
 * fast-path candidate. The event source frees the groups after its delete.
 */
export function deliverBatch(parts: DeliverParts, batch: FifoMessage[], done: () => void): void {
  const { world, fn } = parts;
  const byId = new Map(batch.map((m) => [m.task.key.taskId, m]));
  const records = batch.map(
    (m) =>
      ({
        messageId: m.task.key.taskId,
        eventSourceARN: "topic",
        attributes: { MessageGroupId: m.group },
      }) as unknown as SQSRecord,
  );
  const groups = groupsInBatchOrder(records);
  const upFront = batch.length >= MIN_UP_FRONT;
  const followers = upFront ? followersOf(records) : new Set<string>();
  const finishing: SimTask[] = [];
  fn.invoke(
    batch.length,
    (finish) =>
      startUpFront(parts, upFront ? batch.map((m) => m.task) : [], (startedAtMs) =>
        bounded(
          groups,
          world.config.deliverGroupConcurrency,
          (group, next) =>
            sequence(
              group.map((record) => (step: () => void) => {
                const task = (byId.get(record.messageId) as FifoMessage).task;
                const start = upFront
                  ? { atMs: startedAtMs, follower: followers.has(record.messageId) }
                  : undefined;
                deliverOne(parts, task, start, () => {
                  finishing.push(task);
                  step();
                });
              }),
              next,
            ),
          () => finishBatch(parts, finishing, finish),
        ),
      ),
    done,
  );
}

/**
 * The batch read (1 RRU per task: strongly consistent, ≤ 4 KB) and the batch start (1 WRU per statement). `then`
 * gets the start's time, read between the two calls as up-front.ts reads it: what a follower's wait counts from.
 */
function startUpFront(
  parts: DeliverParts,
  tasks: readonly SimTask[],
  then: (startedAtMs: number) => void,
): void {
  const { world } = parts;
  if (tasks.length === 0) {
    then(world.sim.now);
    return;
  }
  // A FIFO batch holds at most 10 records: one BatchGetItem (it takes up to 100 keys).
  deliverCall(
    world,
    "ddbBatchGet",
    () => {
      world.usage.rru += tasks.length;
      const startedAtMs = world.sim.now;
      statements(parts, tasks.length, "batchStart", () => {
        for (const task of tasks) parts.table.start(task);
        then(startedAtMs);
      });
    },
    { entries: tasks.length },
  );
}

/** The finishing call: every deferred `delivered` write (1 WRU each), then the tasks are final. */
function finishBatch(parts: DeliverParts, tasks: readonly SimTask[], then: () => void): void {
  statements(parts, tasks.length, "batchFinish", () => {
    for (const task of tasks) parts.table.finish(task);
    then();
  });
}

/** `count` statements in BatchExecuteStatement calls of at most BATCH_STATEMENT_SIZE, one after another. */
function statements(parts: DeliverParts, count: number, site: CallSite, then: () => void): void {
  const { world } = parts;
  if (count <= 0) {
    then();
    return;
  }
  const size = Math.min(count, BATCH_STATEMENT_SIZE);
  deliverCall(
    world,
    "ddbBatchStatement",
    () => {
      world.usage.wru += size;
      statements(parts, count - size, site, then);
    },
    { site, entries: size },
  );
}

/**
 * One record at its turn: its own start unless it was started up front (`upFront`: when, and whether behind an
 * earlier record of its group), then the callback — a follower that waited long enough reads its task again
 * first; its `delivered` write waits for the finishing call.
 */
function deliverOne(
  parts: DeliverParts,
  task: SimTask,
  upFront: { atMs: number; follower: boolean } | undefined,
  done: () => void,
): void {
  const { world } = parts;
  const callBack = () => {
    const callback = world.profile.calls.callback;
    world.usage.calls.callback++;
    world.helpers(callback.helperCpuMs ?? 0);
    // The receiver sees the request half a round trip after it leaves; the answer takes the other half.
    onDeliverHost(world, callback.clientCpuMs, () =>
      world.sim.after(callback.latencyMs / 2, () => {
        parts.onReceived(task);
        world.sim.after(callback.latencyMs / 2, done);
      }),
    );
  };
  if (upFront) {
    if (readsAgainAfterWaiting(upFront.follower, world.sim.now - upFront.atMs)) readAgain(world, callBack);
    else callBack();
    return;
  }
  deliverCall(
    world,
    "ddbUpdate",
    () => {
      world.usage.wru++;
      parts.table.start(task);
      callBack();
    },
    { site: "startAttempt" },
  );
}

/**
 * A waiting follower's read of its task before its callback (cancel-while-waiting.ts): one strongly consistent
 * GetItem of an item ≤ 4 KB, 1 RRU. The model's tasks are plain ones and never cancelled: no schedule read, and the
 * callback follows.
 */
function readAgain(world: World, then: () => void): void {
  deliverCall(
    world,
    "ddbGet",
    () => {
      world.usage.rru++;
      then();
    },
    {},
  );
}

/** A call from the deliver handler, on its thread. */
function deliverCall(
  world: World,
  name: Call,
  then: () => void,
  options: { site?: CallSite; entries?: number },
): void {
  world.call(name, then, world.threadOf("deliver"), options);
}

function onDeliverHost(world: World, cpuMs: number, then: () => void): void {
  world.cpu(cpuMs, then, world.threadOf("deliver"));
}
