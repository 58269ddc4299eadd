import { Command, InvalidArgumentError, Option } from "commander";
import { uniformFaultRates } from "#local/aws/faults.js";
import type { LocalCloudOptions } from "#local/cloud/local-cloud.js";

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
    .option("--data <dir>", "keep tasks and schedules in this directory across restarts")
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
      ".punctual/local-settings.json",
    )
    .option("--verbose", "log every function and emulator message, and the functions' metric lines", false);
  if (testing.exitOverride) program.exitOverride();
  if (testing.writeErr) program.configureOutput({ writeErr: testing.writeErr });
  return program.parse(argv as string[]).opts<StartOptions>();
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

function rate(value: string): number {
  const parsed = Number(value);
  if (!(parsed >= 0 && parsed <= 1)) throw new InvalidArgumentError("must be between 0 and 1");
  return parsed;
}

function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0)
    throw new InvalidArgumentError("must be a non-negative integer");
  return parsed;
}
