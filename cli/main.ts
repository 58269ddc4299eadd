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
import { EXIT, exitCodeOf, UsageError } from "./exit-codes.js";
import { type CliIo, printError, processIo, shown } from "./output.js";
import { refuseRepeatedOptions } from "./repeated-options.js";

/**
 * `writeErr`: where commander writes its usage errors and the help a command group given no command prints (io.err
 * unless --json). A usage error quotes an argument, so it is shown by the rule for what the server says
 * (`shownLines`); the help is the CLI's own text, written as `--help` writes it (its example's `\` line ends kept).
 */
export function buildProgram(io: CliIo, writeErr: (text: string) => void = io.err): Command {
  const output = {
    writeOut: io.out,
    writeErr,
    outputError: (text: string, write: (text: string) => void) => write(shownLines(text)),
  };
  const program = new Command("punctual")
    .description(
      "Operate a Punctual API: schedule, inspect and cancel tasks; show, pause and resume topics; print topics' verification keys; open the console.",
    )
    // Set before subcommands are added: commander copies these settings into each one.
    .exitOverride()
    .configureOutput(output)
    // No showHelpAfterError: a usage mistake commander finds (`tasks list --group X --failed`, an unknown option)
    // is one line, as our own UsageErrors are, not that line lost above a whole help page; --help prints it.
    .option("--api <url>", `the API's base URL (env: ${FROM_ENVIRONMENT.api})`)
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
    .option("--token <jwt>", `bearer token for --auth jwt (env: ${FROM_ENVIRONMENT.token})`)
    .option(
      "--region <region>",
      "AWS region for --env and iam auth (default: the URL's, or AWS_REGION / AWS_DEFAULT_REGION)",
    )
    .option("--json", "print results as JSON (errors as JSON on stderr), for scripts")
    .option(
      ALLOW_FFFD,
      "take arguments holding U+FFFD (�) as typed, for a name that really holds it (else refused: what a byte that is not UTF-8 reads as)",
    )
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 usage, 2 the API refused the request (4xx but 408, 429), 3 may be retried: the API failed (502, 503, 504, 520–524), throttled (429), timed out (408) or could not be reached, 4 do not repeat as is: the API failed with a 5xx a repeat does not mend (500, 501, 505, …), or the API URL redirected (3xx, never followed)." +
        "\n\nExample:\n  $ npx punctual --api http://127.0.0.1:3000 tasks add --topic demo --delay 5 --content '{\"n\":1}' \\\n      --callback http://127.0.0.1:4000/hook",
    );
  program.configureOutput(output);
  tasksCommand(program, io);
  keyCommand(program, io);
  groupsCommand(program, io);
  topicsCommand(program, io);
  consoleCommand(program, io);
  schedulesCommand(program, io);
  destinationsCommand(program, io);
  refuseRepeatedOptions(program);
  // First: the hooks after it read where each option's value came from.
  program.hook("preAction", (command) => optionsFromEnvironment(command, io.env));
  program.hook("preAction", oneApiNamed);
  program.hook("preAction", tokenWithJwt);
  return program;
}

/** The global options a variable of the environment stands in for when the command line does not give them. */
const FROM_ENVIRONMENT = { api: "PUNCTUAL_API_URL", token: "PUNCTUAL_TOKEN" } as const;

/**
 * Each option of FROM_ENVIRONMENT the command line left out, taken from its variable in `env`, the CliIo's (the
 * process's for the bin), with the source `env`, as commander's own `Option.env` sets it. Not `Option.env`, which
 * reads `process.env` whatever the CLI was given: a test, or an embedder running `main` with its own environment,
 * could not set PUNCTUAL_API_URL or PUNCTUAL_TOKEN, and the process's leaked into its run. A variable set but empty
 * is taken (as commander takes it): an empty PUNCTUAL_API_URL is then "no API", not silently skipped.
 */
function optionsFromEnvironment(program: Command, env: NodeJS.ProcessEnv): void {
  for (const [option, variable] of Object.entries(FROM_ENVIRONMENT)) {
    const value = env[variable];
    if (value === undefined) continue;
    const source = program.getOptionValueSource(option);
    if (source === undefined || source === "default") program.setOptionValueWithSource(option, value, "env");
  }
}

/**
 * `--token` given on the command line is for `--auth jwt`: without it the CLI authenticates as the URL's default
 * (`iam` for a deployed API, none on loopback) or as `--auth` says, and the token was dropped without a word — the
 * request went unsigned or SigV4-signed, answered 401 or 403 with nothing saying why (or, on loopback, sent with no
 * credential at all). Refused instead, naming the option to add; PUNCTUAL_TOKEN from the environment is still
 * only read for `--auth jwt` (a shell may export it for another API). The token is never quoted.
 */
function tokenWithJwt(program: Command): void {
  if (program.getOptionValueSource("token") !== "cli") return;
  const { auth } = program.opts<{ auth?: string }>();
  if (auth === "jwt") return;
  throw new UsageError(
    auth === undefined
      ? "--token is the bearer token of --auth jwt: give --auth jwt too (without it the token is not sent)"
      : `--token is the bearer token of --auth jwt, not of --auth ${auth}: give one or the other`,
  );
}

/**
 * The API named once. `--env` given beats PUNCTUAL_API_URL from the environment, as a flag beats a variable
 * (commander would fill `api` from the variable and `--env` would be ignored: a shell that exports staging's URL
 * sent `--env prod tasks cancel …` to staging, exit 0). `--api` and `--env` both given name two APIs: refused
 * rather than one silently picked. An empty `--env` (an unset shell variable) is said to be so, not read as absent.
 */
function oneApiNamed(program: Command): void {
  const { env } = program.opts<{ env?: string }>();
  if (env === undefined) return;
  if (env === "")
    throw new UsageError("--env is empty: give the name NAME of a deployed stack Punctual-NAME");
  const source = program.getOptionValueSource("api");
  if (source === "env") program.setOptionValueWithSource("api", undefined, "default");
  else if (source === "cli") throw new UsageError("give --api URL or --env NAME, not both");
}

export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  // Known before commander parses, which may stop before it reads --json.
  const json = jsonAsked(argv);
  const program = buildProgram(io, json ? () => {} : io.err);
  const misread = optionAsked(argv, ALLOW_FFFD) ? undefined : misreadArgument(argv);
  if (misread) {
    printError(io, json, misread);
    return EXIT.usage;
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (error) {
    // Commander has printed its own message (or, for a group without its command, the group's help), unless
    // --json; its exit code is 0 for help, 1 for usage.
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return EXIT.ok;
      if (json) printError(io, true, new UsageError(usageMessage(error)));
      return EXIT.usage;
    }
    printError(io, program.opts<{ json?: boolean }>().json ?? false, error);
    return exitCodeOf(error);
  }
}

/**
 * An argument holding U+FFFD: what Node makes of a command-line byte that is not UTF-8 (a Latin-1 terminal's `é`,
 * byte E9), so the text is not what was typed. Sent, a task's content would be delivered other than written and a
 * `groups cancel --group` would cancel another group (answered `cancelled: 0`, the group left as it was), without a
 * word; `--content-file` refuses a file that is not UTF-8 for the same reason (input-file.ts). Content that means
 * U+FFFD writes JSON's escape, `\ufffd`. A name that really holds U+FFFD (a group taken from content that wrote
 * `\ufffd`, which the API accepts as any text) cannot be told from a misread one, so it is taken only when the
 * caller says so, `--allow-fffd`. The argument is named by its option, never echoed (it may be a token).
 */
function misreadArgument(argv: readonly string[]): UsageError | undefined {
  const index = argv.findIndex((arg) => arg.includes("\uFFFD"));
  if (index === -1) return undefined;
  const inline = /^(--?[A-Za-z][\w-]*)=/.exec(argv[index] as string)?.[1];
  const before = argv[index - 1];
  const which = inline
    ? `the value of ${inline}`
    : before && /^--?[A-Za-z][\w-]*$/.test(before)
      ? `the argument after ${before}`
      : `argument ${index + 1}`;
  return new UsageError(
    `${which} holds U+FFFD, what a byte of the command line that is not UTF-8 reads as, so it is not the text typed and nothing was sent: set the terminal to UTF-8 (content may write \\ufffd, or come from --content-file); a name that really holds U+FFFD is taken with ${ALLOW_FFFD}`,
  );
}

/** The global option that takes arguments holding U+FFFD as typed (`misreadArgument`). */
const ALLOW_FFFD = "--allow-fffd";

/**
 * `--json` among the arguments before `--`: with it, commander's usage errors are printed as one JSON document
 * on stderr like every other error (docs/API.md: "an error one JSON document on stderr"), not as a line of text.
 */
function jsonAsked(argv: readonly string[]): boolean {
  return optionAsked(argv, "--json");
}

/** A flag among the arguments before `--` (known before commander parses, which may stop first). */
function optionAsked(argv: readonly string[], flag: string): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes(flag);
}

/**
 * Commander's message as the terminal gets it: it quotes the argument it refuses (`unknown option '-…'`, `argument
 * '…' is invalid`), which a script may have taken from data (a task id read from a file), so each line is shown by
 * the rule for what the server says; its line breaks are kept.
 */
function shownLines(text: string): string {
  return text.split("\n").map(shown).join("\n");
}

function usageMessage(error: CommanderError): string {
  // A command group called without its command: commander shows the group's help, with no message of its own.
  if (error.code === "commander.help") return "a command is missing: see --help";
  return error.message.replace(/^error: /, "");
}
