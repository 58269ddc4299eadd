import { type Command, Option } from "commander";
import type { CreateScheduleInput, ScheduleView } from "../../client/index.js";
import { connect, type GlobalOptions } from "../connection.js";
import { withLookFirst } from "../exit-codes.js";
import { contentText } from "../input-file.js";
import { KNOWN_FIELDS } from "../known-fields.js";
import { type CliIo, ListPrinter, printResult } from "../output.js";
import { type PagingOptions, pagingLimits, printAllPages, withPagingOptions } from "../paging.js";
import { pathArgument } from "../path-argument.js";

/**
 * `schedules create|show (get)|list|pause|resume|delete` (issue 14, point 4): recurring schedules whose occurrences
 * become ordinary tasks (POST/GET /v1/schedules, GET /v1/schedules/{id}, POST …/pause|resume, DELETE).
 */
interface CreateOptions {
  readonly topic: string;
  readonly cron: string;
  readonly timezone: string;
  readonly content?: string;
  readonly contentFile?: string;
  readonly callback?: string;
  readonly deliverBy?: string;
  readonly startAt?: string;
  readonly endAt?: string;
  readonly catchUp?: string;
}

export function schedulesCommand(parent: Command, io: CliIo): void {
  const schedules = parent
    .command("schedules")
    .description("Recurring schedules: each occurrence becomes an ordinary task.")
    .addHelpText("after", "\nExample:\n  $ npx punctual schedules list --topic demo");
  createCommand(schedules, io);
  // `get` too, as `tasks get` and `tasks show` are one command.
  idCommand(schedules, io, "show", "One schedule: status, cursor, next occurrences.", (c, id) =>
    c.getSchedule(id),
  ).alias("get");
  listCommand(schedules, io);
  idCommand(schedules, io, "pause", "Stop new occurrences; cancel the ones made ahead.", (c, id) =>
    c.pauseSchedule(id),
  );
  idCommand(schedules, io, "resume", "Resume from now (occurrences in the pause are skipped).", (c, id) =>
    c.resumeSchedule(id),
  );
  idCommand(schedules, io, "delete", "Delete a schedule; cancel the occurrences made ahead.", (c, id) =>
    c.deleteSchedule(id),
  );
}

function createCommand(schedules: Command, io: CliIo): void {
  schedules
    .command("create")
    .description("Create a schedule (POST /v1/schedules).")
    .requiredOption("--topic <name>", "a topic declared in the environment's config")
    .requiredOption("--cron <pattern>", "5 fields, or 6 with seconds first (croner syntax)")
    .requiredOption("--timezone <zone>", "an IANA time zone, e.g. Europe/Berlin or UTC")
    .addOption(
      new Option(
        "--content <json>",
        "each occurrence's content, a JSON object, sent exactly as written",
      ).conflicts("contentFile"),
    )
    .option("--content-file <path>", "read the content from a file (- reads stdin)")
    .option("--callback <url>", "callback URL (else the topic's routing)")
    .option("--deliver-by <field>", "the content field whose value orders the occurrences")
    .option("--start-at <time>", "no occurrence before this RFC 3339 time")
    .option("--end-at <time>", "no occurrence at or after this RFC 3339 time")
    .option(
      "--catch-up <policy>",
      "occurrences missed by an outage: all (default: each, late), latest (the most recent only), none",
    )
    .addHelpText(
      "after",
      `\nExample:\n  $ npx punctual schedules create --topic demo --cron '30 2 * * *' --timezone Europe/Berlin \\\n      --content '{"report":"nightly"}' --callback https://hooks.example.com/punctual`,
    )
    .action(async (options: CreateOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const body = await createBody(options);
      const client = await connect(global, io);
      const look = `schedules list --topic ${options.topic}`;
      const created = await client.createSchedule(body).catch((error: unknown) => {
        throw withLookFirst(error, "the schedule may have been created", look);
      });
      printResult(io, global.json ?? false, created, KNOWN_FIELDS.schedule);
    });
}

async function createBody(options: CreateOptions): Promise<CreateScheduleInput> {
  const content = await contentText(options);
  return {
    topic: options.topic,
    cron: options.cron,
    timezone: options.timezone,
    content,
    // Given empty (an unset shell variable) they are sent so, for the API to refuse, not dropped.
    ...(options.callback !== undefined ? { callback: { url: options.callback } } : {}),
    ...(options.deliverBy !== undefined ? { deliver_by: options.deliverBy } : {}),
    ...(options.startAt !== undefined ? { start_at: options.startAt } : {}),
    ...(options.endAt !== undefined ? { end_at: options.endAt } : {}),
    // Any value is sent: the API answers a 400 naming the field and its values, one rule for client and CLI.
    ...(options.catchUp !== undefined
      ? { catch_up: options.catchUp as NonNullable<CreateScheduleInput["catch_up"]> }
      : {}),
  };
}

function listCommand(schedules: Command, io: CliIo): void {
  withPagingOptions(
    schedules
      .command("list")
      .description("A topic's schedules, one row each (follows pages to the end, printing each as it comes).")
      .requiredOption("--topic <name>", "the topic"),
  )
    .addHelpText("after", "\nExample:\n  $ npx punctual --env prod schedules list --topic orders --json")
    .action(async (options: { topic: string } & PagingOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const client = await connect(global, io);
      const printer = new ListPrinter(io, global.json ?? false, "schedules", SCHEDULE_COLUMNS, scheduleRow);
      await printAllPages(
        io,
        (cursor) => client.listSchedules({ topic: options.topic, ...(cursor ? { cursor } : {}) }),
        (page) => ({ items: page.schedules, next: page.next_cursor }),
        (schedule) => schedule.schedule_id,
        pagingLimits(options),
        printer,
      );
    });
}

const SCHEDULE_COLUMNS = [
  "schedule_id",
  "status",
  "cron",
  "timezone",
  "next",
  "catch_up",
  "skipped",
] as const;

function scheduleRow(s: ScheduleView): string[] {
  return [
    s.schedule_id,
    s.status,
    s.cron,
    s.timezone,
    s.next_occurrences[0] ?? "-",
    s.catch_up ?? "all",
    String(s.skipped_occurrences ?? 0),
  ];
}

function idCommand(
  schedules: Command,
  io: CliIo,
  name: string,
  description: string,
  call: (client: Awaited<ReturnType<typeof connect>>, id: string) => Promise<Record<string, unknown>>,
): Command {
  return schedules
    .command(name)
    .description(description)
    .argument("<schedule-id>", "the schedule's id")
    .addHelpText("after", `\nExample:\n  $ npx punctual --env prod schedules ${name} orders.schedule.01JD3…`)
    .action(async (id: string, _options: unknown, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const scheduleId = pathArgument(
        id,
        "<schedule-id>",
        "a schedule's id (topic.schedule.ULID)",
        scheduleIdIn,
      );
      printResult(
        io,
        global.json ?? false,
        await call(await connect(global, io), scheduleId),
        KNOWN_FIELDS.schedule,
      );
    });
}

/** The schedule id in a path or URL given whole (the create's `Location`, `/v1/schedules/<id>`). */
function scheduleIdIn(value: string): string | undefined {
  return (value.split(/[?#]/)[0] ?? "").split("/").find((segment) => segment.includes(".schedule."));
}
