import { AWS_PARAMETERS as P } from "../parameters.js";

/** The AWS and HTTP calls the pipeline makes, as the model charges them. */
export const CALLS = [
  "api",
  "ddbPut",
  "ddbUpdate",
  "ddbQuery",
  "ddbGet",
  "ddbBatchGet",
  "ddbBatchStatement",
  "sqsSend",
  "sqsSendBatch",
  "sqsReceive",
  "sqsDeleteBatch",
  "schedulerCreate",
  "callback",
] as const;
export type Call = (typeof CALLS)[number];

/**
 * What one call costs: wall latency that overlaps with everything else, plus CPU on the caller's thread and on
 * the service's (both zero on AWS, where the caller is a Lambda instance of its own and the service is AWS's).
 * Locally also the CPU of V8's helper threads (garbage collection, compilation) the call causes, which takes a
 * core without holding up either event loop; a part per entry for batch calls (entries sent, received or
 * returned); and the extra CPU the call's code path costs while a fresh process warms up.
 */
export interface CallCost {
  readonly latencyMs: number;
  readonly clientCpuMs: number;
  readonly serverCpuMs: number;
  readonly helperCpuMs?: number;
  readonly perEntry?: CpuSplit;
  /** Spread evenly over the first `calls` calls of this kind. */
  readonly warmUp?: CpuSplit & { readonly calls: number };
}

export interface CpuSplit {
  readonly clientCpuMs: number;
  readonly serverCpuMs: number;
  readonly helperCpuMs: number;
}

/**
 * Where a call is made from, when a profile prices the same operation differently by its shape: the task store's
 * UpdateItem that returns the record (deliver's attempt start) costs the emulator three times a plain mark; the
 * batch start's statements and the finishing call's `delivered` statements are different UPDATEs.
 */
export type CallSite = "startAttempt" | "markQueued" | "markDelivered" | "batchStart" | "batchFinish";

export interface EventSourceBehaviour {
  /** Concurrent batches when a queue turns active (default mode), and how fast more are added. */
  readonly initialBatches: number;
  readonly scaleUpPerMinute: number;
  readonly maxBatches: number;
  readonly provisionedBatchesPerPoller: number;
  readonly provisionedScaleUpPerMinute: number;
  /**
   * Concurrent ReceiveMessage loops feeding the batches: on AWS one per batch slot; the local runtime runs two
   * per mapping (local/runtime/sqs-event-source.ts).
   */
  readonly receivers: "per-slot" | number;
  /** Concurrency of a mapping without MaximumConcurrency, when the profile fixes it (the local runtime: 128). */
  readonly fixedUncappedBatches?: number;
  /** How often a delayed message is found visible (fauxqs re-checks every 20 ms). */
  readonly visibilityTickMs: number;
}

/**
 * The local cloud's event loops (local/cloud/local-cloud.ts): the main thread (API server's HTTP, the event
 * sources' pollers, Scheduler's timers and, by default, every function), the emulators' worker thread (dynalite,
 * fauxqs), and the two optional function hosts (`PUNCTUAL_LOCAL_FUNCTION_HOSTS=1`) — one for the deliverers, one
 * for the rest. V8's helper threads are not event loops: the model charges their CPU to the cores directly.
 */
export const THREADS = ["main", "emulators", "functionHost", "deliverHost"] as const;
export type Thread = (typeof THREADS)[number];
export type FunctionName = "add" | "relay" | "deliver";

export interface Profile {
  readonly name: string;
  readonly calls: Readonly<Record<Call, CallCost>>;
  /** Costs of particular call sites, where they differ from their operation's (absent: the operation's). */
  readonly callSites?: Readonly<Partial<Record<CallSite, CallCost>>>;
  /** The machine's cores shared by the local cloud's threads, and the thread each function runs on; absent on AWS. */
  readonly cpu?: {
    readonly machineCores: number;
    readonly functionThreads: Readonly<Record<FunctionName, Thread>>;
  };
  /** CPU of one invocation's own code (handler, middy, zod), per function, plus per task it handles. */
  readonly invocationCpuMs: Readonly<Record<"add" | "relay" | "deliver", number>>;
  readonly perTaskCpuMs: Readonly<Record<"add" | "relay" | "deliver", number>>;
  readonly coldStartMs: number;
  readonly eventSources: EventSourceBehaviour;
  /** Scheduler fires this long after at() at the latest (uniformly spread). */
  readonly schedulerLateMs: number;
}

const latency = (ms: number): CallCost => ({ latencyMs: ms, clientCpuMs: 0, serverCpuMs: 0 });

/** The deployed stack on AWS, from the parameter table. */
export const AWS_PROFILE: Profile = {
  name: "aws",
  calls: {
    api: latency(P.apiGatewayMs.value),
    ddbPut: latency(P.dynamoPutMs.value),
    ddbUpdate: latency(P.dynamoUpdateMs.value),
    ddbQuery: latency(P.dynamoQueryMs.value),
    ddbGet: latency(P.dynamoGetMs.value),
    ddbBatchGet: latency(P.dynamoBatchGetMs.value),
    ddbBatchStatement: latency(P.dynamoBatchStatementMs.value),
    sqsSend: latency(P.sqsSendMs.value),
    sqsSendBatch: latency(P.sqsSendBatchMs.value),
    sqsReceive: latency(P.sqsReceiveMs.value),
    sqsDeleteBatch: latency(P.sqsDeleteBatchMs.value),
    schedulerCreate: latency(P.schedulerCreateMs.value),
    callback: latency(P.callbackMs.value),
  },
  invocationCpuMs: { add: 0, relay: 0, deliver: 0 },
  perTaskCpuMs: { add: 0, relay: 0, deliver: 0 },
  coldStartMs: P.lambdaColdStartMs.value,
  eventSources: {
    initialBatches: P.esmInitialBatches.value,
    scaleUpPerMinute: P.esmScaleUpPerMinute.value,
    maxBatches: P.esmMaxBatches.value,
    provisionedBatchesPerPoller: P.provisionedBatchesPerPoller.value,
    provisionedScaleUpPerMinute: P.provisionedScaleUpPerMinute.value,
    receivers: "per-slot",
    visibilityTickMs: 0,
  },
  schedulerLateMs: P.schedulerLateWindowSeconds.value * 1000,
};
