import * as z from "#shared/zod.js";

/**
 * The task table's capacity mode (docs/COST-AND-SCALE.md, "Levers"). On-demand bills every write unit used
 * ($0.625 per million WRU); provisioned bills capacity per hour whether used or not ($0.00065 per WCU-hour) and
 * throttles what exceeds it plus its banked burst. Documented ranges, checked here and again, independently, on the
 * synthesized template (test/cdk/table-capacity.test.ts):
 * - every table and GSI: at least 1 RCU and 1 WCU; at most 40,000 each by default (per-table quota, adjustable);
 *   the table and its GSIs together count against the account's 80,000 RCU / 80,000 WCU per Region (default
 *   quota, adjustable) — https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
 * - auto scaling target utilization: 20–90 % —
 *   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/AutoScaling.html
 */
export const TABLE_CAPACITY_LIMITS = {
  minUnits: 1,
  perTableMaxUnits: 40_000,
  perAccountMaxUnits: 80_000,
  targetUtilizationPercent: { min: 20, max: 90 },
} as const;

/**
 * The task table's global secondary indexes (sweep, failed, schedule: cdk/lib/constructs/task-table.ts). Each one is
 * provisioned and scaled on its own; a CDK test checks the synthesized table has exactly this many.
 */
export const TASK_TABLE_INDEX_COUNT = 3;

const L = TABLE_CAPACITY_LIMITS;

/* The schemas below are built when called, not at import, as in event-sources.ts (why: there). */
function unitsRangeSchema() {
  return z
    .strictObject({
      min: z.number().check(z.int(), z.gte(L.minUnits, "DynamoDB provisions at least 1 capacity unit")),
      max: z
        .number()
        .check(
          z.int(),
          z.lte(
            L.perTableMaxUnits,
            `at most ${L.perTableMaxUnits}: DynamoDB's default per-table quota (raise it with AWS first, then here)`,
          ),
        ),
    })
    .check(z.refine((r) => r.max >= r.min, { message: "max must be at least min", path: ["max"] }));
}

function readWriteSchema() {
  return z.strictObject({ read: unitsRangeSchema(), write: unitsRangeSchema() });
}

function onDemandSchema() {
  return z.strictObject({ mode: z.literal("on-demand") });
}

function provisionedSchema() {
  return z
    .strictObject({
      mode: z.literal("provisioned"),
      /** Auto scaling keeps consumed ÷ provisioned near this; lower leaves more headroom for a rise (and costs more). */
      targetUtilizationPercent: z
        .number()
        .check(
          z.int(),
          z.gte(L.targetUtilizationPercent.min, "DynamoDB auto scaling accepts a target of 20–90 %"),
          z.lte(L.targetUtilizationPercent.max, "DynamoDB auto scaling accepts a target of 20–90 %"),
        ),
      /** The table's own read and write capacity bounds. */
      table: readWriteSchema(),
      /** The bounds of each GSI (every one gets the same; on the near-term happy path none is written). */
      indexes: readWriteSchema(),
    })
    .check(
      z.refine((p) => withinAccountQuota(p, "read"), {
        message: accountQuotaMessage("read"),
        path: ["indexes", "read", "max"],
      }),
      z.refine((p) => withinAccountQuota(p, "write"), {
        message: accountQuotaMessage("write"),
        path: ["indexes", "write", "max"],
      }),
    );
}

/** The table and all its GSIs at their maximum must fit the account's default per-Region quota. */
function withinAccountQuota(
  p: z.infer<ReturnType<typeof readWriteSchemaOwner>>,
  kind: "read" | "write",
): boolean {
  return p.table[kind].max + TASK_TABLE_INDEX_COUNT * p.indexes[kind].max <= L.perAccountMaxUnits;
}
function readWriteSchemaOwner() {
  return z.object({ table: readWriteSchema(), indexes: readWriteSchema() });
}

function accountQuotaMessage(kind: "read" | "write"): string {
  return `table.${kind}.max + ${TASK_TABLE_INDEX_COUNT} × indexes.${kind}.max must be at most ${L.perAccountMaxUnits}: the table and its GSIs together count against DynamoDB's default account quota per Region, so auto scaling could never reach these maxima`;
}

export function tableCapacitySchema() {
  return z.discriminatedUnion("mode", [onDemandSchema(), provisionedSchema()], {
    error: 'capacity.mode must be "on-demand" or "provisioned"',
  });
}

export function taskTableSchema() {
  return z.strictObject({ capacity: tableCapacitySchema() });
}

export type TableCapacity = z.infer<ReturnType<typeof tableCapacitySchema>>;
export type ProvisionedCapacity = Extract<TableCapacity, { mode: "provisioned" }>;
export type TaskTableConfig = z.infer<ReturnType<typeof taskTableSchema>>;

/** What an environment leaves out: on-demand, as every environment ran before. */
export const DEFAULT_TASK_TABLE: TaskTableConfig = { capacity: { mode: "on-demand" } };
