import type { CallCost, Profile } from "./model/profile.js";
import type { Parameter } from "./parameters.js";

/**
 * The local cloud on this machine (2 cores, Node 20): what `npx tsx plan/calibrate.ts --calls 3000 --in-flight 32`
 * measured (2026-11-30, load average 12: the machine is shared, so CPU times, not wall times, are used; 32 calls in
 * flight, as under the pipeline's load, cost ~40 % less CPU each than one at a time), and
 * bench/functions.ts's warm CPU per task. Re-measure on another machine and paste the figures here.
 */
const MEASURED =
  "npx tsx plan/calibrate.ts --calls 3000 --in-flight 32 (CPU per call, client = this process)";
const call = (clientCpuMs: number, serverCpuMs: number, latencyMs = LOOPBACK_MS): CallCost => ({
  latencyMs,
  clientCpuMs,
  serverCpuMs,
});
/** Loopback round trip beyond both processes' CPU (the calibration's residual on a quiet machine: 0–0.4 ms). */
const LOOPBACK_MS = 0.3;

export const LOCAL_PARAMETERS = {
  ddbPutCpu: {
    value: 0.74 + 0.45,
    unit: "ms CPU (client 0.74 + dynalite 0.45)",
    source: { measured: MEASURED },
  },
  ddbUpdateCpu: { value: 0.42 + 0.31, unit: "ms CPU (0.42 + 0.31)", source: { measured: MEASURED } },
  ddbQueryCpu: { value: 0.44 + 0.47, unit: "ms CPU (0.44 + 0.47)", source: { measured: MEASURED } },
  ddbGetCpu: { value: 0.28 + 0.12, unit: "ms CPU (0.28 + 0.12)", source: { measured: MEASURED } },
  sqsSendCpu: { value: 0.37 + 0.15, unit: "ms CPU (0.37 + fauxqs 0.15)", source: { measured: MEASURED } },
  sqsSendBatchCpu: { value: 0.36 + 0.16, unit: "ms CPU (0.36 + 0.16)", source: { measured: MEASURED } },
  sqsReceiveCpu: { value: 0.35 + 0.13, unit: "ms CPU (0.35 + 0.13)", source: { measured: MEASURED } },
  sqsDeleteBatchCpu: {
    value: 0.25 + 0.12,
    unit: "ms CPU (0.25 + 0.12)",
    source: {
      assumption: "the calibration measures it together with a receive; between a receive and a send",
    },
  },
  apiServerCpu: {
    value: 0.3,
    unit: "ms CPU per request",
    source: { assumption: "local API server: HTTP parse and answer around the handler (not measured apart)" },
  },
  callbackCpu: {
    value: 0.5,
    unit: "ms CPU per callback",
    source: { assumption: "signing and one keep-alive HTTP POST, like an SDK call's client side" },
  },
  relayBatches: {
    value: 128,
    unit: "concurrent batches",
    source: { measured: "LOCAL_UNCAPPED_CONCURRENCY in local/cloud/local-cloud.ts" },
  },
  receiversPerMapping: {
    value: 2,
    unit: "receive loops",
    source: { measured: "RECEIVERS_PER_MAPPING in local/runtime/sqs-event-source.ts" },
  },
  machineCores: {
    value: 2,
    unit: "cores shared by the main thread, the emulators' thread and the two function hosts",
    source: {
      measured: "os.availableParallelism() on this machine; hostFunctions in local/cloud/local-cloud.ts",
    },
  },
  visibilityTick: {
    value: 20,
    unit: "ms",
    source: { measured: "fauxqs re-checks delayed messages every 20 ms" },
  },
} as const satisfies Record<string, Parameter>;

export const LOCAL_PROFILE: Profile = {
  name: "local",
  calls: {
    api: call(LOCAL_PARAMETERS.apiServerCpu.value, 0, 0.2),
    ddbPut: call(0.74, 0.45),
    ddbUpdate: call(0.42, 0.31),
    ddbQuery: call(0.44, 0.47),
    ddbGet: call(0.28, 0.12),
    sqsSend: call(0.37, 0.15),
    sqsSendBatch: call(0.36, 0.16),
    sqsReceive: call(0.35, 0.13),
    sqsDeleteBatch: call(0.25, 0.12),
    schedulerCreate: call(0.37, 0.15),
    callback: call(LOCAL_PARAMETERS.callbackCpu.value, 0, 1),
  },
  cpu: {
    machineCores: LOCAL_PARAMETERS.machineCores.value,
    functionThreads: { add: "functionHost", relay: "functionHost", deliver: "deliverHost" },
  },
  // bench/functions.ts: warm CPU per task with I/O stubbed (add 110 µs, relay 19 µs, deliver 43 µs), plus the
  // local runtime's own event and context per invocation (~0.1 ms, assumption).
  invocationCpuMs: { add: 0.05, relay: 0.1, deliver: 0.1 },
  perTaskCpuMs: { add: 0.11, relay: 0.019, deliver: 0.043 },
  coldStartMs: 0,
  eventSources: {
    initialBatches: LOCAL_PARAMETERS.relayBatches.value,
    scaleUpPerMinute: 0,
    maxBatches: LOCAL_PARAMETERS.relayBatches.value,
    provisionedBatchesPerPoller: 10,
    provisionedScaleUpPerMinute: 0,
    receivers: LOCAL_PARAMETERS.receiversPerMapping.value,
    fixedUncappedBatches: LOCAL_PARAMETERS.relayBatches.value,
    visibilityTickMs: LOCAL_PARAMETERS.visibilityTick.value,
  },
  schedulerLateMs: 0,
};

const IN_SITU =
  "npx tsx plan/calibrate-pipeline.ts (the real API and task store on the local cloud, 2026-11-30, load 19)";
const inSitu = (clientCpuMs: number, serverCpuMs: number) => call(clientCpuMs, serverCpuMs);

/**
 * The same machine measured in situ by plan/calibrate-pipeline.ts: the add through the API server and the real
 * task store's calls (real item shape, condition expressions, index writes) cost about twice the bare calls of
 * plan/calibrate.ts. Measured under load 19, where CPU per call is inflated too: it predicts heavily loaded runs
 * well and lightly loaded ones too slow (docs/PERFORMANCE.md, "Capacity planner calibration").
 */
export const LOCAL_IN_SITU_PARAMETERS = {
  addThroughApi: {
    value: 3.18 + 1.39,
    unit: "ms CPU (main 3.18 + emulators 1.39)",
    source: { measured: IN_SITU },
  },
  updateItem: {
    value: 0.66 + 0.67,
    unit: "ms CPU (mean of markQueued, startAttempt, markDelivered: 0.66 + 0.67)",
    source: { measured: IN_SITU },
  },
  groupQuery: {
    value: 1.06 + 1.27,
    unit: "ms CPU (listScheduledInGroup: 1.06 + 1.27)",
    source: { measured: IN_SITU },
  },
} as const satisfies Record<string, Parameter>;

export const LOCAL_IN_SITU_PROFILE: Profile = {
  ...LOCAL_PROFILE,
  name: "local-in-situ",
  calls: {
    ...LOCAL_PROFILE.calls,
    // The add's main-process CPU beyond its PutItem, SendMessage and handler is the API server's share.
    api: call(3.18 - 0.65 - 0.43 - 0.16, 0, 0.2),
    ddbPut: inSitu(0.65, 1.39 - 0.16),
    ddbUpdate: inSitu(0.66, 0.67),
    ddbQuery: inSitu(1.06, 1.27),
    sqsSend: inSitu(0.43, 0.16),
    sqsSendBatch: inSitu(0.41, 0.21),
    sqsReceive: inSitu(0.4, 0.16),
  },
};
