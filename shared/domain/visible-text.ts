/**
 * Text someone else chose (a group value, a callback URL, a receiver's error, a task's content), made safe to show
 * to a person, on a terminal (the CLI) or a page (the console): one rule for both, so a value that looks alike in
 * one looks alike in neither. Import-free: the console's page bundles it. Hand-written because the rule is one
 * Unicode property class and JSON's own escape; no library states it (jsesc and friends escape for source code).
 *
 * Hidden characters are those that show nothing or move what is around them: C0, DEL and C1 controls (Cc: a
 * terminal acts on ESC, CSI, a carriage return); Unicode's format characters (Cf: bidi embeddings, overrides,
 * isolates and marks, zero-width space and joiners, the word joiner, the byte-order mark, the soft hyphen, tag
 * characters); the other default-ignorable code points, which Unicode says to render as nothing though they are not
 * Cf (variation selectors, the combining grapheme joiner, the Hangul fillers: `A1` and `A1\ufe0f` look alike); the
 * line and paragraph separators.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/gu;
/** Of them, those JSON text holds raw only inside a string (C0 is never raw there; outside, only white space). */
const HIDDEN_IN_JSON_STRINGS = /[\p{Cf}\p{Default_Ignorable_Code_Point}\u007f-\u009f\u2028\u2029]/gu;

/** `\uXXXX` per UTF-16 unit, as JSON writes it (a character outside the BMP is its surrogate pair). */
function escaped(c: string): string {
  let out = "";
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return out;
}

/**
 * A value as a person is shown it: each hidden character written as its escape (`\u202e`; a C0 control as JSON
 * writes it, `\n`). So `order-1` and `order-1\u200b` are told apart, a newline is not a line break in a table cell,
 * an escape sequence cannot retitle a terminal or clear it, and a right-to-left override cannot show
 * `…/\u202etxt.exe` as `…/exe.txt` (Trojan Source).
 */
export function visible(text: string): string {
  return text.replace(HIDDEN, (c) => (c.charCodeAt(0) < 0x20 ? JSON.stringify(c).slice(1, -1) : escaped(c)));
}

/**
 * JSON text as a person is shown it: the hidden characters inside its strings escaped, which is the same JSON value;
 * its white space between tokens kept, so it reads as it was sent.
 */
export function visibleJson(text: string): string {
  return text.replace(HIDDEN_IN_JSON_STRINGS, escaped);
}
