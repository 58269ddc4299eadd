import { makeTaskKey, newUlid } from "#shared/domain/keys.js";
import { DEFAULT_CONFIG } from "../../../plan/config.js";
import { deliverBatch } from "../../../plan/model/deliver.js";
import { LambdaFunction } from "../../../plan/model/lambda.js";
import { AWS_PROFILE, type Call, type CallCost, type Profile } from "../../../plan/model/profile.js";
import { type SimTask, TaskTable } from "../../../plan/model/table.js";
import { createWorld } from "../../../plan/model/world.js";

/** Distinct latencies per call, no CPU, no cold starts: a path's lateness can be added up by hand. */
export const LATENCY: Readonly<Record<Call, number>> = {
  api: 1,
  ddbPut: 2,
  ddbUpdate: 3,
  ddbQuery: 5,
  ddbGet: 31,
  ddbBatchGet: 23,
  ddbBatchStatement: 29,
  sqsSend: 7,
  sqsSendBatch: 11,
  sqsReceive: 13,
  sqsDeleteBatch: 17,
  schedulerCreate: 19,
  callback: 40,
};

export function handProfile(): Profile {
  const calls = Object.fromEntries(
    Object.entries(LATENCY).map(([name, ms]) => [name, { latencyMs: ms, clientCpuMs: 0, serverCpuMs: 0 }]),
  ) as Record<Call, CallCost>;
  return { ...AWS_PROFILE, name: "hand", calls, coldStartMs: 0 };
}

/**
 * One deliver invocation of the model over `size` due tasks in `groups` groups, on `profile` (the hand profile by
 * default): what it called and when each callback was received.
 */
export function deliverOnce(size: number, groups: number, profile: Profile = handProfile()) {
  const w = createWorld(profile, DEFAULT_CONFIG, { startMs: 0 });
  const table = new TaskTable();
  const batch = Array.from({ length: size }, (_, i) => {
    const task: SimTask = {
      key: makeTaskKey("demo", `g${i % groups}`, 0, newUlid(i)),
      issuedAtMs: 0,
      status: "scheduled",
      deliveries: 0,
    };
    table.put(task);
    return { task, group: `g${i % groups}` };
  });
  const received: number[] = [];
  let doneAt = Number.NaN;
  const parts = {
    world: w,
    fn: new LambdaFunction(w, "deliver"),
    table,
    onReceived: () => received.push(w.sim.now),
  };
  deliverBatch(parts, batch, () => {
    doneAt = w.sim.now;
  });
  w.sim.run();
  return { usage: w.usage, received, doneAt, table };
}
