import { Command, InvalidArgumentError, Option } from "commander";
import { uniformFaultRates } from "#local/aws/faults.js";
import type { EmulatorLayout, LocalCloudOptions } from "#local/cloud/local-cloud.js";

export interface StartOptions {
  readonly port: number;
  readonly awsPort: number;
  readonly data?: string;
  readonly firingWindow: number;
  readonly faults?: number;
  readonly faultSeed: number;
  readonly settings: string;
  readonly verbose: boolean;
}

/**
 * `npm start`'s command line. The ports come from the flags or from PORT / AWS_PORT, and both go through the same
 * check (read as a plain default, an environment value skipped it). `PORT=abc`, `--port 70000` and
 * `--firing-window 61` used to be taken as they were and crash with a stack trace once much else had started.
 */
export function parseStartOptions(
  argv: readonly string[],
  testing: { readonly exitOverride?: boolean; readonly writeErr?: (text: string) => void } = {},
): StartOptions {
  const program = new Command()
    .name("punctual-local")
    .description("Run Punctual's local cloud: AWS emulators, the HTTP API and every function.")
    .addOption(portOption("--port <port>", "HTTP API port", "PORT", 3000))
    .addOption(portOption("--aws-port <port>", "AWS-compatible endpoint port", "AWS_PORT", 4566))
    .option("--data <dir>", "keep tasks and schedules in this directory across restarts", nonEmpty)
    .option(
      "--firing-window <seconds>",
      "fire schedules anywhere within N seconds after their time, as AWS does (0-60)",
      firingWindow,
      0,
    )
    .option(
      "--faults <rate>",
      "inject throttling, 5xx, timeouts and dropped connections into this share of the functions' and event sources' AWS calls (0-1)",
      rate,
    )
    .option("--fault-seed <n>", "seed of the injected faults", integer, 1)
    .option(
      "--settings <file>",
      "runtime topic settings (the local AppConfig document): edit it while running, applied within a second",
      nonEmpty,
      ".punctual/local-settings.json",
    )
    .option("--verbose", "log every function and emulator message, and the functions' metric lines", false);
  if (testing.exitOverride) program.exitOverride();
  if (testing.writeErr) program.configureOutput({ writeErr: testing.writeErr });
  const options = program.parse(argv as string[]).opts<StartOptions>();
  const seedGiven = program.getOptionValueSource("faultSeed") === "cli";
  const conflict = conflictOf(options, seedGiven) ?? malformedVariable(process.env);
  if (conflict !== undefined) program.error(`error: ${conflict}`);
  return options;
}

/**
 * `--port 4600 --aws-port 4600` started everything behind the AWS endpoint (~20 s on a loaded machine), then failed
 * opening the API with "already in use (another local cloud, perhaps) … choose another port with --aws-port": the
 * wrong cause and the wrong option. Port 0 on both is fine (each gets its own free port).
 */
function conflictOf(options: StartOptions, seedGiven: boolean): string | undefined {
  if (options.port !== 0 && options.port === options.awsPort) {
    return `--port and --aws-port (or PORT and AWS_PORT) are both ${options.port}: the API and the AWS endpoint need a port each`;
  }
  // `--fault-seed 7` alone ran without faults and said nothing: the run meant to reproduce a failure did not.
  if (seedGiven && !options.faults) {
    return "--fault-seed seeds the faults of --faults <rate>: give a rate above 0 too";
  }
  return undefined;
}

/** What `emulatorLayout` and `functionHostsWanted` (local/cloud/local-cloud.ts) take; empty is as unset. */
const LOCAL_VARIABLES: Readonly<Record<string, readonly string[]>> = {
  PUNCTUAL_LOCAL_EMULATORS: ["thread", "child", "in-process"] satisfies readonly EmulatorLayout[],
  PUNCTUAL_LOCAL_FUNCTION_HOSTS: ["0", "1"],
};

/**
 * `PUNCTUAL_LOCAL_EMULATORS=childs` or `PUNCTUAL_LOCAL_FUNCTION_HOSTS=true` used to be ignored without a word:
 * the comparison the developer meant to make ran the default layout.
 */
function malformedVariable(env: NodeJS.ProcessEnv): string | undefined {
  for (const [name, allowed] of Object.entries(LOCAL_VARIABLES)) {
    const value = env[name];
    if (value !== undefined && value !== "" && !allowed.includes(value)) {
      return `${name} is ${JSON.stringify(value)}: it takes ${allowed.join(", ")} (or unset)`;
    }
  }
  return undefined;
}

/**
 * What `npm start` asks of the local cloud for these options. `--verbose` prints every line the cloud logs and the
 * functions' EMF metric lines (docs/OPERATIONS.md "Where it differs from AWS"), which are otherwise only kept for the console;
 * without it, only the lines naming an error, a failure or the topic settings.
 */
export function localCloudOptions(
  options: StartOptions,
  io: {
    readonly signingSecret: string;
    readonly writeErr: (text: string) => void;
    readonly onEmulatorsFailed?: (error: Error) => void;
  },
): LocalCloudOptions {
  return {
    apiPort: options.port,
    awsPort: options.awsPort,
    firingWindowSeconds: options.firingWindow,
    settingsFile: options.settings,
    signingSecret: io.signingSecret,
    printMetrics: options.verbose,
    ...(options.data ? { dataDir: options.data } : {}),
    ...(io.onEmulatorsFailed ? { onEmulatorsFailed: io.onEmulatorsFailed } : {}),
    ...(options.faults
      ? { faults: { seed: options.faultSeed, rates: uniformFaultRates(options.faults) } }
      : {}),
    log: (line) => {
      if (options.verbose || /error|fail|topic settings/i.test(line)) io.writeErr(`${line}\n`);
    },
  };
}

function portOption(flags: string, description: string, variable: string, fallback: number): Option {
  return new Option(flags, description).env(variable).argParser(port).default(fallback);
}

function port(value: string): number {
  const parsed = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(parsed >= 0 && parsed <= 65_535)) {
    throw new InvalidArgumentError("must be a port number, 0-65535 (0: any free port)");
  }
  return parsed;
}

/** The Scheduler emulator's own bound: past it, it refused to start with a stack trace from its thread. */
function firingWindow(value: string): number {
  const parsed = integer(value);
  if (parsed > 60) throw new InvalidArgumentError("must be 0-60 seconds");
  return parsed;
}

/** `--data "$DIR"` with DIR unset used to keep everything in memory: what it accepted was gone at the next stop. */
function nonEmpty(value: string): string {
  if (value.trim() === "") throw new InvalidArgumentError("must not be empty");
  return value;
}

/** `Number("")` is 0: an empty `--faults` or `--firing-window` was taken as 0 rather than refused. */
function numberOf(value: string): number {
  return value.trim() === "" ? Number.NaN : Number(value);
}

function rate(value: string): number {
  const parsed = numberOf(value);
  if (!(parsed >= 0 && parsed <= 1)) throw new InvalidArgumentError("must be between 0 and 1");
  return parsed;
}

function integer(value: string): number {
  const parsed = numberOf(value);
  if (!Number.isInteger(parsed) || parsed < 0)
    throw new InvalidArgumentError("must be a non-negative integer");
  return parsed;
}
