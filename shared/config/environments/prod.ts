import type { EnvironmentConfigInput } from "../schema.js";

/** Production: retained data, point-in-time recovery, alarms to the on-call subscribers given at synth. */
export const prod: EnvironmentConfigInput = {
  name: "prod",
  api: { auth: { type: "iam" } },
  system: { maxAttempts: 10 },
  topics: {
    orders: { deliverBy: "order_id", maxConcurrency: 50 },
    // Many third-party receivers: a host that keeps failing is paused (its tasks wait) instead of burning attempts.
    notifications: { maxAttempts: 5, callbackTimeoutSeconds: 5, circuitFailureThreshold: 10 },
  },
  // Deliberately empty: the on-call addresses are the deployer's, passed at synth with
  // `-c alarmEmails=…` / `-c alarmHttpsUrls=…` (README, "Alarm subscribers"). Synthesis refuses prod without one.
  alarmSubscribers: { emails: [], httpsUrls: [] },
  removalPolicy: "retain",
  pointInTimeRecovery: true,
};
