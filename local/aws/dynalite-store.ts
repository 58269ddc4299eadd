// First: dynalite's store module must take the string-storing MemoryLevel when it loads (why, there).
import "./dynalite-memory.js";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import dynalite from "dynalite";
import { refuseConditionsDynaliteThrowsOn } from "./dynalite-conditions.js";
import { keepExpressionParses } from "./dynalite-expressions.js";
import { storingText } from "./dynalite-memory.js";
import { countStringsInUtf8Bytes } from "./dynalite-sizes.js";
import { compileTypeChecks } from "./dynalite-types.js";

type Callback = (error: Error | null, table?: TableDescription) => void;
type TableDescription = Record<string, unknown>;

/** The part of dynalite's store (dynalite/db/index.js, `create`) this module touches. */
interface DynaliteStore {
  getTable(name: string, checkStatus: boolean | Callback, callback?: Callback): void;
  readonly tableDb: Record<"put" | "del" | "batch", (...args: unknown[]) => unknown>;
  /** The abstract-level database under it (classic-level with a path): opened on its own, without waiting. */
  readonly db: { open(): Promise<void> };
}

const require = createRequire(import.meta.url);
/** dynalite's own store module: the very instance its server uses (one CommonJS module per file). */
const dynaliteDb = require("dynalite/db/index.js") as { create(options: object): DynaliteStore };

/**
 * dynalite with its store in reach, so that `cacheTableDescriptions` can be installed on it, and with its
 * expression parses kept (local/aws/dynalite-expressions.ts), the conditions it would throw on refused
 * (local/aws/dynalite-conditions.ts), its type checks compiled
 * (local/aws/dynalite-types.ts), its sizes counted in UTF-8 bytes (local/aws/dynalite-sizes.ts) and its in-memory
 * store keeping strings (local/aws/dynalite-memory.ts). dynalite does not expose its store (its HTTP
 * handler is bound to it), so `db.create` is wrapped for the one synchronous call that creates this server's
 * store, and put back at once.
 */
export function startDynalite(options: Parameters<typeof dynalite>[0]): {
  server: Server;
  store: DynaliteStore;
} {
  const create = dynaliteDb.create;
  let store: DynaliteStore | undefined;
  let textStores = 0;
  dynaliteDb.create = (storeOptions) => {
    ({ result: store, textStores } = storingText(() => create(storeOptions)));
    return store;
  };
  try {
    const server = dynalite(options);
    if (!store) throw new Error("dynalite did not create its store through dynalite/db");
    // Loaded before local/aws/dynalite-memory.ts, dynalite's store module holds memory-level's own class: say so
    // rather than run a local cloud whose store differs from the one its tests ran.
    if (!options?.path && textStores !== 1) {
      throw new Error("dynalite's store module was loaded before local/aws/dynalite-memory.ts");
    }
    cacheTableDescriptions(store);
    // First, so that the kept parses are of checked conditions (a refused one is never kept).
    refuseConditionsDynaliteThrowsOn();
    keepExpressionParses();
    compileTypeChecks();
    countStringsInUtf8Bytes();
    return { server, store };
  } finally {
    dynaliteDb.create = create;
  }
}

/**
 * Keeps each table's description decoded for the item actions. Why: dynalite reads the table description from
 * its LevelDB store and JSON-parses it on every item operation, once per item of a BatchWriteItem (the
 * Punctual table's, with three indexes, is ~1.5 KB): profiled, that parse and its garbage were a quarter to a
 * third of dynalite's CPU per item in batched adds. What it changes: nothing dynalite answers.
 * - Only the item actions (getItem, putItem, updateItem, deleteItem, query, scan, batchGetItem,
 *   batchWriteItem: the ones calling `getTable(name, callback)`, which asks for an ACTIVE or UPDATING table)
 *   get the shared copy, and none of them writes to it. The table actions that change a description
 *   (updateTable, deleteTable; `getTable(name, false, callback)`) and createTable (reading the store directly)
 *   still get a fresh copy each, as before.
 * - Any write of a description (put, del, batch on dynalite's table store: create, update, delete, status
 *   changes) drops the copies before it happens, so the next item action reads the store again; a read that
 *   was under way across a write is used once and not kept.
 * - The callback still runs on a later turn (setImmediate), as dynalite's own store calls do.
 */
export function cacheTableDescriptions(store: DynaliteStore): void {
  const decoded = new Map<string, TableDescription>();
  /** Bumped by every write: a read that started before a write must not cache what it read. */
  let generation = 0;
  const getTable = store.getTable.bind(store);
  store.getTable = (name, checkStatus, callback) => {
    if (typeof checkStatus !== "function") return getTable(name, checkStatus, callback);
    const cached = decoded.get(name);
    if (cached) {
      setImmediate(checkStatus, null, cached);
      return;
    }
    const readAt = generation;
    getTable(name, (error, table) => {
      if (!error && table && readAt === generation) decoded.set(name, table);
      checkStatus(error, table);
    });
  };
  const { tableDb } = store;
  for (const write of ["put", "del", "batch"] as const) {
    const original = tableDb[write].bind(tableDb);
    tableDb[write] = (...args: unknown[]) => {
      generation++;
      decoded.clear();
      return original(...args);
    };
  }
}
