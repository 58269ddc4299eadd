import type { EnvironmentConfigInput } from "../schema.js";

/** A developer's own AWS copy: cheap to create and to throw away. */
export const dev: EnvironmentConfigInput = {
  name: "dev",
  api: { auth: { type: "iam" } },
  topics: {
    demo: { deliverBy: "order_id", maxAttempts: 3, backoff: { initialSeconds: 1, maxSeconds: 2 } },
    orders: { deliverBy: "order_id" },
  },
  removalPolicy: "destroy",
  pointInTimeRecovery: false,
  logLevel: "DEBUG",
};
