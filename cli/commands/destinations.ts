import { type Command, Option } from "commander";
import type { DestinationView } from "../../client/index.js";
import { LIST_LIMIT_MAX } from "../../shared/api/schemas/list-limits.js";
import { connect, type GlobalOptions } from "../connection.js";
import { KNOWN_FIELDS } from "../known-fields.js";
import { type CliIo, ListPrinter, printResult, printRows } from "../output.js";
import { type PagingOptions, pagingLimits, printAllPages, withPagingOptions } from "../paging.js";
import { pathArgument } from "../path-argument.js";

/**
 * `destinations list|reset` (GET /v1/destinations, POST /v1/destinations/{host}/reset, issue 14): the callback
 * hosts of protected topics with their circuit state, and closing a host's circuit by hand.
 */
export function destinationsCommand(parent: Command, io: CliIo): void {
  const destinations = parent
    .command("destinations")
    .description("Show callback hosts' circuits (protected topics); close a host's circuit by hand.")
    .addHelpText("after", "\nExample:\n  $ npx punctual --api http://127.0.0.1:3000 destinations list");
  listCommand(destinations, io);
  destinations
    .command("reset")
    .description("Close a host's circuit (every topic, or --topic): its waiting deliveries go again.")
    .argument("<host>", "the callback host, host[:port] as `destinations list` shows it")
    .option("--topic <topic>", "only this topic's circuit")
    .addHelpText("after", "\nExample:\n  $ npx punctual --env prod destinations reset hooks.example.com")
    .action(async (host: string, options: { topic?: string }, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const client = await connect(global, io);
      // `--topic ""` is sent (and refused), not dropped, which would reset every topic's circuit.
      const only = options.topic !== undefined ? { topic: options.topic } : {};
      const answer = await client.resetDestination(
        pathArgument(host, "<host>", "host[:port] as `destinations list` shows it", hostIn),
        only,
      );
      // The circuits it closed as `destinations list` shows them: as one view, they were a single JSON cell
      // hundreds of characters wide (found walking docs/CALLBACKS.md's runbook, 2026-12-06).
      if (global.json) printResult(io, true, answer, KNOWN_FIELDS.destinationReset);
      else printRows(io, DESTINATION_COLUMNS, answer.destinations.map(destinationRow));
    });
}

/** A callback URL's host, as `destinations list` shows it (without the scheme's default port). */
function hostIn(value: string): string | undefined {
  return URL.canParse(value) ? new URL(value).host || undefined : undefined;
}

/**
 * `destinations list [--state open|closed]`: every page, in topic and host order, followed to the end (100 a page,
 * each page one bounded read, printed as it comes); `--state open` lists only the circuits that hold deliveries back.
 */
function listCommand(destinations: Command, io: CliIo): void {
  withPagingOptions(
    destinations
      .command("list")
      .description(
        "Every topic's callback hosts: circuit state, failures, opened at, next probe, leases in use (follows pages to the end, printing each as it comes).",
      )
      .addOption(
        new Option("--state <state>", "only open (and half-open) or only closed circuits").choices([
          "open",
          "closed",
        ]),
      ),
  )
    .addHelpText("after", "\nExample:\n  $ npx punctual --env prod destinations list --state open --json")
    .action(async (options: { state?: "open" | "closed" } & PagingOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const client = await connect(global, io);
      const printer = new ListPrinter(
        io,
        global.json ?? false,
        "destinations",
        DESTINATION_COLUMNS,
        destinationRow,
      );
      await printAllPages(
        io,
        (cursor) =>
          client.listDestinations({
            limit: LIST_LIMIT_MAX,
            ...(options.state && { state: options.state }),
            ...(cursor && { cursor }),
          }),
        (page) => ({ items: page.destinations, next: page.next_cursor }),
        // A circuit is a topic's host (the API's key: one item per topic and host).
        (destination) => JSON.stringify([destination.topic, destination.host]),
        pagingLimits(options),
        printer,
      );
    });
}

const DESTINATION_COLUMNS = [
  "topic",
  "host",
  "state",
  "failures",
  "opened_at",
  "next_probe_at",
  "in_flight",
] as const;

function destinationRow(view: DestinationView): string[] {
  return [
    view.topic,
    view.host,
    view.state,
    String(view.failures),
    view.opened_at ?? "-",
    view.next_probe_at ?? "-",
    String(view.in_flight),
  ];
}
