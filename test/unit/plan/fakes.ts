import { AWS_PROFILE, type Call, type CallCost, type Profile } from "../../../plan/model/profile.js";

/** Distinct latencies per call, no CPU, no cold starts: a path's lateness can be added up by hand. */
export const LATENCY: Readonly<Record<Call, number>> = {
  api: 1,
  ddbPut: 2,
  ddbUpdate: 3,
  ddbQuery: 5,
  ddbGet: 0,
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
