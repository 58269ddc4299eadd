import { EventEmitter } from "node:events";
import type http from "node:http";
import { nullMemberIn, nullMemberMessage } from "./dynalite-nulls.js";
import type { FaultInjector } from "./faults.js";
import type { RequestListener } from "./in-process.js";
import { readBody } from "./request-body.js";

/**
 * A narrow emulation of DynamoDB's PartiQL `BatchExecuteStatement` in front of dynalite, for the statements the
 * task store sends (shared/adapters/partiql.ts): conditional single-item UPDATEs.
 *
 * Why hand-written: dynalite implements no PartiQL operation, and DynamoDB Local (which does) needs Java and a
 * download this machine cannot make. So each statement is translated into the UpdateItem it stands for — its
 * WHERE's key equalities become the Key, every other predicate the ConditionExpression (with
 * `attribute_exists` of the key: a WHERE true for no item answers ConditionalCheckFailed) — and run against
 * dynalite through dynalite's own request listener, so the item is validated and stored exactly as an UpdateItem
 * would be. The answer has DynamoDB's documented shape: an HTTP 200 with one response per statement, in order,
 * each with its TableName and, when it failed, an `Error` {Code, Message[, Item]}
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchExecuteStatement.html,
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchStatementError.html).
 *
 * The grammar is a subset of ql-reference.update (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.update.html):
 *   UPDATE <name> (SET <path>=<value> [, <path>=<value>]… | REMOVE <path>)… WHERE <pred> [AND <pred>]…
 *   <pred>  ::= <path> = <value> | <path> IS [NOT] MISSING
 *   <value> ::= ? | 'string' | number | TRUE | FALSE | NULL | {'k': <value>, …} | [<value>, …]
 * with names double-quoted or bare; and of ql-reference.insert
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.insert.html), the batch add's
 * conditional puts:
 *   INSERT INTO <name> VALUE {'<attribute>': <value> [, '<attribute>': <value>]…}
 * translated into the PutItem it stands for, on condition that no item has its key: an existing key answers the
 * statement's `DuplicateItem` error, as DynamoDB's does (the INSERT writes nothing). Anything else — SELECT,
 * DELETE, RETURNING, OR, other operators or functions, more than 25 statements, two statements on one item — is
 * refused with a ValidationException for the whole call before any statement runs, so a statement the real
 * service might read differently fails locally instead of passing by accident. (DynamoDB, as captured by
 * nubo-db/dynoxide, reports a statement it cannot parse against that statement alone and runs the rest; the
 * task store treats both answers alike: not written.)
 */

export const BATCH_EXECUTE_TARGET = "DynamoDB_20120810.BatchExecuteStatement";
const MAX_STATEMENTS = 25;

type AttributeValue = Record<string, unknown>;

/** A parsed UPDATE: attribute paths, the values to SET, the paths to REMOVE and the WHERE's predicates. */
export interface ParsedUpdate {
  readonly table: string;
  readonly set: readonly { readonly path: readonly string[]; readonly value: AttributeValue }[];
  readonly remove: readonly (readonly string[])[];
  readonly where: readonly Predicate[];
}

/** A parsed INSERT: the table and the whole item (its key attributes included). */
export interface ParsedInsert {
  readonly table: string;
  readonly item: Readonly<Record<string, AttributeValue>>;
}

/** Any statement of the grammar, by kind. */
export type ParsedStatement =
  | ({ readonly kind: "update" } & ParsedUpdate)
  | ({ readonly kind: "insert" } & ParsedInsert);

export type Predicate =
  | { readonly path: readonly string[]; readonly op: "="; readonly value: AttributeValue }
  | { readonly path: readonly string[]; readonly op: "missing" | "present" };

/** The error the whole call answers for a statement outside the grammar. */
export class PartiqlValidationError extends Error {
  override readonly name = "ValidationException";
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

type Token =
  | { readonly kind: "name"; readonly text: string; readonly quoted: boolean }
  | { readonly kind: "string"; readonly text: string }
  | { readonly kind: "number"; readonly text: string }
  | { readonly kind: "punct"; readonly text: string };

function tokenize(statement: string): Token[] {
  const tokens: Token[] = [];
  const pattern =
    /\s+|"((?:[^"]|"")*)"|'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(<>|<=|>=|[=?.,:{}[\]()<>])/y;
  let at = 0;
  while (at < statement.length) {
    pattern.lastIndex = at;
    const m = pattern.exec(statement);
    if (!m)
      throw new PartiqlValidationError(
        `Statement wasn't well formed, can't be processed: unexpected "${statement[at]}"`,
      );
    at = pattern.lastIndex;
    if (m[1] !== undefined) tokens.push({ kind: "name", text: m[1].replaceAll('""', '"'), quoted: true });
    else if (m[2] !== undefined) tokens.push({ kind: "string", text: m[2].replaceAll("''", "'") });
    else if (m[3] !== undefined) tokens.push({ kind: "number", text: m[3] });
    else if (m[4] !== undefined) tokens.push({ kind: "name", text: m[4], quoted: false });
    else if (m[5] !== undefined) tokens.push({ kind: "punct", text: m[5] });
  }
  return tokens;
}

/** Parses one statement of the grammar above; `?` takes the next of `parameters`. */
export function parseUpdate(statement: string, parameters: readonly AttributeValue[] = []): ParsedUpdate {
  const reader = new StatementReader(tokenize(statement), parameters);
  reader.keyword("UPDATE");
  const table = reader.name();
  const { set, remove } = readChanges(reader);
  reader.keyword("WHERE");
  const where = readWhere(reader);
  if (!reader.usedAllParameters()) reader.fail("more parameters than ?");
  return { table, set, remove, where };
}

/** Parses one INSERT of the grammar above; `?` takes the next of `parameters`. */
export function parseInsert(statement: string, parameters: readonly AttributeValue[] = []): ParsedInsert {
  const reader = new StatementReader(tokenize(statement), parameters);
  reader.keyword("INSERT");
  reader.keyword("INTO");
  const table = reader.name();
  reader.keyword("VALUE");
  if (!reader.isPunct("{")) reader.fail("an INSERT's VALUE must be a tuple {'name': value, …}");
  const item = reader.value().M as Record<string, AttributeValue>;
  if (!reader.done()) reader.fail("unexpected text after the INSERT's VALUE");
  if (!reader.usedAllParameters()) reader.fail("more parameters than ?");
  return { table, item };
}

/** An UPDATE or an INSERT, by its first word. */
export function parseStatement(
  statement: string,
  parameters: readonly AttributeValue[] = [],
): ParsedStatement {
  return /^\s*INSERT\b/i.test(statement)
    ? { kind: "insert", ...parseInsert(statement, parameters) }
    : { kind: "update", ...parseUpdate(statement, parameters) };
}

/** The SET and REMOVE clauses, up to the WHERE. */
function readChanges(reader: StatementReader): Pick<ParsedUpdate, "set" | "remove"> {
  const set: { path: string[]; value: AttributeValue }[] = [];
  const remove: string[][] = [];
  while (!reader.isKeyword("WHERE")) {
    if (reader.takeKeyword("SET")) {
      do {
        reader.takePunct(",");
        const path = reader.path();
        reader.punct("=");
        set.push({ path, value: reader.value() });
      } while (reader.isPunct(","));
    } else if (reader.takeKeyword("REMOVE")) {
      remove.push(reader.path());
    } else reader.fail("expected SET, REMOVE or WHERE");
  }
  if (set.length + remove.length === 0) reader.fail("an UPDATE needs a SET or a REMOVE");
  return { set, remove };
}

/** The WHERE's predicates joined by AND: `path = value`, `path IS MISSING`, `path IS NOT MISSING`. */
function readWhere(reader: StatementReader): Predicate[] {
  const where: Predicate[] = [];
  do {
    if (where.length > 0) reader.keyword("AND");
    const path = reader.path();
    if (reader.takeKeyword("IS")) {
      const negated = reader.takeKeyword("NOT");
      reader.keyword("MISSING");
      where.push({ path, op: negated ? "present" : "missing" });
    } else {
      reader.punct("=");
      where.push({ path, op: "=", value: reader.value() });
    }
  } while (!reader.done());
  return where;
}

/** A cursor over a statement's tokens: each method reads one piece of the grammar or fails the statement. */
class StatementReader {
  #at = 0;
  #nextParameter = 0;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly parameters: readonly AttributeValue[],
  ) {}

  fail(what: string): never {
    throw new PartiqlValidationError(
      `Statement wasn't well formed, can't be processed: ${what} (local emulation: only conditional UPDATEs and INSERTs)`,
    );
  }

  done(): boolean {
    return this.#at >= this.tokens.length;
  }

  usedAllParameters(): boolean {
    return this.#nextParameter === this.parameters.length;
  }

  isKeyword(word: string): boolean {
    const t = this.tokens[this.#at];
    return t?.kind === "name" && !t.quoted && t.text.toUpperCase() === word;
  }

  takeKeyword(word: string): boolean {
    if (!this.isKeyword(word)) return false;
    this.#at++;
    return true;
  }

  keyword(word: string): void {
    if (!this.takeKeyword(word)) this.fail(`expected ${word}`);
  }

  isPunct(text: string): boolean {
    const t = this.tokens[this.#at];
    return t?.kind === "punct" && t.text === text;
  }

  takePunct(text: string): boolean {
    if (!this.isPunct(text)) return false;
    this.#at++;
    return true;
  }

  punct(text: string): void {
    if (!this.takePunct(text)) this.fail(`expected "${text}"`);
  }

  name(): string {
    const t = this.tokens[this.#at];
    if (t?.kind !== "name") return this.fail("expected a name");
    this.#at++;
    return t.text;
  }

  path(): string[] {
    const parts = [this.name()];
    while (this.takePunct(".")) parts.push(this.name());
    return parts;
  }

  value(): AttributeValue {
    const t = this.tokens[this.#at];
    if (!t) return this.fail("expected a value");
    this.#at++;
    if (t.kind === "punct" && t.text === "?") {
      return this.parameters[this.#nextParameter++] ?? this.fail("fewer parameters than ?");
    }
    if (t.kind === "string") return { S: t.text };
    if (t.kind === "number") return { N: t.text };
    if (t.kind === "name" && !t.quoted) {
      const word = t.text.toUpperCase();
      if (word === "TRUE" || word === "FALSE") return { BOOL: word === "TRUE" };
      if (word === "NULL") return { NULL: true };
    }
    if (t.kind === "punct" && t.text === "{") return this.mapValue();
    if (t.kind === "punct" && t.text === "[") return this.listValue();
    return this.fail(`unexpected "${t.text}"`);
  }

  private mapValue(): AttributeValue {
    const entries: Record<string, AttributeValue> = {};
    while (!this.takePunct("}")) {
      const key = this.tokens[this.#at];
      if (key?.kind !== "string") return this.fail("a map key must be a 'string'");
      this.#at++;
      this.punct(":");
      entries[key.text] = this.value();
      if (!this.isPunct("}")) this.punct(",");
    }
    return { M: entries };
  }

  private listValue(): AttributeValue {
    const items: AttributeValue[] = [];
    while (!this.takePunct("]")) {
      items.push(this.value());
      if (!this.isPunct("]")) this.punct(",");
    }
    return { L: items };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Translation

/** The UpdateItem request a parsed UPDATE stands for, given the table's key attribute names. */
export function toUpdateItem(update: ParsedUpdate, keyNames: readonly string[]): Record<string, unknown> {
  const names: Record<string, string> = {};
  const values: Record<string, AttributeValue> = {};
  const nameOf = (p: readonly string[]) =>
    p
      .map((part) => {
        const existing = Object.entries(names).find(([, n]) => n === part)?.[0];
        if (existing) return existing;
        const alias = `#n${Object.keys(names).length}`;
        names[alias] = part;
        return alias;
      })
      .join(".");
  const aliasOf = (v: AttributeValue) => {
    const alias = `:v${Object.keys(values).length}`;
    values[alias] = v;
    return alias;
  };
  const key: Record<string, AttributeValue> = {};
  const conditions: string[] = [];
  for (const predicate of update.where) {
    const [first] = predicate.path;
    const isKey = predicate.path.length === 1 && first !== undefined && keyNames.includes(first);
    if (isKey && predicate.op === "=" && !(first in key)) key[first] = predicate.value;
    else if (predicate.op === "=") conditions.push(`${nameOf(predicate.path)} = ${aliasOf(predicate.value)}`);
    else {
      const fn = predicate.op === "missing" ? "attribute_not_exists" : "attribute_exists";
      conditions.push(`${fn}(${nameOf(predicate.path)})`);
    }
  }
  if (keyNames.some((k) => !(k in key))) {
    throw new PartiqlValidationError(
      "Where clause does not contain a mandatory equality on all key attributes",
    );
  }
  const sets = update.set.map((s) => `${nameOf(s.path)} = ${aliasOf(s.value)}`);
  const removes = update.remove.map((p) => nameOf(p));
  return {
    TableName: update.table,
    Key: key,
    UpdateExpression: [
      sets.length > 0 ? `SET ${sets.join(", ")}` : "",
      removes.length > 0 ? `REMOVE ${removes.join(", ")}` : "",
    ]
      .filter(Boolean)
      .join(" "),
    ConditionExpression: [`attribute_exists(${nameOf([keyNames[0] as string])})`, ...conditions].join(
      " AND ",
    ),
    ExpressionAttributeNames: names,
    ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
  };
}

/**
 * The PutItem a parsed INSERT stands for: the item, on condition that no item has its key (DynamoDB refuses an
 * INSERT on an existing key rather than overwriting). An item without every key attribute is refused.
 */
export function toPutItem(insert: ParsedInsert, keyNames: readonly string[]): Record<string, unknown> {
  const missing = keyNames.filter((k) => !(k in insert.item));
  if (missing.length > 0) {
    throw new PartiqlValidationError(
      `One or more parameter values were invalid: Missing the key ${missing[0]} in the item`,
    );
  }
  // The legacy `Expected` form of the same condition: dynalite checks it without running its expression parser,
  // which took a fifth of its CPU time with one INSERT per claim and per keyed task.
  return {
    TableName: insert.table,
    Item: insert.item,
    Expected: { [keyNames[0] as string]: { Exists: false } },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Serving

interface Answer {
  readonly status: number;
  readonly json: Record<string, unknown>;
}

/**
 * dynalite's listener, answering BatchExecuteStatement itself (everything else passes through untouched). The
 * injector, when given, counts each statement and may answer a statement with an injected error code.
 */
export function withPartiql(
  dynalite: RequestListener,
  options: { faults?: FaultInjector } = {},
): RequestListener {
  const keySchemas = new Map<string, string[]>();
  return (req, res) => {
    if (req.headers["x-amz-target"] !== BATCH_EXECUTE_TARGET) {
      dynalite(req, res);
      return;
    }
    readBody(req).then(
      async (body) => {
        // Whatever else fails is answered, not left as an unhandled rejection (which stops the emulators' thread).
        const answer = await batchExecute(dynalite, req.headers, body, keySchemas, options.faults).catch(
          internalErrorAnswer,
        );
        const text = JSON.stringify(answer.json);
        res.statusCode = answer.status;
        res.setHeader("content-type", "application/x-amz-json-1.0");
        res.setHeader("content-length", Buffer.byteLength(text));
        res.end(text);
      },
      () => {
        res.statusCode = 500;
        res.end();
      },
    );
  };
}

async function batchExecute(
  dynalite: RequestListener,
  headers: http.IncomingHttpHeaders,
  body: string,
  keySchemas: Map<string, string[]>,
  faults: FaultInjector | undefined,
): Promise<Answer> {
  const call = (target: string, payload: unknown) => invoke(dynalite, headers, target, payload);
  let parsed: ParsedStatement[];
  let inputs: Record<string, unknown>[];
  let request: {
    Statements?: {
      Statement?: string;
      Parameters?: AttributeValue[];
      ReturnValuesOnConditionCheckFailure?: string;
    }[];
  };
  try {
    request = JSON.parse(body);
    // A null among the parameters is refused while DynamoDB reads the call, before any statement (as dynalite's
    // listener now refuses one in its own requests, local/aws/dynalite-nulls.ts). Looked for only when the body
    // holds the text `null` (a JSON null is written so, nothing else makes one): the walk of 25 statements' parameters
    // cost three times the body's JSON.parse (165 vs 57 us, 15 parameters each), on every finishing call and batch add.
    const nullAt = body.includes("null") ? nullMemberIn("BatchExecuteStatement", request) : undefined;
    if (nullAt !== undefined) return serializationAnswer(nullMemberMessage(nullAt));
    const statements = request.Statements ?? [];
    if (statements.length < 1 || statements.length > MAX_STATEMENTS) {
      throw new PartiqlValidationError(
        `1 validation error detected: Value at 'statements' failed to satisfy constraint: Member must have length between 1 and ${MAX_STATEMENTS}`,
      );
    }
    parsed = statements.map((s) => parseStatement(s.Statement ?? "", s.Parameters ?? []));
    for (const p of parsed) await keyNamesOf(call, keySchemas, p.table);
    // Every statement translated before any runs: a refused call writes nothing.
    inputs = parsed.map((p) => {
      const keyNames = keySchemas.get(p.table) ?? [];
      return p.kind === "insert" ? toPutItem(p, keyNames) : toUpdateItem(p, keyNames);
    });
    refuseRepeatedItems(parsed, inputs, keySchemas);
  } catch (error) {
    return validationAnswer(error);
  }
  const responses: Record<string, unknown>[] = [];
  for (const [i, statement] of parsed.entries()) {
    const wanted = request.Statements?.[i]?.ReturnValuesOnConditionCheckFailure === "ALL_OLD";
    // Every statement, UPDATE or INSERT, may be failed on its own (the chaos runs' statement faults).
    const injected = faults?.decideStatement("BatchExecuteStatement");
    const input = inputs[i] as Record<string, unknown>;
    if (injected) {
      responses.push(await injectedError(call, statement.table, input, injected, wanted));
      continue;
    }
    responses.push(
      statement.kind === "insert"
        ? await runInsert(call, statement.table, input)
        : await runStatement(call, statement.table, input, wanted),
    );
  }
  return { status: 200, json: { Responses: responses } };
}

/**
 * Two statements naming one item refuse the whole call before any runs, as DynamoDB does (captured against
 * eu-west-2 by nubo-db/dynoxide, docs/compatibility-summary.md; AWS's pages say nothing either way).
 */
function refuseRepeatedItems(
  parsed: readonly ParsedStatement[],
  inputs: readonly Record<string, unknown>[],
  keySchemas: ReadonlyMap<string, readonly string[]>,
): void {
  const seen = new Set<string>();
  parsed.forEach((statement, i) => {
    const input = inputs[i] as { Key?: Record<string, unknown>; Item?: Record<string, unknown> };
    const attributes = input.Key ?? input.Item ?? {};
    const key = (keySchemas.get(statement.table) ?? []).map((name) => attributes[name]);
    const id = JSON.stringify([statement.table, key]);
    if (seen.has(id)) throw new PartiqlValidationError("Provided list of item keys contains duplicates");
    seen.add(id);
  });
}

/**
 * An injected statement error, shaped as DynamoDB's: a ConditionalCheckFailed asked for ALL_OLD carries the item
 * as it stands ("will be set if ReturnValuesOnConditionCheckFailure is specified as ALL_OLD",
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchStatementError.html), as a real refusal
 * does (runStatement).
 */
async function injectedError(
  call: (target: string, payload: unknown) => Promise<Answer>,
  table: string,
  input: Record<string, unknown>,
  code: string,
  returnOld: boolean,
): Promise<Record<string, unknown>> {
  const error: Record<string, unknown> = { Code: code, Message: `injected fault: ${code}` };
  if (returnOld && input.Key) await withOldItem(call, table, input.Key, error);
  return { TableName: table, Error: error };
}

/**
 * A refused statement that asked for ALL_OLD carries the item as it stands (BatchStatementError `Item`,
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchStatementError.html): only for a
 * failed condition.
 */
async function withOldItem(
  call: (target: string, payload: unknown) => Promise<Answer>,
  table: string,
  key: unknown,
  error: Record<string, unknown>,
): Promise<void> {
  if (error.Code !== "ConditionalCheckFailed") return;
  const old = await call("DynamoDB_20120810.GetItem", { TableName: table, Key: key, ConsistentRead: true });
  if (old.json.Item) error.Item = old.json.Item;
}

/** One statement as its UpdateItem; a failure becomes the statement's own `Error` (BatchStatementError codes). */
async function runStatement(
  call: (target: string, payload: unknown) => Promise<Answer>,
  table: string,
  input: Record<string, unknown>,
  returnOld: boolean,
): Promise<Record<string, unknown>> {
  const answer = await call("DynamoDB_20120810.UpdateItem", input);
  if (answer.status === 200) return { TableName: table };
  const error: Record<string, unknown> = statementError(answer);
  if (returnOld) await withOldItem(call, table, input.Key, error);
  return { TableName: table, Error: error };
}

/** One INSERT as its conditional PutItem; an existing key is the statement's `DuplicateItem` error. */
async function runInsert(
  call: (target: string, payload: unknown) => Promise<Answer>,
  table: string,
  input: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const answer = await call("DynamoDB_20120810.PutItem", input);
  if (answer.status === 200) return { TableName: table };
  const error = statementError(answer);
  return {
    TableName: table,
    Error:
      error.Code === "ConditionalCheckFailed"
        ? { Code: "DuplicateItem", Message: "Duplicate primary key exists in table" }
        : error,
  };
}

/** A refused item action as a statement's `Error`: its BatchStatementError code and the action's message. */
function statementError(answer: Answer): { Code: string; Message: string } {
  const type =
    String(answer.json.__type ?? "")
      .split("#")
      .pop() ?? "";
  return {
    Code: STATEMENT_ERROR_CODES[type] ?? "InternalServerError",
    Message: String(answer.json.message ?? answer.json.Message ?? type),
  };
}

/** dynalite's exception names → BatchStatementError's codes. */
const STATEMENT_ERROR_CODES: Readonly<Record<string, string>> = {
  ConditionalCheckFailedException: "ConditionalCheckFailed",
  ValidationException: "ValidationError",
  ResourceNotFoundException: "ResourceNotFound",
  ProvisionedThroughputExceededException: "ProvisionedThroughputExceeded",
  ItemCollectionSizeLimitExceededException: "ItemCollectionSizeLimitExceeded",
  TransactionConflictException: "TransactionConflict",
  RequestLimitExceeded: "RequestLimitExceeded",
  ThrottlingException: "ThrottlingError",
};

/** The table's key attribute names (DescribeTable, once per table); throws for a table that does not exist. */
async function keyNamesOf(
  call: (target: string, payload: unknown) => Promise<Answer>,
  cache: Map<string, string[]>,
  table: string,
): Promise<string[]> {
  const known = cache.get(table);
  if (known) return known;
  const answer = await call("DynamoDB_20120810.DescribeTable", { TableName: table });
  const schema = (
    answer.json.Table as { KeySchema?: { AttributeName: string; KeyType: string }[] } | undefined
  )?.KeySchema;
  if (answer.status !== 200 || !schema) {
    throw Object.assign(new Error(`Requested resource not found: Table: ${table} not found`), {
      name: "ResourceNotFoundException",
    });
  }
  // HASH first: the partition key is what `attribute_exists` checks.
  const names = [...schema].sort((a) => (a.KeyType === "HASH" ? -1 : 1)).map((k) => k.AttributeName);
  cache.set(table, names);
  return names;
}

/** DynamoDB's shape for a failure on its side (local/aws/dynalite-guard.ts answers dynalite's own the same way). */
function internalErrorAnswer(error: unknown): Answer {
  const reason = error instanceof Error ? error.message : String(error);
  return {
    status: 500,
    json: {
      __type: "com.amazonaws.dynamodb.v20120810#InternalServerError",
      message: `The local DynamoDB emulator failed on this BatchExecuteStatement: ${reason}`,
    },
  };
}

/** DynamoDB's refusal of a call it cannot read (dynalite's shape for it: `Message`, capitalized). */
function serializationAnswer(message: string): Answer {
  return {
    status: 400,
    json: { __type: "com.amazon.coral.service#SerializationException", Message: message },
  };
}

function validationAnswer(error: unknown): Answer {
  const name = error instanceof Error ? error.name : "ValidationException";
  const type = name === "ResourceNotFoundException" ? name : "ValidationException";
  return {
    status: 400,
    json: {
      __type: `com.amazonaws.dynamodb.v20120810#${type}`,
      message: error instanceof Error ? error.message : String(error),
    },
  };
}

/**
 * One call of dynalite's listener without a socket: the smallest request/response pair it uses (the same surface
 * local/aws/in-process.ts serves it with), the caller's headers kept (dynalite checks the Authorization's shape).
 */
export function invoke(
  listener: RequestListener,
  headers: http.IncomingHttpHeaders,
  target: string,
  payload: unknown,
): Promise<Answer> {
  const body = Buffer.from(JSON.stringify(payload));
  return new Promise((resolve) => {
    const req = Object.assign(new EventEmitter(), {
      method: "POST",
      url: "/",
      headers: {
        ...headers,
        "x-amz-target": target,
        "content-type": "application/x-amz-json-1.0",
        "content-length": String(body.length),
      },
    });
    const res = {
      statusCode: 200,
      setHeader: () => undefined,
      end: (chunk?: string | Buffer) => {
        const text = chunk === undefined ? "" : chunk.toString();
        resolve({ status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
      },
    };
    listener(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse);
    req.emit("data", body);
    req.emit("end");
  });
}
