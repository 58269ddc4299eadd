import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { bodyText } from "../client/body-text.js";
import type { AddTaskInput } from "../client/index.js";
import { MayHaveBeenApplied, mayHaveBeenApplied, statusMayHaveApplied } from "./exit-codes.js";

/**
 * A batch file's items with a key each: the file's own where it gives one, else one made for this run. Made here,
 * not by the client, so that the keys sent are known: an item that may have been added is written to a rerun file
 * with its key (`withRerunFile`), and running that finds it instead of adding it again.
 */
export function withItemKeys(tasks: readonly AddTaskInput[]): AddTaskInput[] {
  return tasks.map((task) =>
    isAddBody(task) && (task as { idempotency_key?: unknown }).idempotency_key === undefined
      ? { ...task, idempotency_key: randomUUID() }
      : task,
  );
}

function isAddBody(task: unknown): boolean {
  return task !== null && typeof task === "object" && !Array.isArray(task);
}

/**
 * A batch add that failed (`error`, every item unanswered) or whose items at `notAdded` were not added: when any of
 * them may have been added all the same (exit 3, or a 4 after a 500), running the input again would make new keys
 * for its keyless items, and so maybe second tasks. Those items, with the keys they were sent with, are written to
 * a file beside the input (`tasks.rerun-<time>.json`, mode 0600: a content may be private), which the error names
 * (with --json, `retry.file`). Anything else is returned as it is.
 */
export async function withRerunFile(
  error: unknown,
  input: string,
  tasks: readonly AddTaskInput[],
  statuses?: readonly number[],
): Promise<unknown> {
  const applied = statuses ? statuses.some(statusMayHaveApplied) : mayHaveBeenApplied(error);
  if (!applied) return error;
  const rerun = rerunPath(input);
  try {
    await writeFile(rerun, `${bodyText({ tasks })}\n`, { flag: "wx", mode: 0o600 });
  } catch (failure) {
    const keys = tasks.map((task) => (task as { idempotency_key?: unknown }).idempotency_key ?? null);
    const reason = failure instanceof Error ? failure.message : String(failure);
    return new MayHaveBeenApplied(
      error,
      { idempotency_keys: keys },
      `some tasks may have been added; their rerun file could not be written (${reason}): give each its key (with --json, retry.idempotency_keys, in order) to run them again safely`,
    );
  }
  return new MayHaveBeenApplied(
    error,
    { file: rerun },
    `some tasks may have been added: run again with tasks add-batch --file ${rerun} (the tasks not added, with the keys they were sent with: one already added is found, not added twice)`,
  );
}

/** `tasks.json` → `tasks.rerun-20261204T205230123Z.json` beside it: a new name each run (`wx` refuses an old one). */
function rerunPath(input: string): string {
  const { dir, name } = path.parse(input);
  const stamp = new Date().toISOString().replace(/[-:.]/g, "");
  return path.join(dir, `${name}.rerun-${stamp}.json`);
}
