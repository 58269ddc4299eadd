/**
 * A file of the `--data` directory that this local cloud cannot read back (cut short or edited by hand: ours are
 * written whole, local/runtime/atomic-file.ts). `npm start` prints its message alone, naming the file and what to
 * do, rather than a stack trace; it is never read as empty, which would drop what the file held without a word.
 * Recognised by `name` as well as by class: from the emulators' worker thread it arrives as a copy.
 */
export class DataFileError extends Error {
  override readonly name = "DataFileError";

  /** `message` names the file, what is wrong with it and what to do. */
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

export function isDataFileError(error: unknown): error is Error {
  return error instanceof DataFileError || (error as Error | undefined)?.name === "DataFileError";
}
