import { createRequire } from "node:module";

/**
 * dynalite's size checks, made to count strings as DynamoDB does: in UTF-8 bytes. DynamoDB sizes an item as the
 * UTF-8 bytes of its attribute names and string values (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)
 * and bounds a partition key value at 2,048 bytes, a sort key value at 1,024
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html). dynalite 4 counts a
 * string's `length`, UTF-16 code units, so text outside ASCII passed locally at up to three times what AWS takes
 * (an item of 205 K `é` is 410 KB; a sort key of 513 `é` is 1,026 bytes). Its actions reach these checks through
 * its store module's exports (`db.itemSize`, `db.validateKey`, `db.validateItem`, `db.validateKeyPiece`), which
 * are wrapped here: dynalite's own answer first, then the UTF-8 excess it missed. Its internal uses (capacity
 * units, a Query page's 1 MB) are left as they are.
 */
type AttributeValue = Record<string, unknown>;
type Item = Record<string, AttributeValue>;
interface KeyElement {
  readonly AttributeName: string;
  readonly KeyType: "HASH" | "RANGE";
}
interface Table {
  readonly KeySchema: readonly KeyElement[];
  readonly AttributeDefinitions: readonly { AttributeName: string; AttributeType: string }[];
}
interface DynaliteDb {
  itemSize(item: Item, ...rest: unknown[]): number;
  validateKey(key: Item, table: Table, keySchema?: readonly KeyElement[]): Error | undefined;
  validateItem(item: Item, table: Table): Error | undefined;
  validateKeyPiece(key: Item, attr: string, type: string, isHash: boolean): Error | undefined;
  validationError(message: string): Error;
}

const require = createRequire(import.meta.url);
const KEY_BYTES = { hash: 2048, range: 1024 } as const;
let patched = false;

/** Installs the UTF-8 counting on dynalite's store module (process-wide, once). */
export function countStringsInUtf8Bytes(): void {
  if (patched) return;
  const db = require("dynalite/db/index.js") as DynaliteDb;
  for (const name of ["itemSize", "validateKey", "validateItem", "validateKeyPiece"] as const) {
    if (typeof db[name] !== "function")
      throw new Error(`dynalite changed: db.${name} is gone; local/aws/dynalite-sizes.ts needs a look`);
  }
  const { itemSize, validateKey, validateItem, validateKeyPiece } = db;
  // One argument: the 400 KB check (put, update, batch write) and BatchGetItem's 16 MB; more: internal sizing.
  db.itemSize = (item, ...rest) => itemSize(item, ...rest) + (rest.length === 0 ? itemExcess(item) : 0);
  db.validateKey = (key, table, keySchema) =>
    validateKey(key, table, keySchema) ?? keyTooLong(db, key, table, keySchema ?? table.KeySchema);
  db.validateItem = (item, table) =>
    validateItem(item, table) ?? keyTooLong(db, item, table, table.KeySchema);
  db.validateKeyPiece = (key, attr, type, isHash) =>
    validateKeyPiece(key, attr, type, isHash) ?? pieceTooLong(db, key[attr]?.[type], type, isHash);
  patched = true;
}

/** UTF-8 bytes a string has beyond its UTF-16 length (what dynalite counted). */
function excess(text: string): number {
  return Buffer.byteLength(text, "utf8") - text.length;
}

function itemExcess(item: Item): number {
  let extra = 0;
  for (const [name, value] of Object.entries(item)) extra += excess(name) + valueExcess(value);
  return extra;
}

function valueExcess(value: AttributeValue): number {
  if (typeof value.S === "string") return excess(value.S);
  if (Array.isArray(value.SS)) return value.SS.reduce((sum: number, s: string) => sum + excess(s), 0);
  if (Array.isArray(value.L))
    return value.L.reduce((sum: number, v: AttributeValue) => sum + valueExcess(v), 0);
  if (value.M && typeof value.M === "object") return itemExcess(value.M as Item);
  return 0;
}

function keyTooLong(db: DynaliteDb, item: Item, table: Table, keySchema: readonly KeyElement[]) {
  for (const element of keySchema) {
    const type = table.AttributeDefinitions.find(
      (d) => d.AttributeName === element.AttributeName,
    )?.AttributeType;
    const refused = pieceTooLong(
      db,
      item[element.AttributeName]?.[type ?? ""],
      type,
      element.KeyType === "HASH",
    );
    if (refused) return refused;
  }
  return undefined;
}

/** dynalite's own refusals, worded as it words them, for a string key value past its limit in bytes. */
function pieceTooLong(db: DynaliteDb, value: unknown, type: string | undefined, isHash: boolean) {
  if (type !== "S" || typeof value !== "string") return undefined;
  const bytes = Buffer.byteLength(value, "utf8");
  if (isHash && bytes > KEY_BYTES.hash)
    return db.validationError(
      "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
    );
  if (!isHash && bytes > KEY_BYTES.range)
    return db.validationError(
      "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
    );
  return undefined;
}
