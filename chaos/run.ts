/**
 * `npm run chaos`: thousands of tasks through a local cloud whose every AWS call may fail and whose callback
 * receiver misbehaves, then the invariants checked from the outside (see docs/RELIABILITY.md).
 *
 *   npm run chaos                              # 10,000 tasks, 500 groups, 6 % faults on every AWS call, seed 1
 *   npm run chaos -- --tasks 2000 --seed 7     # smaller, another seed
 *   npm run chaos -- --fault-rate 0.1 --sdk-max-attempts 3
 */
import { writeFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { quietNodeVersionWarning } from "../shared/runtime/node-version.js";
import { type ChaosOptions, runChaos } from "./engine.js";
import { chaosPassed, formatReport } from "./report.js";

quietNodeVersionWarning();

const program = new Command()
  .name("chaos")
  .description("Fault-inject the local cloud under load and check that nothing is lost, early, out of order.")
  .option("--seed <n>", "seed of the workload, the AWS faults and the receiver's moods", integer, 1)
  .option("--tasks <n>", "tasks to send", integer, 10_000)
  .option("--groups <n>", "ordering groups (order_id values)", integer, 500)
  .option("--fault-rate <p>", "probability of an error fault on every AWS call", probability, 0.06)
  .option(
    "--entry-faults <shape>",
    "SendMessageBatch entries refused one by one at --fault-rate while the rest land: independent (a group's later " +
      "entry may land after a refused one), stopGroup (a refused entry refuses its group's later ones) or off",
    entryShape,
    "independent",
  )
  .option("--slow-rate <p>", "probability of a slow (but successful) AWS call", probability, 0.01)
  .option(
    "--fault-timeout-ms <ms>",
    "how long a timeout fault holds a call before dropping it",
    integer,
    1000,
  )
  .option("--sdk-max-attempts <n>", "AWS SDK attempts per call in the functions (SDK default: 3)", integer, 2)
  .option("--no-fault-pollers", "keep the event-source pollers' own SQS calls free of faults")
  .option("--horizon <s>", "timer queue horizon (tasks due later ride the Scheduler)", integer, 20)
  .option("--lead <s>", "Scheduler lead before the due time", integer, 8)
  .option("--firing-window <s>", "Scheduler fires up to this late", integer, 5)
  .option("--visibility <s>", "visibility timeout of the consumed queues (0: the stack's own)", integer, 30)
  .option(
    "--multi-batch-share <p>",
    "share of grouped tasks sent as runs of 2–8 in keyed multi-item batches",
    probability,
    0.3,
  )
  .option("--concurrency <n>", "client requests in flight", integer, 48)
  .option("--settle-timeout <s>", "give up waiting this long after the last due time", integer, 600)
  .option("--json <file>", "also write the full report as JSON")
  .option(
    "--protect",
    "protect the receiver (issue 14): rate limit, concurrency per host and circuit breaker on the demo topic",
    false,
  )
  .option("--verbose", "print the local cloud's log lines", false)
  .parse();

const cli = program.opts<{
  protect: boolean;
  seed: number;
  tasks: number;
  groups: number;
  faultRate: number;
  entryFaults: "independent" | "stopGroup" | "off";
  slowRate: number;
  faultTimeoutMs: number;
  sdkMaxAttempts: number;
  faultPollers: boolean;
  horizon: number;
  lead: number;
  firingWindow: number;
  visibility: number;
  concurrency: number;
  multiBatchShare: number;
  settleTimeout: number;
  json?: string;
  verbose: boolean;
}>();

const options: ChaosOptions = {
  seed: cli.seed,
  workload: {
    tasks: cli.tasks,
    groups: cli.groups,
    ungroupedShare: 0.12,
    nearMaxSeconds: Math.max(1, cli.horizon - 3),
    schedulerShare: 0.25,
    schedulerMinSeconds: cli.horizon + 3,
    schedulerMaxSeconds: cli.horizon + 45,
    cancelShare: 0.05,
    idempotentShare: 0.15,
    sameDueShare: 0.25,
    poisonShare: 0.005,
    batchShare: 0.3,
    // Runs of one group's tasks in one keyed batch, a third sharing their request with another group's run, some
    // carrying ungrouped tasks along.
    batches: { multiBatchShare: cli.multiBatchShare, mixedShare: 0.3, ungroupedRiderShare: 0.2 },
  },
  faultRate: cli.faultRate,
  ...(cli.entryFaults === "off" ? {} : { batchEntryFaults: cli.entryFaults }),
  slowRate: cli.slowRate,
  faultTimeoutMs: cli.faultTimeoutMs,
  faultEventSources: cli.faultPollers,
  sdkMaxAttempts: cli.sdkMaxAttempts,
  configOverrides: {
    timer: { horizonSeconds: cli.horizon, leadSeconds: cli.lead },
    topics: {
      demo: {
        maxAttempts: 5,
        backoff: { initialSeconds: 1, maxSeconds: 3 },
        callbackTimeoutSeconds: 2,
        // Limits well above what one host needs here, and a breaker that the flaky receiver may trip now and then.
        ...(cli.protect && {
          rateLimit: 200,
          maxConcurrencyPerHost: 20,
          circuitFailureThreshold: 8,
          circuitCooldownSeconds: 1,
        }),
      },
    },
  },
  firingWindowSeconds: cli.firingWindow,
  visibilityTimeoutSeconds: cli.visibility,
  concurrency: cli.concurrency,
  settleTimeoutMs: cli.settleTimeout * 1000,
  functionLogs: cli.verbose ? "print" : "count",
  ...(cli.verbose ? { log: (line: string) => process.stderr.write(`${line}\n`) } : {}),
  progress: (line) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`),
};

const report = await runChaos(options);
process.stdout.write(`${formatReport(report)}\n`);
if (cli.json) writeFileSync(cli.json, `${JSON.stringify(report, null, 2)}\n`);
process.exit(chaosPassed(report) ? 0 : 1);

function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0)
    throw new InvalidArgumentError("must be a non-negative integer");
  return parsed;
}

function entryShape(value: string): "independent" | "stopGroup" | "off" {
  if (value === "independent" || value === "stopGroup" || value === "off") return value;
  throw new InvalidArgumentError("must be independent, stopGroup or off");
}

function probability(value: string): number {
  const parsed = Number(value);
  if (!(parsed >= 0 && parsed <= 1)) throw new InvalidArgumentError("must be between 0 and 1");
  return parsed;
}
