import { createRequire } from "node:module";

/**
 * dynalite's in-memory store keeping its keys and values as strings, not as Buffers (memory-level's
 * `storeEncoding: "utf8"`), for the local cloud's dynalite only. Why: dynalite's in-memory store is a memory-level
 * database with memory-level's default storage, Buffers: every get and put turned the key (and every put the value's
 * JSON) into a Buffer, and every step down the store's tree compared two keys byte by byte in JavaScript
 * (memory-level/lib/compare.js) — keys with long shared prefixes (`index-global~<table>~<index>~…`), a dozen
 * steps per lookup, a lookup and an insert per item and per index entry. As strings, the comparison is the engine's.
 *
 * What it changes: nothing dynalite stores or answers. Every key dynalite makes is ASCII — its sub-store prefixes
 * (`item-`, `index-global~`, `table`, `tag-` with a table name, which DynamoDB limits to `[a-zA-Z0-9_.-]`), then
 * hexadecimal (a string key's UTF-8 bytes, a hash prefix) or its ASCII form of a number — so the strings sort as
 * their UTF-8 bytes did and Query and Scan read in the same order; a value is the same JSON text, stored as the text
 * instead of its UTF-8 bytes. The one key that is not dynalite's own is a table tag's key (TagResource stores tags
 * under `tag-<table>~<tag key>`): ListTagsOfResource lists them in key order, which for a tag key holding a
 * character beyond U+FFFF next to one in U+E000–U+FFFF is now UTF-16's order, not UTF-8's (DynamoDB documents no
 * order for that list). A store kept on disk (`dataDir`) is classic-level's, untouched.
 *
 * How: dynalite's store module (dynalite/db/index.js) takes memory-level's `MemoryLevel` class when it is loaded and
 * creates its database with `new MemoryLevel({ valueEncoding: "json" })`, no storage option. So this module, loaded
 * before it (local/aws/dynalite-store.ts and test/support/dynalite-table.ts import it first), puts a subclass in
 * memory-level's exports that asks for string storage while `storingText` runs — the one synchronous call in which the
 * local cloud's dynalite creates its store — and is memory-level's own class everywhere else (a plain dynalite in
 * the same process keeps Buffers).
 */
const require = createRequire(import.meta.url);
/** memory-level as dynalite's store module resolves it: the very exports object it takes `MemoryLevel` from. */
const memoryLevel = createRequire(require.resolve("dynalite/db/index.js"))("memory-level") as {
  MemoryLevel: new (...args: unknown[]) => object;
};

/** Counts the stores created with string storage while `storingText` runs; undefined otherwise. */
interface Asking {
  textStores?: { made: number };
}

/**
 * The subclass, installed once per process: a second copy of this module (a test runner evaluating modules again
 * while Node keeps memory-level's CommonJS exports) finds it there and asks through it, so the class dynalite's
 * store module holds and `storingText` always share one `textStores`.
 */
const installed = installTextStoringMemoryLevel();

function installTextStoringMemoryLevel(): Asking {
  const { MemoryLevel } = memoryLevel;
  if ((MemoryLevel as { storesTextWhenAsked?: true }).storesTextWhenAsked) return MemoryLevel as Asking;
  class TextStoringMemoryLevel extends MemoryLevel {
    static readonly storesTextWhenAsked = true;
    static textStores: { made: number } | undefined;
    constructor(...args: unknown[]) {
      const [location, options] = args;
      // memory-level takes its options as the first argument when that is an object (dynalite's call).
      const given = typeof location === "object" && location !== null ? location : options;
      const asked = TextStoringMemoryLevel.textStores;
      if (!asked || (given as { storeEncoding?: unknown } | undefined)?.storeEncoding !== undefined) {
        super(...args);
        return;
      }
      asked.made++;
      super({ ...(given as object), storeEncoding: "utf8" });
    }
  }
  memoryLevel.MemoryLevel = TextStoringMemoryLevel;
  return TextStoringMemoryLevel;
}

/**
 * Runs `create` (which creates dynalite's store) with string storage for any in-memory store created meanwhile, and
 * says how many were. Zero for a store kept on disk, or when dynalite's store module was loaded before this module
 * (it then holds memory-level's own class).
 */
export function storingText<T>(create: () => T): { readonly result: T; readonly textStores: number } {
  const counter = { made: 0 };
  installed.textStores = counter;
  try {
    return { result: create(), textStores: counter.made };
  } finally {
    installed.textStores = undefined;
  }
}
