import type { Command } from "commander";
import { type PunctualClient, PunctualError } from "../../client/index.js";
import { MAX_GROUP_PAGE } from "../../shared/api/schemas/groups.js";
import { connect, type GlobalOptions } from "../connection.js";
import { StoppedPartWay } from "../exit-codes.js";
import { abortOnInterrupt, type CliIo, INTERRUPTED_PAGES, printResult } from "../output.js";
import {
  appendPage,
  followPages,
  listedPast,
  type PagingOptions,
  pagingLimits,
  withPagingOptions,
} from "../paging.js";
import { topicArgument } from "../path-argument.js";
import { wholeNumber } from "../whole-number.js";

interface CancelOptions extends PagingOptions {
  readonly topic: string;
  readonly group: string;
  readonly subscriber?: string;
  readonly limit?: number;
}

const pageSize = wholeNumber(1, MAX_GROUP_PAGE);

/**
 * `groups cancel --topic T --group V [--subscriber S]`: follows the API's cursor until the whole group is read, so
 * the command cancels every scheduled task of the group (and each waiting for its retry), and prints the totals.
 * With `--subscriber` (a fan-out topic) it cancels only that subscriber's copies of the group: its lane.
 */
export function groupsCommand(parent: Command, io: CliIo): void {
  const groups = parent
    .command("groups")
    .description("Act on one ordering group of a topic.")
    .addHelpText(
      "after",
      "\nExample:\n  $ npx punctual --api http://127.0.0.1:3000 groups cancel --topic demo --group A-1001",
    );
  const cancel = groups
    .command("cancel")
    .description(
      "Cancel every still-scheduled task of a group, and each retrying between attempts; lists the tasks that could not be.",
    )
    .requiredOption("--topic <name>", "the topic")
    .requiredOption("--group <value>", "the ordering field's value (e.g. the order id)")
    .option(
      "--subscriber <id>",
      "a fan-out topic: cancel only this subscriber's copies of the group (a broken or retired subscriber's lane)",
    )
    .option("--limit <n>", "tasks read per API call (1–1000)", pageSize);
  withPagingOptions(cancel)
    .addHelpText(
      "after",
      "\nExample:\n  $ npx punctual --env prod groups cancel --topic orders --group A-1001\n  $ npx punctual --env prod groups cancel --topic orders --group A-1001 --subscriber audit",
    )
    .action(async (options: CancelOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const checked = { ...options, topic: topicArgument(options.topic, "--topic") };
      const client = await connect(global, io);
      const interrupt = abortOnInterrupt(io, INTERRUPTED_PAGES);
      const total = await cancelPages(client, checked, interrupt.signal).finally(interrupt.release);
      printResult(io, global.json ?? false, total);
    });
}

type CancelTotal = {
  cancelled: number;
  not_cancelled: { task_id: string; status: string }[];
  /** Tasks whose callback was in flight: each stops after that attempt (the API's `cancel_requested`). */
  cancel_requested: { task_id: string }[];
};

/**
 * Every page of a group cancel, summed. A page that fails after others were read throws StoppedPartWay, so the
 * totals of the tasks already cancelled are reported with the error instead of being lost.
 */
async function cancelPages(
  client: PunctualClient,
  options: CancelOptions,
  stop: AbortSignal,
): Promise<CancelTotal> {
  const total: CancelTotal = { cancelled: 0, not_cancelled: [], cancel_requested: [] };
  let pages = 0;
  try {
    await followPages(
      (cursor) =>
        client.cancelGroup(options.topic, options.group, {
          ...(options.limit !== undefined ? { limit: options.limit } : {}),
          ...(options.subscriber !== undefined ? { subscriber: options.subscriber } : {}),
          ...(cursor !== undefined ? { cursor } : {}),
        }),
      (page) => {
        pages++;
        total.cancelled += page.cancelled;
        appendPage(total.not_cancelled, page.not_cancelled);
        // An older deployment's answer without it reads [] (client/answer-schemas.ts).
        appendPage(total.cancel_requested, page.cancel_requested);
        listedPast({ not_cancelled: total.not_cancelled, cancel_requested: total.cancel_requested }, pages);
        const empty =
          page.cancelled === 0 && page.not_cancelled.length === 0 && page.cancel_requested.length === 0;
        // The API sends a cursor exactly when there is more: one without the other, followed as `more` said,
        // ended the command with totals printed as the whole group's (exit 0) while part of it was never read.
        if (page.more !== (page.next_cursor !== null)) throw moreWithoutCursor(page.more);
        return { next: page.next_cursor, empty };
      },
      pagingLimits(options, Math.ceil(MAX_GROUP_PAGE / (options.limit ?? MAX_GROUP_PAGE))),
      stop,
    );
  } catch (error) {
    if (pages === 0) throw error;
    const counts = `${pages} page${pages === 1 ? "" : "s"}, ${total.cancelled} cancelled, ${total.cancel_requested.length} stopping after their current attempt, ${total.not_cancelled.length} not cancelled`;
    const summary = [
      `before the error: ${counts}`,
      ...total.not_cancelled.map((t) => `  ${t.task_id}: ${t.status}`),
      ...total.cancel_requested.map(
        (t) => `  ${t.task_id}: cancel requested (stops after its current attempt)`,
      ),
    ];
    throw new StoppedPartWay(error, { pages, ...total }, summary, true);
  }
  return total;
}

function moreWithoutCursor(more: boolean): PunctualError {
  return new PunctualError({
    code: "invalid_response",
    status: 200,
    message: more
      ? "the API said the group has more tasks but gave no cursor to read them: the rest of the group was not read"
      : "the API gave a cursor but said the group has no more tasks: stopped, as it cannot be told whether the group was read to its end",
  });
}
