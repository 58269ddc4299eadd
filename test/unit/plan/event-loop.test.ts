import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../../../plan/config.js";
import { LambdaFunction } from "../../../plan/model/lambda.js";
import type { Profile } from "../../../plan/model/profile.js";
import { createWorld, MESSAGE_DRAIN_LIMIT, type WorkKind, type World } from "../../../plan/model/world.js";
import { handProfile } from "./fakes.js";

/** Two cores at full speed, every function on the main thread: a thread's busy time is the CPU it was charged. */
function localWorld(overrides: Partial<Profile> = {}): World {
  const profile: Profile = {
    ...handProfile(),
    cpu: { machineCores: 2, functionThreads: { add: "main", relay: "main", deliver: "main" } },
    ...overrides,
  };
  return createWorld(profile, DEFAULT_CONFIG, { startMs: 0 });
}

/** Charges `ms` on the main thread as work of `kind` at time `atMs`; records when it finished under `label`. */
function charge(w: World, done: string[], label: string, kind: WorkKind, atMs = 0, ms = 1): void {
  w.sim.at(atMs, () => w.cpu(ms, () => done.push(label)), kind);
}

describe("the machine the local model shares", () => {
  it("never leaves a core idle while a thread or a helper waits: two event loops and the helpers fill both cores", () => {
    // Prepare: 10 ms on each event loop and 10 ms of helpers, two cores.
    const w = localWorld();
    let finishedAt = 0;
    const track = () => {
      finishedAt = Math.max(finishedAt, w.sim.now);
    };

    // Act
    for (let i = 0; i < 10; i++) {
      w.cpu(1, track, "main");
      w.cpu(1, track, "emulators");
      w.helpers(1);
    }
    w.sim.run();

    // Assess: 30 ms of CPU on two cores ends at 15 ms (the old reservation left holes and ended later).
    expect(finishedAt).toBeLessThanOrEqual(15);
    expect(w.threads?.main.busyMs).toBe(10);
    expect(w.threads?.emulators.busyMs).toBe(10);
    expect(w.usage.helperCpuMs).toBe(10);
  });
});

describe("the model's event loop (Node's order on the main thread)", () => {
  it("drains the fast-path messages waiting before it serves the I/O that was ready, then serves that I/O before more messages", () => {
    // Prepare: at 0 an API request (I/O) and three answers (messages) are ready; one more answer comes at 2.5.
    const w = localWorld();
    const done: string[] = [];
    charge(w, done, "message 1", "message");
    charge(w, done, "request", "io");
    charge(w, done, "message 2", "message");
    charge(w, done, "message 3", "message");
    charge(w, done, "message 4 (arrived during the drain)", "message", 2.5);
    charge(w, done, "message 5 (arrived after it)", "message", 4.5);

    // Act
    w.sim.run();

    // Assess
    expect(done).toEqual([
      "message 1",
      "message 2",
      "message 3",
      "message 4 (arrived during the drain)",
      "request",
      "message 5 (arrived after it)",
    ]);
  });

  it("ends a drain after MESSAGE_DRAIN_LIMIT messages, as Node's MessagePort does, and serves the waiting I/O", () => {
    // Prepare: a stream of answers that never lets the queue run dry, and one request waiting from the start.
    const w = localWorld();
    const done: string[] = [];
    charge(w, done, "request", "io", 0.5);
    // Each handled message's next answer arrives from the other thread 0.1 ms later (a new message, not the same
    // callback going on).
    const answer = (i: number): void =>
      w.cpu(1, () => {
        done.push("message");
        if (i < MESSAGE_DRAIN_LIMIT) w.sim.after(0.1, () => answer(i + 1), "message");
      });
    w.sim.at(
      0,
      () => {
        answer(0);
        answer(0);
      },
      "message",
    );

    // Act
    w.sim.run();

    // Assess: the request waited out one full drain (it was not ready when the first began), no longer.
    const served = done.indexOf("request");
    expect(served).toBe(MESSAGE_DRAIN_LIMIT);
  });

  it("runs what a slice's continuation charges on the same thread next: the rest of the same callback", () => {
    // Prepare: two messages wait; the first one's continuation charges more CPU on the main thread.
    const w = localWorld();
    const done: string[] = [];
    w.sim.at(
      0,
      () => {
        w.cpu(1, () => w.cpu(1, () => done.push("first, continued")));
        w.cpu(1, () => done.push("second"));
      },
      "message",
    );

    // Act
    w.sim.run();

    // Assess
    expect(done).toEqual(["first, continued", "second"]);
  });

  it("runs a fast-path call's continuation as a message and a callback's answer as I/O", () => {
    // Prepare
    const w = localWorld();
    const kinds: string[] = [];

    // Act
    w.sim.at(0, () => w.call("ddbPut", () => kinds.push(w.sim.context)), "io");
    w.sim.run();

    // Assess
    expect(kinds).toEqual(["message"]);
  });
});

describe("a function's start-up in a fresh local cloud", () => {
  it("is charged over its first invocations only, its main thread's part in each invocation's own CPU", () => {
    // Prepare: 40 ms on the main thread, 20 on the emulators', 8 on the helpers, over 4 invocations.
    const startUp = { deliver: { clientCpuMs: 40, serverCpuMs: 20, helperCpuMs: 8, invocations: 4 } };
    const w = localWorld({ startUp });
    const fn = new LambdaFunction(w, "deliver");

    // Act
    for (let i = 0; i < 6; i++)
      fn.invoke(
        0,
        (finish) => finish(),
        () => undefined,
      );
    w.sim.run();

    // Assess
    expect(w.threads?.main.cpuMs).toBe(40 + 6 * w.profile.invocationCpuMs.deliver);
    expect(w.threads?.emulators.cpuMs).toBe(20);
    expect(w.usage.helperCpuMs).toBe(8);
  });
});
