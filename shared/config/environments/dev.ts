import type { EnvironmentConfigInput } from "../schema.js";

/** A developer's own AWS copy: cheap to create and to throw away. */
export const dev: EnvironmentConfigInput = {
  name: "dev",
  api: { auth: { type: "iam" } },
  topics: {
    demo: { deliverBy: "order_id", maxAttempts: 3, backoff: { initialSeconds: 1, maxSeconds: 2 } },
    orders: { deliverBy: "order_id" },
  },
  // Cheap: no provisioned pollers (no idle charge). Batches of up to 100 timers gathered for ≤ 1 s, armed 2 s
  // early, so the standard-mode pollers' five first batches carry 500 timers per round instead of 50
  // (docs/COST-AND-SCALE.md, "Burst absorption on AWS").
  eventSources: {
    relay: { batchSize: 100, maxBatchingWindowSeconds: 1 },
    deliver: { batchSize: 10 },
    earlyWakeSeconds: 2,
  },
  removalPolicy: "destroy",
  pointInTimeRecovery: false,
  logLevel: "DEBUG",
};
