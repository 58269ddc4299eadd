import Table from "cli-table3";
import type { PlannerConfig } from "./config.js";
import type { Prediction } from "./predict.js";

const fmt = (x: number, digits = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "—";

function tableCapacity(c: PlannerConfig["tableCapacity"]): string {
  if (c.mode === "on-demand") return "on-demand";
  const r = (x: { min: number; max: number }) => `${x.min}–${x.max}`;
  return `provisioned at ${c.targetUtilizationPercent} %: table ${r(c.table.write)} WCU / ${r(c.table.read)} RCU, each GSI ${r(c.indexes.write)} WCU / ${r(c.indexes.read)} RCU`;
}

/** The prediction as two tables: the figures, then the quotas near or past their default. */
export function renderPrediction(workload: string, config: PlannerConfig, p: Prediction): string {
  const figures = new Table({ style: { head: [], border: [] } });
  const { relay, deliver, earlyWakeSeconds } = config.eventSources;
  const mapping = (m: {
    batchSize: number;
    provisionedPollers?: { min: number; max: number };
    maxConcurrency?: number;
  }) =>
    `batch ${m.batchSize}${m.provisionedPollers ? `, pollers ${m.provisionedPollers.min}–${m.provisionedPollers.max}` : ""}${m.maxConcurrency ? `, max concurrency ${m.maxConcurrency}` : ""}`;
  figures.push(
    { workload },
    { profile: p.profile },
    {
      "relay event source": `${mapping(relay)}, window ${relay.maxBatchingWindowSeconds} s, early wake ${earlyWakeSeconds ?? 0} s`,
    },
    { "deliver event source": mapping(deliver) },
    { "task table": tableCapacity(config.tableCapacity) },
    { "tasks received": `${fmt(p.received)} of ${fmt(p.tasks)}` },
    {
      "lateness p50 / p90 / p99 / max (ms)": [
        p.latenessMs.p50,
        p.latenessMs.p90,
        p.latenessMs.p99,
        p.latenessMs.max,
      ]
        .map((x) => fmt(x))
        .join(" / "),
    },
    { "delivered/s": fmt(p.deliveryRate) },
    { "adds/s": fmt(p.addRate) },
    {
      "peak concurrency add / relay / deliver": `${p.peakConcurrency.add} / ${p.peakConcurrency.relay} / ${p.peakConcurrency.deliver}`,
    },
    { "cold starts": fmt(p.coldStarts) },
    {
      "per task: AWS requests / WRU / RRU / DynamoDB write calls": `${fmt(p.perTask.awsRequests, 2)} / ${fmt(p.perTask.wru, 2)} / ${fmt(p.perTask.rru, 2)} / ${fmt(p.perTask.ddbWriteCalls, 2)}`,
    },
    { "$ per million tasks (list price)": fmt(p.costPerMillion, 2) },
    ...(p.monthlyCost !== undefined ? [{ "$ per month at this rate": fmt(p.monthlyCost) }] : []),
    {
      [`$ per month idle (provisioned pollers: relay and ${config.deliverMappings} topic(s)' deliver; table capacity)`]:
        fmt(p.idleMonthlyCost, 2),
    },
  );
  const quotas = new Table({
    head: ["quota", "needed", "default", "raise to", "note"],
    style: { head: [], border: [] },
  });
  for (const q of p.quotas)
    quotas.push([
      q.quota,
      fmt(q.needed, 1),
      fmt(q.limit),
      q.raiseTo !== undefined ? fmt(q.raiseTo) : q.needed > q.limit ? "EXCEEDED" : "—",
      q.note,
    ]);
  return `${figures.toString()}\n${quotas.toString()}`;
}
