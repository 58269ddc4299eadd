import { createRequire } from "node:module";

/** What dynalite's validations hand its PEG.js expression parsers (dynalite/validations/index.js, `parse`). */
interface ParseContext {
  readonly attrNames?: Readonly<Record<string, string>> | null;
  readonly unusedAttrNames?: Record<string, unknown>;
}

/** One of dynalite's generated parsers: validations call `parser.parse(text, { context })` on the module. */
interface ExpressionParser {
  parse(text: string, options: { readonly context: ParseContext }): unknown;
}

const require = createRequire(import.meta.url);
/** dynalite's own condition parser module: the very instance its validations call (one CommonJS module per file). */
const conditionParser = require("dynalite/db/conditionParser.js") as ExpressionParser;

/** Enough for every expression our store writes, many times over; cleared whole when full. */
const MAX_ENTRIES = 1_000;
/** A key longer than this (a request with very many attribute names) is parsed each time, not kept. */
const MAX_KEY_LENGTH = 4_096;
/** The grammar's ExpressionAttributeName token: the names a parse resolves, and so marks used. */
const NAME_PLACEHOLDER = /#[0-9a-zA-Z_]+/g;

let installed = false;

/**
 * Keeps dynalite's parse of each condition expression that names no attribute value. Why: dynalite parses every
 * ConditionExpression, KeyConditionExpression and FilterExpression afresh with a generated PEG parser, and
 * profiled, the parse of `attribute_not_exists(pk)` (every task and schedule add) was nearly half of the
 * emulators' thread's CPU in single adds. Nothing dynalite offers keeps them, hence this wrapper.
 *
 * What it changes: nothing dynalite answers.
 * - Only an expression without a `:` is kept: with no value placeholder, its parse depends on its text and
 *   the request's ExpressionAttributeNames alone (the key), not on ExpressionAttributeValues.
 * - A parse that throws (a syntax error) or answers an error message is not kept, so it is made again and
 *   answers the same.
 * - A parse marks the names it resolves as used (dynalite refuses a request with unused names); a kept parse
 *   marks the same names, the `#` placeholders of its text.
 * - dynalite only reads a parse (db/index.js `matchesExprFilter`, query's key paths), so one can be shared.
 */
export function keepValueFreeConditionParses(parser: ExpressionParser = conditionParser): void {
  if (parser === conditionParser && installed) return;
  if (parser === conditionParser) installed = true;
  const parse = parser.parse.bind(parser);
  const kept = new Map<string, unknown>();
  parser.parse = (text, options) => {
    const key = keyOf(text, options.context);
    if (key === undefined) return parse(text, options);
    const known = kept.get(key);
    if (known !== undefined) {
      markNamesUsed(text, options.context);
      return known;
    }
    const parsed = parse(text, options);
    if (typeof parsed !== "object" || parsed === null) return parsed;
    if (kept.size >= MAX_ENTRIES) kept.clear();
    kept.set(key, parsed);
    return parsed;
  };
}

function keyOf(text: string, context: ParseContext): string | undefined {
  if (text.includes(":")) return undefined;
  const key = `${JSON.stringify(context.attrNames ?? null)}\n${text}`;
  return key.length <= MAX_KEY_LENGTH ? key : undefined;
}

function markNamesUsed(text: string, context: ParseContext): void {
  const unused = context.unusedAttrNames;
  if (!unused) return;
  for (const [name] of text.matchAll(NAME_PLACEHOLDER)) delete unused[name];
}
