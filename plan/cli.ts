/**
 * `npm run plan -- --burst 3000 --groups 300` or `--rate 1000 --duration 30 --delay 5 --groups 1000`: what the
 * deployed pipeline would do with that workload — p50/p99 lateness, throughput, peak Lambda concurrency, quotas
 * to raise, cost — from a discrete-event model driven by the domain code's decisions (plan/model/) and the AWS
 * parameters in plan/parameters.ts. `--profile local` predicts this machine's local cloud instead.
 */
import { Command, InvalidArgumentError } from "commander";
import {
  type ConfigOverrides,
  DEFAULT_CONFIG,
  type PlannerConfig,
  plannerConfigFor,
  withOverrides,
} from "./config.js";
import { localProfile } from "./local-profile.js";
import { AWS_PROFILE } from "./model/profile.js";
import { checkedWorkload, describeWorkload, type Workload } from "./model/workload.js";
import { predict } from "./predict.js";
import { renderPrediction } from "./report.js";

const number = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a non-negative number");
  return n;
};

/** A share of a core: 0 would stop the local machine's clock (every slice divided by it). */
const share = (value: string) => {
  const n = number(value);
  if (n <= 0) throw new InvalidArgumentError("must be more than 0");
  return n;
};

interface Options {
  burst?: number;
  rate?: number;
  duration: number;
  delay?: number;
  groups: number;
  clients: number;
  maxInFlight: number;
  config?: string;
  env?: string;
  profile: "aws" | "local";
  cpuSpeed: number;
  json?: boolean;
}

/** The environment's configuration (`--env`, default `local`), then `--config` over it. */
function configFrom(options: Options): PlannerConfig {
  const base = options.env ? plannerConfigFor(options.env) : DEFAULT_CONFIG;
  return withOverrides(base, options.config ? (JSON.parse(options.config) as ConfigOverrides) : {});
}

/** The workload asked for, refused (one line, exit code 1) where the model could only answer nonsense. */
function workloadFrom(options: Options): Workload {
  if ((options.burst === undefined) === (options.rate === undefined))
    throw new Error("give --burst N or --rate R --duration S (one of them)");
  return checkedWorkload(
    options.burst !== undefined
      ? {
          burst: options.burst,
          groups: options.groups,
          delaySeconds: options.delay ?? 13,
          clients: options.clients,
        }
      : {
          rate: options.rate as number,
          durationSeconds: options.duration,
          delaySeconds: options.delay ?? 5,
          groups: options.groups,
          clients: options.clients,
          maxInFlight: options.maxInFlight,
        },
  );
}

const program = new Command("plan")
  .description(
    "Predict lateness, throughput, concurrency, quotas and cost of a workload on the deployed pipeline",
  )
  .option("--burst <n>", "N tasks all due in the same second", number)
  .option("--rate <r>", "tasks per second", number)
  .option("--duration <s>", "seconds at --rate", number, 30)
  .option(
    "--delay <s>",
    "each task's delay (rate), or how far ahead the burst is added (default 5 / 13)",
    number,
  )
  .option("--groups <g>", "ordering groups", number, 1000)
  .option("--clients <c>", "the caller's connections (adds in flight)", number, 64)
  .option(
    "--max-in-flight <n>",
    "rate: adds issued but not answered before the caller falls behind",
    number,
    1024,
  )
  .option("--config <json>", 'configuration overrides, e.g. \'{"eventSources":{"relay":{"batchSize":10}}}\'')
  .option(
    "--env <name>",
    "start from an environment's config: its eventSources, timer and first topic (default: local)",
  )
  .option(
    "--profile <name>",
    "aws (the parameter table) or local (this machine's local cloud, plan/local-profile.ts)",
    "aws",
  )
  .option(
    "--cpu-speed <x>",
    "local profile: share of a core each process gets (1 = an idle 2-core machine)",
    share,
    1,
  )
  .option("--json", "print the prediction as JSON")
  .action((options: Options) => {
    let workload: Workload;
    let config: PlannerConfig;
    try {
      workload = workloadFrom(options);
      config = configFrom(options);
    } catch (error) {
      // A usage mistake: one line and exit code 1, not a stack trace.
      program.error(`plan: ${(error as Error).message}`);
    }
    const profiles = { aws: AWS_PROFILE, local: localProfile(workload) };
    const profile = profiles[options.profile] ?? program.error(`plan: unknown profile ${options.profile}`);
    const prediction = predict(workload, config, profile, { cpuSpeed: options.cpuSpeed });
    if (options.json) process.stdout.write(`${JSON.stringify({ workload, config, prediction }, null, 2)}\n`);
    else process.stdout.write(`${renderPrediction(describeWorkload(workload), config, prediction)}\n`);
  });

await program.parseAsync();
