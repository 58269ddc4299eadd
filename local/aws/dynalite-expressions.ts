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
    const shape = shapeOf(text);
    const key = keyOf(text, shape, context);
    if (key === undefined) return parse(text, options);
    const skeleton = kept.get(key);
    if (skeleton !== undefined) {
      markPlaceholdersUsed(shape, context);
      return filled(skeleton, context.attrVals ?? {});
    }
    const parsed = parse(text, options);
    const slotted =
      typeof parsed === "object" && parsed !== null ? withSlots(parsed, shape, context) : undefined;
    if (slotted === undefined) return parsed;
    if (kept.size >= MAX_ENTRIES) kept.clear();
    kept.set(key, slotted);
    return parsed;
  };
}

/** What a key needs of an expression's text, read once per text. */
interface TextShape {
  readonly names: readonly string[];
  readonly values: readonly string[];
  /** Each `BETWEEN :a AND :b`'s bounds; undefined when the text cannot be kept (see below). */
  readonly betweenBounds: readonly (readonly [string, string])[] | undefined;
}

const shapes = new Map<string, TextShape>();

function shapeOf(text: string): TextShape {
  let shape = shapes.get(text);
  if (shape === undefined) {
    const bounds = Array.from(
      text.matchAll(BETWEEN_VALUES),
      ([, lower = "", upper = ""]) => [lower, upper] as const,
    );
    const keepable = !READS_VALUE_CONTENT.test(text) && bounds.length === (text.match(BETWEEN)?.length ?? 0);
    shape = {
      names: placeholders(text, NAME_PLACEHOLDER),
      values: placeholders(text, VALUE_PLACEHOLDER),
      betweenBounds: keepable ? bounds : undefined,
    };
    if (shapes.size >= MAX_ENTRIES) shapes.clear();
    shapes.set(text, shape);
  }
  return shape;
}

function keyOf(text: string, shape: TextShape, context: ParseContext): string | undefined {
  const order = boundsOrder(shape, context);
  if (order === undefined) return undefined;
  let types = "";
  for (const placeholder of shape.values) {
    types += `${placeholder}=${Object.keys(context.attrVals?.[placeholder] ?? {}).join("+")},`;
  }
  const key = `${JSON.stringify(context.attrNames ?? null)}\n${types}\n${order}\n${text}`;
  return key.length <= MAX_KEY_LENGTH ? key : undefined;
}

/** Whether each BETWEEN's lower bound is above its upper one; undefined for a text that cannot be kept. */
function boundsOrder({ betweenBounds }: TextShape, { compare, attrVals }: ParseContext): string | undefined {
  if (betweenBounds === undefined || (betweenBounds.length > 0 && !compare)) return undefined;
  let order = "";
  for (const [lower, upper] of betweenBounds) {
    const [low, high] = [attrVals?.[lower], attrVals?.[upper]];
    order += low && high && compare ? String(compare("GT", low, high)) : "-";
  }
  return order;
}

function placeholders(text: string, pattern: RegExp): string[] {
  return [...new Set(Array.from(text.matchAll(pattern), ([placeholder]) => placeholder))];
}

function markPlaceholdersUsed(shape: TextShape, context: ParseContext): void {
  for (const name of shape.names) delete context.unusedAttrNames?.[name];
  for (const value of shape.values) delete context.unusedAttrVals?.[value];
}

/** A copy of `parsed` with a slot where each of the request's values stood; undefined if one is not found. */
function withSlots(parsed: object, shape: TextShape, context: ParseContext): unknown {
  const slotOf = new Map<unknown, ValueSlot>();
  for (const placeholder of shape.values) {
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
function copyOf(node: unknown, replace: (node: object) => unknown): unknown {
  if (typeof node !== "object" || node === null) return node;
  const replacement = replace(node);
  if (replacement !== undefined) return replacement;
  if (Array.isArray(node)) {
    const copy: unknown[] = new Array(node.length);
    for (let i = 0; i < node.length; i++) copy[i] = copyOf(node[i], replace);
    return copy;
  }
  const copy: Record<string, unknown> = Object.getPrototypeOf(node) === null ? Object.create(null) : {};
  // A parse holds no inherited enumerable keys: `for…in` here walks own keys without Object.entries' arrays.
  for (const key in node) copy[key] = copyOf((node as Record<string, unknown>)[key], replace);
  return copy;
}
