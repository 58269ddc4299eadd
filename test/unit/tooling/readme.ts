import { readFileSync } from "node:fs";

/** The README, as the tooling specs check it against the code. */
export const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");

/**
 * The body rows of the first Markdown table after `marker` (header and separator left out), each split into its
 * trimmed cells (`\|` inside a cell is an escaped pipe, not a border); a marker the README lacks gives no rows.
 */
export function tableAfter(marker: string): string[][] {
  const at = readme.indexOf(marker);
  if (at < 0) return [];
  const lines = readme.slice(at).split("\n");
  const first = lines.findIndex((line) => line.startsWith("|"));
  const end = lines.findIndex((line, i) => i > first && !line.startsWith("|"));
  return lines.slice(first + 2, end).map((line) =>
    line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((cell) => cell.trim()),
  );
}
