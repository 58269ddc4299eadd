/**
 * `npx punctual …` (bin: cli/bin/punctual.mjs). `main` returns the exit code (cli/exit-codes.ts) instead of
 * exiting, so tests can run it in-process.
 */
import { Command, CommanderError, Option } from "commander";
import { consoleCommand } from "./commands/console.js";
import { destinationsCommand } from "./commands/destinations.js";
import { groupsCommand } from "./commands/groups.js";
import { keyCommand } from "./commands/key.js";
import { schedulesCommand } from "./commands/schedules.js";
import { tasksCommand } from "./commands/tasks.js";
import { topicsCommand } from "./commands/topics.js";
import { EXIT, exitCodeOf } from "./exit-codes.js";
import { type CliIo, printError, processIo } from "./output.js";

export function buildProgram(io: CliIo): Command {
  const program = new Command("punctual")
    .description(
      "Operate a Punctual API: schedule, inspect and cancel tasks; show, pause and resume topics; print topics' verification keys; open the console.",
    )
    // Set before subcommands are added: commander copies these settings into each one.
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError()
    .addOption(new Option("--api <url>", "the API's base URL").env("PUNCTUAL_API_URL"))
    .option(
      "--env <name>",
      "find the API URL in the deployed stack Punctual-<name>'s outputs (AWS credentials)",
    )
    .addOption(
      new Option("--auth <kind>", "default: none for localhost / 127.0.0.1, else iam (SigV4)").choices([
        "iam",
        "jwt",
        "none",
      ]),
    )
    .addOption(new Option("--token <jwt>", "bearer token for --auth jwt").env("PUNCTUAL_TOKEN"))
    .option("--region <region>", "AWS region for --env and iam auth (default: the URL's, or AWS_REGION)")
    .option("--json", "print results as JSON (errors as JSON on stderr), for scripts")
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 usage, 2 the API refused the request (4xx), 3 the API failed (5xx) or could not be reached." +
        "\n\nExample:\n  $ npx punctual --api http://127.0.0.1:3000 tasks add --topic demo --delay 5 --content '{\"n\":1}'",
    );
  program.configureOutput({ writeOut: io.out, writeErr: io.err });
  tasksCommand(program, io);
  keyCommand(program, io);
  groupsCommand(program, io);
  topicsCommand(program, io);
  consoleCommand(program, io);
  schedulesCommand(program, io);
  destinationsCommand(program, io);
  return program;
}

export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (error) {
    // Commander has printed its own message (or the help); its exit code is 0 for help, 1 for usage.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    printError(io, program.opts<{ json?: boolean }>().json ?? false, error);
    return exitCodeOf(error);
  }
}
