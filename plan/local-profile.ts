import type { CallCost, CpuSplit, Profile } from "./model/profile.js";
import type { Workload } from "./model/workload.js";
import type { Parameter } from "./parameters.js";

/** CPU ms per call on each of the local cloud's threads (plan/calibrate.ts's output). */
export interface ThreadCost {
  readonly main: number;
  readonly emulators: number;
  readonly helpers: number;
}

/** One kind of call as plan/calibrate.ts measured it: warm, per entry (batch calls), and its warm-up in all. */
export interface CalibratedCall {
  readonly warm: ThreadCost;
  readonly entry?: ThreadCost;
  readonly warmUp: ThreadCost & { readonly calls: number };
}

export interface Calibration {
  readonly measuredAt: string;
  readonly loadAverage: number;
  readonly results: {
    readonly addThroughApi: CalibratedCall;
    readonly ddbPut: CalibratedCall;
    readonly sqsSend: CalibratedCall;
    readonly latency: { readonly fastPath: number; readonly callback: number };
    readonly ddbQuery: CalibratedCall;
    readonly sqsSendBatch: CalibratedCall;
    readonly ddbUpdateQueued: CalibratedCall;
    readonly sqsReceive: CalibratedCall;
    readonly sqsDeleteBatch: CalibratedCall;
    readonly ddbUpdateAttempt: CalibratedCall;
    readonly callback: CalibratedCall;
    readonly ddbUpdateDelivered: CalibratedCall;
    readonly ddbBatchGet: CalibratedCall;
    readonly ddbBatchStart: CalibratedCall;
    readonly ddbBatchFinish: CalibratedCall;
  };
}

/**
 * `npx tsx plan/calibrate.ts` on this machine (2 cores, Node 20), through the local fast path, the default layout
 * (one process: the main thread runs the API, the pollers and every function; the emulators run in a worker
 * thread): CPU per call on each thread, with the pipeline's own calls (the real API, task store and queue
 * adapters), 32 calls in flight. Paste a new run's output here; nothing below is fitted to the bench.
 * Deliver's three batch calls (ddbBatchGet, ddbBatchStart, ddbBatchFinish) are from a later run of the same script
 * (2026-11-30T07:16:37Z, load 6.5): CPU per thread, not wall time; the other calls that run measured again agreed
 * with the figures below within 0.1 ms CPU per call, all threads (ReceiveMessage's helpers 0.13 ms higher).
 */
export const CALIBRATION: Calibration = {
  measuredAt: "2026-11-30T07:51:22.991Z",
  loadAverage: 1.04,
  results: {
    addThroughApi: {
      warm: {
        main: 0.453,
        emulators: 0.207,
        helpers: 0.3,
      },
      warmUp: {
        main: 500,
        emulators: 220,
        helpers: 650,
        calls: 1500,
      },
    },
    ddbPut: {
      warm: {
        main: 0.1,
        emulators: 0.11,
        helpers: 0.05,
      },
      warmUp: {
        main: 10,
        emulators: 10,
        helpers: 80,
        calls: 1000,
      },
    },
    sqsSend: {
      warm: {
        main: 0.08,
        emulators: 0.05,
        helpers: 0.04,
      },
      warmUp: {
        main: 0,
        emulators: 10,
        helpers: 0,
        calls: 1000,
      },
    },
    latency: {
      fastPath: 0.03,
      callback: 0.063,
    },
    ddbQuery: {
      warm: {
        main: 0.129,
        emulators: 0.16,
        helpers: 0.233,
      },
      entry: {
        main: 0.004,
        emulators: 0.007,
        helpers: 0,
      },
      warmUp: {
        main: 10,
        emulators: 30,
        helpers: 80,
        calls: 300,
      },
    },
    sqsSendBatch: {
      warm: {
        main: 0.11,
        emulators: 0.067,
        helpers: 0.09,
      },
      entry: {
        main: 0,
        emulators: 0.003,
        helpers: 0,
      },
      warmUp: {
        main: 0,
        emulators: 0,
        helpers: 20,
        calls: 1000,
      },
    },
    ddbUpdateQueued: {
      warm: {
        main: 0.09,
        emulators: 0.12,
        helpers: 0.12,
      },
      warmUp: {
        main: 20,
        emulators: 20,
        helpers: 80,
        calls: 1000,
      },
    },
    sqsReceive: {
      warm: {
        main: 0.08,
        emulators: 0.033,
        helpers: 0.08,
      },
      entry: {
        main: 0,
        emulators: 0.007,
        helpers: 0,
      },
      warmUp: {
        main: 30,
        emulators: 20,
        helpers: 20,
        calls: 500,
      },
    },
    sqsDeleteBatch: {
      warm: {
        main: 0.078,
        emulators: 0.056,
        helpers: 0.04,
      },
      entry: {
        main: 0.002,
        emulators: 0.004,
        helpers: 0,
      },
      warmUp: {
        main: 10,
        emulators: 0,
        helpers: 0,
        calls: 500,
      },
    },
    ddbUpdateAttempt: {
      warm: {
        main: 0.13,
        emulators: 0.4,
        helpers: 0.06,
      },
      warmUp: {
        main: 0,
        emulators: 40,
        helpers: 280,
        calls: 1000,
      },
    },
    callback: {
      warm: {
        main: 0.06,
        emulators: 0,
        helpers: 0.08,
      },
      warmUp: {
        main: 0,
        emulators: 0,
        helpers: 0,
        calls: 1000,
      },
    },
    ddbUpdateDelivered: {
      warm: {
        main: 0.11,
        emulators: 0.14,
        helpers: 0.06,
      },
      warmUp: {
        main: 20,
        emulators: 20,
        helpers: 80,
        calls: 1000,
      },
    },
    ddbBatchGet: {
      warm: {
        main: 0.111,
        emulators: 0.067,
        helpers: 0.1,
      },
      entry: {
        main: 0.009,
        emulators: 0.013,
        helpers: 0,
      },
      warmUp: {
        main: 0,
        emulators: 10,
        helpers: 20,
        calls: 500,
      },
    },
    ddbBatchStart: {
      warm: {
        main: 0.144,
        emulators: 0.078,
        helpers: 0.3,
      },
      entry: {
        main: 0.016,
        emulators: 0.182,
        helpers: 0.04,
      },
      warmUp: {
        main: 0,
        emulators: 30,
        helpers: 60,
        calls: 500,
      },
    },
    ddbBatchFinish: {
      warm: {
        main: 0.111,
        emulators: 0.011,
        helpers: 0.167,
      },
      entry: {
        main: 0.009,
        emulators: 0.169,
        helpers: 0.013,
      },
      warmUp: {
        main: 10,
        emulators: 10,
        helpers: 10,
        calls: 500,
      },
    },
  },
};

/**
 * A workload's shape, as far as the pipeline's CPU per task goes: a burst (every task due at once: thousands in
 * flight, V8's helpers collect more per task) or a steady rate.
 */
export type WorkloadShape = "burst" | "rate";

export function shapeOf(workload: Workload): WorkloadShape {
  return workload.burst !== undefined ? "burst" : "rate";
}

/** What plan/calibrate-pipeline.ts prints: CPU per task of two pipeline runs, measured and modelled, per thread. */
export interface InSituCalibration {
  readonly measuredAt: string;
  readonly loadAverage: number;
  readonly workloads: readonly {
    readonly name: string;
    readonly shape: WorkloadShape;
    readonly tasks: number;
    readonly measured: ThreadCost;
    readonly modelled: ThreadCost;
  }[];
  /**
   * Measured ÷ modelled CPU per task in the workload of each shape: what every call's CPU on that thread is
   * multiplied by when the planner runs a workload of that shape. Per shape because the helpers' share differs by
   * half between them (a burst × 1.5 of the calls' sum, a steady rate × 1.0), and one factor for both charged the
   * bench's sustained run 0.2 ms per task too much and its burst 0.15 ms too little.
   */
  readonly factorByShape: Readonly<Record<WorkloadShape, ThreadCost>>;
}

/**
 * `npx tsx plan/calibrate-pipeline.ts` on this machine, after CALIBRATION above: the whole pipeline's CPU per task
 * against the sum of its calls (see that script for why). Paste a new run's output here.
 */
export const IN_SITU: InSituCalibration = {
  measuredAt: "2026-11-30T11:57:13.302Z",
  loadAverage: 0.93,
  workloads: [
    {
      name: "burst 1500 over 150 groups",
      shape: "burst",
      tasks: 1500,
      measured: {
        main: 1.4,
        emulators: 1.18,
        helpers: 2.033,
      },
      modelled: {
        main: 1.236,
        emulators: 1.022,
        helpers: 1.312,
      },
    },
    {
      name: "750/s for 5 s",
      shape: "rate",
      tasks: 3750,
      measured: {
        main: 1.323,
        emulators: 1.136,
        helpers: 1.181,
      },
      modelled: {
        main: 1.16,
        emulators: 0.973,
        helpers: 1.173,
      },
    },
  ],
  factorByShape: {
    burst: {
      main: 1.133,
      emulators: 1.155,
      helpers: 1.55,
    },
    rate: {
      main: 1.141,
      emulators: 1.168,
      helpers: 1.007,
    },
  },
};

const MEASURED = `npx tsx plan/calibrate.ts (${CALIBRATION.measuredAt.slice(0, 10)}, load ${CALIBRATION.loadAverage}): CPU per thread from /proc/self/task, 32 calls in flight`;
const FUNCTIONS = "bench/functions.ts: warm CPU per task of the bundled handler with every I/O stubbed";
const r = CALIBRATION.results;

/** A calibrated call as the model charges it: the caller's thread, the emulators', the helpers', the warm-up. */
function callCost(c: CalibratedCall, latencyMs: number): CallCost {
  return {
    latencyMs,
    clientCpuMs: c.warm.main,
    serverCpuMs: c.warm.emulators,
    helperCpuMs: c.warm.helpers,
    ...(c.entry
      ? {
          perEntry: {
            clientCpuMs: c.entry.main,
            serverCpuMs: c.entry.emulators,
            helperCpuMs: c.entry.helpers,
          },
        }
      : {}),
    warmUp: {
      calls: c.warmUp.calls,
      clientCpuMs: c.warmUp.main,
      serverCpuMs: c.warmUp.emulators,
      helperCpuMs: c.warmUp.helpers,
    },
  };
}

/**
 * The handlers' own CPU: per task, bench/functions.ts's warm figures (add 110 µs, relay 19 µs, deliver 43 µs);
 * per invocation, the local runtime's event and context (assumed, see `invocationCpu`).
 */
const HANDLERS = {
  perTask: { add: 0.11, relay: 0.019, deliver: 0.043 },
  perInvocation: { add: 0.05, relay: 0.1, deliver: 0.1 },
} as const;
const ADD_HANDLER_MS = HANDLERS.perTask.add + HANDLERS.perInvocation.add;

/**
 * The API's share of an add: what the add through the API cost beyond its PutItem, its SendMessage and the
 * handler — the API server's HTTP parse and answer, routing, the Lambda proxy event (main thread); on the
 * emulators' thread, fauxqs's 20 ms re-check of the timer queue's delayed messages while the adds pile up.
 * The whole add path's warm-up is charged here (PutItem and SendMessage were warm when measured alone).
 */
const apiCost: CallCost = {
  ...callCost(r.addThroughApi, r.latency.fastPath),
  clientCpuMs: Math.max(
    0,
    r.addThroughApi.warm.main - r.ddbPut.warm.main - r.sqsSend.warm.main - ADD_HANDLER_MS,
  ),
  serverCpuMs: Math.max(
    0,
    r.addThroughApi.warm.emulators - r.ddbPut.warm.emulators - r.sqsSend.warm.emulators,
  ),
  helperCpuMs: Math.max(0, r.addThroughApi.warm.helpers - r.ddbPut.warm.helpers - r.sqsSend.warm.helpers),
};

const cpuParameter = (c: CalibratedCall, what: string): Parameter => ({
  value: Math.round((c.warm.main + c.warm.emulators + c.warm.helpers) * 1000) / 1000,
  unit: `ms CPU per ${what} (main ${c.warm.main} + emulators ${c.warm.emulators} + helpers ${c.warm.helpers}${c.entry ? `; per entry ${c.entry.main} + ${c.entry.emulators} + ${c.entry.helpers}` : ""}; warm-up ${c.warmUp.main} + ${c.warmUp.emulators} + ${c.warmUp.helpers} ms over the first ${c.warmUp.calls})`,
  source: { measured: MEASURED },
});

export const LOCAL_PARAMETERS = {
  addThroughApiCpu: cpuParameter(
    r.addThroughApi,
    "add through the API (HTTP, handler, PutItem, SendMessage)",
  ),
  ddbPutCpu: cpuParameter(r.ddbPut, "PutItem (putNew: a task, condition, sweep index)"),
  sqsSendCpu: cpuParameter(r.sqsSend, "SendMessage (the timer's arm)"),
  ddbQueryCpu: cpuParameter(r.ddbQuery, "Query (listScheduledInGroup), per item returned"),
  sqsSendBatchCpu: cpuParameter(r.sqsSendBatch, "SendMessageBatch (sendInOrder to the FIFO topic)"),
  ddbUpdateQueuedCpu: cpuParameter(r.ddbUpdateQueued, "UpdateItem (markQueued)"),
  sqsReceiveCpu: cpuParameter(r.sqsReceive, "ReceiveMessage (the local event source's), per message"),
  sqsDeleteBatchCpu: cpuParameter(r.sqsDeleteBatch, "DeleteMessageBatch, per entry"),
  ddbUpdateAttemptCpu: cpuParameter(r.ddbUpdateAttempt, "UpdateItem returning the record (startAttempt)"),
  callbackCpu: cpuParameter(r.callback, "callback POST (the deliver function's client)"),
  ddbUpdateDeliveredCpu: cpuParameter(r.ddbUpdateDelivered, "UpdateItem (markDelivered with its log entry)"),
  ddbBatchGetCpu: cpuParameter(r.ddbBatchGet, "BatchGetItem (deliver's batch read, readMany), per task"),
  ddbBatchStartCpu: cpuParameter(
    r.ddbBatchStart,
    "BatchExecuteStatement (deliver's batch start, startAttempts; local/aws/partiql.ts), per statement",
  ),
  ddbBatchFinishCpu: cpuParameter(
    r.ddbBatchFinish,
    "BatchExecuteStatement (deliver's finishing `delivered` writes, finishAttempts), per statement",
  ),
  inSituFactor: {
    value: IN_SITU.factorByShape.rate.main,
    unit: `× every call's CPU on the main thread at a steady rate (emulators × ${IN_SITU.factorByShape.rate.emulators}, helpers × ${IN_SITU.factorByShape.rate.helpers}; in a burst main × ${IN_SITU.factorByShape.burst.main}, emulators × ${IN_SITU.factorByShape.burst.emulators}, helpers × ${IN_SITU.factorByShape.burst.helpers}): the whole pipeline's CPU per task against the sum of its calls, per workload shape`,
    source: {
      measured: `npx tsx plan/calibrate-pipeline.ts (${IN_SITU.measuredAt.slice(0, 10)}, load ${IN_SITU.loadAverage}): ${IN_SITU.workloads.map((w) => w.name).join(" and ")} on the local cloud, /proc per thread`,
    },
  },
  fastPathLatency: {
    value: r.latency.fastPath,
    unit: "ms per call beyond both threads' CPU (one call at a time: the MessagePort hops)",
    source: { measured: MEASURED },
  },
  callbackLatency: {
    value: r.latency.callback,
    unit: "ms per callback beyond the caller's CPU (one at a time, receiver in another process)",
    source: { measured: MEASURED },
  },
  handlerCpu: {
    value: HANDLERS.perTask.add + HANDLERS.perTask.relay + HANDLERS.perTask.deliver,
    unit: "ms CPU per task of the handlers' own code (add 0.11, relay 0.019, deliver 0.043)",
    source: { measured: FUNCTIONS },
  },
  invocationCpu: {
    value: HANDLERS.perInvocation.relay,
    unit: "ms CPU per invocation of the local runtime's event and context (add 0.05)",
    source: { assumption: "not measured apart: building the SQS event's records and the Lambda context" },
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
    unit: "cores shared by the main thread, the emulators' thread and V8's helper threads",
    source: {
      measured:
        "os.availableParallelism() on this machine; the default layout of local/cloud/local-cloud.ts (function hosts off)",
    },
  },
  visibilityTick: {
    value: 20,
    unit: "ms",
    source: {
      measured: "fauxqs re-checks delayed messages every 20 ms (sqsStore.js startPollTimerIfNeeded)",
    },
  },
} as const satisfies Record<string, Parameter>;

/**
 * The profile from the calls measured one kind at a time: what plan/calibrate-pipeline.ts compares a pipeline run
 * against. Predictions use LOCAL_PROFILES (below), these costs times the in-situ factors of the workload's shape.
 */
export const BARE_LOCAL_PROFILE: Profile = {
  name: "local",
  calls: {
    api: apiCost,
    ddbPut: callCost(r.ddbPut, r.latency.fastPath),
    ddbUpdate: callCost(r.ddbUpdateQueued, r.latency.fastPath),
    ddbQuery: callCost(r.ddbQuery, r.latency.fastPath),
    // Not on the near-term path (a retried attempt start reads the task): priced as the PutItem's read side.
    ddbGet: callCost(r.ddbPut, r.latency.fastPath),
    ddbBatchGet: callCost(r.ddbBatchGet, r.latency.fastPath),
    ddbBatchStatement: callCost(r.ddbBatchFinish, r.latency.fastPath),
    sqsSend: callCost(r.sqsSend, r.latency.fastPath),
    sqsSendBatch: callCost(r.sqsSendBatch, r.latency.fastPath),
    sqsReceive: callCost(r.sqsReceive, r.latency.fastPath),
    sqsDeleteBatch: callCost(r.sqsDeleteBatch, r.latency.fastPath),
    // Not on the near-term path (tasks beyond the timer horizon): priced as a SendMessage.
    schedulerCreate: callCost(r.sqsSend, r.latency.fastPath),
    callback: callCost(r.callback, r.latency.callback),
  },
  callSites: {
    markQueued: callCost(r.ddbUpdateQueued, r.latency.fastPath),
    startAttempt: callCost(r.ddbUpdateAttempt, r.latency.fastPath),
    markDelivered: callCost(r.ddbUpdateDelivered, r.latency.fastPath),
    batchStart: callCost(r.ddbBatchStart, r.latency.fastPath),
    batchFinish: callCost(r.ddbBatchFinish, r.latency.fastPath),
  },
  cpu: {
    machineCores: LOCAL_PARAMETERS.machineCores.value,
    // The default layout: every function on the main thread (local/cloud/local-cloud.ts, function hosts off).
    functionThreads: { add: "main", relay: "main", deliver: "main" },
  },
  invocationCpuMs: HANDLERS.perInvocation,
  perTaskCpuMs: HANDLERS.perTask,
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

const scaled = (c: CpuSplit, f: ThreadCost): CpuSplit => ({
  clientCpuMs: c.clientCpuMs * f.main,
  serverCpuMs: c.serverCpuMs * f.emulators,
  helperCpuMs: c.helperCpuMs * f.helpers,
});

/** A call's CPU on each thread times that thread's in-situ factor (the caller's side runs on the main thread). */
function inSituCall(cost: CallCost, f: ThreadCost): CallCost {
  return {
    ...cost,
    ...scaled({ ...cost, helperCpuMs: cost.helperCpuMs ?? 0 }, f),
    ...(cost.perEntry ? { perEntry: scaled(cost.perEntry, f) } : {}),
    ...(cost.warmUp ? { warmUp: { ...scaled(cost.warmUp, f), calls: cost.warmUp.calls } } : {}),
  };
}

const perFunction = (costs: Profile["perTaskCpuMs"], factor: number) =>
  ({
    add: costs.add * factor,
    relay: costs.relay * factor,
    deliver: costs.deliver * factor,
  }) as const;

/** The bare profile with every CPU figure times its thread's in-situ factor. */
export function inSituProfile(bare: Profile, f: ThreadCost): Profile {
  const calls = Object.fromEntries(
    Object.entries(bare.calls).map(([name, cost]) => [name, inSituCall(cost, f)]),
  ) as unknown as Profile["calls"];
  const callSites = Object.fromEntries(
    Object.entries(bare.callSites ?? {}).map(([site, cost]) => [site, inSituCall(cost, f)]),
  );
  return {
    ...bare,
    calls,
    callSites,
    invocationCpuMs: perFunction(bare.invocationCpuMs, f.main),
    perTaskCpuMs: perFunction(bare.perTaskCpuMs, f.main),
  };
}

/** What the planner and the bench predict with: the calls as measured, times the in-situ factors of each shape. */
export const LOCAL_PROFILES: Readonly<Record<WorkloadShape, Profile>> = {
  burst: inSituProfile(BARE_LOCAL_PROFILE, IN_SITU.factorByShape.burst),
  rate: inSituProfile(BARE_LOCAL_PROFILE, IN_SITU.factorByShape.rate),
};

/**
 * The local profile for a workload: its shape's in-situ factors — times the host's speed of the moment when one was
 * measured (per thread, the CPU a run measured ÷ what this profile modelled for it: bench/lib/planner.ts
 * `speedOfHost`), because the machine's cores run faster or slower by 5–10 % from one half hour to the next.
 */
export function localProfile(workload: Workload, hostSpeed?: ThreadCost): Profile {
  if (!hostSpeed) return LOCAL_PROFILES[shapeOf(workload)];
  const f = IN_SITU.factorByShape[shapeOf(workload)];
  return inSituProfile(BARE_LOCAL_PROFILE, {
    main: f.main * hostSpeed.main,
    emulators: f.emulators * hostSpeed.emulators,
    helpers: f.helpers * hostSpeed.helpers,
  });
}
