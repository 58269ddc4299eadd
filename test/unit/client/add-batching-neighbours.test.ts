import { type CallOptions, PunctualClient, type PunctualClientOptions } from "punctual/client";
import { beforeAll, describe, expect, it } from "vitest";
import { handlerFetch, loadAddHandlers } from "./handler-fetch.js";

/**
 * The batcher against the API's real handlers (the single add's and the batch's, over one fixture store): what
 * one caller sends must never change what its batch neighbours are answered.
 */
beforeAll(loadAddHandlers);

const API = "http://127.0.0.1:3000";

const add = (n: number, content: Record<string, unknown> = {}) => ({
  topic: "demo",
  delay_seconds: 90,
  content: { order_id: `o-${n}`, ...content },
  callback: { url: "https://hooks.example.com/n" },
});

/** A value nested `levels` objects deep. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

const settled = (promise: Promise<unknown>) =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

function client(
  fetch: typeof globalThis.fetch,
  options: Omit<PunctualClientOptions, "apiUrl" | "fetch"> = {},
) {
  return new PunctualClient({ apiUrl: API, fetch, ...options });
}

/** What a caller sees of a rejection (its PunctualError's fields), or the answer's task status. */
const visible = (outcome: { value?: unknown; error?: unknown }) => {
  if (!("error" in outcome)) return { status: (outcome.value as { status: string }).status };
  const { code, status, message, issues } = outcome.error as Record<string, unknown>;
  return { code, status, message, issues };
};

/** What `withNeighbours`' four calls should see: the three neighbours added, the odd call answered as its lone add. */
const neighboursAdded = (lone: { value?: unknown; error?: unknown }) => [
  { status: "scheduled" },
  { status: "scheduled" },
  visible(lone),
  { status: "scheduled" },
];

/**
 * Sends `odd` (with `oddOptions`) as the third of four concurrent calls with maxInFlight 1: the first goes at once,
 * the other three would go together. Answers the four outcomes, and `odd`'s outcome as a lone add.
 */
async function withNeighbours(odd: () => Record<string, unknown>, oddOptions: CallOptions = {}) {
  const lone = await settled(
    client(handlerFetch().fetch, { addBatching: false }).addTask(odd() as never, oddOptions),
  );
  const api = handlerFetch();
  const batching = client(api.fetch, { addBatching: { maxInFlight: 1 } });
  const inputs = [add(0), add(1), odd(), add(3)];
  const outcomes = await Promise.all(
    inputs.map((input, i) => settled(batching.addTask(input as never, i === 2 ? oddOptions : {}))),
  );
  return { lone, outcomes, api };
}

describe("addTask batching: a caller's input never fails its batch neighbours", () => {
  // Content nested so deep that the lone body passes the API's body depth guard (the content's own limit refuses
  // it, 400 at `content`) but two levels down in a batch body would not; and deeper than the guard even alone.
  it.each([
    ["within the body depth limit alone", 125],
    ["beyond the body depth limit even alone", 130],
  ])(
    "answers the neighbours of a content nested %s as their single adds, and it as its own",
    async (_name, levels) => {
      // Act
      const { lone, outcomes, api } = await withNeighbours(() => add(2, { deep: nested(levels) }));

      // Assess
      expect(lone).toMatchObject({ error: { status: 400, code: "validation_failed" } });
      expect(outcomes.map(visible)).toEqual(neighboursAdded(lone));
      expect(api.store.tasks.size).toBe(3);
    },
  );

  it("answers the neighbours of a body that writes a key twice (a getter read twice) as their single adds", async () => {
    // Prepare: `idempotency_key` reads as absent when the client looks for it, then as a key when written.
    const twoFaced = () => {
      let reads = 0;
      return Object.defineProperty(add(2), "idempotency_key", {
        enumerable: true,
        get: () => (reads++ === 0 ? undefined : "k-2"),
      });
    };

    // Act
    const { lone, outcomes, api } = await withNeighbours(twoFaced);

    // Assess
    expect(outcomes.map(visible)).toEqual(neighboursAdded(lone));
    expect(api.store.tasks.size).toBe(3 + ("value" in lone ? 1 : 0));
  });
});

describe("addTask batching: a call is answered as its single add, whether it waited or not", () => {
  it("answers a call whose body is over the single add's 1 MiB cap 413, as its lone add, though a batch would take it", async () => {
    // Prepare: content sent as its JSON text, pretty-printed: ~120 KB as stored (within the topic's limit), ~1.4 MB
    // of body once written into the add's JSON.
    const pretty = () => ({
      ...add(2),
      content: JSON.stringify({ order_id: "o-2", n: Array(60_000).fill(1) }, null, 16),
    });
    const { lone, outcomes, api } = await withNeighbours(pretty);

    // Assess
    expect(lone).toMatchObject({ error: { status: 413, code: "payload_too_large" } });
    expect(outcomes.map(visible)).toEqual(neighboursAdded(lone));
    expect(api.store.tasks.size).toBe(3);
  });
});

describe("addTask batching: a key option the API reserves", () => {
  it("answers a call whose idempotencyKey option starts `schedule:` as its lone add, naming the header, not a body field it never sent", async () => {
    // Act: the reserved prefix (schedule occurrences' keys) passes the key's pattern, so only its own rule refuses it
    const { lone, outcomes, api } = await withNeighbours(() => add(2), { idempotencyKey: "schedule:mine" });

    // Assess
    expect(lone).toMatchObject({ error: { status: 400, issues: [{ path: "Idempotency-Key" }] } });
    expect(outcomes.map(visible)).toEqual(neighboursAdded(lone));
    expect(api.store.tasks.size).toBe(3);
  });
});
