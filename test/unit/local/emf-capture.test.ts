import { AsyncLocalStorage } from "node:async_hooks";
import v8 from "node:v8";
import vm from "node:vm";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { afterEach, describe, expect, it, vi } from "vitest";

/** A fresh copy of the module: which sinks it has wrapped is per process, and each case starts with none. */
async function freshCapturingEmf() {
  vi.resetModules();
  return (await import("../../../local/runtime/emf-capture.js")).capturingEmf;
}

/** Runs `act` with stdout's write replaced by a recorder standing in for the terminal (the tap wraps it). */
async function withTerminal<T>(act: () => Promise<T>): Promise<{ result: T; printed: string[] }> {
  const printed: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => {
    printed.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    return { result: await act(), printed };
  } finally {
    process.stdout.write = write;
  }
}

const saved = process.env.POWERTOOLS_METRICS_DISABLED;
afterEach(() => {
  vi.restoreAllMocks();
  if (saved === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
  else process.env.POWERTOOLS_METRICS_DISABLED = saved;
});

/** A handler that publishes one metric after an await (or the gate given), as the functions do. */
async function handler(topic: string, gate?: Promise<void>): Promise<string> {
  await (gate ?? new Promise((resolve) => setImmediate(resolve)));
  const metrics = new Metrics({ namespace: "Punctual", serviceName: "punctual-local" });
  metrics.addDimension("Topic", topic);
  metrics.addMetric("DeliveryLateness", MetricUnit.Milliseconds, 42);
  metrics.publishStoredMetrics();
  return topic;
}

describe("capturingEmf", () => {
  it("gives each handler's EMF lines to its own sink, across awaits, and keeps them off the terminal", async () => {
    // Prepare
    process.env.POWERTOOLS_METRICS_DISABLED = "false";
    const capturingEmf = await freshCapturingEmf();
    const a: unknown[] = [];
    const b: unknown[] = [];

    // Act
    const { result, printed } = await withTerminal(async () => {
      const first = capturingEmf({ record: (d) => a.push(d), print: false }, handler);
      const second = capturingEmf({ record: (d) => b.push(d), print: false }, handler);
      const results = await Promise.all([first("a"), second("b")]);
      process.stdout.write("outside any handler\n");
      return results;
    });

    // Assess
    expect(a).toEqual([expect.objectContaining({ Topic: "a", DeliveryLateness: 42 })]);
    expect(b).toEqual([expect.objectContaining({ Topic: "b", DeliveryLateness: 42 })]);
    expect(result).toEqual(["a", "b"]);
    expect(printed).toEqual(["outside any handler\n"]);
  });

  it("with one cloud's sink, captures its lines without entering an AsyncLocalStorage context", async () => {
    // Prepare
    process.env.POWERTOOLS_METRICS_DISABLED = "false";
    const capturingEmf = await freshCapturingEmf();
    const run = vi.spyOn(AsyncLocalStorage.prototype, "run");
    const a: unknown[] = [];

    // Act
    const { result, printed } = await withTerminal(() => {
      const only = capturingEmf({ record: (d) => a.push(d), print: false }, handler);
      return Promise.all([only("a1"), only("a2")]);
    });

    // Assess
    expect(a).toEqual([
      expect.objectContaining({ Topic: "a1", DeliveryLateness: 42 }),
      expect.objectContaining({ Topic: "a2", DeliveryLateness: 42 }),
    ]);
    expect(result).toEqual(["a1", "a2"]);
    expect(printed).toEqual([]);
    expect(run).not.toHaveBeenCalled();
  });

  it("with print (npm start --verbose), keeps each line and prints it too", async () => {
    // Prepare
    process.env.POWERTOOLS_METRICS_DISABLED = "false";
    const capturingEmf = await freshCapturingEmf();
    const a: unknown[] = [];

    // Act
    const { printed } = await withTerminal(() =>
      capturingEmf({ record: (d) => a.push(d), print: true }, handler)("p"),
    );

    // Assess
    expect(a).toEqual([expect.objectContaining({ Topic: "p", DeliveryLateness: 42 })]);
    expect(printed.map((line) => JSON.parse(line))).toEqual([expect.objectContaining({ Topic: "p" })]);
  });

  it("gives the first cloud an invocation it began before a second cloud's sink existed", async () => {
    // Prepare
    process.env.POWERTOOLS_METRICS_DISABLED = "false";
    const capturingEmf = await freshCapturingEmf();
    const a: unknown[] = [];
    const b: unknown[] = [];
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });

    // Act
    const { result } = await withTerminal(async () => {
      const first = capturingEmf({ record: (d) => a.push(d), print: false }, handler);
      const early = first("early", gate);
      const second = capturingEmf({ record: (d) => b.push(d), print: false }, handler);
      const later = [first("later"), second("b")];
      open();
      return Promise.all([early, ...later]);
    });

    // Assess
    expect(a).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Topic: "early" }),
        expect.objectContaining({ Topic: "later" }),
      ]),
    );
    expect(a).toHaveLength(2);
    expect(b).toEqual([expect.objectContaining({ Topic: "b" })]);
    expect(result).toEqual(["early", "later", "b"]);
  });
});

describe("capturingEmf: clouds started one after another", () => {
  it("keeps no cloud's sink (its metric store) alive once that cloud's handlers are gone", async () => {
    // Prepare: V8's collector, callable from the test (the flag takes effect for contexts made after it)
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const capturingEmf = await freshCapturingEmf();
    const refs: WeakRef<object>[] = [];

    // Act: three clouds, each wrapping its handler with its own sink, then dropped
    const cloud = () => {
      const sink = { record: () => {}, print: false };
      refs.push(new WeakRef(sink));
      capturingEmf(sink, handler);
    };
    for (let i = 0; i < 3; i++) cloud();
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }

    // Assess
    expect(refs.map((ref) => ref.deref() === undefined)).toEqual([true, true, true]);
  });
});
