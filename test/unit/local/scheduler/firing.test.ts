import {
  CreateScheduleCommand,
  type CreateScheduleCommandInput,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ResourceNotFoundException,
  UpdateScheduleCommand,
} from "@aws-sdk/client-scheduler";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../support/clock.js";
import { atExpression, createQueue, ROLE_ARN, receive, unique, useEmulatorFixtures } from "./support.js";

const fixtures = useEmulatorFixtures();

const { start } = fixtures;

function oneTime(
  name: string,
  at: string,
  targetArn: string,
  overrides: Partial<CreateScheduleCommandInput> = {},
): CreateScheduleCommandInput {
  return {
    Name: name,
    ScheduleExpression: at,
    FlexibleTimeWindow: { Mode: "OFF" },
    Target: { Arn: targetArn, RoleArn: ROLE_ARN, Input: JSON.stringify({ schedule: name }) },
    ...overrides,
  };
}

const T0 = Date.parse("2026-07-01T09:00:00Z");

describe("firing at() schedules", () => {
  it("invokes a standard queue on time, by the real clock", async () => {
    const { client } = await start();
    const queue = await createQueue(fixtures.sqs().sqs, unique("std"));
    // The next whole second at least one second away: at() has whole-second precision.
    const at = Math.ceil((Date.now() + 1000) / 1000) * 1000;
    const name = unique("realtime");
    await client.send(new CreateScheduleCommand(oneTime(name, atExpression(at), queue.arn)));

    const [message, ...more] = await receive(fixtures.sqs().sqs, queue.url, 1, 3);
    const receivedAt = Date.now();
    expect(message?.Body).toBe(JSON.stringify({ schedule: name }));
    expect(more).toEqual([]);
    expect(receivedAt).toBeGreaterThanOrEqual(at);
    expect(receivedAt - at).toBeLessThan(1000);
  });

  it("invokes a FIFO queue with the schedule's MessageGroupId", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now });
    const queue = await createQueue(fixtures.sqs().sqs, `${unique("fifo")}.fifo`, {
      FifoQueue: "true",
      ContentBasedDeduplication: "true",
    });
    const name = unique("fifo");
    await client.send(
      new CreateScheduleCommand(
        oneTime(name, "at(2026-07-01T09:01:00)", queue.arn, {
          Target: {
            Arn: queue.arn,
            RoleArn: ROLE_ARN,
            Input: '{"n":1}',
            SqsParameters: { MessageGroupId: "order-7" },
          },
        }),
      ),
    );

    clock.set("2026-07-01T09:00:59.999Z");
    expect(await emulator.fireDueNow()).toBe(0);
    clock.set("2026-07-01T09:01:00Z");
    expect(await emulator.fireDueNow()).toBe(1);

    const [message] = await receive(fixtures.sqs().sqs, queue.url, 1, 1);
    expect(message?.Body).toBe('{"n":1}');
    expect(message?.Attributes?.MessageGroupId).toBe("order-7");
  });

  it("sends the payload with its context attributes filled in, and {} without Input", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now });
    const queue = await createQueue(fixtures.sqs().sqs, unique("ctx"));
    const name = unique("ctx");
    const input =
      '{"arn":"<aws.scheduler.schedule-arn>","at":"<aws.scheduler.scheduled-time>","n":<aws.scheduler.attempt-number>}';
    await client.send(
      new CreateScheduleCommand(
        oneTime(name, "at(2026-07-01T09:01:00)", queue.arn, {
          Target: { Arn: queue.arn, RoleArn: ROLE_ARN, Input: input },
        }),
      ),
    );
    await client.send(
      new CreateScheduleCommand(
        oneTime(`${name}-bare`, "at(2026-07-01T09:01:00)", queue.arn, {
          Target: { Arn: queue.arn, RoleArn: ROLE_ARN },
        }),
      ),
    );
    clock.set("2026-07-01T09:01:00Z");
    expect(await emulator.fireDueNow()).toBe(2);

    const bodies = (await receive(fixtures.sqs().sqs, queue.url, 2, 1)).map((m) => m.Body).sort();
    expect(bodies).toEqual(
      [
        JSON.stringify({
          arn: `arn:aws:scheduler:us-east-1:000000000000:schedule/default/${name}`,
          at: "2026-07-01T09:01:00Z",
          n: 1,
        }),
        "{}",
      ].sort(),
    );
  });

  it("fires a burst of schedules due together, all of them exactly once", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now });
    const queue = await createQueue(fixtures.sqs().sqs, unique("burst"));
    const prefix = unique("burst");
    await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        client.send(
          new CreateScheduleCommand(oneTime(`${prefix}-${i}`, "at(2026-07-01T09:30:00)", queue.arn)),
        ),
      ),
    );
    clock.set("2026-07-01T09:30:00Z");
    expect(await emulator.fireDueNow()).toBe(25);
    expect(await emulator.fireDueNow()).toBe(0);

    const messages = await receive(fixtures.sqs().sqs, queue.url, 25, 1);
    expect(messages.map((m) => JSON.parse(m.Body ?? "{}").schedule).sort()).toEqual(
      Array.from({ length: 25 }, (_, i) => `${prefix}-${i}`).sort(),
    );
  });

  it("removes the schedule after firing with DELETE and keeps it, spent, with NONE", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now });
    const queue = await createQueue(fixtures.sqs().sqs, unique("after"));
    const deleted = unique("delete");
    const kept = unique("keep");
    const at = "at(2026-07-01T09:05:00)";
    await client.send(
      new CreateScheduleCommand(oneTime(deleted, at, queue.arn, { ActionAfterCompletion: "DELETE" })),
    );
    await client.send(
      new CreateScheduleCommand(oneTime(kept, at, queue.arn, { ActionAfterCompletion: "NONE" })),
    );

    clock.set("2026-07-01T09:05:00Z");
    expect(await emulator.fireDueNow()).toBe(2);
    await expect(client.send(new GetScheduleCommand({ Name: deleted }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
    await expect(client.send(new GetScheduleCommand({ Name: kept }))).resolves.toMatchObject({
      State: "ENABLED",
    });

    clock.advance(3_600_000);
    expect(await emulator.fireDueNow()).toBe(0);
    expect(await receive(fixtures.sqs().sqs, queue.url, 2, 1)).toHaveLength(2);
    expect(await receive(fixtures.sqs().sqs, queue.url, 1, 0)).toEqual([]);

    // Updating the spent schedule arms it again.
    await client.send(new UpdateScheduleCommand(oneTime(kept, "at(2026-07-01T10:10:00)", queue.arn)));
    clock.set("2026-07-01T10:10:00Z");
    expect(await emulator.fireDueNow()).toBe(1);
  });

  it("never fires disabled, deleted or rescheduled-away invocations", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now });
    const queue = await createQueue(fixtures.sqs().sqs, unique("quiet"));
    const at = "at(2026-07-01T09:10:00)";
    await client.send(
      new CreateScheduleCommand(oneTime(unique("disabled"), at, queue.arn, { State: "DISABLED" })),
    );
    const deleted = unique("deleted");
    await client.send(new CreateScheduleCommand(oneTime(deleted, at, queue.arn)));
    await client.send(new DeleteScheduleCommand({ Name: deleted }));
    const moved = unique("moved");
    await client.send(new CreateScheduleCommand(oneTime(moved, at, queue.arn)));
    await client.send(new UpdateScheduleCommand(oneTime(moved, "at(2026-07-01T11:00:00)", queue.arn)));
    await client.send(new CreateScheduleCommand(oneTime(unique("rate"), "rate(1 minute)", queue.arn)));

    clock.set("2026-07-01T10:59:59Z");
    expect(await emulator.fireDueNow()).toBe(0);
    clock.set("2026-07-01T11:00:00Z");
    expect(await emulator.fireDueNow()).toBe(1);
    const messages = await receive(fixtures.sqs().sqs, queue.url, 1, 1);
    expect(messages.map((m) => m.Body)).toEqual([JSON.stringify({ schedule: moved })]);
    expect(await receive(fixtures.sqs().sqs, queue.url, 1, 0)).toEqual([]);
  });

  it("fires a schedule deleted and created again under its name at its new time only, not at the old one's", async () => {
    // A name is free again once its schedule is deleted (or fired with DELETE): the new schedule is a new resource
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now });
    const queue = await createQueue(fixtures.sqs().sqs, unique("reused"));
    const name = unique("reused");
    await client.send(new CreateScheduleCommand(oneTime(name, "at(2026-07-01T09:10:00)", queue.arn)));
    await client.send(new DeleteScheduleCommand({ Name: name }));
    await client.send(new CreateScheduleCommand(oneTime(name, "at(2026-07-01T11:00:00)", queue.arn)));

    clock.set("2026-07-01T10:59:59Z");
    expect(await emulator.fireDueNow()).toBe(0);
    expect(await receive(fixtures.sqs().sqs, queue.url, 1, 0)).toEqual([]);
    clock.set("2026-07-01T11:00:00Z");
    expect(await emulator.fireDueNow()).toBe(1);
    expect(await receive(fixtures.sqs().sqs, queue.url, 1, 1)).toHaveLength(1);
  });

  it("reads at() in the schedule's time zone", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now });
    const queue = await createQueue(fixtures.sqs().sqs, unique("tz"));
    const paris = unique("paris");
    const utc = unique("utc");
    // Noon in Paris in July is 10:00 UTC (CEST, UTC+2); noon without a zone is noon UTC.
    await client.send(
      new CreateScheduleCommand(
        oneTime(paris, "at(2026-07-01T12:00:00)", queue.arn, { ScheduleExpressionTimezone: "Europe/Paris" }),
      ),
    );
    await client.send(new CreateScheduleCommand(oneTime(utc, "at(2026-07-01T12:00:00)", queue.arn)));

    clock.set("2026-07-01T09:59:59.999Z");
    expect(await emulator.fireDueNow()).toBe(0);
    clock.set("2026-07-01T10:00:00Z");
    expect(await emulator.fireDueNow()).toBe(1);
    expect((await receive(fixtures.sqs().sqs, queue.url, 1, 1))[0]?.Body).toBe(
      JSON.stringify({ schedule: paris }),
    );
    clock.set("2026-07-01T12:00:00Z");
    expect(await emulator.fireDueNow()).toBe(1);
    expect((await receive(fixtures.sqs().sqs, queue.url, 1, 1))[0]?.Body).toBe(
      JSON.stringify({ schedule: utc }),
    );
  });

  it("spreads firing over the firing window: at + random × N seconds", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now, firingWindowSeconds: 60, random: () => 0.25 });
    const queue = await createQueue(fixtures.sqs().sqs, unique("window"));
    await client.send(
      new CreateScheduleCommand(oneTime(unique("window"), "at(2026-07-01T09:20:00)", queue.arn)),
    );

    clock.set("2026-07-01T09:20:14.999Z");
    expect(await emulator.fireDueNow()).toBe(0);
    clock.set("2026-07-01T09:20:15Z");
    expect(await emulator.fireDueNow()).toBe(1);
  });

  it("adds a FLEXIBLE window's random delay", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now, random: () => 0.5 });
    const queue = await createQueue(fixtures.sqs().sqs, unique("flex"));
    await client.send(
      new CreateScheduleCommand(
        oneTime(unique("flex"), "at(2026-07-01T09:20:00)", queue.arn, {
          FlexibleTimeWindow: { Mode: "FLEXIBLE", MaximumWindowInMinutes: 10 },
        }),
      ),
    );
    clock.set("2026-07-01T09:24:59.999Z");
    expect(await emulator.fireDueNow()).toBe(0);
    clock.set("2026-07-01T09:25:00Z");
    expect(await emulator.fireDueNow()).toBe(1);
  });

  it("fires at once a schedule whose time has already passed", async () => {
    const { client } = await start({ firingWindowSeconds: 60 });
    const queue = await createQueue(fixtures.sqs().sqs, unique("late"));
    const name = unique("late");
    await client.send(
      new CreateScheduleCommand(oneTime(name, atExpression(Date.now() - 3_600_000), queue.arn)),
    );
    const [message] = await receive(fixtures.sqs().sqs, queue.url, 1, 2);
    expect(message?.Body).toBe(JSON.stringify({ schedule: name }));
  });
});

describe("failures", () => {
  it("retries a missing queue, then dead-letters with AWS's attributes once retries run out", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now, random: () => 0.5 });
    const dlq = await createQueue(fixtures.sqs().sqs, unique("dlq"));
    const missingArn = `arn:aws:sqs:us-east-1:000000000000:${unique("missing")}`;
    const name = unique("retry");
    const { ScheduleArn } = await client.send(
      new CreateScheduleCommand(
        oneTime(name, "at(2026-07-01T09:15:00)", missingArn, {
          ActionAfterCompletion: "DELETE",
          Target: {
            Arn: missingArn,
            RoleArn: ROLE_ARN,
            Input: '{"task":"t1"}',
            DeadLetterConfig: { Arn: dlq.arn },
            RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
          },
        }),
      ),
    );

    clock.set("2026-07-01T09:15:00Z");
    expect(await emulator.fireDueNow()).toBe(1); // first attempt
    expect(await emulator.fireDueNow()).toBe(0); // the retry waits for its backoff
    clock.advance(10_000);
    expect(await emulator.fireDueNow()).toBe(1); // retry 1
    await expect(client.send(new GetScheduleCommand({ Name: name }))).resolves.toMatchObject({ Name: name });
    clock.advance(10_000);
    expect(await emulator.fireDueNow()).toBe(1); // retry 2, then the DLQ

    const [dead, ...more] = await receive(fixtures.sqs().sqs, dlq.url, 1, 1);
    expect(more).toEqual([]);
    expect(dead?.Body).toBe('{"task":"t1"}');
    const attributes = Object.fromEntries(
      Object.entries(dead?.MessageAttributes ?? {}).map(([key, value]) => [key, value.StringValue]),
    );
    expect(attributes).toMatchObject({
      ERROR_CODE: "AWS.SimpleQueueService.NonExistentQueue",
      EXHAUSTED_RETRY_CONDITION: "MaximumRetryAttempts",
      IS_PAYLOAD_TRUNCATED: "false",
      RETRY_ATTEMPTS: "2",
      SCHEDULED_TIME: "2026-07-01T09:15:00Z",
      SCHEDULE_ARN: ScheduleArn,
      TARGET_ARN: missingArn,
    });
    expect(attributes.ERROR_MESSAGE).toBeTruthy();
    expect(attributes.EXECUTION_ID).toMatch(/^[0-9a-f]{16}$/);
    // Dead-lettering completes the schedule, so DELETE applies.
    await expect(client.send(new GetScheduleCommand({ Name: name }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
  });

  it("gives up when the event is older than MaximumEventAgeInSeconds", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now, random: () => 0.5 });
    const dlq = await createQueue(fixtures.sqs().sqs, unique("dlq-age"));
    const missingArn = `arn:aws:sqs:us-east-1:000000000000:${unique("missing")}`;
    await client.send(
      new CreateScheduleCommand(
        oneTime(unique("aged"), "at(2026-07-01T09:15:00)", missingArn, {
          Target: {
            Arn: missingArn,
            RoleArn: ROLE_ARN,
            DeadLetterConfig: { Arn: dlq.arn },
            RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 60 },
          },
        }),
      ),
    );
    clock.set("2026-07-01T09:15:00Z");
    expect(await emulator.fireDueNow()).toBe(1);
    clock.advance(61_000);
    expect(await emulator.fireDueNow()).toBe(1);

    const [dead] = await receive(fixtures.sqs().sqs, dlq.url, 1, 1);
    expect(dead?.MessageAttributes?.EXHAUSTED_RETRY_CONDITION?.StringValue).toBe("MaximumEventAgeInSeconds");
    expect(dead?.MessageAttributes?.RETRY_ATTEMPTS?.StringValue).toBe("1");
  });

  it("dead-letters at once, without retries, a target type it cannot invoke", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now });
    const dlq = await createQueue(fixtures.sqs().sqs, unique("dlq-lambda"));
    const lambdaArn = "arn:aws:lambda:us-east-1:000000000000:function:handler";
    await client.send(
      new CreateScheduleCommand(
        oneTime(unique("lambda"), "at(2026-07-01T09:15:00)", lambdaArn, {
          Target: { Arn: lambdaArn, RoleArn: ROLE_ARN, DeadLetterConfig: { Arn: dlq.arn } },
        }),
      ),
    );
    clock.set("2026-07-01T09:15:00Z");
    expect(await emulator.fireDueNow()).toBe(1);
    const [dead] = await receive(fixtures.sqs().sqs, dlq.url, 1, 1);
    expect(dead?.MessageAttributes?.TARGET_ARN?.StringValue).toBe(lambdaArn);
    expect(dead?.MessageAttributes?.RETRY_ATTEMPTS?.StringValue).toBe("0");
    expect(dead?.MessageAttributes?.EXHAUSTED_RETRY_CONDITION).toBeUndefined();
  });

  it("treats a FIFO target without content-based deduplication as a target error", async () => {
    const clock = new ManualClock(T0);
    const { client, emulator } = await start({ now: clock.now });
    const dlq = await createQueue(fixtures.sqs().sqs, unique("dlq-fifo"));
    const fifo = await createQueue(fixtures.sqs().sqs, `${unique("nodedup")}.fifo`, { FifoQueue: "true" });
    await client.send(
      new CreateScheduleCommand(
        oneTime(unique("nodedup"), "at(2026-07-01T09:15:00)", fifo.arn, {
          Target: {
            Arn: fifo.arn,
            RoleArn: ROLE_ARN,
            SqsParameters: { MessageGroupId: "g" },
            DeadLetterConfig: { Arn: dlq.arn },
            RetryPolicy: { MaximumRetryAttempts: 0 },
          },
        }),
      ),
    );
    clock.set("2026-07-01T09:15:00Z");
    expect(await emulator.fireDueNow()).toBe(1);
    const [dead] = await receive(fixtures.sqs().sqs, dlq.url, 1, 1);
    expect(dead?.MessageAttributes?.ERROR_CODE?.StringValue).toBe("InvalidParameterValue");
    expect(await receive(fixtures.sqs().sqs, fifo.url, 1, 0)).toEqual([]);
  });
});
