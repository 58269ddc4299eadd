import { stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { bodyText } from "../client/body-text.js";
import type { AddTaskInput } from "../client/index.js";
import { MayHaveBeenApplied, mayHaveBeenApplied, statusMayHaveApplied } from "./exit-codes.js";
import { STDIN } from "./input-file.js";

/** An item not added: its place in the input, and the body sent (its key in it). */
export interface NotAdded {
  readonly index: number;
  readonly task: AddTaskInput;
}

/**
 * A batch add that failed (`error`, every item unanswered) or whose items `notAdded` were not added (`statuses`):
 * when any of them may have been added all the same (exit 3, or a 4 after a 500), running the input again would
 * make new keys for its keyless items, and so maybe second tasks. Those items, with the keys they were sent with,
 * are written to a file beside the input (`tasks.rerun-<time>.json`, mode 0600: a content may be private), which the
 * error names (with --json, `retry.file`); should it not be written, the error gives each item's key instead.
 * Anything else is returned as it is.
 */
export async function withRerunFile(
  error: unknown,
  input: string,
  notAdded: readonly NotAdded[],
  statuses?: readonly number[],
): Promise<unknown> {
  const applied = statuses ? statuses.some(statusMayHaveApplied) : mayHaveBeenApplied(error);
  if (!applied) return error;
  const rerun = await rerunPath(input);
  try {
    const tasks = notAdded.map((item) => item.task);
    await writeFile(rerun, `${bodyText({ tasks })}\n`, { flag: "wx", mode: 0o600 });
  } catch (failure) {
    return withKeysInstead(error, notAdded, failure);
  }
  return new MayHaveBeenApplied(
    error,
    { file: rerun },
    `some tasks may have been added: run again with tasks add-batch --file ${shellWord(rerun)} (the tasks not added, with the keys they were sent with: one already added is found, not added twice)`,
  );
}

/** No rerun file: each item's key, to put in the input by hand (item numbers as the results table shows them). */
function withKeysInstead(
  error: unknown,
  notAdded: readonly NotAdded[],
  failure: unknown,
): MayHaveBeenApplied {
  const items = notAdded.map(({ index, task }) => ({
    index,
    idempotency_key: (task as { idempotency_key?: unknown }).idempotency_key ?? null,
  }));
  const reason = failure instanceof Error ? failure.message : String(failure);
  const keys = items.map((item) => `#${item.index} ${String(item.idempotency_key)}`).join(", ");
  return new MayHaveBeenApplied(
    error,
    { items },
    `some tasks may have been added, and their rerun file could not be written (${reason}): give these items their keys in the file to run it again safely: ${keys}`,
  );
}

/**
 * `tasks.json` → `tasks.rerun-20261204T205230123Z.json` beside it: a new name each run (`wx` refuses an old one).
 * An input that is no regular file (`--file -`, `--file /dev/stdin`, a shell's `<(…)`) has no directory of its own to write in:
 * the rerun file goes to the working directory.
 */
async function rerunPath(input: string): Promise<string> {
  const { dir, name } = path.parse(input);
  const stamp = new Date().toISOString().replace(/[-:.]/g, "");
  const regular =
    input !== STDIN &&
    (await stat(input).then(
      (found) => found.isFile(),
      () => false,
    ));
  return path.join(regular ? dir : process.cwd(), `${regular ? name : "tasks"}.rerun-${stamp}.json`);
}

/**
 * A path as one POSIX shell word, for a command a person pastes: a folder such as "OneDrive - Acme" split it into
 * three arguments. Quoted only when it holds more than a plain path's characters; a `'` ends the quote and is given
 * in double quotes (`'"'"'`), not as `\'`: the line is shown by the CLI's rule (output.ts `shown`), which writes a
 * backslash `\\`, and a pasted `'\\''` would be another word.
 */
function shellWord(text: string): string {
  if (/^[\w./:@%+=,-]+$/.test(text)) return text;
  return `'${text.replaceAll("'", `'"'"'`)}'`;
}
