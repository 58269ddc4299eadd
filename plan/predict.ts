import { TASK_TABLE_INDEX_COUNT } from "#shared/config/index.js";
import type { PlannerConfig } from "./config.js";
import { type SimulationRun, simulate } from "./model/pipeline.js";
import type { Profile } from "./model/profile.js";
import type { Workload } from "./model/workload.js";
import type { CpuSpeed } from "./model/world.js";
import { AWS_PARAMETERS as P } from "./parameters.js";

/** The task table's GSIs, each provisioned at its own minimum (shared/config/table-capacity.ts). */
const INDEXES = TASK_TABLE_INDEX_COUNT;

export interface Lateness {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface Quota {
  readonly quota: string;
  readonly needed: number;
  readonly limit: number;
  readonly raiseTo?: number;
  readonly note: string;
}

export interface Prediction {
  readonly profile: string;
  readonly tasks: number;
  readonly received: number;
  /** Receive time − due time, ms. */
  readonly latenessMs: Lateness;
  /** Tasks received per second from the first due time to the last receive (as the bench counts it). */
  readonly deliveryRate: number;
  readonly addRate: number;
  readonly peakConcurrency: {
    readonly add: number;
    readonly relay: number;
    readonly deliver: number;
    readonly total: number;
  };
  readonly coldStarts: number;
  readonly perTask: {
    readonly awsRequests: number;
    readonly wru: number;
    readonly rru: number;
    /** DynamoDB write requests: PutItem, UpdateItem and BatchExecuteStatement calls (not statements). */
    readonly ddbWriteCalls: number;
  };
  readonly costPerMillion: number;
  /** The workload's rate sustained for 30 days (absent for a burst), with the provisioned pollers' and table's floor. */
  readonly monthlyCost?: number;
  readonly idleMonthlyCost: number;
  readonly quotas: Quota[];
  /** Local profiles: CPU ms per task on each of the local cloud's threads (what the bench measures per thread). */
  readonly cpuMsPerTask?: { readonly main: number; readonly emulators: number; readonly helpers: number };
}

const quantile = (sorted: readonly number[], q: number) =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
const round = (x: number, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits;
const MONTH_SECONDS = 30 * 86_400;

export function predict(
  workload: Workload,
  config: PlannerConfig,
  profile: Profile,
  options: { cpuSpeed?: CpuSpeed } = {},
): Prediction {
  const run = simulate(workload, config, profile, options);
  const lateness = run.table.all
    .filter((t) => t.receivedAtMs !== undefined)
    .map((t) => (t.receivedAtMs as number) - t.key.dueAtMs)
    .sort((a, b) => a - b);
  // Reduced, not spread: a scale run has more tasks than a call may take arguments.
  const firstDue = run.table.all.reduce((m, t) => Math.min(m, t.key.dueAtMs), Number.POSITIVE_INFINITY);
  const lastReceive = run.table.all.reduce((m, t) => Math.max(m, t.receivedAtMs ?? 0), 0);
  const tasks = run.table.all.length;
  const deliveryRate = lastReceive > firstDue ? (lateness.length * 1000) / (lastReceive - firstDue) : 0;
  const addSeconds = (run.adds.lastMs - run.adds.firstMs) / 1000;
  const addRate = addSeconds > 0 ? run.adds.accepted / addSeconds : 0;
  const { add, relay, deliver } = run.functions;
  const cost = costPerMillion(run, tasks, config);
  const idle = idleMonthlyCost(config);
  return {
    profile: profile.name,
    tasks,
    received: lateness.length,
    latenessMs: {
      p50: round(quantile(lateness, 0.5)),
      p90: round(quantile(lateness, 0.9)),
      p99: round(quantile(lateness, 0.99)),
      max: round(lateness.at(-1) ?? Number.NaN),
    },
    deliveryRate: round(deliveryRate, 1),
    addRate: round(addRate, 1),
    peakConcurrency: {
      add: add.peak,
      relay: relay.peak,
      deliver: deliver.peak,
      total: add.peak + relay.peak + deliver.peak,
    },
    coldStarts: add.coldStarts + relay.coldStarts + deliver.coldStarts,
    perTask: perTask(run, tasks),
    costPerMillion: round(cost, 2),
    ...(workload.rate ? { monthlyCost: round(monthlyCost(run, tasks, config, workload.rate)) } : {}),
    idleMonthlyCost: round(idle, 2),
    quotas: quotas(run, workload, config, { deliveryRate, addRate, tasks }),
    ...(run.world.threads
      ? {
          cpuMsPerTask: {
            main: round(run.world.threads.main.cpuMs / tasks, 3),
            emulators: round(run.world.threads.emulators.cpuMs / tasks, 3),
            helpers: round(run.world.usage.helperCpuMs / tasks, 3),
          },
        }
      : {}),
  };
}

function perTask(run: SimulationRun, tasks: number) {
  const u = run.world.usage;
  return {
    awsRequests: round(
      (u.standardRequests +
        u.fifoRequests +
        u.calls.ddbPut +
        u.calls.ddbUpdate +
        u.calls.ddbQuery +
        u.calls.ddbGet +
        u.calls.ddbBatchGet +
        u.calls.ddbBatchStatement) /
        tasks,
      2,
    ),
    wru: round(u.wru / tasks, 2),
    rru: round(u.rru / tasks, 2),
    ddbWriteCalls: round((u.calls.ddbPut + u.calls.ddbUpdate + u.calls.ddbBatchStatement) / tasks, 2),
  };
}

/** List-price dollars per million tasks from what the run called (docs/COST-AND-SCALE.md's prices). */
function costPerMillion(run: SimulationRun, tasks: number, config: PlannerConfig): number {
  return ((otherDollars(run) + tableDollars(run, config)) / tasks) * 1e6;
}

/** Everything but the task table: API, Lambda, SQS, Scheduler. */
function otherDollars(run: SimulationRun): number {
  const u = run.world.usage;
  const { add, relay, deliver } = run.functions;
  const invocations = add.invocations + relay.invocations + deliver.invocations;
  const gbSeconds = ((add.billedMs + relay.billedMs + deliver.billedMs) / 1000) * P.lambdaMemoryGb.value;
  return (
    (u.calls.api * P.priceApiPerM.value +
      invocations * P.priceLambdaRequestPerM.value +
      u.standardRequests * P.priceSqsStandardPerM.value +
      u.fifoRequests * P.priceSqsFifoPerM.value +
      u.calls.schedulerCreate * P.priceSchedulerPerM.value) /
      1e6 +
    gbSeconds * P.priceLambdaGbSecond.value
  );
}

/**
 * The table's share of what the run used. On-demand: every unit at the per-request price. Provisioned: each unit
 * consumed as a second of capacity, and auto scaling keeps consumed ÷ provisioned near the target, so a unit used
 * costs 1 ÷ target of a unit-second (docs/COST-AND-SCALE.md, "Levers"); the minimum capacity is the idle cost.
 */
function tableDollars(run: SimulationRun, config: PlannerConfig): number {
  const u = run.world.usage;
  const capacity = config.tableCapacity;
  if (capacity.mode === "on-demand")
    return (u.wru * P.priceDynamoWruPerM.value + u.rru * P.priceDynamoRruPerM.value) / 1e6;
  const perUnitSecond = (hourPrice: number) => hourPrice / 3600 / (capacity.targetUtilizationPercent / 100);
  return (
    u.wru * perUnitSecond(P.priceDynamoWcuHour.value) + u.rru * perUnitSecond(P.priceDynamoRcuHour.value)
  );
}

/**
 * The workload's rate sustained for 30 days. A provisioned table bills, per table and GSI, the larger of its
 * minimum and what the rate needs at the target utilization (near-term tasks write no GSI: those stay at their
 * minimum); provisioned pollers their minimum on top.
 */
function monthlyCost(run: SimulationRun, tasks: number, config: PlannerConfig, rate: number): number {
  const pollers = pollerIdleMonthlyCost(config);
  const others = (rate * MONTH_SECONDS * otherDollars(run)) / tasks;
  const capacity = config.tableCapacity;
  if (capacity.mode === "on-demand")
    return others + pollers + (rate * MONTH_SECONDS * tableDollars(run, config)) / tasks;
  const u = run.world.usage;
  const needed = (unitsPerTask: number) => (rate * unitsPerTask) / (capacity.targetUtilizationPercent / 100);
  const hours = MONTH_SECONDS / 3600;
  const writes =
    Math.max(capacity.table.write.min, needed(u.wru / tasks)) + INDEXES * capacity.indexes.write.min;
  const reads =
    Math.max(capacity.table.read.min, needed(u.rru / tasks)) + INDEXES * capacity.indexes.read.min;
  return (
    others + pollers + hours * (writes * P.priceDynamoWcuHour.value + reads * P.priceDynamoRcuHour.value)
  );
}

/** What the configuration costs with no traffic: provisioned pollers and a provisioned table's minimum capacity. */
export function idleMonthlyCost(config: PlannerConfig): number {
  return pollerIdleMonthlyCost(config) + tableIdleMonthlyCost(config);
}

/** The relay's minimum pollers and every topic's deliver minimum: each topic has its own mapping. */
function pollerIdleMonthlyCost(config: PlannerConfig): number {
  const pollers =
    (config.eventSources.relay.provisionedPollers?.min ?? 0) +
    config.deliverMappings * (config.eventSources.deliver.provisionedPollers?.min ?? 0);
  return pollers * 720 * P.provisionedPollerHourPrice.value;
}

function tableIdleMonthlyCost(config: PlannerConfig): number {
  const capacity = config.tableCapacity;
  if (capacity.mode === "on-demand") return 0;
  const writes = capacity.table.write.min + INDEXES * capacity.indexes.write.min;
  const reads = capacity.table.read.min + INDEXES * capacity.indexes.read.min;
  return 720 * (writes * P.priceDynamoWcuHour.value + reads * P.priceDynamoRcuHour.value);
}

function quotas(
  run: SimulationRun,
  workload: Workload,
  config: PlannerConfig,
  rates: { deliveryRate: number; addRate: number; tasks: number },
): Quota[] {
  // A burst is added at the callers' pace and delivered at the pipeline's: what the adds call (the API, a schedule
  // per task beyond the horizon) meets its quota at the first, everything else at the second.
  const rate = workload.rate ?? rates.deliveryRate;
  const addRate = workload.rate ?? rates.addRate;
  const u = run.world.usage;
  const wruPerTask = u.wru / rates.tasks;
  const rruPerTask = u.rru / rates.tasks;
  const perGroupRate = rate / workload.groups;
  const fifoSendsPerTask = u.fifoRequests / rates.tasks;
  const schedulesPerTask = u.calls.schedulerCreate / rates.tasks;
  const raise = (needed: number) => Math.ceil((needed * 1.5) / 100) * 100;
  return quotaRows(run, config, {
    rate,
    addRate,
    wruPerTask,
    rruPerTask,
    perGroupRate,
    fifoSendsPerTask,
    schedulesPerTask,
  })
    .map((row) => ({ ...row, needed: round(row.needed, 1) }))
    .map((row) =>
      row.needed > row.limit * 0.8 && !row.quota.includes("(hard)")
        ? { ...row, raiseTo: raise(row.needed) }
        : row,
    );
}

/** What one task asks of each service, and the rates it arrives at overall and per ordering group. */
interface QuotaNeed {
  rate: number;
  /** The rate adds arrive at: the workload's rate, or a burst's measured add rate. */
  addRate: number;
  wruPerTask: number;
  rruPerTask: number;
  perGroupRate: number;
  fifoSendsPerTask: number;
  schedulesPerTask: number;
}

type QuotaRow = Omit<Quota, "raiseTo">;

/** Each quota the pipeline meets, what the run needs of it and its default. */
function quotaRows(run: SimulationRun, config: PlannerConfig, need: QuotaNeed): QuotaRow[] {
  return [
    ...lambdaQuotaRows(run),
    {
      quota: "API Gateway requests/s (account)",
      needed: need.addRate,
      limit: P.apiGatewayRps.value,
      note: "one request per add (batch adds: ÷ up to 100)",
    },
    ...dynamoQuotaRows(need, config.tableCapacity),
    ...sqsQuotaRows(need),
    ...schedulerQuotaRows(need),
    ...eventSourceQuotaRows(run, config),
  ];
}

/**
 * How many batches each mapping may run at once: provisioned mode its maximum pollers' batches, default mode its
 * MaximumConcurrency or Lambda's ceiling. Deliver's row is one topic's mapping: a topic held to its
 * MaximumConcurrency falls behind, and without the row nothing said which setting held it.
 */
function eventSourceQuotaRows(run: SimulationRun, config: PlannerConfig): QuotaRow[] {
  const { relay, deliver } = config.eventSources;
  const limit = (m: { provisionedPollers?: { max: number }; maxConcurrency?: number }) =>
    m.provisionedPollers
      ? m.provisionedPollers.max * P.provisionedBatchesPerPoller.value
      : Math.min(m.maxConcurrency ?? Number.POSITIVE_INFINITY, P.esmMaxBatches.value);
  const note =
    "default mode tops out at 1,250 batches or MaximumConcurrency; provisioned mode at max pollers × 10";
  return [
    {
      quota: "relay event source concurrent batches",
      needed: run.relaySource.peakBatches,
      limit: limit(relay),
      note,
    },
    {
      quota: "deliver event source concurrent batches (each topic)",
      needed: run.deliverSource.peakBatches,
      limit: limit(deliver),
      note: `${note}; FIFO: also one batch per message group at a time`,
    },
  ];
}

function lambdaQuotaRows(run: SimulationRun): QuotaRow[] {
  const { add, relay, deliver } = run.functions;
  const peakFunction = Math.max(add.peak, relay.peak, deliver.peak);
  return [
    {
      quota: "Lambda concurrent executions (account)",
      needed: add.peak + relay.peak + deliver.peak,
      limit: P.lambdaConcurrencyQuota.value,
      note: "peak add + relay + deliver instances",
    },
    {
      quota: "Lambda scaling rate per function (hard)",
      needed: peakFunction,
      limit: P.lambdaScalingPer10s.value,
      note: "new instances per 10 s: a cold function reaches this peak only after peak/1,000 × 10 s (pre-warm or ramp)",
    },
  ];
}

function dynamoQuotaRows(need: QuotaNeed, capacity: PlannerConfig["tableCapacity"]): QuotaRow[] {
  const { perGroupRate, wruPerTask } = need;
  return [
    ...tableThroughputRows(need, capacity),
    {
      quota: "DynamoDB partition write units/s (hard)",
      needed: perGroupRate * wruPerTask,
      limit: P.dynamoPartitionWcu.value,
      note: "per ordering group: spread over more groups, cannot be raised",
    },
  ];
}

/**
 * What bounds the table's throughput: on-demand, the per-table quota; provisioned, the configured maximum that
 * auto scaling stops at (consumption past it is throttled; the config schema keeps it within 40,000 a table).
 */
function tableThroughputRows(
  { rate, wruPerTask, rruPerTask }: QuotaNeed,
  capacity: PlannerConfig["tableCapacity"],
): QuotaRow[] {
  const reads = "the relay's group Query and deliver's batch read";
  if (capacity.mode === "provisioned")
    return [
      {
        quota: "DynamoDB provisioned write capacity (taskTable.capacity.table.write.max)",
        needed: rate * wruPerTask,
        limit: capacity.table.write.max,
        note: "auto scaling stops at the maximum: writes past it are throttled",
      },
      {
        quota: "DynamoDB provisioned read capacity (taskTable.capacity.table.read.max)",
        needed: rate * rruPerTask,
        limit: capacity.table.read.max,
        note: `auto scaling stops at the maximum: ${reads}`,
      },
    ];
  return [
    {
      quota: "DynamoDB table write units/s",
      needed: rate * wruPerTask,
      limit: P.dynamoTableWru.value,
      note: "on-demand table quota; also set warm throughput",
    },
    {
      quota: "DynamoDB table read units/s",
      needed: rate * rruPerTask,
      limit: P.dynamoTableRru.value,
      note: `on-demand table quota: ${reads}`,
    },
  ];
}

function sqsQuotaRows({ rate, perGroupRate, fifoSendsPerTask }: QuotaNeed): QuotaRow[] {
  return [
    {
      quota: "SQS FIFO messages/s per group (hard)",
      needed: perGroupRate,
      limit: P.fifoPerGroupTps.value,
      note: "per message group",
    },
    {
      quota: "SQS FIFO requests/s per queue (high throughput)",
      needed: rate * fifoSendsPerTask,
      limit: P.fifoHighThroughputTps.value,
      note: "the stack enables high-throughput mode",
    },
  ];
}

function schedulerQuotaRows({ rate, addRate, schedulesPerTask }: QuotaNeed): QuotaRow[] {
  return [
    {
      quota: "Scheduler CreateSchedule/s",
      needed: addRate * schedulesPerTask,
      limit: P.schedulerCreateTps.value,
      note: "only tasks beyond the timer horizon",
    },
    {
      quota: "Scheduler invocations/s",
      needed: rate * schedulesPerTask,
      limit: P.schedulerInvocationsTps.value,
      note: "throttled firings are late, not lost",
    },
  ];
}
