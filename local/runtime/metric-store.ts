/**
 * The local cloud's stand-in for CloudWatch metrics: the raw values of every metric the functions emit (EMF
 * documents, see emf-capture.ts), per metric name and dimension set, for the last hour. Raw values, not
 * statistics, so the console computes exact nearest-rank percentiles where CloudWatch would approximate.
 * Hand-written because no library keeps EMF values in memory; it is a map of arrays pruned by age and count.
 */

/** One metric value at the time its EMF document was written (epoch ms). */
export interface MetricSample {
  readonly t: number;
  readonly v: number;
}

/** What an EMF document (CloudWatch embedded metric format) holds that the store reads. */
interface EmfDocument {
  readonly _aws?: {
    readonly Timestamp?: number;
    readonly CloudWatchMetrics?: readonly {
      readonly Namespace?: string;
      readonly Dimensions?: readonly (readonly string[])[];
      readonly Metrics?: readonly { readonly Name?: string }[];
    }[];
  };
  readonly [field: string]: unknown;
}

export const METRIC_RETENTION_MS = 60 * 60 * 1000;
/** Per series: one hour of 100 values a second is 360,000; beyond this the oldest go first. */
const MAX_SAMPLES_PER_SERIES = 400_000;

export class MetricStore {
  readonly #series = new Map<string, MetricSample[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Stores every value of an EMF document under each of its dimension sets. Anything else is ignored. */
  record(document: unknown): void {
    const doc = document as EmfDocument;
    const directives = doc?._aws?.CloudWatchMetrics;
    if (!Array.isArray(directives)) return;
    const t = typeof doc._aws?.Timestamp === "number" ? doc._aws.Timestamp : this.now();
    for (const directive of directives) {
      for (const metric of directive.Metrics ?? []) {
        if (!metric.Name) continue;
        const values = valuesOf(doc[metric.Name]);
        for (const names of directive.Dimensions ?? [[]]) {
          const dimensions = Object.fromEntries(names.map((n: string) => [n, String(doc[n] ?? "")]));
          this.#append(seriesKey(directive.Namespace ?? "", metric.Name, dimensions), t, values);
        }
      }
    }
  }

  /** The samples of one metric with exactly these dimensions, with `from <= t < to`, oldest first. */
  samples(
    namespace: string,
    name: string,
    dimensions: Readonly<Record<string, string>>,
    fromMs: number,
    toMs: number,
  ): MetricSample[] {
    const series = this.#series.get(seriesKey(namespace, name, dimensions)) ?? [];
    return series.filter((s) => s.t >= fromMs && s.t < toMs);
  }

  #append(key: string, t: number, values: readonly number[]): void {
    let series = this.#series.get(key);
    if (!series) {
      series = [];
      this.#series.set(key, series);
    }
    for (const v of values) series.push({ t, v });
    const cutoff = this.now() - METRIC_RETENTION_MS;
    let drop = 0;
    while (drop < series.length && (series[drop] as MetricSample).t < cutoff) drop++;
    drop = Math.max(drop, series.length - MAX_SAMPLES_PER_SERIES);
    if (drop > 0) series.splice(0, drop);
  }
}

function valuesOf(field: unknown): number[] {
  const list = Array.isArray(field) ? field : [field];
  return list.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
}

function seriesKey(namespace: string, name: string, dimensions: Readonly<Record<string, string>>): string {
  const dims = Object.keys(dimensions)
    .sort()
    .map((k) => [k, dimensions[k]]);
  return JSON.stringify([namespace, name, dims]);
}
