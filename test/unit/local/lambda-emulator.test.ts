import { randomUUID } from "node:crypto";
import { link, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  GetEventSourceMappingCommand,
  LambdaClient,
  UpdateEventSourceMappingCommand,
} from "@aws-sdk/client-lambda";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type LambdaEmulator, type LocalMapping, startLambdaEmulator } from "#local/aws/lambda-emulator.js";
import { rawRequest } from "../../support/raw-request.js";

/**
 * The local cloud's Lambda event-source-mapping API through the real `@aws-sdk/client-lambda` client (its wire
 * protocol, its error parsing), with a recording mapping in place of the event-source runner it switches.
 */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Runs the last registered cleanup now (stops the emulator started last). */
async function stopLast(): Promise<void> {
  await cleanups.pop()?.();
}

interface RecordingMapping extends LocalMapping {
  readonly calls: string[];
}

function recordingMapping(uuid = randomUUID()): RecordingMapping {
  const calls: string[] = [];
  return {
    uuid,
    functionArn: "arn:aws:lambda:us-east-1:000000000000:function:punctual-local-deliver-demo",
    eventSourceArn: "arn:aws:sqs:us-east-1:000000000000:punctual-local-demo.fifo",
    batchSize: 10,
    calls,
    pause: async () => {
      calls.push("pause");
    },
    resume: () => {
      calls.push("resume");
    },
  };
}

async function started(
  persistencePath?: string,
): Promise<{ emulator: LambdaEmulator; lambda: LambdaClient }> {
  const emulator = await startLambdaEmulator({
    host: "127.0.0.1",
    ...(persistencePath ? { persistencePath } : {}),
  });
  const lambda = new LambdaClient({
    region: "us-east-1",
    endpoint: emulator.url,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  cleanups.push(async () => {
    lambda.destroy();
    await emulator.stop();
  });
  return { emulator, lambda };
}

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "punctual-lambda-emulator-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe("local Lambda event-source-mapping API", () => {
  it.each([
    ["a foreign Host (DNS rebinding)", { host: "evil.example" }],
    ["an Origin (a web page)", { origin: "https://evil.example" }],
  ])("refuses a request with %s (403) and pauses nothing", async (_name, headers) => {
    const { emulator, lambda } = await started();
    const mapping = recordingMapping();
    await emulator.register(mapping);

    const answer = await rawRequest(`${emulator.url}/2015-03-31/event-source-mappings/${mapping.uuid}`, {
      method: "PUT",
      headers: { "content-type": "text/plain", ...headers },
      body: JSON.stringify({ Enabled: false }),
    });

    expect(answer.status).toBe(403);
    expect(answer.headers["x-amzn-errortype"]).toBe("AccessDeniedException");
    expect(mapping.calls).toEqual([]);
    expect(await lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.uuid }))).toMatchObject({
      State: "Enabled",
    });
  });

  it("reports the mapping's batching window when the template declares one", async () => {
    // Prepare
    const { emulator, lambda } = await started();
    const mapping = { ...recordingMapping(), batchSize: 100, maximumBatchingWindowSeconds: 1 };
    await emulator.register(mapping);

    // Act
    const out = await lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.uuid }));

    // Assess
    expect(out).toMatchObject({ BatchSize: 100, MaximumBatchingWindowInSeconds: 1 });
  });

  it("answers GetEventSourceMapping with the mapping, Enabled by default", async () => {
    const { emulator, lambda } = await started();
    const mapping = recordingMapping();
    await emulator.register(mapping);

    const out = await lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.uuid }));

    expect(out).toMatchObject({
      UUID: mapping.uuid,
      State: "Enabled",
      FunctionArn: mapping.functionArn,
      EventSourceArn: mapping.eventSourceArn,
      BatchSize: 10,
    });
    expect(out.MaximumBatchingWindowInSeconds).toBeUndefined();
    expect(mapping.calls).toEqual([]);
  });

  it("UpdateEventSourceMapping Enabled false/true pauses and resumes the runner, answers the state it starts, then reads the settled one", async () => {
    const { emulator, lambda } = await started();
    const mapping = recordingMapping();
    await emulator.register(mapping);

    const disabled = await lambda.send(
      new UpdateEventSourceMappingCommand({ UUID: mapping.uuid, Enabled: false }),
    );
    const read = await lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.uuid }));
    const enabled = await lambda.send(
      new UpdateEventSourceMappingCommand({ UUID: mapping.uuid, Enabled: true }),
    );
    const readAgain = await lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.uuid }));

    expect(disabled.State).toBe("Disabling");
    expect(read.State).toBe("Disabled");
    expect(enabled.State).toBe("Enabling");
    expect(readAgain.State).toBe("Enabled");
    expect(mapping.calls).toEqual(["pause", "resume"]);
    expect(emulator.isEnabled(mapping.uuid)).toBe(true);
  });

  it("a pause answers Disabling at once and refuses another update (ResourceInUseException) until its batches finish", async () => {
    // Prepare: a batch in flight, which the pause waits for (sqs-event-source.ts's pause)
    const { emulator, lambda } = await started();
    const calls: string[] = [];
    let finishBatch = () => {};
    const batchDone = new Promise<void>((resolve) => {
      finishBatch = resolve;
    });
    const mapping = {
      ...recordingMapping(),
      calls,
      pause: async () => {
        calls.push("pause");
        await batchDone;
      },
      resume: () => {
        calls.push("resume");
      },
    };
    await emulator.register(mapping);

    // Act
    const pausing = lambda.send(new UpdateEventSourceMappingCommand({ UUID: mapping.uuid, Enabled: false }));
    await vi.waitFor(() => expect(calls).toEqual(["pause"]));
    const whilePausing = await lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.uuid }));
    const resuming = await lambda
      .send(new UpdateEventSourceMappingCommand({ UUID: mapping.uuid, Enabled: true }))
      .catch((error: unknown) => error);
    finishBatch();
    const answered = await pausing;
    await vi.waitFor(async () =>
      expect((await lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.uuid }))).State).toBe(
        "Disabled",
      ),
    );

    // Assess
    expect(whilePausing.State).toBe("Disabling");
    expect(resuming).toMatchObject({
      name: "ResourceInUseException",
      $metadata: { httpStatusCode: 400 },
    });
    expect(answered.State).toBe("Disabling");
    expect(calls).toEqual(["pause"]);
    expect(emulator.isEnabled(mapping.uuid)).toBe(false);
  });

  it("reports LastModified as the time of the mapping's last switch (registration before any), not of the read", async () => {
    // Prepare: only Date is faked (the server and the SDK keep real timers and sockets), so each step happens at
    // a chosen time, without waiting for the real clock to move on
    vi.useFakeTimers({ toFake: ["Date"] });
    const registeredAt = Date.parse("2026-12-02T10:00:00.250Z");
    const switchedAt = registeredAt + 61_000;
    vi.setSystemTime(registeredAt);
    const { emulator, lambda } = await started();
    const mapping = recordingMapping();
    await emulator.register(mapping);

    // Act
    vi.setSystemTime(switchedAt - 30_000);
    const before = await lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.uuid }));
    vi.setSystemTime(switchedAt);
    await lambda.send(new UpdateEventSourceMappingCommand({ UUID: mapping.uuid, Enabled: false }));
    vi.setSystemTime(switchedAt + 30_000);
    const after = await lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.uuid }));

    // Assess: what the sweeper's settings hold reads to tell a just-resumed topic (settings-hold.ts)
    expect(before.LastModified?.getTime()).toBe(registeredAt);
    expect(after.LastModified?.getTime()).toBe(switchedAt);
  });

  it("moves LastModified again when a pause settles: its state changed", async () => {
    // Prepare: a pause that waits for a batch in flight; only Date is faked
    vi.useFakeTimers({ toFake: ["Date"] });
    const switchedAt = Date.parse("2026-12-02T10:00:00.000Z");
    vi.setSystemTime(switchedAt);
    const { emulator, lambda } = await started();
    let finishBatch = () => {};
    const batchDone = new Promise<void>((resolve) => {
      finishBatch = resolve;
    });
    const mapping = { ...recordingMapping(), pause: () => batchDone };
    await emulator.register(mapping);
    await lambda.send(new UpdateEventSourceMappingCommand({ UUID: mapping.uuid, Enabled: false }));

    // Act
    vi.setSystemTime(switchedAt + 20_000);
    finishBatch();
    await batchDone;
    const settled = await lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.uuid }));

    // Assess: "the date that the event source mapping was last updated or that its state changed"
    // (https://docs.aws.amazon.com/lambda/latest/api/API_GetEventSourceMapping.html)
    expect(settled.State).toBe("Disabled");
    expect(settled.LastModified?.getTime()).toBe(switchedAt + 20_000);
  });

  it("answers ResourceNotFoundException for an unknown UUID, to Get and Update alike", async () => {
    const { emulator, lambda } = await started();
    await emulator.register(recordingMapping());
    const unknown = randomUUID();

    const get = lambda.send(new GetEventSourceMappingCommand({ UUID: unknown }));
    const update = lambda.send(new UpdateEventSourceMappingCommand({ UUID: unknown, Enabled: false }));

    await expect(get).rejects.toMatchObject({
      name: "ResourceNotFoundException",
      $metadata: { httpStatusCode: 404 },
    });
    await expect(update).rejects.toMatchObject({ name: "ResourceNotFoundException" });
    expect(emulator.isEnabled(unknown)).toBeUndefined();
  });

  it("keeps Enabled in the --data file: after a restart a paused mapping registers paused", async () => {
    // Prepare
    const path = join(await dataDir(), "lambda-mappings.json");
    const first = await started(path);
    const uuid = randomUUID();
    const other = randomUUID();
    await first.emulator.register(recordingMapping(uuid));
    await first.emulator.register(recordingMapping(other));
    await first.lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: false }));
    await stopLast(); // the first emulator; the data directory stays

    // Act
    const second = await started(path);
    const again = recordingMapping(uuid);
    const otherAgain = recordingMapping(other);
    await second.emulator.register(again);
    await second.emulator.register(otherAgain);
    const read = await second.lambda.send(new GetEventSourceMappingCommand({ UUID: uuid }));
    const otherRead = await second.lambda.send(new GetEventSourceMappingCommand({ UUID: other }));

    // Assess
    expect(read.State).toBe("Disabled");
    expect(again.calls).toEqual(["pause"]);
    expect(otherRead.State).toBe("Enabled");
    expect(otherAgain.calls).toEqual([]);
  });

  it("replaces the --data file whole (a new file renamed over it), never rewrites it in place", async () => {
    // Prepare: a second name for the file as it is now; a write in place would change what it shows too
    const dir = await dataDir();
    const path = join(dir, "event-source-mappings.json");
    const { emulator, lambda } = await started(path);
    const uuid = randomUUID();
    await emulator.register(recordingMapping(uuid));
    await lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: false }));
    const before = await readFile(path, "utf8");
    await link(path, join(dir, "before.json"));

    // Act
    await lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: true }));

    // Assess
    expect(await readFile(join(dir, "before.json"), "utf8")).toBe(before);
    expect(JSON.parse(await readFile(path, "utf8"))).toEqual({ [uuid]: true });
    expect((await readdir(dir)).sort()).toEqual(["before.json", "event-source-mappings.json"]);
  });

  it.each([
    ["a write cut short", '{\n  "0b9c…": fal'],
    ["not an object", "[true, false]"],
    ["a state that is not true or false", '{"0b9c": "off"}'],
  ])("a corrupt --data file (%s) fails the start with a message naming the file", async (_case, text) => {
    // Prepare
    const path = join(await dataDir(), "event-source-mappings.json");
    await writeFile(path, text);

    // Act
    const start = startLambdaEmulator({ host: "127.0.0.1", persistencePath: path });

    // Assess
    await expect(start).rejects.toThrow(path);
  });

  it("the local cloud's start with --data fails on a corrupt mappings file, naming it", async () => {
    // Prepare
    const dir = await dataDir();
    const path = join(dir, "event-source-mappings.json");
    await writeFile(path, '{"0b9c": tr');
    const { startLocalCloud } = await import("#local/cloud/local-cloud.js");

    // Act
    const start = startLocalCloud({ dataDir: dir, apiPort: 0, awsPort: 0 });

    // Assess
    await expect(start).rejects.toThrow(`${path} is not a valid event-source mappings file`);
    // Importing the whole local cloud alone takes about 5 s on a loaded machine: vitest's default would time out.
  }, 30_000);

  it("without --data, a restart starts every mapping enabled", async () => {
    const first = await started();
    const uuid = randomUUID();
    await first.emulator.register(recordingMapping(uuid));
    await first.lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: false }));
    await stopLast();

    const second = await started();
    await second.emulator.register(recordingMapping(uuid));

    expect((await second.lambda.send(new GetEventSourceMappingCommand({ UUID: uuid }))).State).toBe(
      "Enabled",
    );
  });
});
