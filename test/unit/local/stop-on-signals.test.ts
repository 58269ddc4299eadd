import { EventEmitter } from "node:events";
import { describe, expect, it, vi } from "vitest";
import { stopOnSignals } from "#local/bin/stop-on-signals.js";

function harness() {
  const target = new EventEmitter();
  let finish: () => void = () => {};
  const stop = vi.fn(() => new Promise<void>((resolve) => (finish = resolve)));
  const exit = vi.fn();
  const lines: string[] = [];
  stopOnSignals({ stop, exit, write: (text) => lines.push(text), target });
  return { target, stop, exit, lines, finish: () => finish() };
}

describe("npm start stops in order on a signal", () => {
  it.each(["SIGINT", "SIGTERM", "SIGHUP"])("on %s: stops the local cloud, then exits 0", async (signal) => {
    const h = harness();
    h.target.emit(signal);
    expect(h.stop).toHaveBeenCalledOnce();
    expect(h.exit).not.toHaveBeenCalled();
    h.finish();
    await vi.waitFor(() => expect(h.exit).toHaveBeenCalledWith(0));
    expect(h.lines.join("")).toContain(`${signal}: stopping`);
  });

  it("stops once when signals repeat (Ctrl-C twice, a closed terminal after Ctrl-C)", async () => {
    const h = harness();
    h.target.emit("SIGINT");
    h.target.emit("SIGINT");
    h.target.emit("SIGHUP");
    h.finish();
    await vi.waitFor(() => expect(h.exit).toHaveBeenCalledOnce());
    expect(h.stop).toHaveBeenCalledOnce();
  });
});
