/**
 * What one version writes and the next (or, after a rolled-back deploy, the previous) one reads: every persisted or
 * queued shape, pinned as a fixture written by today's code (test/unit/contract/shapes/*.json). During a deploy
 * CloudFormation updates the functions one by one, so an old relay feeds a new deliver function, Scheduler
 * schedules made a year ago fire their Input into today's relay, and items written months ago are read by new
 * code. The rule (docs/OPERATIONS.md "Upgrading"):
 *
 * - A fixture is never edited or deleted: it is what a deployed stack holds. A change of shape adds a fixture
 *   beside the old one, and both must keep passing their reader tests.
 * - Readers ignore fields they do not know (a later version's), and still read the item as before: a DynamoDB
 *   item is cast, not parsed; a queue message's schema strips unknown keys; a view names each field it shows.
 * - The writer tests below fail when today's writer stops writing the pinned shape: the signal to add a fixture.
 *
 * API input (request bodies, query strings) is not here: unknown fields there stay a 400 (the API contract).
 */
import { readFileSync } from "node:fs";
import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import type { SchedulerClient } from "@aws-sdk/client-scheduler";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { EventBridgeTaskScheduler } from "#shared/adapters/task-scheduler.js";
import type { PageKey } from "#shared/adapters/task-store.js";
import { SqsTimerQueue } from "#shared/adapters/timer-queue.js";
import { SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import { fanOutTaskView } from "#shared/api/fan-out-view.js";
import { taskView } from "#shared/api/task-view.js";
import { parseConfig } from "#shared/config/index.js";
import { applyRuntimeSettings } from "#shared/config/runtime-settings.js";
import { parseAddTaskRequest } from "#shared/domain/add-task-request.js";
import { parseExactJson } from "#shared/domain/exact-json.js";
import { deliveryFromLink, expandFanOut } from "#shared/domain/fan-out.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { parseTaskMessage } from "#shared/domain/messages.js";
import { successorRecord } from "#shared/domain/reschedule.js";
import { finishedExpiry } from "#shared/domain/task.js";
import { atExpression } from "#shared/domain/timing.js";
import {
  parseSigningSecrets,
  subscriberSigningKey,
  topicSigner,
  topicSigningKey,
} from "#shared/security/signing.js";
import { hashRequest } from "#shared/services/add-task.js";
import { destinationView, listDestinations } from "#shared/services/destinations.js";
import { listTasks } from "#shared/services/list-tasks.js";
import { type ReplayTopicDeps, replayTopic } from "#shared/services/replay-topic.js";
import { listSchedules } from "#shared/services/schedules/list.js";
import { scheduleView } from "#shared/services/schedules/view.js";

// biome-ignore lint/suspicious/noExplicitAny: fixtures are JSON, read as written.
type Json = any;
type Item = Record<string, AttributeValue>;

const shape = (name: string): Json =>
  JSON.parse(readFileSync(new URL(`./shapes/${name}.json`, import.meta.url), "utf8"));

/** What a later version might add to any shape: every reader must read the shape as if it were not there. */
const LATER = "addedByALaterVersion";
const withLaterAttribute = (item: Item): Item => ({ ...item, [LATER]: { S: "something new" } });
const withLaterField = (json: string): string => JSON.stringify({ ...JSON.parse(json), [LATER]: 1 });

const TASK_ID = "demo.TtAgP4ILPMpWT5RZ.mwt7tc40.01JD3ZK4Q9V8X7W6T5S4R3P2N1";
const DUE_MS = Date.UTC(2026, 10, 23, 12, 1, 30);
const NOW_MS = DUE_MS + 200;
const config = parseConfig({ name: "t", topics: { demo: { deliverBy: "order_id" } } });

/** A store whose every GetItem answers `item`, and that records what it puts. */
function storeOver(item?: Item) {
  const puts: Item[] = [];
  const client = {
    send: async (command: unknown) => {
      if (command instanceof GetItemCommand) return { Item: item };
      if (command instanceof PutItemCommand) {
        puts.push(command.input.Item as Item);
        return {};
      }
      throw new Error(`unexpected ${(command as object).constructor.name}`);
    },
  };
  const store = new DynamoTaskStore({
    client: client as unknown as DynamoDBClient,
    tableName: "tasks",
    nowSeconds: () => Math.floor(NOW_MS / 1000),
  });
  return { store, puts };
}

/** An SDK client that records each command's input and answers `{}`. */
function recordingClient<C>(): { client: C; sent: Json[] } {
  const sent: Json[] = [];
  const send = async (command: { input: Json }) => {
    sent.push(command.input);
    return {};
  };
  return { client: { send } as C, sent };
}

describe("task items", () => {
  const item: Item = shape("task-item");
  const expectedView = {
    task_id: TASK_ID,
    topic: "demo",
    status: "delivering",
    due_at: "2026-11-23T12:01:30.000Z",
    accepted_at: "2026-11-23T12:00:00.000Z",
    attempts: 1,
    last_error: "HTTP 503",
    queued_at: "2026-11-23T12:01:30.040Z",
    last_attempt_at: "2026-11-23T12:01:30.060Z",
    callback_url: "https://hooks.example.com/punctual",
    group: "A-1001",
    attempt_log: [{ attempt: 1, started_at: "2026-11-23T12:01:30.060Z", duration_ms: 40, status: 503 }],
  };

  it("a task item as written today is read by the store and shown by GET", async () => {
    const task = await storeOver(item).store.get(TASK_ID);
    expect(task?.content).toBe('{"order_id":"A-1001","n":1}');
    expect(task && taskView(task)).toEqual(expectedView);
  });

  it("an attribute a later version adds changes neither the reading nor the view (nothing leaks)", async () => {
    const task = await storeOver(withLaterAttribute(item)).store.get(TASK_ID);
    expect(task && taskView(task)).toEqual(expectedView);
  });

  it("the retry wait a failure writes (retryNotBeforeMs, session 50) is read and not shown by GET", async () => {
    const waiting = { ...item, retryNotBeforeMs: { N: String(DUE_MS + 10_060) } };
    const task = await storeOver(waiting).store.get(TASK_ID);
    expect(task?.retryNotBeforeMs).toBe(DUE_MS + 10_060);
    expect(task && taskView(task)).toEqual(expectedView);
  });
});

describe("moved task items (a successor, with its TTL floor)", () => {
  const item: Item = shape("moved-task-item");
  const oldId = "demo.TtAgP4ILPMpWT5RZ.my02yyo0.01JD3ZK4Q9V8X7W6T5S4R3P2N1";
  const floor = 1_798_500_000;

  it("today's move writes the pinned successor: the old item's TTL as its floor", async () => {
    const old = {
      ...(parseTaskId(oldId) as NonNullable<ReturnType<typeof parseTaskId>>),
      groupValue: "A-1001",
      status: "rescheduled" as const,
      acceptedAtMs: Date.UTC(2026, 10, 23, 12, 0, 0),
      content: '{"order_id":"A-1001","n":1}',
      callbackUrl: "https://hooks.example.com/punctual",
      timer: "schedule" as const,
      idempotencyKey: "order-A-1001",
      attempts: 0,
      rescheduledTo: TASK_ID,
      rescheduledAtMs: Date.UTC(2026, 10, 23, 12, 0, 0),
      expiresAt: floor,
    };
    const { ulid: _ulid, ...record } = old;
    const { store, puts } = storeOver();
    await store.putNew(successorRecord(record, DUE_MS, { kind: "queue", delaySeconds: 0 }));
    console.log("FIXTURE", JSON.stringify(puts[0], null, 2));
    expect(puts).toEqual([item]);
  });

  it("is read with its floor, which every finishing write keeps (also with a later attribute)", async () => {
    for (const stored of [item, withLaterAttribute(item)]) {
      const task = await storeOver(stored).store.get(TASK_ID);
      expect(task).toMatchObject({ taskId: TASK_ID, rescheduledFrom: oldId, expiresAtFloor: floor });
      expect(task && finishedExpiry(task, NOW_MS, 3)).toBe(floor);
    }
  });

  it("a task item written before the floor existed finishes with its retention alone", async () => {
    const task = await storeOver(shape("task-item")).store.get(TASK_ID);
    expect(task && finishedExpiry(task, NOW_MS, 3)).toBe(Math.ceil(NOW_MS / 1000 + 3 * 86_400));
  });
});

describe("fan-out parent items", () => {
  const item: Item = shape("fan-out-parent-item");
  const parentId = "orders.1hjf2TSMKsO7qj79.mwt7tc40.01JD3ZK4Q9V8X7W6T5S4R3P2N3";
  const subscribers = [
    { id: "billing", url: "https://billing.example.com/hook" },
    { id: "audit", url: "https://audit.example.com/hook" },
  ];

  it("today's writer writes the pinned parent (its links name each copy's derived id)", async () => {
    const key = parseTaskId(parentId);
    if (!key) throw new Error("fixture id is not a task id");
    const accepted = {
      ...key,
      groupValue: "A-1001",
      status: "scheduled" as const,
      acceptedAtMs: Date.UTC(2026, 10, 23, 12, 0, 0),
      content: '{"order_id":"A-1001"}',
      callbackUrl: "",
      timer: "queue" as const,
      idempotencyKey: "order-A-1001",
      attempts: 0,
    };
    const { ulid: _ulid, ...record } = accepted;
    const { store, puts } = storeOver();
    await store.putNew(expandFanOut(record, subscribers).parent);
    expect(puts).toEqual([item]);
  });

  it("a retried add after a deploy derives the very copies the parent links (else it throws), also with later fields", async () => {
    const links = (item.fanOut?.L ?? []).map((link) => ({ M: withLaterAttribute(link.M as Item) }));
    for (const stored of [item, withLaterAttribute({ ...item, fanOut: { L: links } })]) {
      const parent = await storeOver(stored).store.get(parentId);
      if (!parent?.fanOut) throw new Error("not read as a fan-out parent");
      const copies = parent.fanOut.map((link) => deliveryFromLink(parent, link));
      expect(copies.map((c) => [c.subscriber, c.callbackUrl, c.parentTaskId])).toEqual(
        subscribers.map((s) => [s.id, s.url, parentId]),
      );
      expect(fanOutTaskView(parent, [undefined, undefined]).subscribers?.map((s) => s.id)).toEqual([
        "billing",
        "audit",
      ]);
    }
  });
});

describe("idempotency claims", () => {
  const item: Item = shape("idempotency-claim-item");
  const claim = { taskId: TASK_ID, requestHash: "0".repeat(64) };

  it("today's writer writes the pinned claim item", async () => {
    const { store, puts } = storeOver();
    await store.claimIdempotencyKey({ topic: "demo", key: "order-A-1001", ...claim, expiresAt: 1796000000 });
    expect(puts).toEqual([item]);
  });

  it("is read as written, and with a later attribute", async () => {
    expect(await storeOver(item).store.readIdempotencyClaim("demo", "order-A-1001")).toEqual(claim);
    expect(
      await storeOver(withLaterAttribute(item)).store.readIdempotencyClaim("demo", "order-A-1001"),
    ).toEqual(claim);
  });

  it("a retry across a deploy hashes to the same request (else 409 instead of the first answer)", () => {
    const fixture = shape("idempotency-request");
    const body = parseExactJson(fixture.body, 64);
    if (!body.ok) throw new Error("fixture body is not JSON");
    const request = parseAddTaskRequest(body.value, fixture.idempotencyKey);
    if (!request.ok) throw new Error(JSON.stringify(request.issues));
    expect(hashRequest(request.value)).toBe(fixture.requestHash);
  });
});

describe("idempotent repeats across the sub-millisecond change", () => {
  // Requests with no part below the millisecond (zeros past it, exponents, -0, a leap second), hashed by the code
  // before due times with a sub-ms part were rounded up (24cc7d04): a repeat sent across that deploy must hash
  // alike, or it is a 409 instead of the first answer.
  it.each([
    [
      '{"topic":"demo","due_at":"2016-12-31T23:59:60.5000Z","content":{}}',
      "63a5df6382ae7f21abb417ed17c91038601520c9b49a3bc7f64e697a75964623",
    ],
    [
      '{"topic":"demo","due_at":"2016-12-31t23:59:60z","content":{}}',
      "aff780ddd500b86abe36221d66252f29674b5753f7f8b4067272e96081d18f7c",
    ],
    [
      '{"topic":"demo","due_at":"2016-12-31T18:59:60.999000-05:00","content":{}}',
      "87b6827c41024dbab7a75a9c49a333960c8ea90dec5a8189a64f48097178cdde",
    ],
    [
      '{"topic":"demo","due_at":"2026-12-04T01:00:00.120000Z","content":{}}',
      "e8f29c9fb2533bbafa61e18ebf875962f25737f60323cd66f714aac09b456e9d",
    ],
    [
      '{"topic":"demo","due_at":"2026-12-04T06:30:00.1+05:30","content":{}}',
      "9ad711a6207443a326f8e05840d6e208c608f0d9ce6287ab62da6cb9e249c8b1",
    ],
    [
      '{"topic":"demo","timing_moment":1796346000.123000000000000000,"content":{}}',
      "ace19ea959028875bdcabc4c1d0c2f2b05707d56636c75188b5fe150f34224ee",
    ],
    [
      '{"topic":"demo","timing_moment":1.796346000123E+9,"content":{}}',
      "ace19ea959028875bdcabc4c1d0c2f2b05707d56636c75188b5fe150f34224ee",
    ],
    [
      '{"topic":"demo","timing_moment":0.0,"content":{}}',
      "518a8c5080e9dbe7f8b3f285af01a8aee12613362ff91ec1221afbd4c6d5befc",
    ],
    [
      '{"topic":"demo","timing_moment":-0,"content":{}}',
      "518a8c5080e9dbe7f8b3f285af01a8aee12613362ff91ec1221afbd4c6d5befc",
    ],
    [
      '{"topic":"demo","delay_seconds":60.0000000000000000000,"content":{}}',
      "4ed91076eaea3f1c786d71d8d76264e1a434eee4d916b910337246c9e741cdc8",
    ],
    [
      '{"topic":"demo","delay_seconds":1E+2,"content":{}}',
      "2ff08e8edae7e6321af016815e27d5b51d60fdc2731155270a78e7fdf730f38b",
    ],
    [
      '{"topic":"demo","delay_seconds":-0.0,"content":{}}',
      "e625ed87ec40f1952ad0da54986ea7dd1dca5c5211f168f138155b40dd02ce32",
    ],
    [
      '{"topic":"demo","delay_seconds":0.001,"content":{}}',
      "16cd776e33c07a66a222e447e4150c2abd4af3229c0f5cf93af1aa7ca4eb1710",
    ],
  ])("%s hashes as before", (text, hash) => {
    const body = parseExactJson(text, 64);
    if (!body.ok) throw new Error("not JSON");
    const request = parseAddTaskRequest(body.value, "k-1");
    if (!request.ok) throw new Error(JSON.stringify(request.issues));
    expect(hashRequest(request.value)).toBe(hash);
  });
});

describe("destination items", () => {
  const item: Item = shape("destination-item");
  const expectedView = {
    topic: "demo",
    host: "hooks.example.com",
    state: "open",
    failures: 1,
    opened_at: "2026-11-23T12:01:30.100Z",
    next_probe_at: "2026-11-23T12:02:00.100Z",
    last_error: "HTTP 503",
    last_failure_at: "2026-11-23T12:01:30.100Z",
    in_flight: 1,
  };

  it("is read as written, and with a later attribute, and with the expiry an open circuit's writes add", async () => {
    const held = { ...item, expiresAt: { N: "4953400890" }, ttlHoldSeconds: { N: "3162240000" } };
    for (const stored of [item, withLaterAttribute(item), held]) {
      const record = await storeOver(stored).store.getDestination("demo", "hooks.example.com");
      expect(record && destinationView(record, NOW_MS)).toEqual(expectedView);
    }
  });
});

describe("the sweeper's cursor item", () => {
  const item: Item = shape("sweep-cursor-item");
  const cursor = { 7: { taskId: TASK_ID, dueAtMs: DUE_MS } };

  it("today's writer writes the pinned item", async () => {
    const { store, puts } = storeOver();
    await store.writeSweepCursor(cursor);
    expect(puts).toEqual([item]);
  });

  it("is read as written, and with later attributes at the top and in a shard's position", async () => {
    expect(await storeOver(item).store.readSweepCursor()).toEqual(cursor);
    const shards = item.shards?.M as Item;
    const position = shards["7"]?.M as Item;
    const later = withLaterAttribute({
      ...item,
      shards: { M: { "7": { M: withLaterAttribute(position) } } },
    });
    expect(await storeOver(later).store.readSweepCursor()).toEqual(cursor);
  });
});

describe("recurring schedule items", () => {
  const item: Item = shape("schedule-item");
  const scheduleId = "demo.schedule.01JD3ZK4Q9V8X7W6T5S4R3P2N2";

  it("today's writer writes the pinned item", async () => {
    const { store, puts } = storeOver();
    await store.putSchedule({
      scheduleId,
      pk: "schedules#demo",
      sk: scheduleId,
      topic: "demo",
      cron: "30 2 * * *",
      timezone: "Europe/Berlin",
      content: '{"order_id":"nightly-report"}',
      callbackUrl: "https://hooks.example.com/punctual",
      status: "active",
      createdAtMs: DUE_MS,
      updatedAtMs: DUE_MS,
      materializedUntilMs: DUE_MS,
      epoch: 1,
    });
    expect(puts).toEqual([item]);
  });

  it("is read as written, and with a later attribute", async () => {
    const expected = await storeOver(item).store.getSchedule(scheduleId);
    expect(expected && scheduleView(expected, NOW_MS)).toMatchObject({
      schedule_id: scheduleId,
      status: "active",
      cron: "30 2 * * *",
      timezone: "Europe/Berlin",
      materialized_until: "2026-11-23T12:01:30.000Z",
      next_occurrences: expect.arrayContaining(["2026-11-24T01:30:00.000Z"]),
    });
    const later = await storeOver(withLaterAttribute(item)).store.getSchedule(scheduleId);
    expect(later && scheduleView(later, NOW_MS)).toEqual(expected && scheduleView(expected, NOW_MS));
  });
});

describe("queue messages and Scheduler targets", () => {
  const pointer = { v: 1, taskId: TASK_ID };
  const key = parseTaskId(TASK_ID);

  it("the timer queue's message: today's writer, and the relay's reading (also with a later field)", async () => {
    const fixture = shape("timer-message");
    const { client, sent } = recordingClient<SQSClient>();
    await new SqsTimerQueue(client, "timer-url").arm(TASK_ID, fixture.DelaySeconds);
    expect(sent).toEqual([{ QueueUrl: "timer-url", ...fixture }]);
    expect(parseTaskMessage(fixture.MessageBody)).toEqual(pointer);
    expect(parseTaskMessage(withLaterField(fixture.MessageBody))).toEqual(pointer);
  });

  it("a Scheduler schedule's target Input (made up to a year before it fires) is what the relay reads", async () => {
    const fixture = shape("scheduler-target");
    const { client, sent } = recordingClient<SchedulerClient>();
    const settings = {
      groupName: "group",
      targetArn: "timer-arn",
      roleArn: "role-arn",
      deadLetterArn: "dlq-arn",
      retry: { maximumRetryAttempts: 185, maximumEventAgeSeconds: 86_400 },
    };
    await new EventBridgeTaskScheduler(client, settings).createTaskSchedule({
      taskId: TASK_ID,
      expression: atExpression(DUE_MS - 120_000),
    });
    expect(sent[0]).toMatchObject(fixture);
    expect(parseTaskMessage(fixture.Target.Input)).toEqual(pointer);
    expect(parseTaskMessage(withLaterField(fixture.Target.Input))).toEqual(pointer);
  });

  it("a topic queue's message: today's writer, and the deliver function's reading (group = the task's key)", async () => {
    const fixture = shape("topic-message");
    const { client, sent } = recordingClient<SQSClient>();
    await new SqsTopicQueue(client).sendInOrder("fifo-url", fixture.MessageGroupId, [TASK_ID]);
    expect(sent).toEqual([{ QueueUrl: "fifo-url", Entries: [{ Id: "m0", ...fixture }] }]);
    expect(fixture.MessageGroupId).toBe(key?.pk);
    expect(parseTaskMessage(fixture.MessageBody)).toEqual(pointer);
    expect(parseTaskMessage(withLaterField(fixture.MessageBody))).toEqual(pointer);
  });

  it("an occurrence's topic message carries its scheduleId: today's writer, and the deliver function's reading", async () => {
    // Beside topic-message.json (a plain task's, unchanged): a deliver function from before reads this one as that
    // one (its schema strips the field), so either side of a deploy delivers it (messages.ts).
    const fixture = shape("topic-message-occurrence");
    const scheduleId = "demo.schedule.01JD3ZK4Q9V8X7W6T5S4R3P2N2";
    const { client, sent } = recordingClient<SQSClient>();
    await new SqsTopicQueue(client).sendInOrder(
      "fifo-url",
      fixture.MessageGroupId,
      [TASK_ID],
      new Map([[TASK_ID, scheduleId]]),
    );
    expect(sent).toEqual([{ QueueUrl: "fifo-url", Entries: [{ Id: "m0", ...fixture }] }]);
    expect(parseTaskMessage(fixture.MessageBody)).toEqual({ ...pointer, scheduleId });
    expect(parseTaskMessage(withLaterField(fixture.MessageBody))).toEqual({ ...pointer, scheduleId });
  });

  it("a topic dead letter: today's writer, and the sweeper's reading", async () => {
    const fixture = shape("topic-dead-letter-message");
    const { client, sent } = recordingClient<SQSClient>();
    await new SqsTopicQueue(client).sendToDeadLetter("dlq-url", fixture.MessageGroupId, TASK_ID, "HTTP 503");
    expect(sent).toEqual([{ QueueUrl: "dlq-url", ...fixture }]);
    expect(parseTaskMessage(withLaterField(fixture.MessageBody))).toEqual(pointer);
  });
});

describe("list cursors handed to clients (a client pages on across a deploy)", () => {
  const cursors = shape("list-cursors");
  const taskKey = { pk: "demo#TtAgP4ILPMpWT5RZ", sk: "001795435290000#01JD3ZK4Q9V8X7W6T5S4R3P2N1" };
  const failedKey = { ...taskKey, failedTopic: "demo", failedAtMs: 1795435390000 };
  const empty = { tasks: [], next: undefined };

  /** A list read that records where it was asked to start (its third argument) and answers `page`. */
  const startsOf = () => {
    const starts: (PageKey | undefined)[] = [];
    const reading =
      <T>(page: T) =>
      async (...args: unknown[]) => {
        starts.push(args[2] as PageKey | undefined);
        return page;
      };
    return { starts, reading };
  };

  it("a group list's and a failed list's cursor resume where they stopped", async () => {
    const { starts, reading } = startsOf();
    const store = { listGroup: reading(empty), listFailed: reading(empty) };
    const deps = { store, config } as unknown as Parameters<typeof listTasks>[0];
    await listTasks(deps, { topic: "demo", group: "A-1001", cursor: cursors.group });
    await listTasks(deps, { topic: "demo", status: "failed", cursor: cursors.failed });
    expect(starts).toEqual([taskKey, failedKey]);
  });

  it("a group list's cursor marked as the list's (since 2026-12-05) resumes where it stopped, the mark no key", async () => {
    const { starts, reading } = startsOf();
    const store = { listGroup: reading(empty) };
    const deps = { store, config } as unknown as Parameters<typeof listTasks>[0];
    await listTasks(deps, { topic: "demo", group: "A-1001", cursor: cursors.groupMarked });
    expect(starts).toEqual([taskKey]);
  });

  it("a bulk replay run's cursor continues the run", async () => {
    const { starts, reading } = startsOf();
    const store = { listFailed: reading(empty) };
    const deps = { store, config, now: () => NOW_MS } as unknown as ReplayTopicDeps;
    await replayTopic(deps, "demo", { error_contains: "HTTP 503", dry_run: true, cursor: cursors.replay });
    expect(starts).toEqual([failedKey]);
  });

  it("a schedule list's cursor resumes where it stopped", async () => {
    const { starts, reading } = startsOf();
    const store = { listSchedules: reading({ schedules: [], next: undefined }) };
    await listSchedules({ store, config, now: () => NOW_MS }, { topic: "demo", cursor: cursors.schedules });
    expect(starts).toEqual([{ pk: "schedules#demo", sk: "demo.schedule.01JD3ZK4Q9V8X7W6T5S4R3P2N2" }]);
  });

  it("a destination list's cursor resumes where it stopped, under the filter it was given for", async () => {
    const queries: unknown[] = [];
    const store = {
      listDestinations: async (query: unknown) => {
        queries.push(query);
        return { destinations: [] };
      },
    };
    await listDestinations({ store, now: () => NOW_MS }, { cursor: cursors.destinations });
    await listDestinations({ store, now: () => NOW_MS }, { state: "open", cursor: cursors.destinationsOpen });
    expect(queries).toEqual([
      { limit: 50, after: { pk: "destination", sk: "demo#hooks.example.com" } },
      { limit: 50, after: { pk: "destination", sk: "demo#hooks.example.com:8443" }, circuit: "open" },
    ]);
  });
});

describe("the signing secret (receivers hold keys derived from it)", () => {
  const fixture = shape("signing-secret");
  const { id, atMs, payload } = fixture.signed;
  const sign = (raw: string) =>
    topicSigner(parseSigningSecrets(raw), fixture.topic).sign(id, new Date(atMs), payload)[
      "webhook-signature"
    ];

  it("derives the same topic and subscriber keys and signatures, plain or mid-rotation", () => {
    expect(topicSigningKey(fixture.plain, fixture.topic)).toBe(fixture.topicKey);
    expect(subscriberSigningKey(fixture.topicKey, fixture.subscriber)).toBe(fixture.subscriberKey);
    expect(sign(fixture.plain)).toBe(fixture.signed.signature);
    expect(sign(fixture.rotation)).toBe(fixture.signed.rotationSignature);
  });

  it("a rotation document with a field a later version adds is read the same", () => {
    expect(sign(withLaterField(fixture.rotation))).toBe(fixture.signed.rotationSignature);
  });
});

describe("the runtime settings document", () => {
  const document = shape("runtime-settings-document");

  it("the document as the CDK writes it today applies, changing nothing", () => {
    const applied = applyRuntimeSettings(config, document);
    expect(applied.ok && applied.config.resolvedTopics).toEqual(config.resolvedTopics);
  });

  it("a row this version does not know is refused (a typo must not pass): functions keep their last good settings", () => {
    // Deliberately strict, unlike the shapes above: see docs/OPERATIONS.md "Upgrading" for what that means during a deploy.
    const later = { topics: { demo: { ...document.topics.demo, [LATER]: 1 } } };
    expect(applyRuntimeSettings(config, later).ok).toBe(false);
  });
});
