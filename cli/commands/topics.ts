import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { type PunctualClient, PunctualError, type TopicView } from "../../client/index.js";
import { connect, type GlobalOptions } from "../connection.js";
import { StoppedPartWay } from "../exit-codes.js";
import { KNOWN_FIELDS } from "../known-fields.js";
import { abortOnInterrupt, type CliIo, INTERRUPTED_PAGES, printResult, printRows } from "../output.js";
import {
  appendPage,
  followPages,
  listedPast,
  type PagingLimits,
  type PagingOptions,
  pagingLimits,
  withPagingOptions,
} from "../paging.js";
import { topicArgument } from "../path-argument.js";

/**
 * `topics list|show|pause|resume` (GET /v1/topics, GET /v1/topics/{topic}, POST …/pause|resume). A paused topic
 * keeps accepting tasks; what comes due waits in its queue, untouched, until resume. `topics replay` replays a
 * topic's dead-lettered tasks (POST /v1/topics/{topic}/replay).
 */
interface ReplayOptions extends PagingOptions {
  readonly taskId?: string[];
  readonly failedAfter?: string;
  readonly failedBefore?: string;
  readonly errorContains?: string;
  readonly dryRun?: boolean;
}

export function topicsCommand(parent: Command, io: CliIo): void {
  const topics = parent
    .command("topics")
    .description("Show topics; pause and resume a topic's deliveries; replay its dead-lettered tasks.")
    .addHelpText("after", "\nExample:\n  $ npx punctual --api http://127.0.0.1:3000 topics show demo");
  listCommand(topics, io);
  showCommand(topics, io);
  switchCommand(
    topics,
    io,
    "pause",
    "Hold a topic's deliveries: due tasks wait in its queue, no attempt used.",
  );
  switchCommand(topics, io, "resume", "Deliver a paused topic's waiting tasks again, in group order.");
  replayCommand(topics, io);
}

function listCommand(topics: Command, io: CliIo): void {
  topics
    .command("list")
    .description("Every topic: paused, backlog, oldest waiting age, dead letters (one row each).")
    .addHelpText("after", "\nExample:\n  $ npx punctual --env prod topics list --json")
    .action(async (_options: unknown, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const list = await (await connect(global, io)).listTopics();
      if (global.json) {
        printResult(io, true, list);
        return;
      }
      printRows(io, TOPIC_COLUMNS, list.topics.map(topicRow));
    });
}

function showCommand(topics: Command, io: CliIo): void {
  topics
    .command("show")
    .description("One topic: settings, paused, backlog, oldest waiting age, dead letters.")
    .argument("<topic>", "the topic's name")
    .addHelpText("after", "\nExample:\n  $ npx punctual --env prod topics show orders --json")
    .action(async (topic: string, _options: unknown, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const name = topicArgument(topic);
      printResult(
        io,
        global.json ?? false,
        await (await connect(global, io)).getTopic(name),
        KNOWN_FIELDS.topic,
      );
    });
}

function switchCommand(topics: Command, io: CliIo, name: "pause" | "resume", description: string): void {
  topics
    .command(name)
    .description(description)
    .argument("<topic>", "the topic's name")
    .addHelpText("after", `\nExample:\n  $ npx punctual --env prod topics ${name} orders`)
    .action(async (topic: string, _options: unknown, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const named = topicArgument(topic);
      const client = await connect(global, io);
      const answer = name === "pause" ? await client.pauseTopic(named) : await client.resumeTopic(named);
      printResult(io, global.json ?? false, answer, KNOWN_FIELDS.topic);
    });
}

const TOPIC_COLUMNS = ["topic", "paused", "waiting", "in_flight", "oldest_age_s", "dead_letters"] as const;

function topicRow(view: TopicView): string[] {
  return [
    view.topic,
    view.paused ? "yes" : "no",
    String(view.backlog.waiting),
    String(view.backlog.in_flight),
    view.oldest_age_seconds === null ? "-" : String(Math.round(view.oldest_age_seconds)),
    String(view.dead_letter_count),
  ];
}

function replayCommand(topics: Command, io: CliIo): void {
  const replay = topics
    .command("replay")
    .description("Replay a topic's dead-lettered tasks in group order: by id, or every one a filter matches.")
    .argument("<topic>", "the topic")
    .option("--task-id <id...>", "replay these tasks (repeatable)")
    .option("--failed-after <time>", "only tasks dead-lettered at or after this RFC 3339 time")
    .option("--failed-before <time>", "only tasks dead-lettered before this RFC 3339 time")
    .option("--error-contains <text>", "only tasks whose last error contains this text")
    .option("--dry-run", "count what matches; replay nothing");
  withPagingOptions(replay)
    .addHelpText(
      "after",
      "\nExamples:\n  $ npx punctual topics replay orders --failed-after 2026-11-23T00:00:00Z\n  $ npx punctual topics replay orders --task-id orders.k3Jx….01JD3… --task-id orders.k3Jx….01JD4…",
    )
    .action(async (topic: string, options: ReplayOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const client = await connect(global, io);
      const body = {
        ...(options.taskId ? { task_ids: options.taskId } : {}),
        // An empty filter (an unset shell variable) is sent, for the API to refuse: dropped, it would replay all.
        ...(options.failedAfter !== undefined ? { failed_after: options.failedAfter } : {}),
        ...(options.failedBefore !== undefined ? { failed_before: options.failedBefore } : {}),
        ...(options.errorContains !== undefined ? { error_contains: options.errorContains } : {}),
        ...(options.dryRun ? { dry_run: true } : {}),
      };
      const interrupt = abortOnInterrupt(io, INTERRUPTED_PAGES);
      const replayed = await replayPages(client, topicArgument(topic), body, {
        showBar: !global.json,
        limits: pagingLimits(options),
        stop: interrupt.signal,
      }).finally(interrupt.release);
      printResult(io, global.json ?? false, replayed);
    });
}

type ReplayBody = Parameters<PunctualClient["replayTopic"]>[1];
type ReplayTotal = {
  matched: number;
  replayed: number;
  failed: { task_id: string; reason: string }[];
};

/**
 * Every page of a bulk replay, summed. A call replays at most 1,000 tasks; more continue from its cursor, with a
 * progress bar for a human. A page that fails after others were replayed throws StoppedPartWay, so the totals of
 * the pages done are reported with the error instead of being lost (they were replayed).
 */
async function replayPages(
  client: PunctualClient,
  topic: string,
  body: ReplayBody,
  how: { readonly showBar: boolean; readonly limits: PagingLimits; readonly stop: AbortSignal },
) {
  const total: ReplayTotal = { matched: 0, replayed: 0, failed: [] };
  let bar: SingleBar | undefined;
  let pages = 0;
  let sent: string | undefined;
  let stuck = false;
  try {
    await followPages(
      (cursor) => {
        sent = cursor;
        return client.replayTopic(topic, { ...body, ...(cursor ? { cursor } : {}) });
      },
      (page) => {
        pages++;
        total.matched += page.matched;
        total.replayed += page.replayed;
        appendPage(total.failed, page.failed);
        listedPast({ failed: total.failed }, pages);
        const more = Boolean(page.next_cursor);
        if (more && !bar && how.showBar) {
          bar = new SingleBar({ stream: process.stderr, format: "replaying {bar} {value} matched" });
          bar.start(total.matched + 1_000, total.matched);
        }
        bar?.setTotal(total.matched + (more ? 1_000 : 0));
        bar?.update(total.matched);
        // The page it was sent again: a group's head that stopped the previous call stopped this one too.
        stuck = sent !== undefined && page.next_cursor === sent && page.failed.length > 0;
        return { next: stuck ? null : page.next_cursor, empty: page.matched === 0 };
      },
      how.limits,
      how.stop,
    );
    if (stuck) throw stoppedAtFailure();
  } catch (error) {
    if (pages === 0) throw error;
    throw new StoppedPartWay(error, { pages, ...total }, replaySummary(pages, total), true);
  } finally {
    bar?.stop();
  }
  return total;
}

/**
 * A call answered the very cursor it was sent, with a task it could not replay: the route resumes just before the
 * first task a call left behind (a group's head whose send failed, or that another replay holds), so that its group
 * is never replayed past it, and that task stopped this call too. Followed again, it would only repeat; said as
 * what it is, not as an API giving a cursor twice.
 */
function stoppedAtFailure(): PunctualError {
  return new PunctualError({
    code: "replay_stopped_at_failure",
    status: 200,
    message:
      "the replay stopped twice at the same task (listed under failed): its group is not replayed past it, to keep its order; run the same replay again later",
  });
}

function replaySummary(pages: number, total: ReplayTotal): string[] {
  const counts = `${pages} page${pages === 1 ? "" : "s"}, ${total.matched} matched, ${total.replayed} replayed, ${total.failed.length} failed`;
  return [
    `before the error: ${counts}`,
    ...total.failed.map((f) => `  ${f.task_id}: ${f.reason}`),
    "the failing page's own counts are in the error below",
  ];
}
