import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";

/**
 * Replaces the file at `path` with `text` atomically: the text is written and flushed to a new file beside it,
 * which is then renamed over `path` (a rename within one directory is atomic). A crash at any moment leaves
 * either the old file or the new one, never a half-written one; a failed write removes its temporary file and
 * leaves `path` as it was. Synchronous, so two writes from one process never interleave. (No dependency does this
 * for us without pulling in more than these lines.)
 */
export function writeFileAtomicSync(path: string, text: string): void {
  const temporary = `${path}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  try {
    const fd = openSync(temporary, "wx");
    try {
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
