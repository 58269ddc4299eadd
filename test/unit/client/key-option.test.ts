import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import { scriptedFetch } from "./fakes.js";

const add = { topic: "demo", delay_seconds: 90, content: { order_id: "A-1" } };

describe("an idempotencyKey option no HTTP header can carry", () => {
  // A line end (a key read from a file), or a character past U+00FF: fetch refuses to send the header.
  const keys = ["order-1\n", "order\r\n-1", "commande-1€", "key\u0000"];

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
