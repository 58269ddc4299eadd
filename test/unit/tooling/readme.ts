import { readFileSync } from "node:fs";

/**
 * The user documents, by path: README.md and the reference documents it sends a reader to for the detail (the
 * API, the callback contract, operations). The tooling specs check the code against what these say, wherever a
 * section lives, so moving a section between them keeps every check.
 */
export const USER_DOCUMENTS = [
  "README.md",
  "docs/API.md",
  "docs/CALLBACKS.md",
  "docs/OPERATIONS.md",
] as const;

export type UserDocument = (typeof USER_DOCUMENTS)[number];

const read = (document: UserDocument) =>
  readFileSync(new URL(`../../../${document}`, import.meta.url), "utf8");

/** Each user document's text. */
export const userDocument: Readonly<Record<UserDocument, string>> = Object.fromEntries(
  USER_DOCUMENTS.map((document) => [document, read(document)]),
) as Record<UserDocument, string>;

/** Every user document's text, one after another in USER_DOCUMENTS' order. */
export const userDocs = USER_DOCUMENTS.map((document) => userDocument[document]).join("\n");

/**
 * The body rows of the first Markdown table after `marker` in the user documents (header and separator left out),
 * each split into its trimmed cells (`\|` inside a cell is an escaped pipe, not a border); a marker no document
 * has gives no rows.
 */
export function tableAfter(marker: string): string[][] {
  const at = userDocs.indexOf(marker);
  if (at < 0) return [];
  const lines = userDocs.slice(at).split("\n");
  const first = lines.findIndex((line) => line.startsWith("|"));
  const end = lines.findIndex((line, i) => i > first && !line.startsWith("|"));
  return lines.slice(first + 2, end).map((line) =>
    line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((cell) => cell.trim()),
  );
}
