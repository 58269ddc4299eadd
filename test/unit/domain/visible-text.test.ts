import { describe, expect, it } from "vitest";
import { visible, visibleJson } from "../../../shared/domain/visible-text.js";

/**
 * What a person is shown of text a client or a receiver chose (a group value, a callback URL, a task's content, an
 * error), on the console's page and the CLI's terminal alike: nothing in it is invisible or reorders what is around
 * it, so two values that differ are told apart and `\u202e` cannot turn one value into what looks like another
 * (Trojan Source).
 */
const RLO = "\u202e";
const HIDDEN = [
  ["a right-to-left override", RLO, "\\u202e"],
  ["a right-to-left isolate", "\u2067", "\\u2067"],
  ["a zero-width space", "\u200b", "\\u200b"],
  ["a zero-width joiner", "\u200d", "\\u200d"],
  ["a word joiner", "\u2060", "\\u2060"],
  ["a byte-order mark", "\ufeff", "\\ufeff"],
  ["a soft hyphen", "\u00ad", "\\u00ad"],
  ["an Arabic letter mark", "\u061c", "\\u061c"],
  ["a line separator", "\u2028", "\\u2028"],
  ["a C1 control (CSI)", "\u009b", "\\u009b"],
  ["DEL", "\u007f", "\\u007f"],
  ["a tag character (outside the BMP)", "\u{e0041}", "\\udb40\\udc41"],
  // Not Cf, yet default-ignorable (Unicode's "render as nothing"): after a letter or digit they show nothing at all
  ["a variation selector", "\ufe0f", "\\ufe0f"],
  ["a combining grapheme joiner", "\u034f", "\\u034f"],
  ["a Hangul filler", "\u3164", "\\u3164"],
  ["a halfwidth Hangul filler", "\uffa0", "\\uffa0"],
  ["a Mongolian free variation selector", "\u180b", "\\u180b"],
  ["a variation selector outside the BMP", "\u{e0100}", "\\udb40\\udd00"],
] as const;

describe("visible (a value shown as text)", () => {
  it.each(HIDDEN)("writes %s as its escape", (_, c, escaped) => {
    expect(visible(`order-1${c}x`)).toBe(`order-1${escaped}x`);
  });

  it("writes C0 controls as JSON does: a newline shows as \\n, not as a space in a table cell", () => {
    expect(visible("order\n1\t\u0001")).toBe("order\\n1\\t\\u0001");
  });

  it("tells apart values that look the same, and flips nothing", () => {
    expect(visible("order-1")).not.toBe(visible("order-1\u200b"));
    expect(visible(`https://hooks.example/${RLO}txt.exe`)).toBe("https://hooks.example/\\u202etxt.exe");
  });

  it("leaves every other character as it is: letters of any script, emoji, a backslash", () => {
    const ordinary = "注文-1 ✓ ünïcode 🙂 C:\\path <b>&amp;</b>";
    expect(visible(ordinary)).toBe(ordinary);
  });
});

describe("visibleJson (a task's content: JSON text)", () => {
  it("escapes the hidden characters inside its strings: the same JSON value, nothing hidden left", () => {
    // Prepare: every hidden character JSON allows raw in a string, and white space between tokens.
    const raw = `{\n  "order_id": "A1${HIDDEN.map(([, c]) => c).join("")}",\n\t"n": 1}`;

    // Act
    const shown = visibleJson(raw);

    // Assess
    expect(JSON.parse(shown)).toEqual(JSON.parse(raw));
    expect(shown).not.toMatch(/[\p{Cf}\p{Default_Ignorable_Code_Point}\u007f-\u009f\u2028\u2029]/u);
    expect(shown.startsWith('{\n  "order_id": "A1\\u202e')).toBe(true);
    expect(shown.endsWith('",\n\t"n": 1}')).toBe(true);
  });
});
