import { randomUUID } from "node:crypto";
import { type Command, InvalidArgumentError, Option } from "commander";
import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from "lossless-json";
import { echoed } from "#shared/domain/echoed.js";
import {
  isLosslessNumber,
  MAX_JSON_DEPTH,
  parseExactJson,
  stringifyExact,
  toFieldNumber,
} from "#shared/domain/exact-json.js";
import { type AddTaskInput, withItemKeys } from "../../client/index.js";
import { connect, type GlobalOptions } from "../connection.js";
import {
  BatchItemsFailed,
  batchExitCode,
  MayHaveBeenApplied,
  mayHaveBeenApplied,
  UsageError,
  withLookFirst,
} from "../exit-codes.js";
import { contentText, readTextFile } from "../input-file.js";
import { KNOWN_FIELDS } from "../known-fields.js";
import {
  abortOnInterrupt,
  type CliIo,
  jsonLine,
  printResult,
  printRows,
  printTask,
  printTaskList,
} from "../output.js";
import { taskIdArgument } from "../path-argument.js";
import { withRerunFile } from "../rerun-file.js";
import { wholeNumber } from "../whole-number.js";

interface AddOptions {
  readonly topic: string;
  readonly delay?: LosslessNumber;
  readonly dueAt?: string;
  readonly timingMoment?: LosslessNumber;
  readonly content?: string;
  readonly contentFile?: string;
  readonly callback?: string;
  readonly deliverBy?: string;
  readonly idempotencyKey?: string;
}

/**
 * Seconds as a decimal number (`90`, `1.5`, `1e3`), kept as typed: the client writes it digit for digit, and the
 * API rounds a due time's part below the millisecond up from that text, where `Number()` drops the digits past a
 * double's (`1767225600.0000001` read as the whole second, due a fraction of a µs early). `Number()` would also read
 * `0x10` as 16, `0b11` as 3 and `0o17` as 15: a typo sent as some other time. Leading zeros, which JSON has none
 * of, are dropped (the same value); a value no JS number holds, which the API refuses, is refused here.
 */
function exactSeconds(value: string): LosslessNumber {
  if (!/^\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value)) {
    throw new InvalidArgumentError("must be a decimal number (90, 1.5), not negative");
  }
  const seconds = new LosslessNumber(value.replace(/^0+(?=\d)/, ""));
  if (toFieldNumber(seconds) === undefined) {
    throw new InvalidArgumentError(
      "is beyond the numbers the API reads (a double's range; whole numbers to 2^53)",
    );
  }
  return seconds;
}

/** What `tasks cancel` says of a 202 (the task's callback, or a fan-out copy's, was in flight). */
export const CANCEL_REQUESTED_NOTE =
  "cancel requested: a callback is being made now and cannot be unsent; the task ends after that attempt (delivered if it succeeds, cancelled otherwise) and is not called again";

export function tasksCommand(parent: Command, io: CliIo): void {
  const tasks = parent
    .command("tasks")
    .description("Schedule, inspect and cancel tasks.")
    .addHelpText("after", "\nExample:\n  $ npx punctual --api http://127.0.0.1:3000 tasks get demo.k3Jx…");
  addCommand(tasks, io);
  addBatchCommand(tasks, io);
  taskIdCommand(
    tasks,
    io,
    "get",
    "Show a task: status, attempts, times, last error; a fan-out task's subscribers one per row.",
    (c, id, options) => c.getTask(id, { includeContent: options.content === true }),
  )
    .alias("show")
    .option("--content", "also show its content, as JSON text exactly as it is delivered");
  taskIdCommand(
    tasks,
    io,
    "cancel",
    "Cancel a task not yet delivered, or discard a dead-lettered one; one whose callback is in flight stops after that attempt (exit 0, a note on stderr; exit 2 once delivered).",
    async (c, id) => {
      const view = await c.cancelTask(id);
      // 202: the cancel is recorded on a callback in flight. Exit 0 (nothing is left to do), but the status printed
      // is still `delivering`, so say what happens next where a person reads it and a script's stdout stays JSON.
      if (view.cancel_requested === true) io.err(`${CANCEL_REQUESTED_NOTE}\n`);
      return view;
    },
  );
  rescheduleCommand(tasks, io);
  taskIdCommand(
    tasks,
    io,
    "run",
    "Make a scheduled task due now; prints its new task_id (exit 2 once it is handed to delivery).",
    (c, id) => c.runTask(id),
  );
}

interface RescheduleOptions {
  readonly delay?: LosslessNumber;
  readonly dueAt?: string;
  readonly timingMoment?: LosslessNumber;
}

/** `tasks reschedule ID --delay|--due-at|--timing-moment` (PATCH /v1/tasks/{id}). */
function rescheduleCommand(tasks: Command, io: CliIo): void {
  const timing = ["delay", "dueAt", "timingMoment"];
  tasks
    .command("reschedule")
    .description("Move a scheduled task to a new due time; prints its new task_id (ids carry the due time).")
    .argument("<task-id>", "the task_id that add answered")
    .addOption(
      new Option("--delay <seconds>", "due this many seconds from now")
        .argParser(exactSeconds)
        .conflicts(timing.filter((t) => t !== "delay")),
    )
    .addOption(
      new Option("--due-at <time>", "due at this RFC 3339 time").conflicts(
        timing.filter((t) => t !== "dueAt"),
      ),
    )
    .addOption(
      new Option("--timing-moment <unix>", "due at these unix seconds")
        .argParser(exactSeconds)
        .conflicts(timing.filter((t) => t !== "timingMoment")),
    )
    .addHelpText(
      "after",
      "\nExample:\n  $ npx punctual tasks reschedule orders.k3Jx0aQ9fT2bLw1c.mhx0z8ka.01JD3… --delay 3600   # an hour from now",
    )
    .action(async (taskId: string, options: RescheduleOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const given = [options.delay, options.dueAt, options.timingMoment].filter((v) => v !== undefined);
      if (given.length !== 1) throw new UsageError("give one of --delay, --due-at or --timing-moment");
      const body = {
        ...(options.delay !== undefined ? { delay_seconds: options.delay } : {}),
        ...(options.dueAt !== undefined ? { due_at: options.dueAt } : {}),
        ...(options.timingMoment !== undefined ? { timing_moment: options.timingMoment } : {}),
      };
      const id = taskIdArgument(taskId);
      const client = await connect(global, io);
      printTask(io, global.json ?? false, await client.rescheduleTask(id, body));
    });
  listCommand(tasks, io);
  replayCommand(tasks, io);
}

/** `tasks replay ID [--subscriber <id>]` (POST /v1/tasks/{id}/replay). */
function replayCommand(tasks: Command, io: CliIo): void {
  tasks
    .command("replay")
    .description("Deliver a failed or delivered task again (exit 2 while it is not finished).")
    .argument("<task-id>", "the task_id that add answered")
    .option("--subscriber <id>", "a fan-out task: replay only this subscriber's copy")
    .addHelpText(
      "after",
      "\nExample:\n  $ npx punctual --env prod tasks replay orders.k3Jx0aQ9fT2bLw1c.mhx0z8ka.01JD3… --subscriber billing",
    )
    .action(async (taskId: string, options: { subscriber?: string }, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const id = taskIdArgument(taskId);
      const client = await connect(global, io);
      const input = options.subscriber === undefined ? {} : { subscriber: options.subscriber };
      const replayed = await client.replayTask(id, input).catch((error: unknown) => {
        throw withLookFirst(error, "the task may have been replayed", `tasks get ${taskId}`);
      });
      printTask(io, global.json ?? false, replayed);
    });
}

function addCommand(tasks: Command, io: CliIo): void {
  const timing = ["delay", "dueAt", "timingMoment"];
  tasks
    .command("add")
    .description("Schedule a task (POST /v1/tasks).")
    .requiredOption("--topic <name>", "a topic declared in the environment's config")
    .addOption(
      new Option("--delay <seconds>", "deliver this many seconds from now")
        .argParser(exactSeconds)
        .conflicts(timing.filter((t) => t !== "delay")),
    )
    .addOption(
      new Option("--due-at <time>", "deliver at this RFC 3339 time").conflicts(
        timing.filter((t) => t !== "dueAt"),
      ),
    )
    .addOption(
      new Option("--timing-moment <unix>", "deliver at these unix seconds")
        .argParser(exactSeconds)
        .conflicts(timing.filter((t) => t !== "timingMoment")),
    )
    .addOption(
      new Option("--content <json>", "the content, a JSON object, sent exactly as written").conflicts(
        "contentFile",
      ),
    )
    .option("--content-file <path>", "read the content from a file (- reads stdin)")
    .option("--callback <url>", "callback URL (else the topic's routing)")
    .option("--deliver-by <field>", "the content field whose value orders tasks (overrides the topic's)")
    .option("--idempotency-key <key>", "same key + same body → the same task (default: one per invocation)")
    .addHelpText(
      "after",
      `\nExample:\n  $ npx punctual tasks add --topic demo --delay 90 --content '{"order_id":"A-1001"}' \\\n      --callback https://hooks.example.com/punctual`,
    )
    .action(async (options: AddOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const body = await addTaskBody(options);
      const client = await connect(global, io);
      const idempotencyKey = options.idempotencyKey ?? randomUUID();
      // A key of this run's own exists nowhere else: Ctrl-C while the add is unanswered says it, as a lost answer does.
      const interrupt =
        options.idempotencyKey === undefined ? abortOnInterrupt(io, INTERRUPTED_ADD) : undefined;
      const added = await client
        .addTask(body, { idempotencyKey, ...(interrupt && { signal: interrupt.signal }) })
        .catch((error: unknown) => {
          throw options.idempotencyKey === undefined ? withKeyToRerun(error, idempotencyKey) : error;
        })
        .finally(() => interrupt?.release());
      printResult(io, global.json ?? false, added, KNOWN_FIELDS.task);
    });
}

/**
 * An add that failed after tries that may have added the task (exit 3; or 4 after a 500, the function having maybe
 * written it first), made with a key of this run: a second run would make another key, and so maybe a second task.
 * The error says the key, to run it again with: the API then answers the task if it was added, or adds it once.
 */
function withKeyToRerun(error: unknown, idempotencyKey: string): unknown {
  if (!mayHaveBeenApplied(error)) return error;
  return new MayHaveBeenApplied(
    error,
    { idempotency_key: idempotencyKey },
    `the task may have been added: run again with --idempotency-key ${idempotencyKey} to find it, or add it once`,
  );
}

/** An add-batch stopped by Ctrl-C (or SIGTERM): exit 3, as for an answer lost, and its rerun file written. */
const INTERRUPTED = "interrupted before every task was answered";
/** A keyless `tasks add` stopped so: exit 3, and the key it sent named. */
const INTERRUPTED_ADD = "interrupted before the task was answered";

/**
 * `tasks add-batch --file tasks.json` (POST /v1/tasks/batch): the file holds `{"tasks":[…]}` or the array itself,
 * up to 100 add bodies. Items without an `idempotency_key` get one per invocation, so the client's retries create
 * nothing twice; items that may have been added though not answered so are written with their keys to a rerun file
 * (cli/rerun-file.ts) to run instead of the input. Give keys in the file to make running the file itself again safe.
 */
function addBatchCommand(tasks: Command, io: CliIo): void {
  tasks
    .command("add-batch")
    .description("Schedule up to 100 tasks in one request; one result per item, in file order.")
    .requiredOption(
      "--file <path>",
      'a JSON file: {"tasks":[…add bodies…]} or the array itself (- reads stdin)',
    )
    .addHelpText(
      "after",
      "\nExit codes: 0 every item added, 3 some may be retried (503, 429, …), else 4 some met a 5xx a repeat does not mend (500, …), else 2 some refused (4xx).\n\nExample:\n  $ npx punctual tasks add-batch --file tasks.json --json",
    )
    .action(async (options: { readonly file: string }, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      // Keyed here, not by the client, so that the keys sent are known: an item that may have been added goes to the
      // rerun file with its key, and running that finds it instead of adding it again.
      const tasks = withItemKeys((await readBatchFile(options.file)).tasks, randomUUID);
      const client = await connect(global, io);
      // Ctrl-C while items are unanswered stops the requests, and the rerun file is written as for a lost answer:
      // the keys this run made exist nowhere else.
      const interrupt = abortOnInterrupt(io, INTERRUPTED);
      const answer = await client
        .addTasks({ tasks }, { signal: interrupt.signal })
        .catch(async (error: unknown) => {
          throw await withRerunFile(
            error,
            options.file,
            tasks.map((task, index) => ({ index, task })),
          );
        })
        .finally(() => interrupt.release());
      if (global.json) io.out(jsonLine(answer));
      else printBatchResults(io, answer.results);
      // The exit code follows the results printed, not the answer's own `failed` count, which could disagree.
      const failed = answer.results.flatMap((result, index) =>
        result.status < 200 || result.status >= 300
          ? [{ status: result.status, index, task: tasks[index] as AddTaskInput }]
          : [],
      );
      if (failed.length > 0) {
        const statuses = failed.map((item) => item.status);
        const error = new BatchItemsFailed(
          `${failed.length} of ${answer.results.length} tasks were not added`,
          batchExitCode(statuses),
        );
        throw await withRerunFile(error, options.file, failed, statuses);
      }
    });
}

/**
 * The file's tasks, read without losing what it says: `JSON.parse` would turn `12345678901234567890` into
 * `12345678901234567000` and `1.0` into `1` in the content delivered, and keep the last of a key given twice.
 * lossless-json keeps each number as written and refuses a key given twice with two values. It builds plain
 * objects, though, which list integer-like keys (`"2"`, `"10"`) first: the API's exact parser reads the file
 * again to keep each object's keys in written order. It also refuses a key given twice with equal values, which
 * lossless-json merges: the API refuses such a body (`tasks add --content` sends it as written and gets a 400), so
 * the file is refused too, naming where, rather than sent as another content than it writes. Past the exact
 * parser's depth the lossless reading stands (the API judges the depth).
 */
/** Far more than a batch of 100 adds, pretty-printed, holds: a file past it is not one, and is not read whole. */
const MAX_BATCH_FILE_BYTES = 64 * 1024 * 1024;

async function readBatchFile(file: string): Promise<{ tasks: AddTaskInput[] }> {
  const text = await readTextFile(file, MAX_BATCH_FILE_BYTES, "64 MiB");
  let parsed: unknown;
  try {
    parsed = parseLossless(text);
  } catch (error) {
    throw new UsageError(`${file}: ${(error as Error).message}`);
  }
  const exact = parseExactJson(text, MAX_JSON_DEPTH);
  if (exact.ok) parsed = exact.value;
  else if (exact.kind === "duplicate")
    throw new UsageError(`${file}: ${exact.issue.path}: ${exact.issue.message}`);
  const tasks = Array.isArray(parsed) ? parsed : (parsed as { tasks?: unknown } | null)?.tasks;
  if (!Array.isArray(tasks)) throw new UsageError(`${file}: expected {"tasks":[…]} or an array of tasks`);
  refuseOtherFields(file, parsed);
  return { tasks: tasks.map(asSent) };
}

/**
 * `{"tasks":[…]}` holds nothing else: the API refuses a batch body with any other field (a batch-wide key or a
 * `dry_run` would do nothing), and this command sends only `tasks`, so another field would be silently dropped.
 */
function refuseOtherFields(file: string, parsed: unknown): void {
  if (Array.isArray(parsed)) return;
  const others = Object.keys(parsed as Record<string, unknown>).filter((name) => name !== "tasks");
  if (others.length === 0) return;
  const named = others
    .slice(0, 5)
    .map((name) => JSON.stringify(echoed(name)))
    .join(", ");
  throw new UsageError(`${file}: unknown field ${named}: the file holds {"tasks":[…]} or the array itself`);
}

/**
 * A task of the file as the client sends it: an object `content` as its exact JSON text (the API stores a string
 * content's JSON as written, and both spellings are one request, docs/API.md "POST /v1/tasks"); a timing field's number
 * as written (the API reads a due time from its digits, as for `--timing-moment`); every other number as the JS
 * number the API reads it as.
 */
const EXACT_TIMING = ["timing_moment", "delay_seconds"] as const;

function asSent(task: unknown): AddTaskInput {
  const plain = (value: unknown): unknown => JSON.parse(stringifyLossless(value) ?? "null");
  // Not an add body (the API refuses it as one): sent as the value it is. A number is a LosslessNumber object
  // here, whose fields (`value`, `isLosslessNumber`) the API would otherwise be sent as an add body's.
  if (task === null || typeof task !== "object" || Array.isArray(task) || isLosslessNumber(task)) {
    return plain(task) as AddTaskInput;
  }
  const { content, ...rest } = task as Record<string, unknown>;
  const exact =
    content !== null && typeof content === "object" && !Array.isArray(content) && !isLosslessNumber(content);
  const timing = EXACT_TIMING.filter((field) => isLosslessNumber(rest[field])).map((field) => [
    field,
    rest[field],
  ]);
  return {
    ...(plain(rest) as AddTaskInput),
    ...Object.fromEntries(timing),
    ...(content === undefined ? {} : { content: exact ? stringifyExact(content) : plain(content) }),
  } as AddTaskInput;
}

type BatchItemError = {
  code: string;
  message: string;
  issues?: readonly { path: string; message: string }[] | undefined;
};

function printBatchResults(
  io: CliIo,
  results: readonly { status: number; task_id?: string | undefined; error?: BatchItemError | undefined }[],
): void {
  printRows(
    io,
    ["#", "status", "task_id / error"],
    results.map((result, i) => [
      String(i),
      String(result.status),
      result.task_id ?? (result.error ? errorCell(result.error) : ""),
    ]),
  );
}

/** Issues shown per refused item: enough to fix a file item by item; --json has them all. */
const ISSUES_SHOWN = 5;

/**
 * A refused item as `tasks add` prints its error: its message, then its code and which field is wrong (its
 * issues), on its row (a cell's line ends would be escaped); the message alone ("the request is invalid") left a
 * person to guess what to fix in which item.
 */
function errorCell(error: BatchItemError): string {
  const issues = error.issues ?? [];
  const more = issues.length > ISSUES_SHOWN ? [`… ${issues.length - ISSUES_SHOWN} more (--json)`] : [];
  const named = [
    ...issues.slice(0, ISSUES_SHOWN).map((issue) => `${issue.path || "(body)"}: ${issue.message}`),
    ...more,
  ];
  return `${error.message} (${[error.code, ...named].join("; ")})`;
}

/**
 * The request body. `content` goes as the JSON text the user wrote (a string `content` is parsed by the API's
 * lossless parser), so 64-bit ids and `1.0` arrive as typed; it is parsed here only to refuse non-JSON early.
 */
async function addTaskBody(options: AddOptions): Promise<AddTaskInput> {
  const given = [options.delay, options.dueAt, options.timingMoment].filter((v) => v !== undefined);
  if (given.length !== 1) throw new UsageError("give one of --delay, --due-at or --timing-moment");
  const content = await contentText(options);
  return {
    topic: options.topic,
    content,
    ...(options.delay !== undefined ? { delay_seconds: options.delay } : {}),
    ...(options.dueAt !== undefined ? { due_at: options.dueAt } : {}),
    ...(options.timingMoment !== undefined ? { timing_moment: options.timingMoment } : {}),
    // Given empty (an unset shell variable) they are sent so, for the API to refuse: not dropped, which would
    // leave the topic's routing or ordering in force (or, for the key, make a new task each run).
    ...(options.callback !== undefined ? { callback: { url: options.callback } } : {}),
    ...(options.deliverBy !== undefined ? { deliver_by: options.deliverBy } : {}),
  };
}

function taskIdCommand(
  tasks: Command,
  io: CliIo,
  name: string,
  description: string,
  call: (
    client: Awaited<ReturnType<typeof connect>>,
    taskId: string,
    options: { readonly content?: boolean },
  ) => Promise<Record<string, unknown>>,
): Command {
  return tasks
    .command(name)
    .description(description)
    .argument("<task-id>", "the task_id that add answered")
    .addHelpText(
      "after",
      `\nExample:\n  $ npx punctual --env prod tasks ${name} orders.k3Jx0aQ9fT2bLw1c.mhx0z8ka.01JD3…`,
    )
    .action(async (taskId: string, options: { content?: boolean }, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const id = taskIdArgument(taskId);
      printTask(io, global.json ?? false, await call(await connect(global, io), id, options));
    });
}

// --- issue 11, scope H: find and replay (appended block) ---

interface ListOptions {
  readonly topic: string;
  readonly group?: string;
  readonly failed?: boolean;
  readonly limit?: number;
  readonly cursor?: string;
  readonly subscriber?: string;
}

const pageSize = wholeNumber(1, 100);

function listCommand(tasks: Command, io: CliIo): void {
  tasks
    .command("list")
    .description(
      "List one ordering group in delivery order, or a topic's dead-lettered tasks (newest first).",
    )
    .requiredOption("--topic <name>", "the topic")
    .addOption(new Option("--group <value>", "the deliverBy value of the group").conflicts("failed"))
    .option("--failed", "the topic's dead-lettered tasks")
    .addOption(
      // Not dropped with --failed: the dead-letter list has no subscriber filter, so it would answer every one's.
      new Option(
        "--subscriber <id>",
        "a fan-out topic, with --group: that subscriber's copies, in its delivery order",
      ).conflicts("failed"),
    )
    .option("--limit <n>", "tasks per page, 1–100 (default 50)", pageSize)
    .option("--cursor <cursor>", "the page after the one that printed this cursor")
    .addHelpText(
      "after",
      "\nExamples:\n  $ npx punctual tasks list --topic orders --group A-1001\n  $ npx punctual tasks list --topic orders --failed --json",
    )
    .action(async (options: ListOptions, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      if ((options.group === undefined) === !options.failed)
        throw new UsageError("give --group <value> or --failed");
      const client = await connect(global, io);
      const page = { limit: options.limit, cursor: options.cursor };
      const list =
        options.group !== undefined
          ? await client.listGroupTasks({
              topic: options.topic,
              group: options.group,
              ...(options.subscriber !== undefined ? { subscriber: options.subscriber } : {}),
              ...page,
            })
          : await client.listFailedTasks({ topic: options.topic, ...page });
      printTaskList(io, global.json ?? false, list);
    });
}
