import type { EnvironmentConfigInput } from "../schema.js";

/** Production: retained data, point-in-time recovery, alarms to the on-call address. */
export const prod: EnvironmentConfigInput = {
  name: "prod",
  api: { auth: { type: "iam" } },
  system: { maxAttempts: 10 },
  topics: {
    orders: { deliverBy: "order_id", maxConcurrency: 50 },
    notifications: { maxAttempts: 5, callbackTimeoutSeconds: 5 },
  },
  alarmSubscribers: { emails: ["oncall@example.com"] },
  removalPolicy: "retain",
  pointInTimeRecovery: true,
};
