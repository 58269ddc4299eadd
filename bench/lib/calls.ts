import type { FaultStats } from "#local/aws/faults.js";

/**
 * The call counter's tally (BENCH_CALLS_FILE: the fault layer's per-operation stats at zero rate) as what AWS
 * bills: every request is one request, a batch call included; DynamoDB write units are counted per write, and a
 * PartiQL batch's statements each as the write they are (1 WRU per ≤ 1 KB item,
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.multiplestatements.batching.html —
 * the bench's items are ≤ 1 KB). A refused conditional write costs its unit too. BatchWriteItem's puts are not in
 * the stats (the bench's runs use single adds), so they are reported apart.
 */
export interface BilledCalls {
  readonly requests: number;
  /** Write units of the table's own writes (≤ 1 KB items): PutItem, UpdateItem, DeleteItem and PartiQL statements. */
  readonly writeUnits: number;
  readonly byOperation: Readonly<Record<string, number>>;
  /** Calls whose units the stats cannot tell (BatchWriteItem: puts per call unknown). */
  readonly unitsUnknown: readonly string[];
}

const SINGLE_WRITES = ["dynamodb.PutItem", "dynamodb.UpdateItem", "dynamodb.DeleteItem"];

export function billedCalls(stats: FaultStats): BilledCalls {
  const byOperation: Record<string, number> = {};
  let requests = 0;
  let writeUnits = 0;
  for (const [operation, { requests: n, statements }] of Object.entries(stats)) {
    byOperation[operation] = n;
    requests += n;
    if (SINGLE_WRITES.includes(operation)) writeUnits += n;
    if (operation === "dynamodb.BatchExecuteStatement") writeUnits += statements ?? 0;
  }
  return {
    requests,
    writeUnits,
    byOperation,
    unitsUnknown: (stats["dynamodb.BatchWriteItem"]?.requests ?? 0) > 0 ? ["dynamodb.BatchWriteItem"] : [],
  };
}

/** The tally per delivered task, rounded to two decimals (the figures docs/COST-AND-SCALE.md reports). */
export function perTask(calls: BilledCalls, tasks: number): Record<string, number> {
  const round = (n: number) => Math.round((n / tasks) * 100) / 100;
  return {
    requests: round(calls.requests),
    writeUnits: round(calls.writeUnits),
    ...Object.fromEntries(Object.entries(calls.byOperation).map(([op, n]) => [op, round(n)])),
  };
}
