import type { EnvironmentConfigInput } from "../schema.js";

export const staging: EnvironmentConfigInput = {
  name: "staging",
  api: { auth: { type: "iam" } },
  topics: {
    orders: { deliverBy: "order_id", maxConcurrency: 20 },
    notifications: { maxAttempts: 5 },
  },
  // Prod's batching and early wake without its idle poller charge (docs/COST-AND-SCALE.md, "Burst absorption").
  eventSources: {
    relay: { batchSize: 100, maxBatchingWindowSeconds: 1 },
    deliver: { batchSize: 10 },
    earlyWakeSeconds: 3,
  },
  removalPolicy: "retain",
  pointInTimeRecovery: true,
};
