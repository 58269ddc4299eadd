import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import { scriptedFetch } from "./fakes.js";

const add = { topic: "demo", delay_seconds: 90, content: { order_id: "A-1" } };

describe("an idempotencyKey option no HTTP header can carry", () => {
  // A line end (a key read from a file), or a character past U+00FF: fetch refuses to send the header. A leading
  // or trailing space or tab: fetch strips it and sends another key, which the API takes (it refuses this one).
  const keys = ["order-1\n", "order\r\n-1", "commande-1€", "key\u0000", "order-1 ", "\torder-1"];

  for (const addBatching of [false, true]) {
    it.each(keys)(
      `is refused as the API refuses a bad key, 400 at Idempotency-Key, nothing sent (addBatching: ${addBatching}): %j`,
      async (key) => {
        // Prepare: no answer scripted, so any request fails the test; retries would take no time.
        const { fetch, seen } = scriptedFetch();
        const client = new PunctualClient({
          apiUrl: "http://127.0.0.1:3000",
          fetch,
          addBatching,
          sleep: async () => {},
        });

        // Act
        const outcome = client.addTask(add, { idempotencyKey: key });

        // Assess: not a network_error after four tries (the CLI's exit 3, "may be retried"): the key is wrong.
        await expect(outcome).rejects.toMatchObject({
          code: "validation_failed",
          status: 400,
          issues: [{ path: "Idempotency-Key" }],
        });
        expect(seen).toEqual([]);
      },
    );
  }
});

describe("an idempotencyKey option on a call that takes none", () => {
  it("addTasks: refused as the API refuses a batch-wide key (400 at Idempotency-Key), not dropped: a repeat of the call would add every keyless item again", async () => {
    // Prepare
    const { fetch, seen } = scriptedFetch();
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch });

    // Act: a JS caller (or one casting past the types, which no longer offer the option here)
    const options = { idempotencyKey: "batch-1" } as Parameters<typeof client.addTasks>[1];
    const outcome = client.addTasks({ tasks: [add] }, options);

    // Assess
    await expect(outcome).rejects.toMatchObject({
      code: "validation_failed",
      status: 400,
      issues: [{ path: "Idempotency-Key", message: expect.stringMatching(/idempotency_key/) }],
    });
    expect(seen).toEqual([]);
  });

  it("createSchedule (no key exists for schedules): a TypeError, nothing sent, rather than a create the caller believes keyed", async () => {
    // Prepare
    const { fetch, seen } = scriptedFetch();
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch });
    const schedule = { topic: "demo", cron: "@daily", timezone: "UTC", content: {} };

    // Act: a JS caller (or one casting past the types, which no longer offer the option here)
    const options = { idempotencyKey: "nightly-1" } as Parameters<typeof client.createSchedule>[1];
    const outcome = client.createSchedule(schedule, options);

    // Assess
    await expect(outcome).rejects.toThrow(TypeError);
    await expect(outcome).rejects.toThrow(/idempotencyKey/);
    expect(seen).toEqual([]);
  });
});
