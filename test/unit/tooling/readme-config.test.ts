import { describe, expect, it } from "vitest";
import type * as z from "zod/mini";
import { eventSourcesSchema } from "../../../shared/config/event-sources.js";
import { functionsSchema } from "../../../shared/config/function-observability.js";
import {
  DEFAULT_SYSTEM_SETTINGS,
  environmentConfigSchema,
  topicSettingsSchema,
} from "../../../shared/config/schema.js";
import { taskTableSchema } from "../../../shared/config/table-capacity.js";
import { tableAfter, userDocument } from "./readme.js";

/**
 * docs/OPERATIONS.md "Configuration" is the reference an operator writes an environment file from: every field of the zod
 * schema is there with its default and range, and no row names a field the schema lacks. Checked here so that a
 * field added to the schema (or a default changed) cannot leave the reference behind.
 */
const reference = userDocument["docs/OPERATIONS.md"];
const configuration = reference.slice(
  reference.indexOf("\n## Configuration"),
  reference.indexOf("\n## Topic settings"),
);

/** The rows of the topic settings table (the one after "The `system` section holds defaults"): cells per row. */
function topicTableRows(): Map<string, { defaultCell: string; rangeCell: string }> {
  const rows = tableAfter("The `system` section holds defaults");
  return new Map(
    rows.map(([name, defaultCell, rangeCell]) => [
      (name ?? "").replace(/`/g, ""),
      { defaultCell: defaultCell ?? "", rangeCell: rangeCell ?? "" },
    ]),
  );
}

/** A default as the table writes it: `—` (none), a number with an optional unit, a boolean, JSON or `{k: v}`. */
function parseDefault(cell: string): unknown {
  if (cell.startsWith("—")) return undefined;
  const plain = cell.replace(/`/g, "");
  const withUnit = /^([\d,.]+)(?: (days|KiB))?$/.exec(plain);
  if (withUnit) {
    const n = Number((withUnit[1] ?? "").replace(/,/g, ""));
    return withUnit[2] === "days" ? n * 86_400 : withUnit[2] === "KiB" ? n * 1024 : n;
  }
  if (plain === "true" || plain === "false") return plain === "true";
  if (plain.startsWith("{")) return JSON.parse(plain.replace(/(\w+):/g, '"$1":'));
  return JSON.parse(plain);
}

/**
 * The bounds of a number row (optional rows unwrapped), as zod holds them: its `>=`/`>` and `<=`/`<` checks, the
 * tightest of each (what classic zod's `minValue` / `maxValue` read; the schemas are zod/mini's, which has neither).
 */
function boundsOf(schema: z.core.$ZodType): { min: number | null; max: number | null } | undefined {
  const def = schema._zod.def as { type: string; innerType?: z.core.$ZodType };
  const inner = def.type === "optional" && def.innerType ? def.innerType : schema;
  if (inner._zod.def.type !== "number") return undefined;
  let min = Number.NEGATIVE_INFINITY;
  let max = Number.POSITIVE_INFINITY;
  for (const check of inner._zod.def.checks ?? []) {
    const { check: kind, value } = check._zod.def as { check: string; value?: unknown };
    if (typeof value !== "number") continue;
    if (kind === "greater_than") min = Math.max(min, value);
    if (kind === "less_than") max = Math.min(max, value);
  }
  return { min, max };
}

describe("the configuration reference (docs/OPERATIONS.md)", () => {
  it("the topic settings table has exactly the rows of topicSettingsSchema", () => {
    expect([...topicTableRows().keys()].sort()).toEqual(Object.keys(topicSettingsSchema.shape).sort());
  });

  it("each row's default is DEFAULT_SYSTEM_SETTINGS' (none for an optional row)", () => {
    for (const [row, { defaultCell }] of topicTableRows()) {
      const expected = (DEFAULT_SYSTEM_SETTINGS as Record<string, unknown>)[row];
      expect(parseDefault(defaultCell), row).toEqual(expected);
    }
  });

  it("a number row's `min–max` range is the schema's", () => {
    const shape = topicSettingsSchema.shape as Record<string, z.core.$ZodType>;
    let checked = 0;
    for (const [row, { rangeCell }] of topicTableRows()) {
      const range = /^([\d,.]+)–([\d,.]+)$/.exec(rangeCell);
      const bounds = boundsOf(shape[row] as z.core.$ZodType);
      if (!range || !bounds) continue;
      const [min, max] = [range[1], range[2]].map((n) => Number((n ?? "").replace(/,/g, "")));
      expect({ row, min, max }).toEqual({ row, min: bounds.min, max: bounds.max });
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it("names every environment-wide field, and every timer and sweeper field", () => {
    const shape = environmentConfigSchema.shape;
    const nested = (schema: unknown) => Object.keys((schema as { shape: object }).shape);
    const fields = [
      ...Object.keys(shape).filter((key) => !["name", "system", "topics"].includes(key)),
      ...nested(shape.timer),
      ...nested(shape.sweeper),
      ...nested(shape.timer.shape.scheduleRetry),
    ];
    const named = (field: string) =>
      [`\`${field}\``, `\`${field}.`, `${field}:`].some((n) => configuration.includes(n));
    const missing = fields.filter((field) => !named(field));
    expect(missing).toEqual([]);
  });

  it("the event sources and cost levers tables name every field of their sections", () => {
    const keys = (schema: unknown) => Object.keys((schema as { shape: object }).shape);
    const sources = eventSourcesSchema().shape;
    const fields = [
      ...keys(sources.relay).map((key) => `relay.${key}`),
      // FIFO queues take no batching window: the schema has the key only to refuse it.
      ...keys(sources.deliver)
        .filter((key) => key !== "maxBatchingWindowSeconds")
        .map((key) => `deliver.${key}`),
      "earlyWakeSeconds",
      ...keys(taskTableSchema()).map((key) => `taskTable.${key}`),
      ...keys(functionsSchema()).map((key) => `functions.${key}`),
    ];
    expect(fields.filter((field) => !configuration.includes(`\`${field}\``))).toEqual([]);
  });
});
