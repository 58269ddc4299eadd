import { describe, expect, it, vi } from "vitest";
import { inRounds, untilAborted } from "#shared/runtime/async.js";
import { hangs } from "../../support/invocation.js";

describe("untilAborted", () => {
  it("answers the work's own value when no abort comes", async () => {
    expect(await untilAborted(Promise.resolve(7), new AbortController().signal)).toBe(7);
  });

  it("fails with AbortError as soon as the signal aborts, though the work never answers", async () => {
    // Prepare
    const abort = new AbortController();
    const waiting = untilAborted(hangs(), abort.signal);

    // Act
    abort.abort();

    // Assess
    await expect(waiting).rejects.toMatchObject({ name: "AbortError" });
  });

  it("fails at once for a signal already aborted, and swallows the work's later failure", async () => {
    // Prepare: a work that fails after the caller stopped waiting (an unhandled rejection would fail the run)
    let fail: (error: Error) => void = () => undefined;
    const work = new Promise<never>((_, reject) => {
      fail = reject;
    });

    // Act
    const outcome = untilAborted(work, AbortSignal.abort());
    fail(new Error("answered into nothing"));

    // Assess
    await expect(outcome).rejects.toMatchObject({ name: "AbortError" });
  });

  it("leaves no listener on the signal once the work has answered", async () => {
    // Prepare
    const abort = new AbortController();
    let listeners = 0;
    const add = abort.signal.addEventListener.bind(abort.signal);
    const remove = abort.signal.removeEventListener.bind(abort.signal);
    abort.signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners++;
      add(...args);
    }) as typeof add;
    abort.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners--;
      remove(...args);
    }) as typeof remove;

    // Act
    await untilAborted(Promise.resolve("done"), abort.signal);

    // Assess
    expect(listeners).toBe(0);
  });
});

describe("inRounds", () => {
  it("calls send at once when its signal aborts during the back-off, so send can give the rest up", async () => {
    // Prepare: the first round leaves everything to do; the back-off before the next is cut short
    vi.useFakeTimers();
    try {
      const abort = new AbortController();
      const rounds: boolean[] = [];
      const outcome = inRounds(
        ["a", "b"],
        3,
        async (pending) => {
          rounds.push(abort.signal.aborted);
          return abort.signal.aborted ? [] : pending;
        },
        abort.signal,
      );
      await vi.advanceTimersByTimeAsync(0);

      // Act: aborted, and no time passes
      abort.abort();

      // Assess: the second round ran, seeing the abort
      await expect(outcome).resolves.toEqual([]);
      expect(rounds).toEqual([false, true]);
    } finally {
      vi.useRealTimers();
    }
  });
});
