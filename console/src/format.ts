export function age(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

export function time(iso: string | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}

/**
 * Characters that show nothing, or move what is around them: C0, DEL and C1 controls (Cc); Unicode's format
 * characters (Cf: bidi embeddings, overrides, isolates and marks, zero-width space and joiners, the word joiner,
 * the byte-order mark, the soft hyphen, tag characters); the other default-ignorable code points, which Unicode
 * says to render as nothing though they are not Cf (variation selectors, the combining grapheme joiner, the Hangul
 * fillers: `A1` and `A1\ufe0f` look alike); the line and paragraph separators.
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
 * A value a client or a receiver chose (a group value, a callback URL, an error), as the page shows it: each hidden
 * character written as its escape (`\u202e`; a C0 control as JSON writes it, `\n`), as the CLI's `shown` does. So
 * `order-1` and `order-1\u200b` are told apart, a newline is not a space in a table cell, and a right-to-left
 * override cannot show `…/\u202etxt.exe` as `…/exe.txt` (Trojan Source). Preact sets it as text, never as markup.
 */
export function visible(text: string): string {
  return text.replace(HIDDEN, (c) => (c.charCodeAt(0) < 0x20 ? JSON.stringify(c).slice(1, -1) : escaped(c)));
}

/**
 * A task's content (JSON text) as the page shows it: the hidden characters inside its strings escaped, which is
 * the same JSON value; its white space between tokens kept, so it reads as it was sent.
 */
export function visibleJson(text: string): string {
  return text.replace(HIDDEN_IN_JSON_STRINGS, escaped);
}
