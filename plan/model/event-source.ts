import type { ProvisionedPollers } from "../config.js";
import type { EventSourceBehaviour } from "./profile.js";
import type { PolledQueue } from "./queues.js";
import type { World } from "./world.js";

export interface MappingSettings {
  /** Which SQS price its receives and deletes pay. */
  readonly queueKind: "standard" | "fifo";
  readonly batchSize: number;
  readonly maxBatchingWindowSeconds?: number;
  readonly provisionedPollers?: ProvisionedPollers;
  readonly maxConcurrency?: number;
}

/**
 * How many batches a mapping may run at `sinceActiveMs` after its queue turned active: default mode starts at
 * a few and adds some per minute while messages wait; provisioned mode starts at its minimum pollers' worth and
 * scales faster; MaximumConcurrency caps either; a profile may fix it (the local runtime).
 */
export function batchLimit(
  behaviour: EventSourceBehaviour,
  mapping: MappingSettings,
  sinceActiveMs: number,
): number {
  const minutes = Math.max(0, sinceActiveMs) / 60_000;
  let limit: number;
  if (behaviour.fixedUncappedBatches !== undefined) limit = behaviour.fixedUncappedBatches;
  else if (mapping.provisionedPollers) {
    const perPoller = behaviour.provisionedBatchesPerPoller;
    limit = Math.min(
      mapping.provisionedPollers.max * perPoller,
      mapping.provisionedPollers.min * perPoller + behaviour.provisionedScaleUpPerMinute * minutes,
    );
  } else
    limit = Math.min(behaviour.maxBatches, behaviour.initialBatches + behaviour.scaleUpPerMinute * minutes);
  return Math.max(1, Math.floor(Math.min(limit, mapping.maxConcurrency ?? Number.POSITIVE_INFINITY)));
}

/**
 * Lambda's event source mapping over one queue: receive a batch (waiting out the batching window for a full
 * one), invoke, delete, repeat, with at most `batchLimit` batches at once. On AWS every batch slot has its own
 * poller; the local runtime runs two receivers per mapping that hand batches to free slots.
 */
export class EventSource<M> {
  #busy = 0;
  #receivers = 0;
  #activeSince: number | undefined;
  #slotWaiters: (() => void)[] = [];
  peakBatches = 0;

  constructor(
    private readonly world: World,
    private readonly queue: PolledQueue<M>,
    private readonly mapping: MappingSettings,
    private readonly handle: (batch: M[], done: () => void) => void,
    /** After the batch's delete (a FIFO queue frees its groups then). */
    private readonly onDeleted: (batch: M[]) => void = () => undefined,
  ) {}

  start(): void {
    const behaviour = this.world.profile.eventSources;
    const initial = behaviour.receivers === "per-slot" ? this.#limit() : behaviour.receivers;
    for (let i = 0; i < initial; i++) this.#addReceiver();
    if (behaviour.receivers === "per-slot") this.#scaleTick();
  }

  #limit(): number {
    const since = this.#activeSince === undefined ? 0 : this.world.sim.now - this.#activeSince;
    return batchLimit(this.world.profile.eventSources, this.mapping, since);
  }

  /** Per-slot pollers: every second, add pollers up to the limit while messages wait. */
  #scaleTick(): void {
    this.world.sim.after(1_000, () => {
      if (this.queue.available() > 0) {
        this.#activeSince ??= this.world.sim.now;
        while (this.#receivers < this.#limit()) this.#addReceiver();
      }
      if (!this.#stopped()) this.#scaleTick();
    });
  }

  stopWhen: () => boolean = () => false;
  #stopped(): boolean {
    return this.stopWhen();
  }

  #addReceiver(): void {
    this.#receivers++;
    this.#loop();
  }

  #loop = (): void => {
    if (this.#stopped()) return;
    if (this.#busy >= this.#limit()) {
      this.#slotWaiters.push(this.#loop);
      return;
    }
    if (this.queue.available() === 0) {
      this.queue.onArrival(this.#loop);
      return;
    }
    this.#activeSince ??= this.world.sim.now;
    // The slot is taken when the receive starts: pollers must not overshoot the limit while their receives run.
    this.#busy++;
    // The receive's fixed part now; its messages' part once it is known how many came (#received).
    this.#afterWindow(() => this.world.call("sqsReceive", this.#received, "main", { entries: 0 }));
  };

  /** With a batching window, a poller that found fewer than a batch waits up to the window for more. */
  #afterWindow(then: () => void): void {
    const windowMs = (this.mapping.maxBatchingWindowSeconds ?? 0) * 1000;
    if (windowMs <= 0 || this.queue.available() >= this.mapping.batchSize) {
      then();
      return;
    }
    const deadline = this.world.sim.now + windowMs;
    let fired = false;
    const check = () => {
      if (fired) return;
      if (this.queue.available() >= this.mapping.batchSize || this.world.sim.now >= deadline) {
        fired = true;
        then();
      } else this.queue.onArrival(check);
    };
    this.world.sim.at(deadline, check);
    this.queue.onArrival(check);
  }

  #wakeSlots(): void {
    for (const wake of this.#slotWaiters.splice(0)) wake();
  }

  #bill(requests: number): void {
    if (this.mapping.queueKind === "fifo") this.world.usage.fifoRequests += requests;
    else this.world.usage.standardRequests += requests;
  }

  #received = (): void => {
    const batch = this.queue.take(this.mapping.batchSize);
    if (batch.length === 0) {
      // An empty receive is a long poll's idle cost, not a per-task one.
      this.world.usage.calls.sqsReceive--;
      this.#busy--;
      this.#wakeSlots();
      this.#loop();
      return;
    }
    this.#bill(2); // this receive and the batch's delete
    this.peakBatches = Math.max(this.peakBatches, this.#busy);
    const perSlot = this.world.profile.eventSources.receivers === "per-slot";
    const deleted = () => {
      this.#busy--;
      this.onDeleted(batch);
      this.#wakeSlots();
      if (perSlot) this.#loop();
    };
    // The received messages' own CPU (the answer's entries), then the invocation; the poller goes on receiving.
    this.world.entries("sqsReceive", batch.length, () =>
      this.handle(batch, () => this.world.call("sqsDeleteBatch", deleted, "main", { entries: batch.length })),
    );
    if (!perSlot) this.#loop();
  };
}
