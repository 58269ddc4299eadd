import {
  DeleteScheduleCommand,
  GetScheduleCommand,
  type GetScheduleCommandOutput,
  ListSchedulesCommand,
  type SchedulerClient,
  type ScheduleSummary,
} from "@aws-sdk/client-scheduler";
import { GetQueueUrlCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { parseScheduleExpression, zonedWallTimeToEpochMs } from "#local/scheduler/expression.js";
import { parseSqsArn } from "#local/scheduler/sqs-sender.js";

/**
 * A stand-in for the firing half of EventBridge Scheduler, for endpoints whose Scheduler only stores schedules
 * (LocalStack's is CRUD-only: schedules never fire). Every `intervalMs` it lists the schedules of one group,
 * and sends each one-time `at()` schedule whose time has come to its SQS target — the target's `Input` as the
 * message body, `SqsParameters.MessageGroupId` for FIFO queues — then deletes it if its ActionAfterCompletion
 * is DELETE. That is all Punctual asks of Scheduler. Not emulated: retries with the schedule's RetryPolicy
 * (a failed send is simply tried again on the next tick), its dead-letter queue, flexible windows,
 * `rate()`/`cron()`, StartDate/EndDate, and targets other than SQS.
 */

/** What the pump reads from GetSchedule (the SDK's output type, or the same fields from anywhere else). */
export type ScheduleDetail = Pick<
  GetScheduleCommandOutput,
  | "Name"
  | "GroupName"
  | "State"
  | "ScheduleExpression"
  | "ScheduleExpressionTimezone"
  | "ActionAfterCompletion"
  | "Target"
>;

/** One target invocation: what to send where, and whether the schedule goes away afterwards. */
export interface Firing {
  readonly name: string;
  readonly groupName: string;
  readonly dueMs: number;
  readonly queueArn: string;
  readonly body: string;
  /** Only for FIFO targets. */
  readonly messageGroupId?: string;
  readonly deleteAfter: boolean;
}

export type FiringPlan =
  | { readonly kind: "fire"; readonly firing: Firing }
  | { readonly kind: "wait"; readonly dueMs: number }
  | { readonly kind: "never"; readonly reason: string };

/** The instant an `at()` expression means in its time zone (UTC unless given), or undefined for anything else. */
export function atTimeMs(expression: string | undefined, timeZone: string | undefined): number | undefined {
  const parsed = parseScheduleExpression(expression ?? "");
  if (parsed?.kind !== "at") return undefined;
  return zonedWallTimeToEpochMs(parsed.wallMs, timeZone || "UTC");
}

/**
 * Decides for one schedule: fire it now, wait until `dueMs`, or never (nothing the pump can fire). `lateMs`
 * holds a firing back after its time, like Scheduler's own imprecision (AWS fires within the minute).
 */
export function planFiring(schedule: ScheduleDetail, nowMs: number, lateMs = 0): FiringPlan {
  if (schedule.State === "DISABLED") return { kind: "never", reason: "disabled" };
  const dueMs = atTimeMs(schedule.ScheduleExpression, schedule.ScheduleExpressionTimezone);
  if (dueMs === undefined) {
    return { kind: "never", reason: `not a one-time at() schedule: ${schedule.ScheduleExpression}` };
  }
  const queueArn = schedule.Target?.Arn ?? "";
  const queue = parseSqsArn(queueArn);
  if (!queue) return { kind: "never", reason: `target is not an SQS queue: ${queueArn || "(none)"}` };
  if (nowMs < dueMs + lateMs) return { kind: "wait", dueMs: dueMs + lateMs };
  const messageGroupId = schedule.Target?.SqsParameters?.MessageGroupId;
  return {
    kind: "fire",
    firing: {
      name: schedule.Name ?? "",
      groupName: schedule.GroupName ?? "default",
      dueMs,
      queueArn,
      // Scheduler sends Input verbatim. Punctual's schedules always carry one; SQS refuses an empty body.
      body: schedule.Target?.Input ?? "{}",
      ...(queue.queueName.endsWith(".fifo") && messageGroupId ? { messageGroupId } : {}),
      deleteAfter: schedule.ActionAfterCompletion === "DELETE",
    },
  };
}

/** Everything due among `schedules` at `nowMs`, earliest first (ties by name, so the order is stable). */
export function dueFirings(
  schedules: readonly ScheduleDetail[],
  nowMs: number,
  lateMsOf: (schedule: ScheduleDetail) => number = () => 0,
): Firing[] {
  const due: Firing[] = [];
  for (const schedule of schedules) {
    const plan = planFiring(schedule, nowMs, lateMsOf(schedule));
    if (plan.kind === "fire") due.push(plan.firing);
  }
  return due.sort((a, b) => a.dueMs - b.dueMs || a.name.localeCompare(b.name));
}

export interface SchedulePumpOptions {
  readonly scheduler: SchedulerClient;
  readonly sqs: SQSClient;
  readonly groupName: string;
  /** Default 250 ms. */
  readonly intervalMs?: number;
  /** Fire each schedule at a random moment within N seconds after its time (Scheduler's imprecision). Default 0. */
  readonly firingWindowSeconds?: number;
  readonly random?: () => number;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

export interface SchedulePump {
  /** Invocations sent so far. */
  readonly fired: readonly Firing[];
  /** One pass now (also what the timer runs); resolves when it is done. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

interface Known {
  /** LastModificationDate as listed: a changed schedule is read again. */
  readonly stamp: string;
  readonly detail: ScheduleDetail;
  readonly lateMs: number;
  /** Sent already (schedules with ActionAfterCompletion NONE stay listed; they fire once). */
  done: boolean;
}

export function startSchedulePump(options: SchedulePumpOptions): SchedulePump {
  const intervalMs = options.intervalMs ?? 250;
  const windowMs = (options.firingWindowSeconds ?? 0) * 1000;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => undefined);
  const known = new Map<string, Known>();
  const queueUrls = new Map<string, string>();
  const failures = new Set<string>();
  const fired: Firing[] = [];
  let stopped = false;
  let lastError: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const listAll = async (): Promise<ScheduleSummary[]> => {
    const all: ScheduleSummary[] = [];
    let token: string | undefined;
    do {
      const page = await options.scheduler.send(
        new ListSchedulesCommand({ GroupName: options.groupName, NextToken: token, MaxResults: 100 }),
      );
      all.push(...(page.Schedules ?? []));
      token = page.NextToken;
    } while (token);
    return all;
  };

  const queueUrl = async (arn: string): Promise<string> => {
    const cached = queueUrls.get(arn);
    if (cached) return cached;
    const queue = parseSqsArn(arn);
    const out = await options.sqs.send(new GetQueueUrlCommand({ QueueName: queue?.queueName }));
    if (!out.QueueUrl) throw new Error(`no queue URL for ${arn}`);
    queueUrls.set(arn, out.QueueUrl);
    return out.QueueUrl;
  };

  const send = async (firing: Firing): Promise<void> => {
    await options.sqs.send(
      new SendMessageCommand({
        QueueUrl: await queueUrl(firing.queueArn),
        MessageBody: firing.body,
        ...(firing.messageGroupId ? { MessageGroupId: firing.messageGroupId } : {}),
      }),
    );
  };

  const remove = async (firing: Firing): Promise<void> => {
    try {
      await options.scheduler.send(
        new DeleteScheduleCommand({ Name: firing.name, GroupName: firing.groupName }),
      );
    } catch (error) {
      // Deleted meanwhile (a cancel) is what DELETE wanted anyway.
      if ((error as { name?: string }).name !== "ResourceNotFoundException") {
        log(`schedule pump: could not delete ${firing.name}: ${(error as Error).message}`);
      }
    }
  };

  const pass = async (): Promise<void> => {
    const listed = await listAll();
    const names = new Set<string>();
    for (const summary of listed) {
      const name = summary.Name;
      if (!name) continue;
      names.add(name);
      const stamp = String(summary.LastModificationDate?.getTime() ?? summary.CreationDate?.getTime() ?? "");
      if (known.get(name)?.stamp === stamp) continue;
      try {
        const detail = await options.scheduler.send(
          new GetScheduleCommand({ Name: name, GroupName: options.groupName }),
        );
        known.set(name, { stamp, detail, lateMs: windowMs * random(), done: false });
      } catch (error) {
        // Deleted between the list and the get: a cancelled task.
        if ((error as { name?: string }).name !== "ResourceNotFoundException") throw error;
      }
    }
    for (const name of known.keys()) if (!names.has(name)) known.delete(name);

    const pending = [...known.values()].filter((k) => !k.done);
    const lateness = new Map(pending.map((k) => [k.detail, k.lateMs]));
    const due = dueFirings(
      pending.map((k) => k.detail),
      now(),
      (detail) => lateness.get(detail) ?? 0,
    );
    for (const firing of due) {
      try {
        await send(firing);
      } catch (error) {
        // Tried again next tick; said once per schedule, not four times a second.
        if (!failures.has(firing.name)) log(`schedule pump: ${firing.name}: ${(error as Error).message}`);
        failures.add(firing.name);
        continue;
      }
      failures.delete(firing.name);
      const entry = known.get(firing.name);
      if (entry) entry.done = true;
      fired.push(firing);
      if (firing.deleteAfter) await remove(firing);
    }
  };

  const tick = (): Promise<void> => {
    running ??= pass()
      .then(
        () => {
          lastError = undefined;
        },
        (error: Error) => {
          // An endpoint that is down fails every tick: say so once, and again when the error changes.
          if (error.message !== lastError) log(`schedule pump: ${error.message}`);
          lastError = error.message;
        },
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  const loop = () => {
    if (stopped) return;
    void tick().then(() => {
      if (!stopped) timer = setTimeout(loop, intervalMs);
    });
  };
  timer = setTimeout(loop, 0);

  return {
    fired,
    tick,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
