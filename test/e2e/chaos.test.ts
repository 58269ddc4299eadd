import { describe, expect, it } from "vitest";
import { runChaos } from "../../chaos/engine.js";
import { formatReport } from "../../chaos/report.js";

/**
 * `npm run chaos` in small: 300 tasks over 30 groups through a local cloud whose every AWS call fails 5 % of the
 * time (throttling, 5xx, timeouts, connections dropped before and after the call was executed), with a callback
 * receiver that fails about a quarter of the requests in every way it knows. Seeded, and bounded: every accepted
 * task must be final well within the time allowed, so a straggler is a bug to find, not a timeout to raise.
 *
 * The event-source pollers are left free of faults here (on AWS their calls are Lambda's own, retried
 * internally); `npm run chaos` faults them too. The functions keep the SDK's default of 3 attempts per call.
 */
describe("chaos", () => {
  it("loses nothing, delivers nothing early, after a cancel or out of order, under faults on every AWS call", async () => {
    const report = await runChaos({
      seed: 42,
      workload: {
        tasks: 300,
        groups: 30,
        ungroupedShare: 0.1,
        nearMaxSeconds: 2.5,
        schedulerShare: 0.2,
        schedulerMinSeconds: 5,
        schedulerMaxSeconds: 8,
        cancelShare: 0.06,
        idempotentShare: 0.2,
        sameDueShare: 0.25,
        poisonShare: 0.01,
        batchShare: 0.3,
        batches: { multiBatchShare: 0.3, mixedShare: 0.3, ungroupedRiderShare: 0.2 },
      },
      faultRate: 0.05,
      // SendMessageBatch entries refused one by one while the rest land, as `npm run chaos` does by default.
      batchEntryFaults: "independent",
      slowRate: 0.01,
      faultTimeoutMs: 300,
      faultEventSources: false,
      sdkMaxAttempts: 3,
      configOverrides: {
        timer: { horizonSeconds: 3, leadSeconds: 2 },
        topics: {
          demo: { maxAttempts: 4, backoff: { initialSeconds: 1, maxSeconds: 1 }, callbackTimeoutSeconds: 1 },
        },
      },
      firingWindowSeconds: 1,
      visibilityTimeoutSeconds: 30,
      concurrency: 32,
      settleTimeoutMs: 40_000,
    });
    const text = formatReport(report);
    // The whole report, so a CI log shows the figures (and, on failure, the examples) without a rerun.
    console.log(text);
    const f = report.findings;

    expect(f.accepted, text).toBeGreaterThanOrEqual(295);
    expect(f.outcomes.lost, text).toBe(0);
    expect(f.deliveredAfterCancel, text).toEqual([]);
    expect(f.deliveredBeforeDue, text).toEqual([]);
    expect(f.orderViolations, text).toEqual([]);
    expect(f.orderedPairsChecked, text).toBeGreaterThan(500);
    expect(f.duplicates.differentWebhookId, text).toBe(0);
    expect(f.webhookIdMismatches, text).toBe(0);
    expect(f.invalidSignatures, text).toBe(0);
    expect(report.client.idempotencyMismatches, text).toBe(0);
    expect(f.keyedOutOfLaneOrder, text).toEqual([]);
    expect(report.client.multiBatches.batches, text).toBeGreaterThan(0);
    // Everything accepted finished: delivered, dead-lettered or cancelled; the poison heads were dead-lettered.
    expect(f.outcomes.pending, text).toBe(0);
    expect(f.outcomes["dead-lettered"], text).toBeGreaterThan(0);
    expect(f.outcomes.delivered + f.outcomes["dead-lettered"] + f.outcomes.cancelled, text).toBe(f.accepted);
    // The faults really were there, on every operation the functions used.
    for (const [operation, stats] of Object.entries(report.faults)) {
      if (stats.requests < 100) continue;
      const injected = Object.values(stats.faults).reduce((n, k) => n + (k ?? 0), 0);
      expect(injected, `${operation}\n${text}`).toBeGreaterThan(0);
    }
  }, 90_000);
});
