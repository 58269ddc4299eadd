import { createRequire } from "node:module";

type AttributeValue = Readonly<Record<string, unknown>>;

/** What dynalite's validations hand its PEG.js expression parsers (dynalite/validations/index.js, `parse`). */
interface ParseContext {
  readonly attrNames?: Readonly<Record<string, string>> | null;
  readonly attrVals?: Readonly<Record<string, AttributeValue>> | null;
  readonly unusedAttrNames?: Record<string, unknown>;
  readonly unusedAttrVals?: Record<string, unknown>;
  /** dynalite's own comparison (db/index.js `compare`), set by its validations before each parse. */
  readonly compare?: (comparison: "GT", value: AttributeValue, bound: AttributeValue) => boolean;
}

/** One of dynalite's generated parsers: validations call `parser.parse(text, { context })` on the module. */
export interface ExpressionParser {
  parse(text: string, options: { readonly context: ParseContext }): unknown;
}

const require = createRequire(import.meta.url);
/** dynalite's own parser modules: the very instances its validations call (one CommonJS module per file). */
const DYNALITE_PARSERS = ["conditionParser", "updateParser", "projectionParser"].map(
  (name) => require(`dynalite/db/${name}.js`) as ExpressionParser,
);

/** Enough for every expression our store writes, many times over; cleared whole when full. */
const MAX_ENTRIES = 1_000;
/** A key longer than this (a request with very many attribute names) is parsed each time, not kept. */
const MAX_KEY_LENGTH = 4_096;
/** The grammars' ExpressionAttributeName and ExpressionAttributeValue tokens. */
const NAME_PLACEHOLDER = /#[0-9a-zA-Z_]+/g;
const VALUE_PLACEHOLDER = /:[0-9a-zA-Z_]+/g;
/** The check that reads a value's content (a type's name), not only its type: its parse is made afresh each time. */
const READS_VALUE_CONTENT = /attribute_type/i;
/** BETWEEN compares its bounds when both are values: each such pair's order is part of the key. */
const BETWEEN = /\bbetween\b/gi;
const BETWEEN_VALUES = /\bbetween\s+(:[0-9a-zA-Z_]+)\s+and\s+(:[0-9a-zA-Z_]+)/gi;

/** Where a value of the request stood in a kept parse: the next request's value of that placeholder goes there. */
class ValueSlot {
  constructor(readonly placeholder: string) {}
}

const wrapped = new WeakSet<ExpressionParser>();

/**
 * Keeps dynalite's parses of expressions, each filled with the request's own values when it is used again.
 * Why: dynalite parses every expression of every request afresh with generated PEG parsers, and profiled, those
 * parses were nearly half of the emulators' thread in single adds (`attribute_not_exists(pk)`) and a quarter of
 * it in a sustained run (deliver's and the relay's conditional updates). Nothing dynalite offers keeps them.
 *
 * What it changes: nothing dynalite answers.
 * - A parse depends on its text, the request's attribute names, and of its values only their types (the
 *   grammars' checks read `S`, `N`, `L`… and nothing else), save in BETWEEN, which compares two values as
 *   bounds (the key has their order, from dynalite's own comparison), and `attribute_type`, which reads its
 *   argument (parsed each time, as is a BETWEEN not written `BETWEEN :a AND :b`).
 * - The parse embeds each value object as it is; a kept parse holds a slot there instead, and each use gets a
 *   copy of its own, with the request's values in the slots. A parse in which a value it names is not found
 *   as such is not kept.
 * - A parse that throws (a syntax error) or answers an error message is not kept, so it is made again and
 *   answers the same.
 * - A parse marks the names and values it resolves as used (dynalite refuses a request with unused ones); a
 *   kept parse marks the same: the placeholders of its text.
 */
export function keepExpressionParses(parsers: readonly ExpressionParser[] = DYNALITE_PARSERS): void {
  for (const parser of parsers) {
    if (wrapped.has(parser)) continue;
    wrapped.add(parser);
    keepParsesOf(parser);
  }
}

function keepParsesOf(parser: ExpressionParser): void {
  const parse = parser.parse.bind(parser);
  const kept = new Map<string, unknown>();
  parser.parse = (text, options) => {
    const { context } = options;
    const key = keyOf(text, context);
    if (key === undefined) return parse(text, options);
    const skeleton = kept.get(key);
    if (skeleton !== undefined) {
      markPlaceholdersUsed(text, context);
      return filled(skeleton, context.attrVals ?? {});
    }
    const parsed = parse(text, options);
    const slotted =
      typeof parsed === "object" && parsed !== null ? withSlots(parsed, text, context) : undefined;
    if (slotted === undefined) return parsed;
    if (kept.size >= MAX_ENTRIES) kept.clear();
    kept.set(key, slotted);
    return parsed;
  };
}

function keyOf(text: string, context: ParseContext): string | undefined {
  if (READS_VALUE_CONTENT.test(text)) return undefined;
  const order = boundsOrder(text, context);
  if (order === undefined) return undefined;
  const types = placeholders(text, VALUE_PLACEHOLDER).map(
    (placeholder) => `${placeholder}=${Object.keys(context.attrVals?.[placeholder] ?? {}).join("+")}`,
  );
  const key = `${JSON.stringify(context.attrNames ?? null)}\n${types.join(",")}\n${order}\n${text}`;
  return key.length <= MAX_KEY_LENGTH ? key : undefined;
}

/** Whether each BETWEEN's lower bound is above its upper one; undefined for a BETWEEN of another form. */
function boundsOrder(text: string, context: ParseContext): string | undefined {
  const betweens = text.match(BETWEEN)?.length ?? 0;
  if (betweens === 0) return "";
  const pairs = Array.from(text.matchAll(BETWEEN_VALUES));
  const { compare, attrVals } = context;
  if (pairs.length !== betweens || !compare) return undefined;
  return pairs
    .map(([, lower = "", upper = ""]) => {
      const [low, high] = [attrVals?.[lower], attrVals?.[upper]];
      return low && high ? String(compare("GT", low, high)) : "-";
    })
    .join(",");
}

function placeholders(text: string, pattern: RegExp): string[] {
  return [...new Set(Array.from(text.matchAll(pattern), ([placeholder]) => placeholder))];
}

function markPlaceholdersUsed(text: string, context: ParseContext): void {
  for (const name of placeholders(text, NAME_PLACEHOLDER)) delete context.unusedAttrNames?.[name];
  for (const value of placeholders(text, VALUE_PLACEHOLDER)) delete context.unusedAttrVals?.[value];
}

/** A copy of `parsed` with a slot where each of the request's values stood; undefined if one is not found. */
function withSlots(parsed: object, text: string, context: ParseContext): unknown {
  const slotOf = new Map<unknown, ValueSlot>();
  for (const placeholder of placeholders(text, VALUE_PLACEHOLDER)) {
    const value = context.attrVals?.[placeholder];
    if (value === undefined || slotOf.has(value)) return undefined;
    slotOf.set(value, new ValueSlot(placeholder));
  }
  const found = new Set<ValueSlot>();
  const copy = copyOf(parsed, (node) => {
    const slot = slotOf.get(node);
    if (slot) found.add(slot);
    return slot;
  });
  return found.size === slotOf.size ? copy : undefined;
}

function filled(skeleton: unknown, values: Readonly<Record<string, AttributeValue>>): unknown {
  return copyOf(skeleton, (node) => (node instanceof ValueSlot ? values[node.placeholder] : undefined));
}

/** A deep copy of a parse (plain objects, null-prototype objects, arrays), `replace` answering a node's stand-in. */
function copyOf(node: unknown, replace: (node: unknown) => unknown): unknown {
  const replacement = replace(node);
  if (replacement !== undefined) return replacement;
  if (Array.isArray(node)) return node.map((item) => copyOf(item, replace));
  if (typeof node !== "object" || node === null) return node;
  const copy = Object.create(Object.getPrototypeOf(node)) as Record<string, unknown>;
  for (const [key, value] of Object.entries(node)) copy[key] = copyOf(value, replace);
  return copy;
}
