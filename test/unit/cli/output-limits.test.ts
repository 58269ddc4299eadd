import { describe, expect, it } from "vitest";
import {
  type CliIo,
  MAX_CELL_CHARS,
  MAX_SHOWN_ERROR_CHARS,
  printError,
  printResult,
} from "../../../cli/output.js";
import { PunctualError } from "../../../client/index.js";

/**
 * The CLI's cut and move at exactly their limits, counted as they are documented (docs/API.md): a table cell by the
 * characters it shows (an invisible character counted as its escape, which is what it takes on the terminal), an
 * error's text by the characters the server sent. Each escape stays whole, wherever the value lands.
 */
function captured(): { io: CliIo; out: () => string; err: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (text) => out.push(text), err: (text) => err.push(text), env: {} };
  return { io, out: () => out.join(""), err: () => err.join("") };
}

describe("a table cell at MAX_CELL_CHARS", () => {
  it("keeps a value of exactly MAX_CELL_CHARS characters in its cell, and moves one more below", () => {
    // Prepare
    const at = captured();
    const over = captured();

    // Act
    printResult(at.io, false, { note: "a".repeat(MAX_CELL_CHARS) });
    printResult(over.io, false, { note: "b".repeat(MAX_CELL_CHARS + 1) });

    // Assess
    expect(at.out()).not.toContain("below the table");
    expect(at.out()).toContain(`│ ${"a".repeat(MAX_CELL_CHARS)} │`);
    expect(over.out()).toContain(`(${MAX_CELL_CHARS + 1} characters: below the table)`);
    expect(over.out().endsWith(`\nnote: ${"b".repeat(MAX_CELL_CHARS + 1)}\n`)).toBe(true);
  });

  it("counts an invisible character as its escape, and prints the escape whole in the cell or below it", () => {
    // Prepare: U+202E is shown as `\u202e`, six characters.
    const fits = "\u202e".repeat(Math.floor(MAX_CELL_CHARS / 6));
    const over = "\u202e".repeat(Math.floor(MAX_CELL_CHARS / 6) + 1);
    const inCell = captured();
    const below = captured();

    // Act
    printResult(inCell.io, false, { note: fits });
    printResult(below.io, false, { note: over });

    // Assess
    expect(inCell.out()).not.toContain("below the table");
    expect(inCell.out()).toContain(`│ ${"\\u202e".repeat(fits.length)} │`);
    expect(below.out()).toContain(`(${over.length * 6} characters: below the table)`);
    expect(below.out()).toContain(`\nnote: ${"\\u202e".repeat(over.length)}\n`);
    expect(below.out()).not.toContain("\u202e");
  });

  it("leaves --json whole", () => {
    const json = captured();
    const value = { note: "c".repeat(MAX_CELL_CHARS * 3) };
    printResult(json.io, true, value);
    expect(JSON.parse(json.out())).toEqual(value);
  });
});

describe("an error's text at MAX_SHOWN_ERROR_CHARS", () => {
  const failed = (message: string) => new PunctualError({ code: "conflict", status: 409, message });

  // One past the limit was told as "1 more characters".
  it("prints a message of exactly MAX_SHOWN_ERROR_CHARS whole, and cuts one more (1 more character)", () => {
    // Prepare
    const at = captured();
    const over = captured();

    // Act
    printError(at.io, false, failed("m".repeat(MAX_SHOWN_ERROR_CHARS)));
    printError(over.io, false, failed("n".repeat(MAX_SHOWN_ERROR_CHARS + 1)));

    // Assess
    expect(at.err()).toBe(`error: conflict (HTTP 409): ${"m".repeat(MAX_SHOWN_ERROR_CHARS)}\n`);
    expect(over.err()).toBe(
      `error: conflict (HTTP 409): ${"n".repeat(MAX_SHOWN_ERROR_CHARS)}… (1 more character; --json prints it whole)\n`,
    );
  });

  it("cuts a text of invisible characters by what was sent, each shown as its whole escape", () => {
    // Prepare: an escape-sequence introducer (ESC) and a right-to-left override, alternating, past the cut.
    const sent = "\u001b\u202e".repeat(MAX_SHOWN_ERROR_CHARS);
    const shown = captured();

    // Act
    printError(shown.io, false, failed(sent));

    // Assess: 2,000 characters kept, each as its escape; nothing raw reaches the terminal.
    const line = shown.err();
    expect(line.includes("\u001b") || line.includes("\u202e")).toBe(false);
    expect(line).toBe(
      `error: conflict (HTTP 409): ${"\\u001b\\u202e".repeat(MAX_SHOWN_ERROR_CHARS / 2)}… (${MAX_SHOWN_ERROR_CHARS} more characters; --json prints it whole)\n`,
    );
  });

  it("keeps a surrogate pair ending exactly at the limit", () => {
    const at = captured();
    printError(at.io, false, failed(`${"a".repeat(MAX_SHOWN_ERROR_CHARS - 2)}😀`));
    expect(at.err()).toBe(`error: conflict (HTTP 409): ${"a".repeat(MAX_SHOWN_ERROR_CHARS - 2)}😀\n`);
  });
});
