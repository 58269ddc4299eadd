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
  services: { demo: "http://127.0.0.1:4000" },
  removalPolicy: "destroy",
  pointInTimeRecovery: false,
  logLevel: "WARN",
};
