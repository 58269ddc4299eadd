import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Where the local Lambda runtime catches the EMF documents its functions print. On AWS, Lambda ships each
 * function's stdout to CloudWatch Logs, which turns EMF lines into metrics; here every function runs in this
 * process, and Powertools Metrics writes its EMF JSON with `console.log` on a Console bound to process.stdout.
 * So stdout is tapped once, and a line written while a handler runs (tracked through AsyncLocalStorage, which
 * follows the handler's whole async chain) goes to the sink of the local cloud that invoked it: two local
 * clouds in one process never see each other's metrics, and no other line is touched.
 *
 * Only once a second cloud's sink is wrapped, though. On Node 20 and 22 AsyncLocalStorage rides on async hooks: the
 * first `run` turns on a hook for every promise the process makes from then on, ~5 % of the local cloud's main
 * thread in the adds benchmark (`promiseInitHook`, `trackPromise`, `_propagate`, … in its CPU profile), paid by
 * `npm start` and the bench, which only ever run one cloud. With one sink a line goes to it without asking whose it
 * is; with two, each invocation runs in its sink's context, and a line written without one (an invocation of the
 * first cloud that began before the second existed) is the first cloud's.
 */
export interface EmfSink {
  /** Receives each EMF document a handler printed. */
  readonly record: (document: unknown) => void;
  /** Whether the line still reaches the terminal (`printMetrics`). */
  readonly print: boolean;
}

const invocation = new AsyncLocalStorage<EmfSink>();
let tapped = false;
/**
 * The sinks handlers were wrapped for and how many, so a wrapper knows whether lines need telling apart. Held
 * weakly: a sink holds its cloud's metric store (up to 400,000 samples a series), and a file starting clouds one
 * after another must not keep every stopped cloud's; once the first is gone, a line no invocation owns is printed.
 */
const sinks = new WeakSet<EmfSink>();
let sinkCount = 0;
let firstSink: WeakRef<EmfSink> | undefined;

/** Wraps a handler so the EMF lines it prints go to `sink`. */
export function capturingEmf<A extends unknown[], R>(
  sink: EmfSink,
  handler: (...args: A) => R,
): (...args: A) => R {
  tapStdout();
  if (!sinks.has(sink)) {
    sinks.add(sink);
    sinkCount++;
  }
  firstSink ??= new WeakRef(sink);
  return (...args) => (sinkCount === 1 ? handler(...args) : invocation.run(sink, () => handler(...args)));
}

function tapStdout(): void {
  if (tapped) return;
  tapped = true;
  const write = process.stdout.write.bind(process.stdout) as (...args: unknown[]) => boolean;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    const sink = invocation.getStore() ?? firstSink?.deref();
    if (!sink || typeof chunk !== "string" || !chunk.startsWith('{"_aws"')) return write(chunk, ...rest);
    for (const line of chunk.split("\n")) {
      if (!line) continue;
      try {
        sink.record(JSON.parse(line));
      } catch {
        // Not JSON after all: printed below like any other line.
        return write(chunk, ...rest);
      }
    }
    // Swallowed: only Powertools' Console writes these, and it ignores write's callback but for errors.
    return sink.print ? write(chunk, ...rest) : true;
  }) as typeof process.stdout.write;
}
