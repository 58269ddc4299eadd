import { ERROR_FAULT_KINDS, FAULT_KINDS } from "#local/aws/faults.js";
import type { ChaosReport } from "./engine.js";
import { FAILURE_BEHAVIOURS } from "./flaky-receiver.js";
import { invariantsHold } from "./verify.js";

/** The run as text: what was sent, what became of it, the invariants, and the faults injected per operation. */
export function formatReport(report: ChaosReport): string {
  return [
    ...header(report),
    ...clientSection(report),
    ...outcomeSection(report),
    ...invariantSection(report),
    ...alsoSeenSection(report),
    ...examples(report),
    ...functionLogSection(report),
    ...faultSection(report),
    ...footer(report),
  ].join("\n");
}

/** The run passes when every invariant holds, idempotency held, and every accepted task finished. */
export function chaosPassed(report: ChaosReport): boolean {
  return (
    invariantsHold(report.findings) &&
    report.client.idempotencyMismatches === 0 &&
    report.findings.outcomes.pending === 0
  );
}

const pct = (n: number, of: number) => (of === 0 ? "–" : `${((100 * n) / of).toFixed(2)} %`);
const mark = (ok: boolean) => (ok ? "ok" : "VIOLATED");
const row = (label: string, value: string | number, note = "") =>
  `  ${label.padEnd(40)}${String(value).padStart(8)}${note ? `  ${note}` : ""}`;

/** `key: count, …` in key order. */
function counts(record: Readonly<Record<string, number>>): string {
  return Object.entries(record)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ");
}

/** What the run was asked to do: workload, AWS faults, the receiver's failures, the stack's config. */
function header(report: ChaosReport): string[] {
  const o = report.options;
  const w = o.workload;
  const failing = FAILURE_BEHAVIOURS.reduce((n, b) => n + (report.callbacks.byBehaviour[b] ?? 0), 0);
  return [
    `Punctual chaos run — seed ${o.seed}: ${w.tasks} tasks over ${w.groups} groups (${(w.ungroupedShare * 100).toFixed(0)} % ungrouped)`,
    `  AWS faults: ${o.faultPolicy ? "custom policy" : `${(o.faultRate * 100).toFixed(1)} % of every call and of every batch statement`} ` +
      `(${ERROR_FAULT_KINDS.join(", ")}; timeouts hold ${o.faultTimeoutMs} ms)` +
      `${o.slowRate ? ` + ${(o.slowRate * 100).toFixed(1)} % slow` : ""}; ` +
      `${o.batchEntryFaults ? `SendMessageBatch entries refused one by one (${o.batchEntryFaults}); ` : ""}` +
      `SDK attempts per call: ${o.sdkMaxAttempts}; pollers ${o.faultEventSources ? "faulted too" : "not faulted"}`,
    `  receiver: ${pct(failing, report.callbacks.total)} of ${report.callbacks.total} callbacks answered with a failure ` +
      "(5xx, 3xx to the metadata address, 418, 429, 404, 100-then-close, reset, never answered)",
    `  config: ${JSON.stringify(o.configOverrides)}; Scheduler firing window ${o.firingWindowSeconds} s; ` +
      `visibility timeout ${o.visibilityTimeoutSeconds || "stack default"} s`,
  ];
}

/** What the client sent and how the API answered. */
function clientSection(report: ChaosReport): string[] {
  const { findings: f, client: c } = report;
  const m = c.multiBatches;
  const k = f.cancels;
  return [
    "",
    "client",
    row("POST requests", c.posts, `(${counts(c.postAnswers)})`),
    row(
      "  latency (ms) p50 / p99 / max",
      `${c.postLatencyMs.p50} / ${c.postLatencyMs.p99} / ${c.postLatencyMs.max}`,
    ),
    row(
      "multi-item batches sent / requests",
      `${m.batches} / ${m.requests}`,
      `(${m.items} tasks, ${m.mixed} batches mixing groups; items answered ${counts(m.itemAnswers) || "–"})`,
    ),
    row("accepted (2xx)", f.accepted, `not accepted after 8 tries: ${c.notAccepted}`),
    row("  of which on the Scheduler path", c.schedulerPathTasks),
    row("idempotent repeats / concurrent copies", `${c.idempotentRepeats} / ${c.concurrentCopies}`),
    row("  answered with another task", c.idempotencyMismatches, mark(c.idempotencyMismatches === 0)),
    row(
      "cancels",
      c.cancelRequests,
      `(200: ${k.cancelled}, 202: ${k["cancel-requested"]}, 409: ${k.conflict}, 404: ${k["not-found"]}, gave up: ${k["gave-up"]})`,
    ),
  ];
}

function outcomeSection(report: ChaosReport): string[] {
  const f = report.findings;
  return [
    "",
    "accepted tasks at the end",
    row("delivered", f.outcomes.delivered),
    row("dead-lettered", f.outcomes["dead-lettered"]),
    row("cancelled", f.outcomes.cancelled),
    row("still pending", f.outcomes.pending, report.settled ? "" : "(deadline reached)"),
    row("LOST", f.outcomes.lost, mark(f.outcomes.lost === 0)),
  ];
}

function invariantSection(report: ChaosReport): string[] {
  const f = report.findings;
  return [
    "",
    "invariants",
    row(
      "delivered after a successful cancel",
      f.deliveredAfterCancel.length,
      mark(f.deliveredAfterCancel.length === 0),
    ),
    row(
      "same-due tasks keyed out of lane order",
      f.keyedOutOfLaneOrder.length,
      `${mark(f.keyedOutOfLaneOrder.length === 0)} (${f.sameDuePairsChecked} same-due pairs checked)`,
    ),
    row("delivered before due", f.deliveredBeforeDue.length, mark(f.deliveredBeforeDue.length === 0)),
    row(
      "order violations within a group",
      f.orderViolations.length,
      `${mark(f.orderViolations.length === 0)} (${f.orderedPairsChecked} ordered pairs checked)`,
    ),
    row(
      "duplicate deliveries (tasks)",
      f.duplicates.tasks,
      `${f.duplicates.extraDeliveries} extra callbacks; same webhook-id: ${f.duplicates.sameWebhookId}, ` +
        `different: ${f.duplicates.differentWebhookId} ${mark(f.duplicates.differentWebhookId === 0)}`,
    ),
    row("webhook-id ≠ task id", f.webhookIdMismatches, mark(f.webhookIdMismatches === 0)),
    row("invalid signatures", f.invalidSignatures, mark(f.invalidSignatures === 0)),
  ];
}

function alsoSeenSection(report: ChaosReport): string[] {
  const f = report.findings;
  return [
    "",
    "also seen",
    row("callbacks received", report.callbacks.total),
    row("dead-lettered after one 2xx (answer lost)", f.deadLetteredAfterA2xx),
    row(
      "callbacks for unacknowledged tasks",
      f.unacknowledged.callbacks,
      `(${f.unacknowledged.tasks} tasks)`,
    ),
    row("timer / schedule dead-letter messages", report.timerDeadLetters),
  ];
}

/** The first 20 examples of each problem, as JSON. */
function examples(report: ChaosReport): string[] {
  const f = report.findings;
  const lines: string[] = [];
  for (const [label, items] of [
    ["LOST", f.lost],
    ["pending", f.pending],
    ["delivered after cancel", f.deliveredAfterCancel],
    ["early", f.deliveredBeforeDue],
    ["order violations", f.orderViolations],
    ["keyed out of lane order", f.keyedOutOfLaneOrder],
    ["duplicates", f.duplicates.examples],
  ] as const) {
    if (items.length === 0) continue;
    lines.push("", `${label} (first ${Math.min(items.length, 20)}):`);
    for (const item of items.slice(0, 20)) lines.push(`  ${JSON.stringify(item)}`);
  }
  return lines;
}

function functionLogSection(report: ChaosReport): string[] {
  const logLines = Object.entries(report.functionLogs).sort(([, a], [, b]) => b - a);
  if (logLines.length === 0) return [];
  return [
    "",
    "the functions' log lines (level, message: count)",
    ...logLines.map(([line, count]) => `  ${line.padEnd(100)}${String(count).padStart(7)}`),
  ];
}

/** AWS faults injected per operation, then all operations together. */
function faultSection(report: ChaosReport): string[] {
  const lines = [
    "",
    "AWS faults injected, per operation",
    `  ${"operation".padEnd(40)}${"calls".padStart(8)}${"faults".padStart(8)}${"rate".padStart(9)}  ${FAULT_KINDS.join("/")}`,
  ];
  let calls = 0;
  let faulted = 0;
  for (const [name, s] of Object.entries(report.faults).sort(([a], [b]) => a.localeCompare(b))) {
    const errors = ERROR_FAULT_KINDS.reduce((n, kind) => n + (s.faults[kind] ?? 0), 0);
    calls += s.requests;
    faulted += errors;
    lines.push(
      `  ${name.padEnd(40)}${String(s.requests).padStart(8)}${String(errors).padStart(8)}${pct(errors, s.requests).padStart(9)}  ${FAULT_KINDS.map((kind) => s.faults[kind] ?? 0).join("/")}`,
    );
  }
  for (const [name, s] of Object.entries(report.faults)) {
    const refused = Object.values(s.entryErrors ?? {}).reduce((a, b) => a + b, 0);
    if (s.entries)
      lines.push(
        `  ${`${name} entries`.padEnd(40)}${String(s.entries).padStart(8)}${String(refused).padStart(8)}${pct(refused, s.entries).padStart(9)}  refused inside a 200; ${s.entriesPastRefused ?? 0} landed after a refused entry of their group in that call`,
      );
  }
  lines.push(
    `  ${"all".padEnd(40)}${String(calls).padStart(8)}${String(faulted).padStart(8)}${pct(faulted, calls).padStart(9)}`,
  );
  return lines;
}

function footer(report: ChaosReport): string[] {
  const t = report.timings;
  return [
    "",
    `timings: sending ${(t.submitMs / 1000).toFixed(1)} s (cancels and repeats included), settling ${(t.settleMs / 1000).toFixed(1)} s, total ${(t.totalMs / 1000).toFixed(1)} s; ` +
      `event-loop delay p99 ${t.eventLoopDelayMs.p99} ms, max ${t.eventLoopDelayMs.max} ms`,
    `result: ${chaosPassed(report) ? "PASS" : "FAIL"} (LOST, early, after-cancel and order violations must be 0; nothing may stay pending)`,
  ];
}
