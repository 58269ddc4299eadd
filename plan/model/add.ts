import { makeTaskKey, newUlid } from "#shared/domain/keys.js";
import { planTimer } from "#shared/domain/timing.js";
import type { LambdaFunction } from "./lambda.js";
import type { StandardQueue } from "./queues.js";
import type { SimTask, TaskTable } from "./table.js";
import type { World } from "./world.js";

export interface AddParts {
  readonly world: World;
  readonly fn: LambdaFunction;
  readonly table: TaskTable;
  readonly timerQueue: StandardQueue;
  readonly random: () => number;
}

export const TOPIC = "demo";

/**
 * One `POST /v1/tasks`: the API, the add-task function, PutItem, then the timer `planTimer` chooses — the timer
 * queue with a whole-second delay, or a one-time schedule `lead` ahead that Scheduler fires up to its late
 * window after, into the same queue. With an early wake the queue delay is that much shorter (planTimer).
 */
export function addTask(
  parts: AddParts,
  spec: { readonly group: string; readonly dueAtMs: number; readonly issuedAtMs: number },
  done: () => void,
): void {
  const { world, fn } = parts;
  world.call("api", () =>
    fn.invoke(
      1,
      (finish) =>
        world.call(
          "ddbPut",
          () => {
            world.usage.wru++;
            const key = makeTaskKey(TOPIC, spec.group, spec.dueAtMs, newUlid(Math.floor(world.sim.now)));
            const task: SimTask = { key, issuedAtMs: spec.issuedAtMs, status: "scheduled", deliveries: 0 };
            parts.table.put(task);
            armTimer(parts, task, finish);
          },
          world.threadOf("add"),
        ),
      done,
    ),
  );
}

function armTimer(parts: AddParts, task: SimTask, done: () => void): void {
  const { world } = parts;
  const plan = planTimer(task.key.dueAtMs, world.sim.now, {
    ...world.config.timer,
    earlyWakeSeconds: world.config.eventSources.earlyWakeSeconds ?? 0,
  });
  if (plan.kind === "queue") {
    world.call(
      "sqsSend",
      () => {
        world.usage.standardRequests++;
        parts.timerQueue.send(task, plan.delaySeconds);
        done();
      },
      world.threadOf("add"),
    );
    return;
  }
  world.call(
    "schedulerCreate",
    () => {
      const firesAt = plan.fireAtMs + parts.random() * world.profile.schedulerLateMs;
      world.sim.at(firesAt, () => {
        world.usage.calls.sqsSend++;
        world.usage.standardRequests++;
        parts.timerQueue.send(task, 0);
      });
      done();
    },
    world.threadOf("add"),
  );
}
