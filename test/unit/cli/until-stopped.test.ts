import { afterEach, describe, expect, it, vi } from "vitest";
import { untilStopped } from "../../../cli/until-stopped.js";

afterEach(() => {
  vi.useRealTimers();
});

const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const listeners = () => STOP_SIGNALS.map((signal) => process.listenerCount(signal));

describe("untilStopped (a long-running command's end)", () => {
  it("resolves once its parent process is gone (reparented: a new parent pid)", async () => {
    // Prepare
    vi.useFakeTimers();
    let parent = 4242;
    let reason: string | undefined;
    void untilStopped({ parentPid: () => parent, pollMs: 1_000 }).then((r) => {
      reason = r;
    });

    // Act: a poll with the parent alive, then the parent exits
    await vi.advanceTimersByTimeAsync(1_000);
    const whileAlive = reason;
    parent = 1;
    await vi.advanceTimersByTimeAsync(1_000);

    // Assess
    expect(whileAlive).toBeUndefined();
    expect(reason).toBe("parent exited");
  });

  it.each(STOP_SIGNALS)("resolves on %s and leaves no signal listener behind", async (signal) => {
    // Prepare
    const before = listeners();
    const stopped = untilStopped({ parentPid: () => 4242 });

    // Act
    process.emit(signal, signal);

    // Assess
    await expect(stopped).resolves.toBe(signal);
    expect(listeners()).toEqual(before);
  });
});
