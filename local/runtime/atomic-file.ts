import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";

/**
 * Atomic file replacement for the local cloud's state files: the text is written and flushed to a new file beside
 * `path`, which is then renamed over `path` (a rename within one directory is atomic). A crash at any moment
 * leaves either the old file or the new one, never a half-written one; a failed write removes its temporary file
 * and leaves `path` as it was. (No dependency does this for us without pulling in more than these lines.)
 */

/** A temporary name of its own per write, so two writers of one path never write into each other's file. */
function temporaryPathFor(path: string): string {
  return `${path}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
}

/** Synchronous, so two writes from one process never interleave. */
export function writeFileAtomicSync(path: string, text: string): void {
  const temporary = temporaryPathFor(path);
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

/**
 * The same, without blocking the event loop (for a large state written while the process serves requests). Two
 * concurrent calls for one path each replace it whole; the last rename wins, so a caller that needs its latest
 * text to win runs one write at a time.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temporary = temporaryPathFor(path);
  try {
    const file = await open(temporary, "wx");
    try {
      await file.writeFile(text, "utf8");
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
