import type { Command } from "commander";
import type { TopicView } from "../../client/index.js";
import { connect, type GlobalOptions } from "../connection.js";
import { type CliIo, printResult, printRows } from "../output.js";

/**
 * `topics list|show|pause|resume` (GET /v1/topics, GET /v1/topics/{topic}, POST …/pause|resume). A paused topic
 * keeps accepting tasks; what comes due waits in its queue, untouched, until resume.
 */
export function topicsCommand(parent: Command, io: CliIo): void {
  const topics = parent
    .command("topics")
    .description("Show topics; pause and resume a topic's deliveries.")
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
      printResult(io, global.json ?? false, await (await connect(global, io)).getTopic(topic));
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
      const client = await connect(global, io);
      const answer = name === "pause" ? await client.pauseTopic(topic) : await client.resumeTopic(topic);
      printResult(io, global.json ?? false, answer);
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
