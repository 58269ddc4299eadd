import { describe, expect, it } from "vitest";
import { makeTaskKey } from "#shared/domain/keys.js";
import type { TaskStatus } from "#shared/domain/task.js";
import { type AcceptedTask, invariantsHold, type ObservedCallback, verify } from "../../../chaos/verify.js";

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const ULIDS = ["01JD0000000000000000000001", "01JD0000000000000000000002", "01JD0000000000000000000003"];

/** A task of group `g` (null: its own group) due at T0 + dueOffset, accepted at T0 + acceptedOffset. */
function task(n: number, dueOffset: number, acceptedOffset = 0, group: string | null = "g"): AcceptedTask {
  const key = makeTaskKey("demo", group ?? undefined, T0 + dueOffset, ULIDS[n] as string);
  return { clientKey: `c${n}`, taskId: key.taskId, acceptedAtMs: T0 + acceptedOffset };
}

function callback(t: AcceptedTask, at: number, success = true, webhookId = t.taskId): ObservedCallback {
  return { taskId: t.taskId, webhookId, arrivalMs: T0 + at, success, signatureValid: true };
}

function final(entries: [AcceptedTask, TaskStatus][], dlq: AcceptedTask[] = []) {
  return {
    statuses: new Map(entries.map(([t, s]) => [t.taskId, s])),
    deadLetterQueue: new Set(dlq.map((t) => t.taskId)),
  };
}

const NOW = { nowMs: T0 + 60_000 };

describe("verify: outcomes", () => {
  it("classifies delivered, dead-lettered, cancelled and pending tasks, and what is LOST", () => {
    const delivered = task(0, 1000);
    const failed = task(1, 2000, 0, null);
    const pending = task(2, 3000, 0, "h");
    const f = verify(
      [delivered, failed, pending],
      [callback(delivered, 1000), callback(failed, 2000, false)],
      final(
        [
          [delivered, "delivered"],
          [failed, "failed"],
          [pending, "queued"],
        ],
        [failed],
      ),
      NOW,
    );
    expect(f.outcomes).toEqual({ delivered: 1, "dead-lettered": 1, cancelled: 0, pending: 1, lost: 0 });
    expect(f.pending[0]).toMatchObject({ taskId: pending.taskId, status: "queued", overdueMs: 57_000 });
    expect(invariantsHold(f)).toBe(true);
  });

  it("counts as LOST: no item, delivered without a 2xx, failed but not dead-lettered, cancelled unasked", () => {
    const a = task(0, 1000);
    const b = task(1, 1000, 0, "x");
    const c = task(2, 1000, 0, "y");
    const d = { ...task(0, 5000, 0, "z"), clientKey: "d" };
    const f = verify(
      [a, b, c, d],
      [callback(b, 1000, false)],
      final([
        [b, "delivered"],
        [c, "failed"],
        [d, "cancelled"],
      ]),
      NOW,
    );
    expect(f.outcomes.lost).toBe(4);
    expect(f.lost.map((l) => l.why)).toEqual([
      "no task item at the end",
      "status delivered, but the receiver never answered 2xx",
      "status failed, but not on the dead-letter queue",
      "status cancelled, but the client never cancelled it",
    ]);
    expect(invariantsHold(f)).toBe(false);
  });
});

describe("verify: early, after cancel, duplicates", () => {
  it("flags a discarded dead letter only for callbacks arriving after its first DELETE was sent", () => {
    const discard = (n: number): AcceptedTask => ({
      ...task(n, 0, 0, `x${n}`),
      cancel: { outcome: "cancelled", atMs: T0 + 9_000, cancelSentAtMs: T0 + 8_000 },
    });
    const [clean, violated] = [discard(0), discard(1)];
    const f = verify(
      [clean, violated],
      [
        callback(clean, 1_000, false),
        callback(clean, 7_999, false),
        callback(violated, 1_000, false),
        callback(violated, 8_000, false),
      ],
      final([
        [clean, "cancelled"],
        [violated, "cancelled"],
      ]),
      NOW,
    );
    expect(f.deliveredAfterCancel).toEqual([violated.taskId]);
    expect(f.outcomes).toMatchObject({ cancelled: 2, lost: 0 });
  });

  it("a cancel answered 202 (its callback in flight) excuses that one attempt's callback after the DELETE was sent, and nothing after it", () => {
    // Prepare: each 202 met attempt 2 in flight; the first DELETE was sent at +8 s
    const requested = (n: number): AcceptedTask => ({
      ...task(n, 0, 0, `r${n}`),
      cancel: {
        outcome: "cancel-requested",
        atMs: T0 + 9_000,
        cancelSentAtMs: T0 + 8_000,
        inFlightAttempt: 2,
      },
    });
    const numbered = (t: AcceptedTask, at: number, attempt: number): ObservedCallback => ({
      ...callback(t, at, false),
      attemptHeader: String(attempt),
    });
    const [clean, delivered, retried, twice] = [requested(0), requested(1), requested(2), requested(3)];

    // Act
    const f = verify(
      [clean, delivered, retried, twice],
      [
        numbered(clean, 1_000, 1),
        numbered(clean, 8_500, 2),
        numbered(delivered, 1_000, 1),
        { ...numbered(delivered, 8_200, 2), success: true },
        numbered(retried, 1_000, 1),
        numbered(retried, 8_500, 2),
        numbered(retried, 9_500, 3),
        numbered(twice, 8_100, 2),
        numbered(twice, 8_600, 2),
      ],
      final([
        [clean, "cancelled"],
        [delivered, "delivered"],
        [retried, "cancelled"],
        [twice, "cancelled"],
      ]),
      NOW,
    );

    // Assess: a later attempt's callback, or a second one, is the violation; a 202 is counted as such
    expect(f.deliveredAfterCancel).toEqual([retried.taskId, twice.taskId]);
    expect(f.cancels).toMatchObject({ cancelled: 0, "cancel-requested": 4 });
    expect(f.outcomes).toMatchObject({ cancelled: 3, delivered: 1, lost: 0 });
  });

  it("a 200 for a task called back before it excuses, after the DELETE was sent, the one attempt it counted that was in flight then, and nothing else", () => {
    // Prepare: each 200 counted 2 attempts (the second in flight as the DELETE was sent at +8 s, its failure
    // recorded before the cancel landed)
    const counted = (n: number): AcceptedTask => ({
      ...task(n, 0, 0, `a${n}`),
      cancel: { outcome: "cancelled", atMs: T0 + 9_000, cancelSentAtMs: T0 + 8_000, attemptsAtCancel: 2 },
    });
    const numbered = (t: AcceptedTask, at: number, attempt: number): ObservedCallback => ({
      ...callback(t, at, false),
      attemptHeader: String(attempt),
    });
    const [clean, later, twice] = [counted(0), counted(1), counted(2)];

    // Act
    const f = verify(
      [clean, later, twice],
      [
        numbered(clean, 1_000, 1),
        numbered(clean, 8_300, 2),
        numbered(later, 1_000, 1),
        numbered(later, 8_300, 3),
        numbered(twice, 8_100, 2),
        numbered(twice, 8_600, 2),
      ],
      final([
        [clean, "cancelled"],
        [later, "cancelled"],
        [twice, "cancelled"],
      ]),
      NOW,
    );

    // Assess
    expect(f.deliveredAfterCancel).toEqual([later.taskId, twice.taskId]);
  });

  it("flags any callback before the due time, and any callback of a task cancelled with a 200", () => {
    const early = task(0, 5000);
    const cancelled: AcceptedTask = { ...task(1, 5000, 0, "c"), cancel: { outcome: "cancelled", atMs: T0 } };
    const lostRace: AcceptedTask = { ...task(2, 5000, 0, "d"), cancel: { outcome: "conflict", atMs: T0 } };
    const f = verify(
      [early, cancelled, lostRace],
      [
        callback(early, 4999),
        callback(early, 5000),
        callback(cancelled, 6000, false),
        callback(lostRace, 5000),
      ],
      final([
        [early, "delivered"],
        [cancelled, "cancelled"],
        [lostRace, "delivered"],
      ]),
      NOW,
    );
    expect(f.deliveredBeforeDue).toEqual([{ taskId: early.taskId, earlyByMs: 1 }]);
    expect(f.deliveredAfterCancel).toEqual([cancelled.taskId]);
    expect(f.cancels).toMatchObject({ cancelled: 1, conflict: 1 });
    expect(f.duplicates.tasks).toBe(1);
    expect(invariantsHold(f)).toBe(false);
  });

  it("counts duplicates and whether they carried the task id as webhook-id", () => {
    const a = task(0, 1000);
    const b = task(1, 2000, 0, "other");
    const f = verify(
      [a, b],
      [
        callback(a, 1000),
        callback(a, 1500),
        callback(a, 1600),
        callback(b, 2000),
        callback(b, 2100, true, "x"),
      ],
      final([
        [a, "delivered"],
        [b, "delivered"],
      ]),
      NOW,
    );
    expect(f.duplicates).toMatchObject({
      tasks: 2,
      extraDeliveries: 3,
      sameWebhookId: 1,
      differentWebhookId: 1,
    });
    expect(f.webhookIdMismatches).toBe(1);
    expect(invariantsHold(f)).toBe(false);
  });
});

describe("verify: order within a group", () => {
  it("flags a later task delivered before an earlier one of its group", () => {
    const first = task(0, 1000);
    const second = task(1, 1000); // same due time, accepted later (higher ULID)
    const f = verify(
      [first, second],
      [callback(first, 1200), callback(second, 1100)],
      final([
        [first, "delivered"],
        [second, "delivered"],
      ]),
      NOW,
    );
    expect(f.orderViolations).toHaveLength(1);
    expect(f.orderViolations[0]).toMatchObject({ earlier: first.taskId, later: second.taskId });
  });

  describe("negative controls: the shapes an order defect leaves at the receiver", () => {
    // A group a < b < c (same due time, accepted in that order), as the relay sends it in one SendMessageBatch.
    const [a, b, c] = [task(0, 1000), task(1, 1000), task(2, 1000)];
    const check = (callbacks: ObservedCallback[], dlq: AcceptedTask[] = []) =>
      verify(
        [a, b, c],
        callbacks,
        final(
          [a, b, c].map((t): [AcceptedTask, TaskStatus] => [t, dlq.includes(t) ? "failed" : "delivered"]),
          dlq,
        ),
        NOW,
      );
    const pairs = (f: ReturnType<typeof check>) => f.orderViolations.map((v) => [v.earlier, v.later]);

    it("flags c landing ahead of a refused b (old packing: b re-sent after c, delivered after it)", () => {
      // Act
      const f = check([callback(a, 1100), callback(c, 1200), callback(b, 1300)]);
      // Assess
      expect(pairs(f)).toEqual([[b.taskId, c.taskId]]);
      expect(f.orderedPairsChecked).toBe(3);
      expect(invariantsHold(f)).toBe(false);
    });

    it("flags it when c and b arrive within the same millisecond, by the order the receiver recorded them", () => {
      const f = check([callback(a, 1100), callback(c, 1200), callback(b, 1200)]);
      expect(pairs(f)).toEqual([[b.taskId, c.taskId]]);
      expect(f.orderViolations[0]).toMatchObject({
        earlierFirstSuccessMs: T0 + 1200,
        laterFirstCallbackMs: T0 + 1200,
      });
    });

    it("flags a later task attempted ahead of an earlier one, even if it fails there and succeeds after", () => {
      const f = check([callback(a, 1100), callback(c, 1200, false), callback(b, 1300), callback(c, 1400)]);
      expect(pairs(f)).toEqual([[b.taskId, c.taskId]]);
    });

    it("flags a poison task attempted ahead of an earlier one, though it is dead-lettered and never succeeds", () => {
      const f = check(
        [callback(a, 1100), callback(c, 1200, false), callback(c, 1300, false), callback(b, 1400)],
        [c],
      );
      expect(pairs(f)).toEqual([[b.taskId, c.taskId]]);
    });

    it("flags every pair of a group delivered backwards", () => {
      const f = check([callback(c, 1100), callback(b, 1200), callback(a, 1300)]);
      expect(pairs(f)).toEqual([
        [a.taskId, b.taskId],
        [a.taskId, c.taskId],
        [b.taskId, c.taskId],
      ]);
    });

    it("passes the clean shape: in order, within one millisecond, with failed attempts, duplicates and a poison", () => {
      // Prepare: b fails once and is retried before c; a is called back again late (a duplicate); c is poison.
      const inOrder = check([callback(a, 1100), callback(b, 1100), callback(c, 1100)]);
      const retried = check(
        [
          callback(a, 1100),
          callback(b, 1200, false),
          callback(b, 1300),
          callback(c, 1400, false),
          callback(a, 1500),
          callback(c, 1600, false),
        ],
        [c],
      );
      // Assess
      expect(inOrder.orderViolations).toEqual([]);
      expect(inOrder.orderedPairsChecked).toBe(3);
      expect(retried.orderViolations).toEqual([]);
      expect(retried.orderedPairsChecked).toBe(3);
      expect(invariantsHold(inOrder) && invariantsHold(retried)).toBe(true);
    });
  });

  it("orders by due time before acceptance", () => {
    const acceptedFirstDueLater = task(0, 3000);
    const acceptedLaterDueFirst = task(1, 2000, 500);
    const f = verify(
      [acceptedFirstDueLater, acceptedLaterDueFirst],
      [callback(acceptedLaterDueFirst, 2000), callback(acceptedFirstDueLater, 3000)],
      final([
        [acceptedFirstDueLater, "delivered"],
        [acceptedLaterDueFirst, "delivered"],
      ]),
      NOW,
    );
    expect(f.orderViolations).toEqual([]);
    expect(f.orderedPairsChecked).toBe(1);
  });

  it("uses first successes: a failed attempt or a duplicate of a delivered task is no violation", () => {
    const x = task(0, 1000);
    const y = task(1, 1000);
    const f = verify(
      [x, y],
      [callback(x, 1000, false), callback(x, 1100), callback(y, 1200), callback(x, 1300)],
      final([
        [x, "delivered"],
        [y, "delivered"],
      ]),
      NOW,
    );
    expect(f.orderViolations).toEqual([]);
  });

  it("takes dead-lettered and cancelled heads out of the sequence", () => {
    const head = task(0, 1000);
    const cancelledHead: AcceptedTask = { ...task(1, 1000), cancel: { outcome: "cancelled", atMs: T0 } };
    const follower = task(2, 1000);
    const f = verify(
      [head, cancelledHead, follower],
      // The receiver once answered the head 2xx but the pipeline saw a timeout and dead-lettered it later.
      [callback(follower, 1200), callback(head, 1500)],
      final(
        [
          [head, "failed"],
          [cancelledHead, "cancelled"],
          [follower, "delivered"],
        ],
        [head],
      ),
      NOW,
    );
    expect(f.orderViolations).toEqual([]);
    expect(f.deadLetteredAfterA2xx).toBe(1);
  });

  it("does not require order for a task acknowledged only after the other was due", () => {
    const lateComer = task(0, 1000, 1500); // due first, but acknowledged after `early` was due
    const early = task(1, 1200);
    const f = verify(
      [lateComer, early],
      [callback(early, 1200), callback(lateComer, 1600)],
      final([
        [lateComer, "delivered"],
        [early, "delivered"],
      ]),
      NOW,
    );
    expect(f.orderViolations).toEqual([]);
    expect(f.orderedPairsChecked).toBe(0);
  });

  it("never orders ungrouped tasks against each other", () => {
    const a = task(0, 1000, 0, null);
    const b = task(1, 1000, 0, null);
    const f = verify(
      [a, b],
      [callback(b, 1000), callback(a, 1100)],
      final([
        [a, "delivered"],
        [b, "delivered"],
      ]),
      NOW,
    );
    expect(f.orderViolations).toEqual([]);
    expect(f.orderedPairsChecked).toBe(0);
  });
});

describe("verify: task ids against the client's lane order", () => {
  const delivered = (tasks: AcceptedTask[]) =>
    final(tasks.map((t): [AcceptedTask, TaskStatus] => [t, "delivered"]));

  it("flags same-due tasks of a group whose ids sort against the order the client had them accepted", () => {
    // Keyed out of lane order (as two racing copies of a batch could): ids say 0 then 1, the lane said 1 then 0.
    const keyedFirst = { ...task(0, 1000), laneOrder: 2 };
    const acceptedFirst = { ...task(1, 1000), laneOrder: 1 };
    const f = verify(
      [acceptedFirst, keyedFirst],
      [callback(keyedFirst, 1000), callback(acceptedFirst, 1100)],
      delivered([keyedFirst, acceptedFirst]),
      NOW,
    );
    // Delivered in id order, so the order check itself sees nothing; the lane order does.
    expect(f.orderViolations).toEqual([]);
    expect(f.keyedOutOfLaneOrder).toEqual([
      { group: expect.any(String), earlier: acceptedFirst.taskId, later: keyedFirst.taskId },
    ]);
    expect(f.sameDuePairsChecked).toBe(1);
    expect(invariantsHold(f)).toBe(false);
  });

  it("accepts ids in lane order, different due times either way, and tasks without a lane order", () => {
    const a = { ...task(0, 1000), laneOrder: 1 };
    const b = { ...task(1, 1000), laneOrder: 2 };
    const dueEarlierSentLater = { ...task(2, 500), laneOrder: 3 };
    const unordered = task(2, 1000, 0, "h");
    const alsoUnordered = { ...task(0, 1000, 0, "h"), laneOrder: 9 };
    const f = verify(
      [a, b, dueEarlierSentLater, unordered, alsoUnordered],
      [],
      delivered([a, b, dueEarlierSentLater, unordered, alsoUnordered]),
      NOW,
    );
    expect(f.keyedOutOfLaneOrder).toEqual([]);
    expect(f.sameDuePairsChecked).toBe(1);
  });
});

describe("verify: unacknowledged tasks", () => {
  it("counts callbacks for task ids the client was never given", () => {
    const a = task(0, 1000);
    const stranger = task(1, 1000, 0, "s");
    const f = verify([a], [callback(a, 1000), callback(stranger, 1000)], final([[a, "delivered"]]), NOW);
    expect(f.unacknowledged).toEqual({ tasks: 1, callbacks: 1 });
  });
});
