import { describe, expect, it } from "vitest";
import { type LoadOutcome, loadGate } from "../../../console/src/load-gate.js";

/**
 * How a panel loads (console/src/hooks.ts, useLoad): the page refreshes every 3 s, so an API or CloudWatch slower
 * than that must still have its answer shown, and must not be sent a new call per refresh on top of the last one.
 */

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("a panel's load gate", () => {
  it("shows the answer of a load slower than the refresh, and sends one more call after it, not one per refresh", async () => {
    // Prepare: a load that takes longer than several refreshes.
    const outcomes: LoadOutcome<string>[] = [];
    const answers = [deferred<string>(), deferred<string>()];
    let calls = 0;
    const load = () => (answers[calls++] as ReturnType<typeof deferred<string>>).promise;
    const gate = loadGate<string>((outcome) => outcomes.push(outcome));

    // Act: the first load, then three refreshes while it is under way; then it answers.
    gate.run(load);
    gate.run(load);
    gate.run(load);
    gate.run(load);
    const whileSlow = calls;
    answers[0]?.resolve("first");
    await settled();
    const afterFirst = calls;
    answers[1]?.resolve("second");
    await settled();

    // Assess
    expect(whileSlow).toBe(1);
    expect(afterFirst).toBe(2);
    expect(outcomes).toEqual([{ data: "first" }, { data: "second" }]);
  });

  it("drops the answer of a load whose panel moved on (another topic, page or task) or went away", async () => {
    // Prepare
    const outcomes: LoadOutcome<string>[] = [];
    const slow = deferred<string>();
    const gate = loadGate<string>((outcome) => outcomes.push(outcome));

    // Act
    gate.run(() => slow.promise);
    gate.run(() => Promise.resolve("queued"));
    gate.dispose();
    slow.resolve("stale");
    await settled();
    gate.run(() => Promise.resolve("after"));
    await settled();

    // Assess
    expect(outcomes).toEqual([]);
  });

  it("aborts the signal of the load under way when its panel moved on or went away, so it can stop its work", async () => {
    // Prepare
    const signals: AbortSignal[] = [];
    const slow = deferred<string>();
    const gate = loadGate<string>(() => {});
    gate.run((signal) => {
      signals.push(signal);
      return slow.promise;
    });
    const beforeDispose = signals.map((signal) => signal.aborted);

    // Act
    gate.dispose();

    // Assess
    expect(beforeDispose).toEqual([false]);
    expect(signals.map((signal) => signal.aborted)).toEqual([true]);
  });

  it("passes a failure on (thrown or rejected) and loads again at the next refresh", async () => {
    // Prepare
    const outcomes: LoadOutcome<string>[] = [];
    const gate = loadGate<string>((outcome) => outcomes.push(outcome));

    // Act
    gate.run(() => {
      throw new Error("thrown");
    });
    await settled();
    gate.run(() => Promise.reject(new Error("HTTP 502")));
    await settled();
    gate.run(() => Promise.resolve("ok"));
    await settled();

    // Assess
    expect(outcomes.map((o) => ("data" in o ? o.data : (o.error as Error).message))).toEqual([
      "thrown",
      "HTTP 502",
      "ok",
    ]);
  });
});
