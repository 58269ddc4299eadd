import type { EnvironmentConfigInput } from "../schema.js";

/** Production: retained data, point-in-time recovery, alarms to the on-call subscribers given at synth. */
export const prod: EnvironmentConfigInput = {
  name: "prod",
  api: { auth: { type: "iam" } },
  system: { maxAttempts: 10 },
  topics: {
    // No maxConcurrency: the deliver mappings run in provisioned mode, where Lambda refuses MaximumConcurrency;
    // provisionedPollers.max bounds each topic's concurrency instead.
    orders: { deliverBy: "order_id" },
    // Many third-party receivers: a host that keeps failing is paused (its tasks wait) instead of burning attempts.
    notifications: { maxAttempts: 5, callbackTimeoutSeconds: 5, circuitFailureThreshold: 10 },
  },
  // Sized for the seeds' bar on a cold stack: 3,000 tasks due in one second at p99 ≤ 2 s, 1,000/s sustained at
  // p99 ≤ 1 s. Arithmetic and idle cost: docs/COST-AND-SCALE.md, "Burst absorption on AWS".
  eventSources: {
    relay: {
      batchSize: 100,
      maxBatchingWindowSeconds: 1,
      provisionedPollers: { min: 20, max: 200 },
    },
    deliver: { batchSize: 10, provisionedPollers: { min: 30, max: 300 } },
    earlyWakeSeconds: 3,
  },
  // Traces stay (the lateness investigations and the planner's per-call latencies rely on them, ≈ $0.28 per million
  // tasks); Lambda's START/END/REPORT lines go (≈ $0.17 per million): the alarms and the dashboard read Lambda's own
  // metrics and our EMF lines, which JSON logging at INFO keeps (docs/COST-AND-SCALE.md, "Levers").
  functions: { tracing: "active", logging: { format: "json", systemLogLevel: "WARN" } },
  // Deliberately empty: the on-call addresses are the deployer's, passed at synth with
  // `-c alarmEmails=…` / `-c alarmHttpsUrls=…` (README, "Alarm subscribers"). Synthesis refuses prod without one.
  alarmSubscribers: { emails: [], httpsUrls: [] },
  removalPolicy: "retain",
  pointInTimeRecovery: true,
};
