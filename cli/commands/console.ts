import type { Command } from "commander";
import { Option } from "commander";
import { authorizer, regionOfApiUrl } from "../../client/auth.js";
import { ensureConsoleBuilt } from "../../console/build.js";
import { startConsoleServer } from "../../console/cli-server.js";
import { serviceName } from "../../shared/domain/metrics.js";
import { authOf, checkedApiUrl, type GlobalOptions } from "../connection.js";
import { UsageError } from "../exit-codes.js";
import { type CliIo, shown } from "../output.js";
import { untilStopped } from "../until-stopped.js";
import { wholeNumber } from "../whole-number.js";

interface ConsoleOptions {
  readonly port: number;
  readonly host: string;
  readonly metricsService?: string;
}

/**
 * `punctual console`: the console page on this machine against a deployed stack. The page calls this server,
 * which signs each API call with your AWS credentials (never the browser) and reads CloudWatch for the metrics.
 * Runs until Ctrl-C, a SIGTERM, or its parent (`npx`) gone (`untilStopped`).
 */
export function consoleCommand(parent: Command, io: CliIo): void {
  parent
    .command("console")
    .description(
      "Open the console (topics, lateness, tasks, dead letters) for a deployed stack on 127.0.0.1.",
    )
    .addOption(new Option("--port <port>", "local port (0: any free one)").default(4000).argParser(port))
    .addOption(new Option("--host <host>", "loopback address to listen on").default("127.0.0.1").hideHelp())
    .option("--metrics-service <name>", "the metrics' service dimension (default punctual-<env> with --env)")
    .addHelpText(
      "after",
      "\nExample:\n  $ npx punctual console --env prod        # then open the URL it prints (it holds a session token)",
    )
    .action(async (options: ConsoleOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      if (!/^(127\.\d+\.\d+\.\d+|localhost)$/.test(options.host))
        throw new UsageError(
          "the console listens on loopback only (it signs requests with your credentials)",
        );
      const apiUrl = await checkedApiUrl(global, io.env);
      const metricsService = options.metricsService ?? (global.env ? serviceName(global.env) : undefined);
      const region =
        global.region ?? regionOfApiUrl(apiUrl) ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION;
      // Watched from before the URL is printed: a parent stopped as soon as it reads the URL is seen stopping.
      const stopped = untilStopped();
      await ensureConsoleBuilt();
      const server = await startConsoleServer({
        apiUrl,
        authorize: authorizer(authOf(global, apiUrl.href), apiUrl, io.env),
        ...(metricsService ? { metricsService } : {}),
        ...(region ? { region } : {}),
        host: options.host,
        port: options.port,
        // An error's message may carry what a server sent (CloudWatch's, or whatever answers on the way): shown by
        // the rule of every line the CLI writes, not sent to the terminal as it came.
        log: (line) => io.err(`${shown(line)}\n`),
      }).catch((error: unknown) => Promise.reject(portProblem(error, options) ?? error));
      io.out(`Punctual console for ${apiUrl.origin}: ${server.url}\n(Ctrl-C stops)\n`);
      await stopped;
      await server.stop();
    });
}

/**
 * A port that cannot be listened on is the caller's choice to change (exit 1, naming `--port`), not a failure worth
 * retrying (exit 3 with Node's raw `listen EADDRINUSE`): the default, 4000, is also the local receiver's.
 */
function portProblem(error: unknown, options: ConsoleOptions): UsageError | undefined {
  const code = (error as { code?: unknown }).code;
  const at = `port ${options.port} on ${options.host}`;
  if (code === "EADDRINUSE")
    return new UsageError(`${at} is in use: give another --port (0 picks a free one)`);
  if (code === "EACCES")
    return new UsageError(`${at} is not open to this user: give another --port (0 picks a free one)`);
  return undefined;
}

/** A port in plain digits (0 picks a free one): `Number()` alone read `0x50` as 80 and `8e3` as 8000. */
const port = wholeNumber(0, 65_535);
