import fc from "fast-check";

/**
 * Sequences of DynamoDB item requests with expressions (condition, update, key condition, filter, projection) over
 * a small vocabulary, for differential tests of dynalite's expression handling (test/unit/local/
 * dynalite-expressions-differential.test.ts). Each case draws a few expression texts and uses them again and
 * again with other names and values, of every type, including those that make the expression invalid (size() of
 * a number, + on strings, BETWEEN bounds out of order or of two types, IN of mixed types), unused or missing ones.
 *
 * Values are in DynamoDB's wire form (JSON: B as base64): what dynalite's validations see.
 */
export type WireValue = { readonly [type: string]: unknown };

/** Value placeholders the texts use, and names; `:p` is the case's partition (a query's key condition). */
const VALUE_PLACEHOLDERS = [":v0", ":v1", ":v2", ":v3"] as const;
const NAME_PLACEHOLDERS = ["#n0", "#n1", "#n2"] as const;
/** Attributes an item holds: the vocabulary of paths and names. */
const ATTRIBUTES = ["a", "b", "l", "m", "s", "sk"] as const;

const b64 = (...bytes: number[]) => Buffer.from(bytes).toString("base64");
/**
 * A few values of each type, so BETWEEN meets its bounds in both orders and IN meets equal and unequal ones; some
 * strings name a type, which `attribute_type` takes.
 */
const VALUES: readonly WireValue[] = [
  { S: "a" },
  { S: "m" },
  { S: "z" },
  { S: "N" },
  { S: "SS" },
  { N: "-2" },
  { N: "1" },
  { N: "5" },
  { B: b64(1) },
  { B: b64(9) },
  { BOOL: true },
  { BOOL: false },
  { NULL: true },
  { L: [] },
  { L: [{ S: "a" }] },
  { L: [{ N: "1" }, { S: "z" }] },
  { M: {} },
  { M: { x: { S: "a" } } },
  { SS: ["a"] },
  { SS: ["a", "z"] },
  { NS: ["1"] },
  { NS: ["1", "5"] },
  { BS: [b64(1)] },
  { BS: [b64(1), b64(9)] },
];

const wireValue = fc.constantFrom(...VALUES);

const path = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(...ATTRIBUTES.filter((name) => name !== "sk"), ...NAME_PLACEHOLDERS),
  },
  { weight: 2, arbitrary: fc.constantFrom("m.x", "#n0.x", "l[0]", "#n1[1]", "m.#n2", "a.b.c") },
  // A reserved word, a name no request defines, a path an update may also write.
  { weight: 1, arbitrary: fc.constantFrom("status", "#nz", "sk", "pk") },
);
const value = fc.constantFrom(...VALUE_PLACEHOLDERS);
const operand = fc.oneof(
  { weight: 3, arbitrary: path },
  { weight: 3, arbitrary: value },
  { weight: 1, arbitrary: path.map((p) => `size(${p})`) },
  { weight: 1, arbitrary: value.map((v) => `size(${v})`) },
);
const comparator = fc.constantFrom("=", "<>", "<", "<=", ">", ">=");

const setValue = fc.oneof(
  { weight: 3, arbitrary: fc.oneof(value, path) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.oneof(value, path), fc.oneof(value, path)).map(([x, y]) => `${x} + ${y}`),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.oneof(value, path), fc.oneof(value, path)).map(([x, y]) => `${x} - ${y}`),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.oneof(value, path), fc.oneof(value, path))
      .map(([x, y]) => `list_append(${x}, ${y})`),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(path, fc.oneof(value, path)).map(([p, x]) => `if_not_exists(${p}, ${x})`),
  },
);
const clauses = <T>(clause: fc.Arbitrary<T>) => fc.array(clause, { minLength: 1, maxLength: 2 });
const section = fc.oneof(
  {
    weight: 3,
    arbitrary: clauses(fc.tuple(path, setValue)).map(
      (cs) => `SET ${cs.map(([p, x]) => `${p} = ${x}`).join(", ")}`,
    ),
  },
  { weight: 1, arbitrary: clauses(path).map((ps) => `REMOVE ${ps.join(", ")}`) },
  {
    weight: 2,
    arbitrary: clauses(fc.tuple(path, value)).map(
      (cs) => `ADD ${cs.map(([p, v]) => `${p} ${v}`).join(", ")}`,
    ),
  },
  {
    weight: 2,
    arbitrary: clauses(fc.tuple(path, value)).map(
      (cs) => `DELETE ${cs.map(([p, v]) => `${p} ${v}`).join(", ")}`,
    ),
  },
);
const update = fc.array(section, { minLength: 1, maxLength: 2 }).map((sections) => sections.join(" "));

const projection = fc.array(path, { minLength: 1, maxLength: 3 }).map((paths) => paths.join(", "));

/**
 * The texts of each kind. `evaluated`: only conditions dynalite can evaluate on any item without throwing out of
 * its request (dynalite 4 throws, and its server dies, on `x IN (path)`, a BETWEEN whose upper bound is a path, and
 * `begins_with` of two paths, when an item lacks them: db/index.js `compare`; the local cloud refuses them,
 * local/aws/dynalite-conditions.ts, but the unkept copy it is compared with does not); else any the grammars take.
 */
function textsOf(evaluated: boolean) {
  const valueOr = (other: fc.Arbitrary<string>) =>
    evaluated ? value : fc.oneof({ weight: 4, arbitrary: value }, other);
  const atom = fc.oneof(
    fc.tuple(operand, comparator, operand).map(([x, c, y]) => `${x} ${c} ${y}`),
    // Weighted: a BETWEEN of two values is kept once per order of its bounds, which the values drawn vary.
    {
      weight: 3,
      arbitrary: fc
        .tuple(operand, valueOr(operand), valueOr(operand))
        .map(([x, lo, hi]) => `${x} BETWEEN ${lo} AND ${hi}`),
    },
    fc
      .tuple(operand, fc.array(valueOr(operand), { minLength: 1, maxLength: 3 }))
      .map(([x, list]) => `${x} IN (${list.join(", ")})`),
    path.map((p) => `attribute_exists(${p})`),
    path.map((p) => `attribute_not_exists(${p})`),
    fc.tuple(path, value).map(([p, v]) => `attribute_type(${p}, ${v})`),
    fc.tuple(operand, valueOr(operand)).map(([x, y]) => `begins_with(${x}, ${y})`),
    fc.tuple(path, operand).map(([p, x]) => `contains(${p}, ${x})`),
    // Misused: a function where a comparison belongs, one that does not exist, a bad token.
    fc.constantFrom("size(a)", "nope(a)", "a = ", "attribute_exists(a) AND"),
  );

  function conditionOf(depth: number): fc.Arbitrary<string> {
    if (depth === 0) return atom;
    const inner = conditionOf(depth - 1);
    return fc.oneof(
      { weight: 6, arbitrary: atom },
      { weight: 1, arbitrary: fc.tuple(inner, inner).map(([x, y]) => `${x} AND ${y}`) },
      { weight: 1, arbitrary: fc.tuple(inner, inner).map(([x, y]) => `${x} OR ${y}`) },
      { weight: 1, arbitrary: inner.map((x) => `NOT ${x}`) },
      { weight: 1, arbitrary: inner.map((x) => `(${x})`) },
    );
  }
  const condition = conditionOf(2);

  // `pk = :p`, with or without a condition on the sort key; now and then one a key condition may not hold.
  const keyCondition = fc.oneof(
    { weight: 1, arbitrary: fc.constant("pk = :p") },
    {
      weight: 4,
      arbitrary: fc
        .oneof(
          fc.tuple(fc.constantFrom("sk", "#n0"), comparator, value).map(([k, c, v]) => `${k} ${c} ${v}`),
          fc.tuple(fc.constantFrom("sk", "#n0"), value).map(([k, v]) => `begins_with(${k}, ${v})`),
          {
            weight: 3,
            arbitrary: fc
              .tuple(fc.constantFrom("sk", "#n0"), value, value)
              .map(([k, lo, hi]) => `${k} BETWEEN ${lo} AND ${hi}`),
          },
          atom,
        )
        .map((sort) => `pk = :p AND ${sort}`),
    },
  );
  return { condition, keyCondition };
}

/**
 * One request's names and values. Most are the case's own (a value of the type the case gave it, its content
 * another or the same), so a text meets its kept parse again; the rest are drawn afresh, of any type. Each
 * placeholder its texts use is sent, now and then one left out or one more.
 */
interface Placeholders {
  /** null: the case's name. */
  readonly names: Readonly<Record<string, string | null>>;
  /** `like`: a value of the type of the case's (the `like`-th such); else this value. */
  readonly values: Readonly<Record<string, { readonly like: number } | { readonly value: WireValue }>>;
  /** Which placeholder the texts use (by its index among them) is left out; -1: none. */
  readonly missing: number;
  readonly unused: "none" | "name" | "value";
}
const caseNames = fc.record(
  Object.fromEntries(NAME_PLACEHOLDERS.map((n) => [n, fc.constantFrom(...ATTRIBUTES)])),
);
/** Of two types at most, so a BETWEEN's or a comparison's two values are often of one type (else it is refused). */
const caseValues = fc
  .tuple(wireValue, wireValue, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }))
  .map(([first, second, firsts]) =>
    Object.fromEntries(VALUE_PLACEHOLDERS.map((v, i) => [v, firsts[i] ? first : second])),
  );
const placeholders: fc.Arbitrary<Placeholders> = fc.record({
  names: fc.record(
    Object.fromEntries(
      NAME_PLACEHOLDERS.map((n) => [
        n,
        fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, fc.constantFrom(...ATTRIBUTES)),
      ]),
    ),
  ),
  values: fc.record(
    Object.fromEntries(
      VALUE_PLACEHOLDERS.map((v) => [
        v,
        fc.oneof(
          { weight: 6, arbitrary: fc.nat(4).map((like) => ({ like })) },
          { weight: 1, arbitrary: wireValue.map((value) => ({ value })) },
        ),
      ]),
    ),
  ),
  missing: fc.oneof({ weight: 12, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(3) }),
  unused: fc.oneof(
    { weight: 12, arbitrary: fc.constant("none" as const) },
    { weight: 1, arbitrary: fc.constantFrom("name" as const, "value" as const) },
  ),
});

const typeOf = (value: WireValue) => Object.keys(value)[0];

const ACTIONS = ["PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query", "Scan"] as const;
export type Action = (typeof ACTIONS)[number];

interface Request {
  readonly action: Action;
  /** Indexes into the case's texts (taken modulo their number); null: no such expression. */
  readonly condition: number | null;
  readonly update: number;
  readonly projection: number | null;
  readonly keyCondition: number;
  readonly sk: string;
  readonly item: Readonly<Record<string, WireValue>>;
  readonly placeholders: Placeholders;
}
const request: fc.Arbitrary<Request> = fc.record({
  action: fc.constantFrom(...ACTIONS),
  condition: fc.option(fc.nat(2), { freq: 4 }),
  update: fc.nat(1),
  projection: fc.option(fc.nat(1)),
  keyCondition: fc.nat(1),
  sk: fc.constantFrom("a", "m", "z"),
  item: fc.record(
    { a: wireValue, b: wireValue, l: wireValue, m: wireValue, s: wireValue },
    { requiredKeys: [] },
  ),
  placeholders,
});

const SPACE_OR_KEYWORD = / |\b(?:AND|OR|NOT|BETWEEN|IN|SET|REMOVE|ADD|DELETE)\b/g;
const SPACES = [" ", " ", " ", "  ", "\n", "\t", " \r\n"];
/**
 * Texts spelled otherwise now and then: keywords in lower or mixed case, other whitespace (the grammars take
 * [ \t\r\n]). What the cache reads of a text by regular expression (placeholders, `BETWEEN :a AND :b`)
 * must agree with the grammars however it is spelled.
 */
function respelled(text: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const picks = fc.array(fc.nat(SPACES.length - 1), { minLength: 8, maxLength: 8 });
  return fc.oneof(
    { weight: 1, arbitrary: text },
    {
      weight: 1,
      arbitrary: fc.tuple(text, picks).map(([t, pick]) => {
        let i = 0;
        return t.replace(SPACE_OR_KEYWORD, (match) => {
          const choice = pick[i++ % pick.length] ?? 0;
          if (match === " ") return SPACES[choice] ?? " ";
          return (
            [match, match.toLowerCase(), `${match[0]}${match.slice(1).toLowerCase()}`][choice % 3] ?? match
          );
        });
      }),
    },
  );
}

/** A few texts of each kind, and requests using them (each text several times, with other names and values). */
export interface ExpressionCase {
  readonly names: Readonly<Record<string, string>>;
  readonly values: Readonly<Record<string, WireValue>>;
  readonly conditions: readonly string[];
  readonly updates: readonly string[];
  readonly projections: readonly string[];
  readonly keyConditions: readonly string[];
  readonly requests: readonly Request[];
}
export function expressionCase({ evaluated }: { readonly evaluated: boolean }): fc.Arbitrary<ExpressionCase> {
  const { condition, keyCondition } = textsOf(evaluated);
  return fc.record({
    names: caseNames,
    values: caseValues,
    conditions: fc.array(respelled(condition), { minLength: 1, maxLength: 3 }),
    updates: fc.array(respelled(update), { minLength: 1, maxLength: 2 }),
    projections: fc.array(respelled(projection), { minLength: 1, maxLength: 2 }),
    keyConditions: fc.array(respelled(keyCondition), { minLength: 1, maxLength: 2 }),
    requests: fc.array(request, { minLength: 8, maxLength: 20 }),
  });
}

const at = <T>(texts: readonly T[], index: number): T => texts[index % texts.length] as T;

/** A request's expressions, by the field DynamoDB names each. */
function expressionsOf(c: ExpressionCase, r: Request): Record<string, string> {
  const condition = r.condition === null ? undefined : at(c.conditions, r.condition);
  const projection = r.projection === null ? undefined : at(c.projections, r.projection);
  const expressions: Record<string, string | undefined> = {
    PutItem: { ConditionExpression: condition },
    UpdateItem: { UpdateExpression: at(c.updates, r.update), ConditionExpression: condition },
    DeleteItem: { ConditionExpression: condition },
    GetItem: { ProjectionExpression: projection },
    Query: {
      KeyConditionExpression: at(c.keyConditions, r.keyCondition),
      FilterExpression: condition,
      ProjectionExpression: projection,
    },
    Scan: { FilterExpression: condition, ProjectionExpression: projection },
  }[r.action];
  return Object.fromEntries(
    Object.entries(expressions).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

const PLACEHOLDER = /[#:][0-9a-zA-Z_]+/g;

/** The names and values a request sends: those its texts use (`:p` the partition), less one or plus one. */
function namesAndValues(c: ExpressionCase, texts: readonly string[], p: Placeholders, partition: string) {
  const used = [...new Set(texts.flatMap((text) => text.match(PLACEHOLDER) ?? []))];
  const sent = used.filter((_, i) => i !== p.missing);
  const names: Record<string, string> = {};
  const values: Record<string, WireValue> = {};
  for (const placeholder of sent) {
    if (placeholder === ":p") values[placeholder] = { S: partition };
    else if (placeholder in p.names)
      names[placeholder] = p.names[placeholder] ?? (c.names[placeholder] as string);
    else if (placeholder in p.values) values[placeholder] = requestValue(c, p, placeholder);
  }
  if (p.unused === "name") names["#unused"] = "a";
  if (p.unused === "value") values[":unused"] = { S: "a" };
  return {
    ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
    ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
  };
}

function requestValue(c: ExpressionCase, p: Placeholders, placeholder: string): WireValue {
  const chosen = p.values[placeholder];
  if (chosen === undefined || "value" in chosen) return chosen?.value ?? { S: "a" };
  const type = typeOf(c.values[placeholder] ?? { S: "a" });
  const like = VALUES.filter((value) => typeOf(value) === type);
  return like[chosen.like % like.length] as WireValue;
}

/** The case's requests as DynamoDB's JSON API takes them, on `table`, items in the partition `partition`. */
export function wireRequests(
  c: ExpressionCase,
  table: string,
  partition: string,
): { readonly action: Action; readonly input: Record<string, unknown> }[] {
  return c.requests.map((r) => {
    const expressions = expressionsOf(c, r);
    const key = { pk: { S: partition }, sk: { S: r.sk } };
    const byAction: Record<Action, Record<string, unknown>> = {
      PutItem: { Item: { ...r.item, ...key }, ReturnValues: "ALL_OLD" },
      UpdateItem: { Key: key, ReturnValues: "ALL_NEW" },
      DeleteItem: { Key: key, ReturnValues: "ALL_OLD" },
      GetItem: { Key: key },
      Query: {},
      Scan: { Limit: 30 },
    };
    const input = {
      TableName: table,
      ...byAction[r.action],
      ...expressions,
      ...namesAndValues(c, Object.values(expressions), r.placeholders, partition),
    };
    return { action: r.action, input };
  });
}
