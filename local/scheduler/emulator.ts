import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { refusingWebPages } from "#local/aws/web-pages.js";
import { parseScheduleExpression, zonedWallTimeToEpochMs } from "./expression.js";
import { createRequestHandler } from "./protocol.js";
import type { SqsTargetSender } from "./sqs-sender.js";
import { type FirePlan, type ScheduleDefinition, ScheduleStore } from "./store.js";
import { FiringTimer } from "./timer.js";

export { createSqsTargetSender, type SqsTargetSender } from "./sqs-sender.js";

export interface SchedulerEmulatorOptions {
  /** 0 = a random free port. Default 0. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Region and account used in schedule and group ARNs. Defaults us-east-1 / 000000000000. */
  readonly region?: string;
  readonly accountId?: string;
  /** Delivers target invocations and dead-letter events to SQS. */
  readonly sqs: SqsTargetSender;
  /**
   * 0–60. Each one-time schedule fires at a uniformly random moment in [at, at + N s), reproducing the 60 s
   * precision of EventBridge Scheduler. Default 0 (fire on the second).
   */
  readonly firingWindowSeconds?: number;
  /** If set, schedules and groups are kept in this JSON file and reloaded at start. */
  readonly persistencePath?: string;
  /**
   * How long a deleted schedule group stays DELETING (its schedules still readable and firing) before they and it
   * are gone. AWS deletes them asynchronously and gives no figure. Default 1000 ms.
   */
  readonly groupDeletionMs?: number;
  /** Clock in epoch ms. Default Date.now. */
  readonly now?: () => number;
  /** Source of [0, 1) randomness for the firing window, flexible windows and retry jitter. Default Math.random. */
  readonly random?: () => number;
  readonly logger?: (line: string) => void;
}

export interface SchedulerEmulator {
  /** Endpoint for SDK clients and the AWS CLI, e.g. http://127.0.0.1:49152. */
  readonly url: string;
  readonly port: number;
  /** What the HTTP server runs per request (the local fast path calls it without a socket). */
  readonly requestListener: (req: IncomingMessage, res: ServerResponse) => void;
  /** Stops firing, waits briefly for invocations in flight, writes pending state, closes the server. */
  stop(): Promise<void>;
  /**
   * Fires every invocation whose (jittered) time is at or before `now()`, waits for them, and returns how many
   * it fired. For tests that drive the injected clock instead of waiting.
   */
  fireDueNow(): Promise<number>;
  /** Finishes every pending group deletion now (see `groupDeletionMs`); returns how many. For tests. */
  finishGroupDeletions(): number;
}

/**
 * A local EventBridge Scheduler speaking the service's restJson1 protocol, so an unmodified
 * `@aws-sdk/client-scheduler` or `aws scheduler …` works against it. Unlike LocalStack's, it fires one-time
 * `at()` schedules into SQS, with retries and a dead-letter queue; `rate()`/`cron()` schedules are stored but
 * never fire. A one-time schedule already due when it is created (or when the emulator starts) fires at once:
 * the local cloud relies on that to deliver what came due while it was down.
 */
export async function startSchedulerEmulator(options: SchedulerEmulatorOptions): Promise<SchedulerEmulator> {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const logger = options.logger ?? (() => {});
  const windowSeconds = options.firingWindowSeconds ?? 0;
  if (!(windowSeconds >= 0 && windowSeconds <= 60)) {
    throw new RangeError(`firingWindowSeconds must be within 0..60, got ${windowSeconds}`);
  }

  // The timer and the store need each other; the store only reaches the timer through this hook.
  let timer: FiringTimer | undefined;
  let deletions: GroupDeletions | undefined;
  const store = new ScheduleStore({
    region: options.region ?? "us-east-1",
    accountId: options.accountId ?? "000000000000",
    now,
    plan: firePlanner(now, random, windowSeconds),
    onChange: (previous, next) => timer?.onChange(previous, next),
    onGroupDeleting: (name) => deletions?.start(name),
    ...(options.persistencePath === undefined ? {} : { persistencePath: options.persistencePath }),
    logger,
  });
  const firing = new FiringTimer({ store, sender: options.sqs, now, random, logger });
  timer = firing;
  const groupDeletions = new GroupDeletions(store, options.groupDeletionMs ?? 1_000);
  deletions = groupDeletions;
  await store.load();

  const requestListener = createRequestHandler(store);
  // Its socket refuses web pages (a text/plain POST is read as JSON); the fast path calls the listener itself.
  const server = createServer(refusingWebPages(requestListener));
  const address = await listen(server, options.port ?? 0, options.host ?? "127.0.0.1");
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger(`scheduler: listening on ${url} (${store.scheduleCount} schedule(s))`);

  let stopping: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    requestListener,
    fireDueNow: () => firing.fireDueNow(),
    finishGroupDeletions: () => groupDeletions.finishAll(),
    stop() {
      // A deletion not finished is kept DELETING in the persisted state, and finished by the next start.
      groupDeletions.stop();
      stopping ??= stopServing(server, firing, store);
      return stopping;
    },
  };
}

/** When a one-time schedule fires: its time, pushed later by the firing window and its flexible window. */
function firePlanner(
  now: () => number,
  random: () => number,
  windowSeconds: number,
): (definition: ScheduleDefinition) => FirePlan | undefined {
  return (definition) => {
    const expression = parseScheduleExpression(definition.ScheduleExpression);
    if (expression?.kind !== "at") return undefined;
    const scheduledAt = zonedWallTimeToEpochMs(
      expression.wallMs,
      definition.ScheduleExpressionTimezone ?? "UTC",
    );
    // Already due: fire immediately rather than somewhere in a window that has (partly) passed.
    if (scheduledAt <= now()) return { scheduledAt, fireAt: scheduledAt };
    let delay = windowSeconds * 1000 * random();
    const window = definition.FlexibleTimeWindow;
    if (window.Mode === "FLEXIBLE") delay += (window.MaximumWindowInMinutes ?? 0) * 60_000 * random();
    return { scheduledAt, fireAt: scheduledAt + Math.floor(delay) };
  };
}

/** The asynchronous half of DeleteScheduleGroup: each DELETING group is finished `delayMs` after it turned so. */
class GroupDeletions {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly store: ScheduleStore,
    private readonly delayMs: number,
  ) {}

  start(name: string): void {
    if (this.stopped || this.pending.has(name)) return;
    const timer = setTimeout(() => this.finish(name), this.delayMs);
    timer.unref();
    this.pending.set(name, timer);
  }

  finishAll(): number {
    let finished = 0;
    for (const name of this.store.deletingGroups()) if (this.finish(name)) finished++;
    return finished;
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }

  private finish(name: string): boolean {
    clearTimeout(this.pending.get(name));
    this.pending.delete(name);
    return this.store.finishGroupDeletion(name);
  }
}

async function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

async function stopServing(server: Server, firing: FiringTimer, store: ScheduleStore): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await firing.stop();
  await store.flush(true);
  await closed;
}
