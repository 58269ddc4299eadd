import type { AttributeValue, BatchStatementRequest } from "@aws-sdk/client-dynamodb";
import { convertToAttr } from "@aws-sdk/util-dynamodb";

/**
 * PartiQL UPDATE and INSERT statements for DynamoDB's BatchExecuteStatement: the one conditional *batch* write DynamoDB has
 * (BatchWriteItem takes no conditions; TransactWriteItems bills 2 WRU per item). What this relies on, from AWS's
 * documentation:
 * - Syntax `UPDATE table [SET | REMOVE] path [= data] […] WHERE condition`; the WHERE must resolve to one
 *   primary key, further predicates act as the write's condition, and a WHERE that is not true answers
 *   ConditionalCheckFailed (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.update.html).
 * - `attr IS MISSING` is true when the item lacks the attribute
 *   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-functions.missing.html).
 * - A batch holds at most 25 statements, all reads or all writes
 *   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.multiplestatements.batching.html),
 *   and names each item once: DynamoDB refuses a repeated item for the whole call (not on AWS's pages; captured by
 *   nubo-db/dynoxide). Deliver's and the batch add's batches never repeat an item; the local emulation refuses one.
 * - An HTTP 200 does not mean every statement succeeded: each response, in the order of the statements, carries
 *   its own `Error` with a `Code` such as `ConditionalCheckFailed`
 *   (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchExecuteStatement.html,
 *   https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchStatementError.html); with
 *   `ReturnValuesOnConditionCheckFailure: ALL_OLD` a statement whose condition failed returns the item as it is
 *   (documented; a third-party capture found it never returned, so the store reads the item when it is absent).
 * - Each statement is billed as the write it is, and needs `dynamodb:PartiQLUpdate` on the table
 *   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-iam.html).
 * - `INSERT INTO table VALUE item` writes one new item; when an item with that primary key exists the statement
 *   fails with `DuplicateItem` and writes nothing (a conditional put that never overwrites), and needs
 *   `dynamodb:PartiQLInsert` (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.insert.html).
 * Values always travel as `?` parameters, names double-quoted: no value is ever spliced into the statement text.
 * The local cloud's emulation (local/aws/partiql.ts) accepts exactly this grammar.
 */

/** BatchExecuteStatement takes at most 25 statements per call. */
export const BATCH_STATEMENT_SIZE = 25;

/** One item's conditional UPDATE. */
export interface ItemUpdate {
  readonly table: string;
  readonly key: Readonly<Record<string, string>>;
  /** Attribute paths (a map's entry is `["map", "entry"]`) and their new values. */
  readonly set: readonly (readonly [path: readonly string[], value: unknown])[];
  readonly remove?: readonly string[];
  /** Each attribute must equal its value; `undefined` means it must be missing. */
  readonly where: readonly (readonly [name: string, value: unknown])[];
  /** A failed condition answers the item as it is (`ReturnValuesOnConditionCheckFailure: ALL_OLD`). */
  readonly returnOldOnConditionFailure?: boolean;
}

export function updateStatement(update: ItemUpdate): BatchStatementRequest {
  const parameters: AttributeValue[] = [];
  const param = (value: unknown) => {
    parameters.push(convertToAttr(value, { removeUndefinedValues: true }));
    return "?";
  };
  const clauses = [
    ...update.set.map(([path, value]) => `SET ${path.map(quoted).join(".")}=${param(value)}`),
    ...(update.remove ?? []).map((name) => `REMOVE ${quoted(name)}`),
  ];
  const where = [
    ...Object.entries(update.key).map(([name, value]) => `${quoted(name)}=${param(value)}`),
    ...update.where.map(([name, value]) =>
      value === undefined ? `${quoted(name)} IS MISSING` : `${quoted(name)}=${param(value)}`,
    ),
  ];
  return {
    Statement: `UPDATE ${quoted(update.table)} ${clauses.join(" ")} WHERE ${where.join(" AND ")}`,
    Parameters: parameters,
    ...(update.returnOldOnConditionFailure && { ReturnValuesOnConditionCheckFailure: "ALL_OLD" as const }),
  };
}

/** One new item, refused (`DuplicateItem`) when its primary key exists. */
export interface ItemInsert {
  readonly table: string;
  /** Every attribute of the item, its key included; undefined values are left out. */
  readonly item: Readonly<Record<string, unknown>>;
}

export function insertStatement(insert: ItemInsert): BatchStatementRequest {
  const entries = Object.entries(insert.item).filter(([, value]) => value !== undefined);
  return {
    Statement: `INSERT INTO ${quoted(insert.table)} VALUE {${entries.map(([name]) => `${tupleName(name)}: ?`).join(", ")}}`,
    Parameters: entries.map(([, value]) => convertToAttr(value, { removeUndefinedValues: true })),
  };
}

/** A name in a VALUE tuple is a single-quoted string. */
function tupleName(name: string): string {
  if (name.includes("'")) throw new Error(`a PartiQL tuple name cannot hold a single quote: ${name}`);
  return `'${name}'`;
}

function quoted(name: string): string {
  if (name.includes('"')) throw new Error(`a PartiQL name cannot hold a double quote: ${name}`);
  return `"${name}"`;
}
