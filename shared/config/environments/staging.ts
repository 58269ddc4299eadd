import type { EnvironmentConfigInput } from "../schema.js";

export const staging: EnvironmentConfigInput = {
  name: "staging",
  api: { auth: { type: "iam" } },
  topics: {
    orders: { deliverBy: "order_id", maxConcurrency: 20 },
    notifications: { maxAttempts: 5 },
  },
  removalPolicy: "retain",
  pointInTimeRecovery: true,
};
