import {
  CreateScheduleCommand,
  type CreateScheduleCommandInput,
  CreateScheduleGroupCommand,
  GetScheduleCommand,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  createSqsTargetSender,
  type SchedulerEmulator,
  startSchedulerEmulator,
} from "#local/scheduler/emulator.js";
import {
  atTimeMs,
  dueFirings,
  planFiring,
  type ScheduleDetail,
  startSchedulePump,
} from "../../e2e/support/schedule-pump.js";
import {
  atExpression,
  createQueue,
  ROLE_ARN,
  receive,
  type SqsHarness,
  schedulerClient,
  startSqs,
  unique,
} from "./scheduler/support.js";

const STD_ARN = "arn:aws:sqs:us-east-1:000000000000:timer";
const FIFO_ARN = "arn:aws:sqs:us-east-1:000000000000:topic-demo.fifo";
const T0 = Date.parse("2026-07-01T09:00:00Z");

function schedule(overrides: Partial<ScheduleDetail> = {}): ScheduleDetail {
  return {
    Name: "task-1",
    GroupName: "punctual-local",
    State: "ENABLED",
    ScheduleExpression: "at(2026-07-01T09:00:00)",
    ScheduleExpressionTimezone: "UTC",
    ActionAfterCompletion: "DELETE",
    Target: { Arn: STD_ARN, RoleArn: ROLE_ARN, Input: '{"v":1,"taskId":"t1"}' },
    ...overrides,
  };
}

describe("what is due and how to send it", () => {
  it("fires a due at() schedule: its Input to its queue, deleted afterwards when ActionAfterCompletion is DELETE", () => {
    const plan = planFiring(schedule(), T0);

    expect(plan).toEqual({
      kind: "fire",
      firing: {
        name: "task-1",
        groupName: "punctual-local",
        dueMs: T0,
        queueArn: STD_ARN,
        body: '{"v":1,"taskId":"t1"}',
        deleteAfter: true,
      },
    });
  });

  it("keeps a schedule whose ActionAfterCompletion is NONE or unset", () => {
    for (const action of ["NONE", undefined] as const) {
      const plan = planFiring(schedule({ ActionAfterCompletion: action }), T0 + 5_000);
      expect(plan.kind === "fire" && plan.firing.deleteAfter).toBe(false);
    }
  });

  it("waits until the time has come, and for the lateness it is given", () => {
    expect(planFiring(schedule(), T0 - 1)).toEqual({ kind: "wait", dueMs: T0 });
    expect(planFiring(schedule(), T0 + 1_000, 1_500)).toEqual({ kind: "wait", dueMs: T0 + 1_500 });
    expect(planFiring(schedule(), T0 + 1_500, 1_500).kind).toBe("fire");
  });

  it("reads at() in the schedule's time zone, UTC when none is given", () => {
    expect(atTimeMs("at(2026-07-01T11:00:00)", "Europe/Paris")).toBe(T0);
    expect(atTimeMs("at(2026-07-01T09:00:00)", undefined)).toBe(T0);
    const paris = schedule({
      ScheduleExpression: "at(2026-07-01T11:00:00)",
      ScheduleExpressionTimezone: "Europe/Paris",
    });
    expect(planFiring(paris, T0 - 1).kind).toBe("wait");
    expect(planFiring(paris, T0).kind).toBe("fire");
  });

  it("gives FIFO targets their MessageGroupId, standard queues none", () => {
    const fifo = planFiring(
      schedule({
        Target: { Arn: FIFO_ARN, RoleArn: ROLE_ARN, Input: "x", SqsParameters: { MessageGroupId: "g1" } },
      }),
      T0,
    );
    const standard = planFiring(
      schedule({
        Target: { Arn: STD_ARN, RoleArn: ROLE_ARN, Input: "x", SqsParameters: { MessageGroupId: "g1" } },
      }),
      T0,
    );

    expect(fifo.kind === "fire" && fifo.firing.messageGroupId).toBe("g1");
    expect(standard.kind === "fire" && "messageGroupId" in standard.firing).toBe(false);
  });

  it.each([
    ["a disabled schedule", { State: "DISABLED" as const }, /disabled/],
    ["a rate() schedule", { ScheduleExpression: "rate(5 minutes)" }, /not a one-time at\(\) schedule/],
    ["a cron() schedule", { ScheduleExpression: "cron(0 12 * * ? *)" }, /not a one-time at\(\) schedule/],
    [
      "a Lambda target",
      { Target: { Arn: "arn:aws:lambda:us-east-1:000000000000:function:f", RoleArn: ROLE_ARN } },
      /not an SQS queue/,
    ],
    ["no target", { Target: undefined }, /not an SQS queue: \(none\)/],
  ])("never fires %s", (_, overrides, reason) => {
    const plan = planFiring(schedule(overrides), T0 + 3_600_000);

    expect(plan.kind).toBe("never");
    expect(plan.kind === "never" && plan.reason).toMatch(reason);
  });

  it("lists what is due earliest first, ties by name, and leaves the rest", () => {
    const at = (s: number) => atExpression(T0 + s * 1000);
    const firings = dueFirings(
      [
        schedule({ Name: "c", ScheduleExpression: at(0) }),
        schedule({ Name: "later", ScheduleExpression: at(10) }),
        schedule({ Name: "b", ScheduleExpression: at(0) }),
        schedule({ Name: "a", ScheduleExpression: at(1) }),
        schedule({ Name: "held", ScheduleExpression: at(0) }),
      ],
      T0 + 2_000,
      (s) => (s.Name === "held" ? 5_000 : 0),
    );

    expect(firings.map((f) => f.name)).toEqual(["b", "c", "a"]);
  });
});

// Real time: each test waits for a schedule ~1.5 s ahead; the default 5 s is tight on 2 busy cores.
describe("the pump against our Scheduler emulator and fauxqs", () => {
  let sqs: SqsHarness;
  let emulator: SchedulerEmulator;
  let client: SchedulerClient;

  beforeAll(async () => {
    sqs = await startSqs();
    // The emulator fires each schedule ~60 s after its time (the far end of AWS's window): anything that
    // arrives sooner was sent by the pump.
    emulator = await startSchedulerEmulator({
      sqs: createSqsTargetSender(sqs.sqs),
      firingWindowSeconds: 60,
      random: () => 0.999,
    });
    client = schedulerClient(emulator.url);
  });

  afterAll(async () => {
    client?.destroy();
    await emulator?.stop();
    await sqs?.stop();
  });

  it("sends due schedules to standard and FIFO queues long before the emulator would, deleting only DELETE ones, once", async () => {
    // Prepare
    const group = unique("pump");
    await client.send(new CreateScheduleGroupCommand({ Name: group }));
    const standard = await createQueue(sqs.sqs, unique("timer"));
    const fifo = await createQueue(sqs.sqs, `${unique("topic")}.fifo`, {
      FifoQueue: "true",
      ContentBasedDeduplication: "true",
    });
    const atMs = Math.ceil((Date.now() + 1_500) / 1000) * 1000;
    const create = (name: string, input: Partial<CreateScheduleCommandInput>) =>
      client.send(
        new CreateScheduleCommand({
          Name: name,
          GroupName: group,
          ScheduleExpression: atExpression(atMs),
          FlexibleTimeWindow: { Mode: "OFF" },
          ...input,
          Target: { Arn: standard.arn, RoleArn: ROLE_ARN, Input: JSON.stringify({ name }), ...input.Target },
        }),
      );
    await create("to-standard", { ActionAfterCompletion: "DELETE" });
    await create("to-fifo", {
      ActionAfterCompletion: "NONE",
      Target: { Arn: fifo.arn, RoleArn: ROLE_ARN, SqsParameters: { MessageGroupId: "group-7" } },
    });
    await create("far-future", {
      ScheduleExpression: atExpression(atMs + 3_600_000),
      ActionAfterCompletion: "DELETE",
    });
    const logged: string[] = [];

    // Act
    const pump = startSchedulePump({
      scheduler: client,
      sqs: sqs.sqs,
      groupName: group,
      intervalMs: 100,
      log: (line) => logged.push(line),
    });
    let toStandard: Awaited<ReturnType<typeof receive>>;
    let toFifo: Awaited<ReturnType<typeof receive>>;
    let again: Awaited<ReturnType<typeof receive>>;
    let receivedAt: number;
    try {
      toStandard = await receive(sqs.sqs, standard.url, 1, 5);
      receivedAt = Date.now();
      toFifo = await receive(sqs.sqs, fifo.url, 1, 5);
      // A few more ticks: the NONE schedule is still listed, and must not be sent again.
      await new Promise((r) => setTimeout(r, 500));
      again = [...(await receive(sqs.sqs, fifo.url, 1, 0)), ...(await receive(sqs.sqs, standard.url, 1, 0))];
    } finally {
      await pump.stop();
    }

    // Assess
    expect(toStandard.map((m) => m.Body)).toEqual([JSON.stringify({ name: "to-standard" })]);
    expect(receivedAt).toBeGreaterThanOrEqual(atMs);
    expect(receivedAt).toBeLessThan(atMs + 5_000);
    expect(toFifo.map((m) => m.Body)).toEqual([JSON.stringify({ name: "to-fifo" })]);
    expect(toFifo[0]?.Attributes?.MessageGroupId).toBe("group-7");
    expect(again).toEqual([]);
    expect(pump.fired.map((f) => f.name)).toEqual(["to-fifo", "to-standard"]);
    const exists = (name: string) =>
      client.send(new GetScheduleCommand({ Name: name, GroupName: group })).then(
        () => true,
        (error: Error) => (error.name === "ResourceNotFoundException" ? false : Promise.reject(error)),
      );
    expect(await exists("to-standard")).toBe(false);
    expect(await exists("to-fifo")).toBe(true);
    expect(await exists("far-future")).toBe(true);
    expect(logged).toEqual([]);
  }, 20_000);

  it("tries a failed send again on the next tick, and says so once", async () => {
    const group = unique("pump-retry");
    await client.send(new CreateScheduleGroupCommand({ Name: group }));
    const missing = `arn:aws:sqs:us-east-1:000000000000:${unique("not-yet")}`;
    await client.send(
      new CreateScheduleCommand({
        Name: "late-queue",
        GroupName: group,
        ScheduleExpression: atExpression(Math.ceil((Date.now() + 1_500) / 1000) * 1000),
        FlexibleTimeWindow: { Mode: "OFF" },
        ActionAfterCompletion: "DELETE",
        Target: { Arn: missing, RoleArn: ROLE_ARN, Input: "retry-me" },
      }),
    );
    const logged: string[] = [];
    const pump = startSchedulePump({
      scheduler: client,
      sqs: sqs.sqs,
      groupName: group,
      intervalMs: 100,
      log: (line) => logged.push(line),
    });
    try {
      await vi.waitFor(() => expect(logged).not.toEqual([]), { timeout: 5_000, interval: 50 });
      await new Promise((r) => setTimeout(r, 400));
      const queue = await createQueue(sqs.sqs, missing.split(":").at(-1) ?? "");
      const [message] = await receive(sqs.sqs, queue.url, 1, 3);

      expect(message?.Body).toBe("retry-me");
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatch(/late-queue/);
    } finally {
      await pump.stop();
    }
  }, 20_000);
});
