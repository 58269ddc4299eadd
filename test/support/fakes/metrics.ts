import type { DeliveryMetricsSink } from "#shared/services/deliver/index.js";

/** The deliver service's metrics port: every event kept, flushes counted. */
export class MemoryMetrics implements DeliveryMetricsSink {
  readonly events: { kind: string; topic: string; values: number[] }[] = [];
  flushes = 0;
  delivered(topic: string, latenessMs: number | undefined, callbackLatencyMs: number): void {
    const values = latenessMs === undefined ? [callbackLatencyMs] : [latenessMs, callbackLatencyMs];
    this.events.push({ kind: "delivered", topic, values });
  }
  attemptFailed(topic: string, callbackLatencyMs: number | undefined): void {
    this.events.push({
      kind: "attemptFailed",
      topic,
      values: callbackLatencyMs === undefined ? [] : [callbackLatencyMs],
    });
  }
  deadLettered(topic: string): void {
    this.events.push({ kind: "deadLettered", topic, values: [] });
  }
  circuitOpened(topic: string): void {
    this.events.push({ kind: "circuitOpened", topic, values: [] });
  }
  circuitClosed(topic: string): void {
    this.events.push({ kind: "circuitClosed", topic, values: [] });
  }
  flush(): void {
    this.flushes++;
  }
  count(kind: string): number {
    return this.events.filter((e) => e.kind === kind).length;
  }
}
