import type { EnvironmentConfigInput } from "../schema.js";

/** The local cloud (`npm start`, end-to-end tests): no auth, loopback callbacks allowed, nothing else private. */
export const local: EnvironmentConfigInput = {
  name: "local",
  // The local cloud's and LocalStack's account: synthesis refuses this environment for any other.
  account: "000000000000",
  api: { auth: { type: "none" } },
  system: {
    allowedCallbackHosts: ["127.0.0.1", "localhost", "[::1]", "*"],
    allowHttpCallbacks: true,
  },
  topics: {
    demo: {
      deliverBy: "order_id",
      maxAttempts: 3,
      backoff: { initialSeconds: 1, maxSeconds: 2 },
      callbackTimeoutSeconds: 5,
    },
  },
  // Latency first on one machine: batches of 10, no window, no early wake (the local event-source runner honours
  // what the template declares).
  eventSources: {
    relay: { batchSize: 10, maxBatchingWindowSeconds: 0 },
    deliver: { batchSize: 10 },
    earlyWakeSeconds: 0,
  },
  services: { demo: "http://127.0.0.1:4000" },
  removalPolicy: "destroy",
  pointInTimeRecovery: false,
  logLevel: "WARN",
};
