import {
  getUnsafeNumberReason,
  isLosslessNumber,
  isSafeNumber,
  LosslessNumber,
  parse,
  stringify,
  UnsafeNumberReason,
} from "lossless-json";
import type { ErrorIssue } from "#shared/api/errors.js";
import { echoed } from "./echoed.js";

/**
 * JSON parsed without losing what the caller wrote. `JSON.parse` turns `12345678901234567890` into
 * `12345678901234567000`, `1e400` into `Infinity` (stored as `null`) and `-0` into `0`, and silently keeps the last
 * of two equal keys; a task's content must reach its receiver as sent. So:
 * - numbers are parsed by `lossless-json` into `LosslessNumber`s that keep the token as written, and
 *   `stringifyExact` writes them back unchanged;
 * - a key given twice in one object is refused (which value was meant is ambiguous, and parsers disagree);
 * - nesting is bounded before parsing, because the parser (like every receiver's) recurses;
 * - each object's keys are written back in the order they were read: a JS object lists integer-like keys
 *   (`"1"`, `"10"`) first, in numeric order, so `{"b":1,"1":2}` would otherwise come back as `{"1":2,"b":1}`.
 *
 * lossless-json has no hook for these (it merges duplicates whose values are equal, recurses, and builds plain
 * objects), so a small iterative pre-scan of our own does them: it only tracks brackets, strings and keys; the
 * grammar itself is checked by lossless-json.
 */

/**
 * Nesting limit for any JSON body the API takes, checked before parsing (the parser recurses; a body of a million
 * `[` would overflow the stack). Far above what a route accepts (content: 64 levels), so routes still give their
 * own error. Here rather than in the JSON body middleware because the client needs it too: a batch body holds its
 * items two levels down, so an item near the limit must not go in one (client/add-batching.ts).
 */
export const MAX_JSON_DEPTH = 128;

export type ExactJsonResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly kind: "syntax"; readonly message: string }
  | { readonly ok: false; readonly kind: "duplicate" | "depth"; readonly issue: ErrorIssue };

/** A path as the API reports it: members and array indexes joined with dots (`content.items.0.id`). */
type Segment = string | number;

interface Frame {
  /**
   * An object's keys as written, what `objectKeys` keeps (an array's stay empty), and as a set for the duplicate
   * check (an array has none: `seen` tells the two apart), dropped with the frame. A body of 4 MiB can hold over a
   * million containers: a set kept for each (arrays too) took hundreds of MiB, more than the function has.
   */
  readonly keys: string[];
  readonly seen: Set<string> | undefined;
  expectKey: boolean;
  index: number;
  key: string | undefined;
}

/** Every array's keys: none, never written (only an object's frame reads keys). */
const NO_KEYS: string[] = [];

/** Parses `text` losslessly; `maxDepth` counts the outermost container as level 1. */
export function parseExactJson(text: string, maxDepth: number): ExactJsonResult {
  const objectKeys: (readonly string[])[] = [];
  const scan = scanStructure(text, maxDepth, objectKeys);
  // The pre-scan tracks only brackets, strings and keys, so it can find a "duplicate" in text that is not JSON at
  // all (`{{"a":1,"a":2}`): malformed text is a syntax error first. JSON.parse only checks the grammar here; it is
  // iterative and keeps the last duplicate, so it neither recurses on what the scan bounded nor reports the key.
  if (scan?.kind === "duplicate") {
    const syntax = syntaxError(text);
    if (syntax) return syntax;
  }
  if (scan) return { ok: false, ...scan };
  try {
    const value = parse(text);
    rememberKeyOrder(value, objectKeys);
    return { ok: true, value };
  } catch (error) {
    const message = error instanceof Error ? error.message : "unparseable JSON";
    return { ok: false, kind: "syntax", message: message.slice(0, 200) };
  }
}

function syntaxError(text: string): ExactJsonResult | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : "unparseable JSON";
    return { ok: false, kind: "syntax", message: message.slice(0, 200) };
  }
}

/**
 * The first duplicate key or over-deep container, as an issue; undefined when there is none (or when the text
 * is malformed in a way the parser will report). Iterative: it must not overflow the stack it protects.
 * `objectKeys`, when given, receives each object's keys as written, objects in the order they open.
 */
export function scanStructure(
  text: string,
  maxDepth: number,
  objectKeys?: (readonly string[])[],
): { kind: "duplicate" | "depth"; issue: ErrorIssue } | undefined {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x22) {
      const end = endOfString(text, i);
      if (end < 0) return undefined;
      const top = stack.at(-1);
      if (top?.seen && top.expectKey) {
        const key = decodeString(text.slice(i, end + 1));
        if (key === undefined) return undefined;
        if (top.seen.has(key)) {
          const issue = { path: pathOf(stack, key), message: "is given more than once in one object" };
          return { kind: "duplicate", issue };
        }
        top.seen.add(key);
        top.keys.push(key);
        top.key = key;
        top.expectKey = false;
      }
      i = end;
    } else if (code === 0x7b || code === 0x5b) {
      if (stack.length + 1 > maxDepth) {
        const issue = {
          path: pathOf(stack.slice(0, 1)),
          message: `must not nest deeper than ${maxDepth} levels`,
        };
        return { kind: "depth", issue };
      }
      const object = code === 0x7b;
      const keys = object ? [] : NO_KEYS;
      // Objects' keys are kept in the order the objects open, the order `rememberKeyOrder` reads them in.
      if (object) objectKeys?.push(keys);
      const seen = object ? new Set<string>() : undefined;
      stack.push({ keys, seen, expectKey: true, index: 0, key: undefined });
    } else if (code === 0x7d || code === 0x5d) {
      stack.pop();
    } else if (code === 0x2c) {
      const top = stack.at(-1);
      if (top?.seen) top.expectKey = true;
      else if (top) top.index++;
    }
  }
  return undefined;
}

/** Index of the closing quote of the string opening at `start`, or -1 if it never closes. */
function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x5c) i++;
    else if (code === 0x22) return i;
  }
  return -1;
}

function decodeString(token: string): string | undefined {
  try {
    return JSON.parse(token) as string;
  } catch {
    return undefined;
  }
}

/** The path of the member being read (plus `key` when given), for error messages. */
function pathOf(stack: readonly Frame[], key?: string): string {
  const segments: Segment[] = [];
  // The innermost frame's own member is `key`; every outer frame contributes the member we are inside.
  const outer = key === undefined ? stack : stack.slice(0, -1);
  // The keys are the caller's: each is echoed cut.
  for (const frame of outer) segments.push(frame.seen ? echoed(frame.key ?? "") : frame.index);
  if (key !== undefined) segments.push(echoed(key));
  return segments.join(".");
}

/**
 * Each parsed object whose keys were written in another order than the object lists them (integer-like keys):
 * the written order, for `stringifyExact`. Weak: it lives as long as the parsed value.
 */
const writtenKeyOrder = new WeakMap<object, readonly string[]>();

/**
 * Pairs each object of a parsed value with its keys as the scan read them. Objects are visited in the order they
 * open in the text (children in written key order), the order the scan recorded them in; should the two ever
 * disagree, the rest keeps the object's own order. Recursion is bounded by the depth limit the text was parsed with.
 */
function rememberKeyOrder(value: unknown, objectKeys: readonly (readonly string[])[]): void {
  let next = 0;
  const visit = (node: unknown): boolean => {
    if (Array.isArray(node)) return node.every(visit);
    if (node === null || typeof node !== "object" || isLosslessNumber(node)) return true;
    const written = objectKeys[next++] ?? NO_KEYS;
    const own = Object.keys(node);
    if (written.length !== own.length || !written.every((key) => Object.hasOwn(node, key))) return false;
    if (written.some((key, i) => key !== own[i])) writtenKeyOrder.set(node, written);
    return written.every((key) => visit((node as Record<string, unknown>)[key]));
  };
  visit(value);
}

/** JSON text of a value that may hold `LosslessNumber`s, every number token and every key order as it was read. */
export function stringifyExact(value: unknown): string {
  const text = exactText(value);
  if (text === undefined) throw new TypeError("value has no JSON representation");
  return text;
}

/** lossless-json's `stringify`, but objects list their keys in written order (`writtenKeyOrder`). */
function exactText(value: unknown): string | undefined {
  if (Array.isArray(value)) return `[${value.map((item) => exactText(item) ?? "null").join(",")}]`;
  if (!isPlainObject(value)) return stringify(value);
  const keys = writtenKeyOrder.get(value) ?? Object.keys(value);
  const members: string[] = [];
  for (const key of keys) {
    const text = exactText(value[key]);
    if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
  }
  return `{${members.join(",")}}`;
}

/** An object as JSON parsing builds them, written member by member; anything else is lossless-json's to write. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return (
    (prototype === Object.prototype || prototype === null) &&
    typeof (value as { toJSON?: unknown }).toJSON !== "function"
  );
}

export { isLosslessNumber, LosslessNumber };

/**
 * A lossless number as a JS number, where the number stands for a value (an ordering group: add-task.ts); undefined
 * when the number cannot be represented (overflow like `1e400`, underflow, an integer beyond 2^53, or a decimal
 * whose first 14 digits a double does not keep), so that two such values stay apart as their texts.
 */
export function toJsNumber(value: LosslessNumber): number | undefined {
  const text = value.toString();
  if (!isSafeNumber(text, { approx: true })) return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : undefined;
}

/**
 * A lossless number as the JS number a request field our own logic computes with (delays, unix seconds): a
 * decimal with more digits than a double keeps (`1796000000.99999999`, `10.70000000000000001`) is its nearest
 * double, as `JSON.parse` reads it — the lost digits are far below a millisecond (a due time, where they can still
 * decide which millisecond, is read from the token itself: DueSpec's `written`). Undefined only when no number
 * holds it: overflow (`1e400`), underflow to 0, or an integer past 2^53 (however written, `9007199254740993.0`).
 */
export function toFieldNumber(value: LosslessNumber): number | undefined {
  const text = value.toString();
  const number = Number(text);
  if (!Number.isFinite(number)) return undefined;
  if (Number.isInteger(number) && !Number.isSafeInteger(number)) return undefined;
  const reason = getUnsafeNumberReason(text);
  return reason === undefined || reason === UnsafeNumberReason.truncate_float ? number : undefined;
}

/**
 * Issues about numbers no JS number holds: once a request's issues number this many, more such numbers are read as
 * 0 without an issue each. An answer lists 20 issues; a 4 MiB body can hold 600,000 such numbers a hundred levels
 * down, and an issue each, its whole path written out, took more memory and time than the function has.
 */
export const MAX_NUMBER_ISSUES = 1000;

/**
 * Deeply replaces `LosslessNumber`s by JS numbers (outside `content`, which keeps them). Unrepresentable ones are
 * reported as issues at their path (up to MAX_NUMBER_ISSUES in `issues`; each key echoed cut, as in every issue's
 * path). `path` is the value's own, and is grown and shrunk as the walk goes (copied per value, it cost time and
 * memory in proportion to depth). Recursion is bounded by the depth limit the text was parsed with.
 */
export function withJsNumbers(value: unknown, path: Segment[], issues: ErrorIssue[]): unknown {
  if (isLosslessNumber(value)) {
    const number = toFieldNumber(value);
    if (number === undefined && issues.length < MAX_NUMBER_ISSUES) {
      issues.push({ path: path.join("."), message: "is not a representable number" });
    }
    return number ?? 0;
  }
  if (Array.isArray(value)) return value.map((item, i) => inner(item, i, path, issues));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(out, key, {
        value: inner(item, echoed(key), path, issues),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

function inner(value: unknown, segment: Segment, path: Segment[], issues: ErrorIssue[]): unknown {
  path.push(segment);
  const out = withJsNumbers(value, path, issues);
  path.pop();
  return out;
}
