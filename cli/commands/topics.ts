import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { connect, type GlobalOptions } from "../connection.js";
import { type CliIo, printResult } from "../output.js";

interface ReplayOptions {
  readonly taskId?: string[];
  readonly failedAfter?: string;
  readonly failedBefore?: string;
  readonly errorContains?: string;
  readonly dryRun?: boolean;
}

export function topicsCommand(parent: Command, io: CliIo): void {
  const topics = parent
    .command("topics")
    .description("Operate on a topic's tasks.")
    .addHelpText(
      "after",
      "\nExample:\n  $ npx punctual topics replay orders --error-contains timeout --dry-run",
    );
  replayCommand(topics, io);
}

function replayCommand(topics: Command, io: CliIo): void {
  topics
    .command("replay")
    .description("Replay a topic's dead-lettered tasks in group order: by id, or every one a filter matches.")
    .argument("<topic>", "the topic")
    .option("--task-id <id...>", "replay these tasks (repeatable)")
    .option("--failed-after <time>", "only tasks dead-lettered at or after this RFC 3339 time")
    .option("--failed-before <time>", "only tasks dead-lettered before this RFC 3339 time")
    .option("--error-contains <text>", "only tasks whose last error contains this text")
    .option("--dry-run", "count what matches; replay nothing")
    .addHelpText(
      "after",
      "\nExamples:\n  $ npx punctual topics replay orders --failed-after 2026-11-23T00:00:00Z\n  $ npx punctual topics replay orders --task-id orders.k3Jx….01JD3… --task-id orders.k3Jx….01JD4…",
    )
    .action(async (topic: string, options: ReplayOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const client = await connect(global, io);
      const body = {
        ...(options.taskId ? { task_ids: options.taskId } : {}),
        ...(options.failedAfter ? { failed_after: options.failedAfter } : {}),
        ...(options.failedBefore ? { failed_before: options.failedBefore } : {}),
        ...(options.errorContains ? { error_contains: options.errorContains } : {}),
        ...(options.dryRun ? { dry_run: true } : {}),
      };
      const total = { matched: 0, replayed: 0, failed: [] as { task_id: string; reason: string }[] };
      // A call replays at most 1,000 tasks; more continue from its cursor, with a progress bar for the human.
      let bar: SingleBar | undefined;
      let cursor: string | undefined;
      do {
        const page = await client.replayTopic(topic, { ...body, ...(cursor ? { cursor } : {}) });
        total.matched += page.matched;
        total.replayed += page.replayed;
        total.failed.push(...page.failed);
        cursor = page.next_cursor ?? undefined;
        if (cursor && !bar && !global.json) {
          bar = new SingleBar({ stream: process.stderr, format: "replaying {bar} {value} matched" });
          bar.start(total.matched + 1_000, total.matched);
        }
        bar?.setTotal(total.matched + (cursor ? 1_000 : 0));
        bar?.update(total.matched);
      } while (cursor);
      bar?.stop();
      printResult(io, global.json ?? false, total);
    });
}
