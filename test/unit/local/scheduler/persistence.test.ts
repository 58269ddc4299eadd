import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateScheduleCommand,
  type CreateScheduleCommandInput,
  CreateScheduleGroupCommand,
  DeleteScheduleGroupCommand,
  GetScheduleCommand,
  GetScheduleGroupCommand,
  ListSchedulesCommand,
  ListTagsForResourceCommand,
} from "@aws-sdk/client-scheduler";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createSqsTargetSender, startSchedulerEmulator } from "#local/scheduler/emulator.js";
import { ManualClock } from "../../../support/clock.js";
import {
  createQueue,
  ROLE_ARN,
  receive,
  type SqsHarness,
  schedulerClient,
  startSqs,
  unique,
} from "./support.js";

let sqs: SqsHarness;
let dir: string;
let statePath: string;

beforeAll(async () => {
  sqs = await startSqs();
});

afterAll(async () => {
  await sqs.stop();
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "scheduler-emulator-"));
  // A directory that does not exist yet: the emulator creates it.
  statePath = join(dir, "state", "scheduler.json");
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `body` against an emulator and always stops it (and its client) afterwards. */
async function withEmulator<T>(
  clock: ManualClock,
  body: (ctx: {
    client: ReturnType<typeof schedulerClient>;
    fireDueNow: () => Promise<number>;
  }) => Promise<T>,
  options: { readonly groupDeletionMs?: number } = {},
): Promise<T> {
  const emulator = await startSchedulerEmulator({
    sqs: createSqsTargetSender(sqs.sqs),
    persistencePath: statePath,
    now: clock.now,
    ...options,
  });
  const client = schedulerClient(emulator.url);
  try {
    return await body({ client, fireDueNow: () => emulator.fireDueNow() });
  } finally {
    client.destroy();
    await emulator.stop();
  }
}

const oneTime = (name: string, at: string, arn: string, extra: Partial<CreateScheduleCommandInput> = {}) => ({
  Name: name,
  ScheduleExpression: at,
  FlexibleTimeWindow: { Mode: "OFF" as const },
  Target: { Arn: arn, RoleArn: ROLE_ARN, Input: JSON.stringify({ schedule: name }) },
  ...extra,
});

describe("persistence", () => {
  it("keeps schedules and groups across a restart, and fires them afterwards", async () => {
    const clock = new ManualClock(Date.parse("2026-07-01T09:00:00Z"));
    const queue = await createQueue(sqs.sqs, unique("persist"));
    const group = unique("group");
    const name = unique("kept");

    const before = await withEmulator(clock, async ({ client }) => {
      await client.send(new CreateScheduleGroupCommand({ Name: group, Tags: [{ Key: "k", Value: "v" }] }));
      await client.send(
        new CreateScheduleCommand(oneTime(name, "at(2026-07-01T09:30:00)", queue.arn, { GroupName: group })),
      );
      await client.send(
        new CreateScheduleCommand(
          oneTime(`${name}-off`, "at(2026-07-01T09:30:00)", queue.arn, { State: "DISABLED" }),
        ),
      );
      // Mutations reach the disk without waiting for stop().
      await expect.poll(() => readFile(statePath, "utf8").catch(() => ""), { timeout: 1000 }).toContain(name);
      return client.send(new GetScheduleCommand({ Name: name, GroupName: group }));
    });

    expect(await readdir(join(dir, "state"))).toEqual(["scheduler.json"]);
    const saved = JSON.parse(await readFile(statePath, "utf8")) as { version: number; schedules: unknown[] };
    expect(saved.version).toBe(1);
    expect(saved.schedules).toHaveLength(2);

    await withEmulator(clock, async ({ client, fireDueNow }) => {
      const after = await client.send(new GetScheduleCommand({ Name: name, GroupName: group }));
      const { $metadata: _a, ...restored } = after;
      const { $metadata: _b, ...original } = before;
      expect(restored).toEqual(original);
      const tags = await client.send(
        new ListTagsForResourceCommand({
          ResourceArn: `arn:aws:scheduler:us-east-1:000000000000:schedule-group/${group}`,
        }),
      );
      expect(tags.Tags).toEqual([{ Key: "k", Value: "v" }]);
      const listed = await client.send(new ListSchedulesCommand({ NamePrefix: name }));
      // Listed by group, then name: "default" sorts before the test's group.
      expect(listed.Schedules?.map((s) => [s.Name, s.State])).toEqual([
        [`${name}-off`, "DISABLED"],
        [name, "ENABLED"],
      ]);

      clock.set("2026-07-01T09:30:00Z");
      expect(await fireDueNow()).toBe(1);
      expect((await receive(sqs.sqs, queue.url, 1, 1)).map((m) => m.Body)).toEqual([
        JSON.stringify({ schedule: name }),
      ]);
    });
  });

  it("keeps a group deletion the emulator stopped during, and finishes it after the restart", async () => {
    // Prepare: a group with a schedule, deleted, and the emulator stopped before the deletion finishes.
    const clock = new ManualClock(Date.parse("2026-07-01T09:00:00Z"));
    const queue = await createQueue(sqs.sqs, unique("deleting"));
    const group = unique("group");
    const name = unique("member");
    await withEmulator(
      clock,
      async ({ client }) => {
        await client.send(new CreateScheduleGroupCommand({ Name: group }));
        await client.send(
          new CreateScheduleCommand(
            oneTime(name, "at(2026-07-01T09:30:00)", queue.arn, { GroupName: group }),
          ),
        );
        await client.send(new DeleteScheduleGroupCommand({ Name: group }));
      },
      { groupDeletionMs: 3_600_000 },
    );

    const stopped = JSON.parse(await readFile(statePath, "utf8")) as {
      groups: { Name: string; State: string }[];
    };

    // Act: restarted, it reads the group back DELETING and finishes the deletion on its own.
    const after = await withEmulator(
      clock,
      async ({ client }) => {
        const state = () =>
          client.send(new GetScheduleGroupCommand({ Name: group })).then(
            (g) => g.State,
            (e: Error) => e.name,
          );
        await expect.poll(state, { timeout: 5_000 }).toBe("ResourceNotFoundException");
        return client
          .send(new GetScheduleCommand({ Name: name, GroupName: group }))
          .catch((e: Error) => e.name);
      },
      { groupDeletionMs: 0 },
    );

    // Assess
    expect(stopped.groups.find((g) => g.Name === group)?.State).toBe("DELETING");
    expect(after).toBe("ResourceNotFoundException");
    const saved = JSON.parse(await readFile(statePath, "utf8")) as { groups: { Name: string }[] };
    expect(saved.groups.map((g) => g.Name)).not.toContain(group);
  });

  it("fires at start what came due while the emulator was down, and only once", async () => {
    const clock = new ManualClock(Date.parse("2026-07-01T09:00:00Z"));
    const queue = await createQueue(sqs.sqs, unique("downtime"));
    const name = unique("missed");
    await withEmulator(clock, async ({ client }) => {
      await client.send(new CreateScheduleCommand(oneTime(name, "at(2026-07-01T09:30:00)", queue.arn)));
    });

    clock.set("2026-07-01T10:00:00Z");
    await withEmulator(clock, async () => {
      // Nobody calls fireDueNow: the emulator's own timer fires it.
      const [message] = await receive(sqs.sqs, queue.url, 1, 2);
      expect(message?.Body).toBe(JSON.stringify({ schedule: name }));
    });

    // Fired and kept (ActionAfterCompletion NONE): a third start must not fire it again.
    await withEmulator(clock, async ({ client, fireDueNow }) => {
      await expect(client.send(new GetScheduleCommand({ Name: name }))).resolves.toMatchObject({
        Name: name,
      });
      expect(await fireDueNow()).toBe(0);
      expect(await receive(sqs.sqs, queue.url, 1, 0)).toEqual([]);
    });
  });

  it("refuses to start on a corrupt state file rather than forget its schedules", async () => {
    await writeFile(join(dir, "bad.json"), "{not json", "utf8");
    await expect(
      startSchedulerEmulator({ sqs: createSqsTargetSender(sqs.sqs), persistencePath: join(dir, "bad.json") }),
    ).rejects.toThrow();
  });
});

describe("options", () => {
  it("refuses a firing window outside 0..60 s", async () => {
    await expect(
      startSchedulerEmulator({ sqs: createSqsTargetSender(sqs.sqs), firingWindowSeconds: 61 }),
    ).rejects.toThrow(RangeError);
  });
});
