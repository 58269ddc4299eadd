import { createReadStream } from "node:fs";
import { parse as parseLossless } from "lossless-json";
import { MAX_REQUEST_BODY_BYTES } from "#shared/api/lambda-event-size.js";
import { UsageError } from "./exit-codes.js";

/**
 * A file the user named, as text: UTF-8 with a BOM (Notepad's) dropped, as JSON allows (RFC 8259 §8.1), where
 * `readFile(…, "utf8")` kept it (the JSON then "not JSON") and replaced bytes that are not UTF-8 (a Windows-1252
 * file's `é`) by U+FFFD, sending content other than the file's without a word. Read as a stream, so a pipe
 * (`-`, or `/dev/stdin`) works and a file past `maxBytes` stops there instead of filling memory. Any failure to read is a
 * usage error naming the file (exit 1), not a failure worth retrying.
 */
/** The file name that reads stdin. */
export const STDIN = "-";

export async function readTextFile(file: string, maxBytes: number, tooLarge: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    // `-` is stdin, as for Unix tools (`… | punctual tasks add --content-file -`); /dev/stdin is not on Windows.
    const input = file === STDIN ? process.stdin : createReadStream(file, { highWaterMark: 64 * 1024 });
    for await (const chunk of input) {
      size += (chunk as Buffer).byteLength;
      if (size > maxBytes) throw new UsageError(`${file}: over ${tooLarge}`);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${file}: ${(error as Error).message}`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new UsageError(`${file}: not UTF-8 text (save it as UTF-8)`);
  }
}

/**
 * `--content <json>` or `--content-file <path>` (tasks add, schedules create) as the JSON text to send: as
 * written, so 64-bit ids and `1.0` arrive as typed; parsed here only to refuse non-JSON early. A file that is not
 * JSON is refused saying where, quoting none of it: JSON.parse's message quotes its first characters, and a
 * mistyped path (`~/.aws/credentials`, `/etc/shadow`) would print the start of a secret into a terminal or a CI log.
 */
export async function contentText(options: {
  readonly content?: string;
  readonly contentFile?: string;
}): Promise<string> {
  const file = options.contentFile;
  const content =
    file !== undefined
      ? await readTextFile(file, MAX_REQUEST_BODY_BYTES, "1 MiB, more than a request may hold")
      : options.content;
  if (content === undefined) throw new UsageError("give --content <json> or --content-file <path>");
  try {
    JSON.parse(content);
  } catch (error) {
    if (file !== undefined) throw new UsageError(`${file}: not JSON${whereNotJson(content)}`);
    throw new UsageError(`the content is not JSON: ${(error as Error).message}`);
  }
  return content;
}

/**
 * Where text JSON.parse refused stops being JSON, as ` at line L, column C` (from 1): lossless-json's error names
 * the position (and at most a character); empty when it names none.
 */
function whereNotJson(text: string): string {
  try {
    parseLossless(text);
  } catch (error) {
    const at = /at position (\d+)/.exec((error as Error).message);
    if (at) {
      const lines = text.slice(0, Number(at[1])).split("\n");
      return ` at line ${lines.length}, column ${(lines.at(-1) as string).length + 1}`;
    }
  }
  return "";
}
