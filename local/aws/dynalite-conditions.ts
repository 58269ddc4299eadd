import { createRequire } from "node:module";
import type { ExpressionParser } from "./dynalite-expressions.js";

const require = createRequire(import.meta.url);
/** dynalite's condition parser (condition, key condition and filter expressions): the instance its validations call. */
const CONDITION_PARSER = require("dynalite/db/conditionParser.js") as ExpressionParser;

/** A node of dynalite's parse of a condition: a document path is an array of its elements. */
type ConditionNode = { readonly type?: string; readonly name?: string; readonly args?: readonly unknown[] };

const refusing = new WeakSet<ExpressionParser>();

/**
 * Refuses, as an invalid expression (400 ValidationException), the condition shapes dynalite throws on when an
 * operand names an attribute the item lacks — `x IN (…, path, …)`, `x BETWEEN y AND path`, `begins_with(path,
 * path)` (`size(path)` in those places too). Why here, before dynalite evaluates them: it evaluates a condition or
 * filter in its store's callback (db/index.js `compare`: `Object.keys(null)`, `null.indexOf`), where no caller can
 * catch the TypeError, so one such request (the `aws` CLI against the local endpoint) stopped the emulators' thread
 * and the whole local cloud. DynamoDB reads such a comparison as false; refusing the shape is the local cloud's
 * difference (README, "Known limits"). Punctual's own code sends none of them.
 *
 * Refuses too, without parsing it, a condition nesting parentheses deeper than `MAX_NESTING`: dynalite's PEG
 * parser backtracks without memoizing, so its time grows exponentially with the depth (below), and it runs on the
 * emulators' one thread — one request of `((((…a…))))` 300 deep hung every call of the local cloud. DynamoDB
 * documents no such limit, only 4 KB per expression.
 *
 * Installed under dynalite's kept parses (local/aws/dynalite-expressions.ts), it looks at each fresh parse once: a
 * refusal is a parse that answers an error message, which is never kept.
 */
export function refuseConditionsDynaliteThrowsOn(parser: ExpressionParser = CONDITION_PARSER): void {
  if (refusing.has(parser)) return;
  refusing.add(parser);
  const parse = parser.parse.bind(parser);
  parser.parse = (text, options) => {
    const depth = nestingOf(text);
    if (depth > MAX_NESTING) {
      return `The expression nests parentheses ${depth} deep (local cloud: at most ${MAX_NESTING}, as dynalite's parser takes time exponential in the depth)`;
    }
    const parsed = parse(text, options);
    if (typeof parsed !== "object" || parsed === null) return parsed;
    const shape = unsafeShapeIn((parsed as { expression?: unknown }).expression);
    return shape === undefined
      ? parsed
      : `${shape} (local cloud: dynalite cannot evaluate it when that attribute is missing)`;
  };
}

/**
 * Twice the deepest condition Punctual writes (3: the schedule sweep's `… OR (#status = :rescheduled AND
 * (attribute_exists(#shard) OR …))`, seen over the e2e suite's pipeline, cancel and circuit runs). Measured on a
 * loaded 2-core machine, `a = b OR (a = b OR (…))` took 0.3–0.7 s at 6 levels, 4–5 s at 8.
 */
export const MAX_NESTING = 6;

/** How deep the text nests parentheses (names and values are placeholders or bare words: no parenthesis is quoted). */
export function nestingOf(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 40) deepest = Math.max(deepest, ++depth);
    else if (code === 41) depth--;
  }
  return deepest;
}

/** The first shape in the condition whose operand dynalite reads without checking it exists, if any. */
export function unsafeShapeIn(node: unknown): string | undefined {
  if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined;
  const { type, name, args = [] } = node as ConditionNode;
  if (type === "in" && args.slice(1).some(mayBeMissing))
    return "An attribute path or size() in the list of IN is not supported";
  if (type === "between" && mayBeMissing(args[2]))
    return "An attribute path or size() as the upper bound of BETWEEN is not supported";
  if (type === "function" && name === "begins_with" && mayBeMissing(args[0]) && mayBeMissing(args[1]))
    return "begins_with with attribute paths as both operands is not supported";
  for (const arg of args) {
    const shape = unsafeShapeIn(arg);
    if (shape !== undefined) return shape;
  }
  return undefined;
}

/** A document path (an array) or `size(…)` of one: resolved from the item, absent when the item lacks it. */
function mayBeMissing(arg: unknown): boolean {
  if (Array.isArray(arg)) return true;
  const node = arg as ConditionNode | undefined;
  return node?.type === "function" && node.name === "size";
}
