import type { SQSRecord } from "aws-lambda";
import { groupsInBatchOrder } from "#shared/services/deliver/group-runner.js";
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
 * One deliver invocation over a FIFO batch, as shared/services/deliver runs it: the batch's groups in
 * `groupsInBatchOrder`, up to deliverGroupConcurrency side by side, each group's records one after another
 * (start the attempt, call back, record it delivered). The event source frees the groups after its delete.
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
  fn.invoke(
    batch.length,
    (finish) =>
      bounded(
        groups,
        world.config.deliverGroupConcurrency,
        (group, next) =>
          sequence(
            group.map(
              (record) => (step: () => void) =>
                deliverOne(parts, (byId.get(record.messageId) as FifoMessage).task, step),
            ),
            next,
          ),
        finish,
      ),
    done,
  );
}

function deliverOne(parts: DeliverParts, task: SimTask, done: () => void): void {
  const { world } = parts;
  deliverCall(
    world,
    "ddbUpdate",
    () => {
      world.usage.wru++;
      const callback = world.profile.calls.callback;
      world.usage.calls.callback++;
      world.helpers(callback.helperCpuMs ?? 0);
      // The receiver sees the request half a round trip after it leaves; the answer takes the other half.
      onDeliverHost(world, callback.clientCpuMs, () =>
        world.sim.after(callback.latencyMs / 2, () => {
          parts.onReceived(task);
          world.sim.after(callback.latencyMs / 2, () =>
            deliverCall(
              world,
              "ddbUpdate",
              () => {
                world.usage.wru++;
                parts.table.finish(task);
                done();
              },
              "markDelivered",
            ),
          );
        }),
      );
    },
    "startAttempt",
  );
}

/** A call from the deliver handler, on its thread. */
function deliverCall(world: World, name: Call, then: () => void, site?: CallSite): void {
  world.call(name, then, world.threadOf("deliver"), site ? { site } : {});
}

function onDeliverHost(world: World, cpuMs: number, then: () => void): void {
  world.cpu(cpuMs, then, world.threadOf("deliver"));
}
