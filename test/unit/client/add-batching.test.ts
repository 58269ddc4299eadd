import {
  type AddTaskInput,
  BATCH_ROUTE_RETRY_MS,
  lambdaEventBytes,
  MAX_BATCH_BODY_BYTES,
  MAX_BATCH_TASKS,
  MAX_EVENT_BODY_BYTES,
  PunctualClient,
  type PunctualClientOptions,
} from "punctual/client";
import { describe, expect, it } from "vitest";
import {
  addAnswer,
  addBodiesOf,
  addedAnswer,
  answeringFetch,
  batchOf,
  heldFetch,
  recordingSleep,
  type Scripted,
  type SeenRequest,
  scriptedFetch,
  taskIdOfBody,
} from "./fakes.js";

const API = "http://127.0.0.1:3000";
const add = (n: number, extra: Record<string, unknown> = {}) => ({
  topic: "demo",
  delay_seconds: 90,
  content: { n, ...extra },
});
const route = (request: SeenRequest | undefined) => `${request?.method} ${request?.url.pathname}`;
/** The `content.n` of every add a request carried, in its order. */
const nsOf = (request: SeenRequest | undefined) =>
  request ? addBodiesOf(request).map((body) => (body.content as { n: number }).n) : [];
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
/** A call's outcome: `value` when it resolved, `error` when it rejected. */
type Outcome = { readonly value?: unknown; readonly error?: unknown };
const settled = (promise: Promise<unknown>): Promise<Outcome> =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
/** What a caller can see of a PunctualError. */
const seenOf = (error: unknown) => {
  const { name, code, status, message, issues, details, requestId, isClientError } = error as Record<
    string,
    unknown
  >;
  return { name, code, status, message, issues, details, requestId, isClientError };
};

function keyedClient(options: Omit<PunctualClientOptions, "apiUrl">) {
  let next = 0;
  return new PunctualClient({ apiUrl: API, newIdempotencyKey: () => `key-${next++}`, ...options });
}

describe("addTask batching: what goes in which request", () => {
  it("sends a lone call at once, exactly the request an unbatched client sends", async () => {
    // Prepare
    const batched = answeringFetch(addedAnswer);
    const plain = answeringFetch(addedAnswer);

    // Act
    const answer = await keyedClient({ fetch: batched.fetch }).addTask(add(1));
    await keyedClient({ fetch: plain.fetch, addBatching: false }).addTask(add(1));

    // Assess
    expect(batched.seen).toEqual(plain.seen);
    expect(route(batched.seen[0])).toBe("POST /v1/tasks");
    expect(batched.seen[0]?.headers["idempotency-key"]).toBe("key-0");
    expect(JSON.parse(batched.seen[0]?.body ?? "")).toEqual(add(1));
    expect(answer.task_id).toBe(taskIdOfBody(add(1)));
  });

  it("sends the first maxInFlight calls alone, then the calls that waited as one batch in call order", async () => {
    // Prepare
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 2 } });

    // Act: 0 and 1 go at once; 2–6 wait; 0's answer sends them; 7–9 come while 1 and the batch are in flight.
    const first = range(0, 7).map((n) => client.addTask(add(n)));
    const [one, two] = await Promise.all([held.arrival(0), held.arrival(1)]);
    one.answer(addedAnswer(one));
    const batch = await held.arrival(2);
    const later = range(7, 10).map((n) => client.addTask(add(n)));
    two.answer(addedAnswer(two));
    const secondBatch = await held.arrival(3);
    batch.answer(addedAnswer(batch));
    secondBatch.answer(addedAnswer(secondBatch));
    const answers = await Promise.all([...first, ...later]);

    // Assess
    expect(held.seen.map(route)).toEqual([
      "POST /v1/tasks",
      "POST /v1/tasks",
      "POST /v1/tasks/batch",
      "POST /v1/tasks/batch",
    ]);
    expect(held.seen.map(nsOf)).toEqual([[0], [1], [2, 3, 4, 5, 6], [7, 8, 9]]);
    expect(answers.map((answer) => answer.task_id)).toEqual(range(0, 10).map((n) => taskIdOfBody(add(n))));
    const itemKeys = [batch, secondBatch].flatMap((request) =>
      addBodiesOf(request).map((b) => b.idempotency_key),
    );
    expect(itemKeys).toEqual(range(2, 10).map((n) => `key-${n}`));
    expect(batch.headers["idempotency-key"]).toBeUndefined();
  });

  it("sends a full batch at once, whatever is in flight; a partial one waits for a free request", async () => {
    // Prepare
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 } });

    // Act: 0 goes alone and stays in flight; 1–100 fill a batch, which goes; 101–103 wait for both to finish
    const calls = range(0, 104).map((n) => client.addTask(add(n)));
    const [zero, full] = await Promise.all([held.arrival(0), held.arrival(1)]);
    const inFlightBeforeAnswers = held.seen.length;
    zero.answer(addedAnswer(zero));
    full.answer(addedAnswer(full));
    const rest = await held.arrival(2);
    rest.answer(addedAnswer(rest));
    await Promise.all(calls);

    // Assess
    expect(inFlightBeforeAnswers).toBe(2);
    expect(held.seen.map(nsOf)).toEqual([[0], range(1, 101), [101, 102, 103]]);
  });

  it("sends a call that must go alone at once, whatever is in flight: holding it back would batch nothing", async () => {
    // Prepare: every call has a key option the API refuses, so none can be a batch item.
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 } });

    // Act: all three are in flight before any is answered (with the old rule arrival 1 never comes).
    const calls = range(0, 3).map((n) => client.addTask(add(n), { idempotencyKey: "a,b" }));
    const requests = await Promise.all(range(0, 3).map((index) => held.arrival(index)));
    for (const request of requests) request.answer(addedAnswer(request));
    await Promise.all(calls);

    // Assess
    expect(held.seen.map(nsOf)).toEqual([[0], [1], [2]]);
  });

  it("sends a call that must go alone, and the full batch behind it, at once whatever is in flight, in call order", async () => {
    // Prepare: 1 must go alone (a key option the API refuses); 2–101 fill a batch behind it.
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 } });

    // Act: 0, 1 and the batch are all in flight before any is answered.
    const calls = [
      client.addTask(add(0)),
      client.addTask(add(1), { idempotencyKey: "a,b" }),
      ...range(2, 102).map((n) => client.addTask(add(n))),
    ];
    const requests = await Promise.all(range(0, 3).map((index) => held.arrival(index)));
    for (const request of requests) request.answer(addedAnswer(request));
    await Promise.all(calls);

    // Assess
    expect(held.seen.map(nsOf)).toEqual([[0], [1], range(2, 102)]);
  });

  it("sends a partial batch at once when a call that must go alone stops it (it can grow no more), then that call", async () => {
    // Prepare
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 } });

    // Act: 0 in flight; 1 and 2 wait; 3 must go alone, so [1, 2] can take no more calls and goes, then 3; 4 comes
    // after 3 and waits for a free request, as a batch that may still grow.
    const calls = [
      client.addTask(add(0)),
      client.addTask(add(1)),
      client.addTask(add(2)),
      client.addTask(add(3), { idempotencyKey: "a,b" }),
      client.addTask(add(4)),
    ];
    const requests = await Promise.all(range(0, 3).map((index) => held.arrival(index)));
    const seenBeforeAnswers = held.seen.length;
    for (const request of requests) request.answer(addedAnswer(request));
    const last = await held.arrival(3);
    last.answer(addedAnswer(last));
    await Promise.all(calls);

    // Assess
    expect(seenBeforeAnswers).toBe(3);
    expect(held.seen.map(nsOf)).toEqual([[0], [1, 2], [3], [4]]);
  });

  it("sends a full batch at once behind a lone call that its caller aborts in flight", async () => {
    // Prepare
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 } });
    const abort = new AbortController();
    const reason = new Error("caller gave up");

    // Act: 0 and the lone 1 in flight; 1 is aborted; 2–101 fill a batch, which goes before 0 is answered.
    const zeroCall = client.addTask(add(0));
    const loneCall = settled(client.addTask(add(1), { idempotencyKey: "a,b", signal: abort.signal }));
    const batched = range(2, 102).map((n) => client.addTask(add(n)));
    const [zero] = await Promise.all([held.arrival(0), held.arrival(1)]);
    abort.abort(reason);
    const full = await held.arrival(2);
    full.answer(addedAnswer(full));
    zero.answer(addedAnswer(zero));
    await Promise.all([zeroCall, ...batched]);

    // Assess
    expect(await loneCall).toEqual({ error: reason });
    expect(held.seen.map(nsOf)).toEqual([[0], [1], range(2, 102)]);
  });

  it("counts a request in flight only until its answer is in: calls its caller makes on hearing it go at once", async () => {
    // Prepare: answered at once, so only the calls' own timing decides what waits
    const { fetch, seen } = answeringFetch(addedAnswer);
    const client = keyedClient({ fetch, addBatching: { maxInFlight: 2 } });
    await client.addTask(add(0));

    // Act: nothing is in flight once that add has answered, so two of these three go alone at once
    await Promise.all(range(1, 4).map((n) => client.addTask(add(n))));

    // Assess: 1 and 2 alone, 3 alone after one of them (it waited alone); before, 0's finished request still
    // counted when its caller went on, so 2 waited and went with 3 as a batch
    expect(seen.map(nsOf)).toEqual([[0], [1], [2], [3]]);
  });

  it("keeps 4 adds in flight by default", async () => {
    // Prepare
    const held = heldFetch();
    const client = new PunctualClient({ apiUrl: API, fetch: held.fetch });

    // Act
    const calls = range(0, 6).map((n) => client.addTask(add(n)));
    const alone = await Promise.all(range(0, 4).map((index) => held.arrival(index)));
    alone[0]?.answer(addedAnswer(alone[0]));
    const batch = await held.arrival(4);
    for (const request of [...alone.slice(1), batch]) request.answer(addedAnswer(request));
    await Promise.all(calls);

    // Assess
    expect(held.seen.map(nsOf)).toEqual([[0], [1], [2], [3], [4, 5]]);
  });

  it("puts at most 100 items in a batch", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(addedAnswer);
    const client = new PunctualClient({ apiUrl: API, fetch, addBatching: { maxInFlight: 1 } });

    // Act
    const answers = await Promise.all(range(0, 251).map((n) => client.addTask(add(n))));

    // Assess
    expect(MAX_BATCH_TASKS).toBe(100);
    expect(seen.map(nsOf)).toEqual([[0], range(1, 101), range(101, 201), range(201, 251)]);
    expect(answers.map((answer) => answer.task_id)).toEqual(range(0, 251).map((n) => taskIdOfBody(add(n))));
  });

  it("fills a batch body to exactly MAX_BATCH_BODY_BYTES of UTF-8 and not one byte more", async () => {
    // Prepare: two-byte characters, so counting characters instead of bytes would overfill the body — 50,000 per
    // item, few enough that the body's escaped size (each counted as \uXXXX) stays within MAX_EVENT_BODY_BYTES.
    // Five items fill a body: each under the single add's 1 MiB cap (a call over it goes alone, as its lone add).
    const key = "k".repeat(36);
    const itemOf = (n: number, pad: string) => add(n, { pad });
    const itemBytes = (pad: string) =>
      Buffer.byteLength(JSON.stringify({ ...itemOf(0, pad), idempotency_key: key }));
    /** A pad of two-byte characters, topped up with ASCII, that makes the item exactly `bytes` long. */
    const padTo = (bytes: number) => {
      const twoByte = "é".repeat(50_000);
      return twoByte + "a".repeat(bytes - itemBytes(twoByte));
    };
    // Five items and their four commas fill the body exactly.
    const room = MAX_BATCH_BODY_BYTES - Buffer.byteLength('{"tasks":[]}') - 4;
    const fifth = padTo(Math.floor(room / 5));
    const rest = padTo(room - 4 * Math.floor(room / 5));
    const { fetch, seen } = answeringFetch(addedAnswer);
    const client = new PunctualClient({
      apiUrl: API,
      fetch,
      newIdempotencyKey: () => key,
      addBatching: { maxInFlight: 1 },
    });

    // Act: 0 alone; 1–5 fill a body exactly; 6–10 are one byte over together, so 10 goes on its own.
    await Promise.all([
      client.addTask(add(0)),
      ...range(1, 5).map((n) => client.addTask(itemOf(n, fifth))),
      client.addTask(itemOf(5, rest)),
      ...range(6, 10).map((n) => client.addTask(itemOf(n, fifth))),
      client.addTask(itemOf(10, `${rest}a`)),
    ]);

    // Assess
    expect(seen.map(nsOf)).toEqual([[0], range(1, 6), range(6, 10), [10]]);
    expect(Buffer.byteLength(seen[1]?.body ?? "")).toBe(MAX_BATCH_BODY_BYTES);
    expect(seen[1]?.body?.length).toBeLessThan(MAX_BATCH_BODY_BYTES);
    expect(lambdaEventBytes(seen[1]?.body ?? "")).toBeLessThanOrEqual(MAX_EVENT_BODY_BYTES);
  });

  it("fills a batch only as far as its escaped size fits Lambda's event: quote-heavy items go in fewer per batch", async () => {
    // Prepare: items of 0.4 Mi quotes, each written \" (~0.8 MiB, under the single add's cap) and escaped again
    // into the event (~1.6 MiB): by bytes four would fit a batch, by the event's size three
    const quotes = '"'.repeat(0.4 * 1024 * 1024);
    const { fetch, seen } = answeringFetch(addedAnswer);
    const client = keyedClient({ fetch, addBatching: { maxInFlight: 1 } });

    // Act
    await Promise.all(
      [add(0), ...range(1, 7).map((n) => add(n, { quotes }))].map((body) => client.addTask(body)),
    );

    // Assess
    expect(seen.map(nsOf)).toEqual([[0], [1, 2, 3], [4, 5, 6]]);
    const itemBytes = Buffer.byteLength(JSON.stringify(add(1, { quotes })));
    for (const request of seen.slice(1)) {
      expect(lambdaEventBytes(request.body ?? "")).toBeLessThanOrEqual(MAX_EVENT_BODY_BYTES);
      expect(Buffer.byteLength(request.body ?? "") + itemBytes).toBeLessThan(MAX_BATCH_BODY_BYTES);
    }
  });

  it("sends an item too large for any batch alone, in its place among the others", async () => {
    // Prepare
    const huge = add(2, { pad: "x".repeat(MAX_BATCH_BODY_BYTES) });
    const { fetch, seen } = answeringFetch(addedAnswer);
    const client = keyedClient({ fetch, addBatching: { maxInFlight: 1 } });

    // Act
    await Promise.all([add(0), add(1), huge, add(3), add(4)].map((body) => client.addTask(body)));

    // Assess
    expect(seen.map(route)).toEqual([
      "POST /v1/tasks",
      "POST /v1/tasks",
      "POST /v1/tasks",
      "POST /v1/tasks/batch",
    ]);
    expect(seen.map(nsOf)).toEqual([[0], [1], [2], [3, 4]]);
    expect(seen[2]?.headers["idempotency-key"]).toBe("key-2");
    expect(JSON.parse(seen[2]?.body ?? "")).toEqual(huge);
  });

  it("sends a call alone when its key option is one the API refuses, so its error names the header as before", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(addedAnswer);
    const client = keyedClient({ fetch, addBatching: { maxInFlight: 1 } });

    // Act
    await Promise.all([
      client.addTask(add(0)),
      client.addTask(add(1), { idempotencyKey: "a,b" }),
      client.addTask(add(2)),
      client.addTask(add(3), { idempotencyKey: "mine" }),
    ]);

    // Assess
    expect(seen.map(nsOf)).toEqual([[0], [1], [2, 3]]);
    expect(seen[1]?.headers["idempotency-key"]).toBe("a,b");
    expect(addBodiesOf(seen[2] as SeenRequest).map((body) => body.idempotency_key)).toEqual([
      "key-1",
      "mine",
    ]);
  });

  it("keeps the body's own idempotency_key (the key option is then not sent, as for a lone add)", async () => {
    const { fetch, seen } = answeringFetch(addedAnswer);
    const client = keyedClient({ fetch, addBatching: { maxInFlight: 1 } });

    await Promise.all([
      client.addTask(add(0)),
      client.addTask({ ...add(1), idempotency_key: "in-body" }, { idempotencyKey: "option" }),
      client.addTask(add(2)),
    ]);

    expect(addBodiesOf(seen[1] as SeenRequest)).toEqual([
      { ...add(1), idempotency_key: "in-body" },
      { ...add(2), idempotency_key: "key-1" },
    ]);
  });

  it("sends every call alone with addBatching: false", async () => {
    const { fetch, seen } = answeringFetch(addedAnswer);
    const client = new PunctualClient({ apiUrl: API, fetch, addBatching: false });

    await Promise.all(range(0, 6).map((n) => client.addTask(add(n))));

    expect(seen.map(route)).toEqual(range(0, 6).map(() => "POST /v1/tasks"));
  });

  it("refuses a maxInFlight that is not a whole number of at least 1, at construction", () => {
    expect(() => new PunctualClient({ apiUrl: API, addBatching: { maxInFlight: 0 } })).toThrow(/maxInFlight/);
    expect(() => new PunctualClient({ apiUrl: API, addBatching: { maxInFlight: 1.5 } })).toThrow(
      /maxInFlight/,
    );
  });
});

describe("addTask batching: what each caller gets", () => {
  const fanOut = {
    ...addAnswer("orders.n3.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY"),
    topic: "orders",
    subscribers: [{ id: "billing", task_id: "orders.Qm9v.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY" }],
  };
  const invalid = {
    error: {
      code: "validation_failed",
      message: "the request is invalid",
      issues: [{ path: "delay_seconds", message: "must not be negative" }],
    },
  };
  const conflict = {
    error: {
      code: "idempotency_conflict",
      message: "this idempotency key was already used with a different request",
      hint: "use a new key",
    },
  };
  const items = [
    { httpStatus: 201, answer: addAnswer("demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY") },
    { httpStatus: 200, answer: addAnswer("demo.n2.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY") },
    { httpStatus: 201, answer: fanOut },
    { httpStatus: 400, answer: invalid },
    { httpStatus: 409, answer: conflict },
  ];

  /** What a lone add of this input resolves or throws when its own answer is this status and body. */
  async function singleOutcome(httpStatus: number, answer: unknown, input: AddTaskInput) {
    const { fetch } = scriptedFetch({
      status: httpStatus,
      body: answer,
      headers: { "x-amzn-requestid": "r-1" },
    });
    return settled(new PunctualClient({ apiUrl: API, fetch, addBatching: false }).addTask(input));
  }

  it("resolves 201/200 items and rejects 4xx items exactly as each one's single add would have", async () => {
    // Prepare
    const { fetch } = scriptedFetch(
      { status: 201, body: addAnswer("demo.n0.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY") },
      { status: 200, body: batchOf(items), headers: { "x-amzn-requestid": "r-1" } },
    );
    const client = new PunctualClient({ apiUrl: API, fetch, addBatching: { maxInFlight: 1 } });

    // Act: call 3 adds to the fan-out topic its answer names.
    const inputs = range(0, 6).map((n) => (n === 3 ? { ...add(n), topic: "orders" } : add(n)));
    const outcomes = await Promise.all(inputs.map((input) => settled(client.addTask(input))));

    // Assess
    const expected = await Promise.all(
      items.map((item, i) => singleOutcome(item.httpStatus, item.answer, inputs[i + 1] as AddTaskInput)),
    );
    const visible = (outcome: { value?: unknown; error?: unknown }) =>
      "error" in outcome ? { error: seenOf(outcome.error) } : outcome;
    expect(outcomes.slice(1).map(visible)).toEqual(expected.map(visible));
    expect(outcomes[3]).toEqual({ value: fanOut });
    expect(outcomes[4]?.error).toMatchObject({ code: "validation_failed", status: 400, requestId: "r-1" });
    expect(outcomes[5]?.error).toMatchObject({
      code: "idempotency_conflict",
      details: { hint: "use a new key" },
    });
  });

  it("sends a 503 item again alone with the same key after its backoff, and answers the others once", async () => {
    // Prepare
    const busy = { error: { code: "service_unavailable", message: "could not add this task; retry it" } };
    const { fetch, seen } = scriptedFetch(
      { status: 201, body: addAnswer("demo.n0.x") },
      {
        status: 200,
        body: batchOf([
          { httpStatus: 201, answer: addAnswer("demo.n1.x") },
          { httpStatus: 503, answer: busy },
          { httpStatus: 201, answer: addAnswer("demo.n3.x") },
        ]),
      },
      { status: 201, body: addAnswer("demo.n2.x") },
    );
    const { sleep, waits } = recordingSleep();
    const client = keyedClient({ fetch, sleep, random: () => 0.5, addBatching: { maxInFlight: 1 } });

    // Act
    const answers = await Promise.all(range(0, 4).map((n) => client.addTask(add(n))));

    // Assess
    expect(answers.map((answer) => answer.task_id)).toEqual([
      "demo.n0.x",
      "demo.n1.x",
      "demo.n2.x",
      "demo.n3.x",
    ]);
    expect(seen.map(route)).toEqual(["POST /v1/tasks", "POST /v1/tasks/batch", "POST /v1/tasks"]);
    expect(seen.map(nsOf)).toEqual([[0], [1, 2, 3], [2]]);
    expect(addBodiesOf(seen[1] as SeenRequest)[1]?.idempotency_key).toBe("key-2");
    expect(seen[2]?.headers["idempotency-key"]).toBe("key-2");
    expect(waits).toEqual([100]);
  });

  it("sends a 503 item again alone in its call-order place, even when later calls wait to be batched", async () => {
    // Prepare: the item's backoff is held until the test lets it end, so the test knows what waits by then.
    const held = heldFetch();
    let endBackoff = () => {};
    const backoff = new Promise<void>((resolve) => {
      endBackoff = resolve;
    });
    const client = keyedClient({ fetch: held.fetch, sleep: () => backoff, addBatching: { maxInFlight: 1 } });
    const busy = { error: { code: "service_unavailable", message: "busy" } };

    // Act: 1 and 2 go as a batch while 3 and 4 wait; 1 answers 503 and backs off while 3 and 4 go; 5 comes; then
    // 1's backoff ends, behind the batch of 3 and 4 and ahead of 5.
    const calls = range(0, 3).map((n) => settled(client.addTask(add(n))));
    const first = await held.arrival(0);
    first.answer(addedAnswer(first));
    const batch = await held.arrival(1);
    calls.push(...range(3, 5).map((n) => settled(client.addTask(add(n)))));
    batch.answer({
      status: 200,
      body: batchOf([
        { httpStatus: 503, answer: busy },
        { httpStatus: 201, answer: addAnswer(taskIdOfBody(add(2))) },
      ]),
    });
    const next = await held.arrival(2);
    calls.push(settled(client.addTask(add(5))));
    endBackoff();
    await backoff;
    next.answer(addedAnswer(next));
    for (const index of [3, 4]) {
      const request = await held.arrival(index);
      request.answer(addedAnswer(request));
    }
    const outcomes = await Promise.all(calls);

    // Assess
    expect(held.seen.map(nsOf)).toEqual([[0], [1, 2], [3, 4], [1], [5]]);
    expect(held.seen[3]?.headers["idempotency-key"]).toBe("key-1");
    expect(outcomes.map((outcome) => (outcome.value as { task_id: string }).task_id)).toEqual(
      range(0, 6).map((n) => taskIdOfBody(add(n))),
    );
  });

  it("gives a 503 item the single add's budget: maxAttempts in all, its batch's attempts counted", async () => {
    // Prepare
    const busy = { error: { code: "service_unavailable", message: "busy" } };
    const { fetch, seen } = scriptedFetch(
      { status: 201, body: addAnswer("demo.n0.x") },
      { status: 503, body: busy },
      {
        status: 200,
        body: batchOf([
          { httpStatus: 503, answer: busy },
          { httpStatus: 201, answer: addAnswer("demo.n2.x") },
        ]),
      },
      { status: 503, body: busy },
    );
    const { sleep } = recordingSleep();
    const client = keyedClient({ fetch, sleep, retry: { maxAttempts: 3 }, addBatching: { maxInFlight: 1 } });

    // Act
    const outcomes = await Promise.all(range(0, 3).map((n) => settled(client.addTask(add(n)))));

    // Assess: item 1 went in the batch twice (one whole-request 503), then alone once: 3 attempts.
    expect(seen.map(nsOf)).toEqual([[0], [1, 2], [1, 2], [1]]);
    expect(seenOf(outcomes[1]?.error)).toMatchObject({
      code: "service_unavailable",
      status: 503,
      message: "busy",
    });
    expect(outcomes[2]).toEqual({ value: addAnswer("demo.n2.x") });
  });

  it("retries a whole-batch 503 and network error with the same keys, then rejects every caller with the error", async () => {
    // Prepare
    const { fetch, seen } = scriptedFetch(
      { status: 201, body: addAnswer("demo.n0.x") },
      { status: 503, body: { error: { code: "service_unavailable", message: "busy" } } },
      { networkError: "ECONNRESET" },
      { networkError: "ECONNRESET" },
    );
    const { sleep } = recordingSleep();
    const client = keyedClient({ fetch, sleep, retry: { maxAttempts: 3 }, addBatching: { maxInFlight: 1 } });

    // Act
    const outcomes = await Promise.all(range(0, 4).map((n) => settled(client.addTask(add(n)))));

    // Assess
    const batches = seen.slice(1);
    expect(batches.map(route)).toEqual(batches.map(() => "POST /v1/tasks/batch"));
    expect(batches.map((request) => request.body)).toEqual(batches.map(() => seen[1]?.body));
    expect(addBodiesOf(seen[1] as SeenRequest).map((body) => body.idempotency_key)).toEqual([
      "key-1",
      "key-2",
      "key-3",
    ]);
    const errors = outcomes.slice(1).map((outcome) => outcome.error);
    expect(new Set(errors).size).toBe(1);
    expect(errors[0]).toMatchObject({ code: "network_error", status: 0 });
    expect((errors[0] as Error).message).toContain("after 3 attempts: ECONNRESET");
  });

  it("answers every caller of a batch that succeeds on its retry, once each", async () => {
    const { fetch, seen } = scriptedFetch(
      { status: 201, body: addAnswer("demo.n0.x") },
      { status: 429, body: { message: "Too Many Requests" } },
      {
        status: 200,
        body: batchOf([
          { httpStatus: 201, answer: addAnswer("demo.n1.x") },
          { httpStatus: 200, answer: addAnswer("demo.n2.x") },
        ]),
      },
    );
    const { sleep } = recordingSleep();
    const client = keyedClient({ fetch, sleep, addBatching: { maxInFlight: 1 } });

    const answers = await Promise.all(range(0, 3).map((n) => client.addTask(add(n))));

    expect(answers.map((answer) => answer.task_id)).toEqual(["demo.n0.x", "demo.n1.x", "demo.n2.x"]);
    expect(seen[2]?.body).toBe(seen[1]?.body);
  });

  it("rejects a batch answer with fewer results than items for every caller in it", async () => {
    const { fetch } = scriptedFetch(
      { status: 201, body: addAnswer("demo.n0.x") },
      { status: 200, body: batchOf([{ httpStatus: 201, answer: addAnswer("demo.n1.x") }]) },
    );
    const client = keyedClient({ fetch, addBatching: { maxInFlight: 1 } });

    const outcomes = await Promise.all(range(0, 3).map((n) => settled(client.addTask(add(n)))));

    expect(outcomes[1]?.error).toMatchObject({ code: "invalid_response" });
    expect(outcomes[2]?.error).toBe(outcomes[1]?.error);
  });
});

describe("addTask batching: abort", () => {
  it("takes a call aborted while it waits out of the queue, rejected with the signal's reason", async () => {
    // Prepare
    const held = heldFetch();
    const client = new PunctualClient({ apiUrl: API, fetch: held.fetch, addBatching: { maxInFlight: 1 } });
    const abort = new AbortController();
    const reason = new Error("caller gave up");

    // Act
    const calls = [add(0), add(1), add(2), add(3)].map((body, n) =>
      settled(client.addTask(body, n === 2 ? { signal: abort.signal } : {})),
    );
    const first = await held.arrival(0);
    abort.abort(reason);
    const aborted = await calls[2];
    first.answer(addedAnswer(first));
    const batch = await held.arrival(1);
    batch.answer(addedAnswer(batch));
    await Promise.all(calls);

    // Assess
    expect(aborted).toEqual({ error: reason });
    expect(held.seen.map(nsOf)).toEqual([[0], [1, 3]]);
  });

  it("rejects a call aborted once its batch is sent, and answers the others (its add may still happen)", async () => {
    const held = heldFetch();
    const client = new PunctualClient({ apiUrl: API, fetch: held.fetch, addBatching: { maxInFlight: 1 } });
    const abort = new AbortController();
    const calls = range(0, 3).map((n) =>
      settled(client.addTask(add(n), n === 1 ? { signal: abort.signal } : {})),
    );
    const first = await held.arrival(0);
    first.answer(addedAnswer(first));
    const batch = await held.arrival(1);

    abort.abort("gone");
    const aborted = await calls[1];
    batch.answer(addedAnswer(batch));
    const others = await Promise.all([calls[0], calls[2]]);

    expect(aborted).toEqual({ error: "gone" });
    expect(nsOf(batch)).toEqual([1, 2]);
    expect(others.map((outcome) => (outcome as { value: { task_id: string } }).value.task_id)).toEqual([
      taskIdOfBody(add(0)),
      taskIdOfBody(add(2)),
    ]);
  });

  it("rejects a call whose signal is already aborted when it would wait, sending nothing for it", async () => {
    const held = heldFetch();
    const client = new PunctualClient({ apiUrl: API, fetch: held.fetch, addBatching: { maxInFlight: 1 } });

    const first = settled(client.addTask(add(0)));
    const aborted = await settled(client.addTask(add(1), { signal: AbortSignal.abort("early") }));
    const request = await held.arrival(0);
    request.answer(addedAnswer(request));
    await first;

    expect(aborted).toEqual({ error: "early" });
    expect(held.seen.map(nsOf)).toEqual([[0]]);
  });
});

describe("addTask batching: a caller allowed single adds only", () => {
  it("sends every add alone once API Gateway refuses a batch (403), so no add fails that a lone call would make", async () => {
    // Prepare: an IAM policy naming POST /v1/tasks only: API Gateway answers the batch route 403 itself
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 } });

    // Act: 0 goes alone; 1–3 wait and go as a batch, refused; then 4–6 come while 1–3 are sent again
    const first = range(0, 4).map((n) => client.addTask(add(n)));
    const zero = await held.arrival(0);
    zero.answer(addedAnswer(zero));
    const batch = await held.arrival(1);
    batch.answer({ status: 403, body: { message: "Forbidden" } });
    const again = await Promise.all([held.arrival(2), held.arrival(3), held.arrival(4)]);
    const later = range(4, 7).map((n) => client.addTask(add(n)));
    const laterRequests = await Promise.all([held.arrival(5), held.arrival(6), held.arrival(7)]);
    for (const request of [...again, ...laterRequests]) request.answer(addedAnswer(request));
    const answers = await Promise.all([...first, ...later]);

    // Assess: one batch tried, every add then alone (six in flight at once), each with its own key, all answered
    expect(held.seen.map(route)).toEqual([
      "POST /v1/tasks",
      "POST /v1/tasks/batch",
      ...range(0, 6).map(() => "POST /v1/tasks"),
    ]);
    expect(held.seen.map(nsOf)).toEqual([[0], [1, 2, 3], [1], [2], [3], [4], [5], [6]]);
    expect(held.seen.slice(2).map((request) => request.headers["idempotency-key"])).toEqual(
      range(1, 7).map((n) => `key-${n}`),
    );
    expect(answers.map((answer) => answer.task_id)).toEqual(range(0, 7).map((n) => taskIdOfBody(add(n))));
  });

  it.each<[string, Scripted]>([
    // API Gateway answers a route it does not have 404 itself: nothing added.
    [
      "404 (API Gateway: no batch route, an API deployed before it)",
      { status: 404, body: { message: "Not Found" } },
    ],
    // Such a Punctual API's unmatched-route function answers POST /v1/tasks/batch as a path under /v1/tasks/{id}:
    // 405 method_not_allowed, before any add handler ran. The batch handler never answers 404/405.
    [
      "405 (a Punctual API from before the route)",
      {
        status: 405,
        body: {
          error: { code: "method_not_allowed", message: "method not allowed; use DELETE, GET, PATCH" },
        },
        headers: { allow: "DELETE, GET, PATCH" },
      },
    ],
  ])(
    "sends every add alone when the batch route answers %s, as a lone call would succeed",
    async (_, refusal) => {
      // Prepare
      const held = heldFetch();
      const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 } });

      // Act
      const calls = range(0, 3).map((n) => client.addTask(add(n)));
      const zero = await held.arrival(0);
      zero.answer(addedAnswer(zero));
      const batch = await held.arrival(1);
      batch.answer(refusal);
      const again = await Promise.all([held.arrival(2), held.arrival(3)]);
      for (const request of again) request.answer(addedAnswer(request));
      const answers = await Promise.all(calls);

      // Assess
      expect(held.seen.map(route)).toEqual([
        "POST /v1/tasks",
        "POST /v1/tasks/batch",
        "POST /v1/tasks",
        "POST /v1/tasks",
      ]);
      expect(held.seen.map(nsOf)).toEqual([[0], [1, 2], [1], [2]]);
      expect(answers.map((answer) => answer.task_id)).toEqual(range(0, 3).map((n) => taskIdOfBody(add(n))));
    },
  );

  it("tries a batch again BATCH_ROUTE_RETRY_MS after a refusal (a 403 can pass: expired credentials answer it too)", async () => {
    // Prepare: the client's clock, moved by the test
    let now = 0;
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 }, now: () => now });
    const overlapping = async (from: number, firstRequest: number) => {
      const calls = range(from, from + 3).map((n) => client.addTask(add(n)));
      const lone = await held.arrival(firstRequest);
      lone.answer(addedAnswer(lone));
      return calls;
    };

    // Act: refused at 0; just before the period ends, overlapping calls still go alone; at its end they batch
    const first = await overlapping(0, 0);
    (await held.arrival(1)).answer({ status: 403, body: { message: "Forbidden" } });
    for (const index of [2, 3]) {
      const request = await held.arrival(index);
      request.answer(addedAnswer(request));
    }
    await Promise.all(first);
    now = BATCH_ROUTE_RETRY_MS - 1;
    const stillAlone = range(3, 6).map((n) => client.addTask(add(n)));
    for (const index of [4, 5, 6]) {
      const request = await held.arrival(index);
      request.answer(addedAnswer(request));
    }
    await Promise.all(stillAlone);
    now = BATCH_ROUTE_RETRY_MS;
    const again = await overlapping(6, 7);
    const batch = await held.arrival(8);
    batch.answer(addedAnswer(batch));
    await Promise.all(again);

    // Assess
    expect(held.seen.map(nsOf)).toEqual([[0], [1, 2], [1], [2], [3], [4], [5], [6], [7, 8]]);
    expect(held.seen.map(route).slice(-2)).toEqual(["POST /v1/tasks", "POST /v1/tasks/batch"]);
  });

  it("still fails a batch that our own code refused with 403, with that error", async () => {
    // Prepare: a structured 403 is the API's own answer, not API Gateway's refusal of the route
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 } });
    const error = { error: { code: "topic_forbidden", message: "not yours" } };

    // Act
    const calls = range(0, 3).map((n) => settled(client.addTask(add(n))));
    const zero = await held.arrival(0);
    zero.answer(addedAnswer(zero));
    const batch = await held.arrival(1);
    batch.answer({ status: 403, body: error });
    const outcomes = await Promise.all(calls);

    // Assess
    expect(held.seen.map(route)).toEqual(["POST /v1/tasks", "POST /v1/tasks/batch"]);
    expect(outcomes.slice(1).map((outcome) => seenOf(outcome.error).code)).toEqual([
      "topic_forbidden",
      "topic_forbidden",
    ]);
  });
});

describe("addTask batching: the body is the call's, taken when the call is made", () => {
  it("sends a waiting call that must go alone with the body it had when called, as a lone add does", async () => {
    // Prepare: a caller that reuses one object, changing it once each call is made (fine for a lone add, whose
    // body is written at the call); the huge item cannot be batched, so it waits and goes alone.
    const { fetch, seen } = answeringFetch(addedAnswer);
    const client = keyedClient({ fetch, addBatching: { maxInFlight: 1 } });
    const reused = add(1, { pad: "x".repeat(MAX_BATCH_BODY_BYTES) });
    const sentAs = JSON.stringify(reused);

    // Act
    const calls = [client.addTask(add(0)), client.addTask(reused)];
    (reused.content as { n: number }).n = 99;
    await Promise.all(calls);

    // Assess
    expect(seen.map(nsOf)).toEqual([[0], [1]]);
    expect(seen[1]?.body).toBe(sentAs);
  });

  it("sends a 503 item again alone with the very body its batch carried, not the caller's object as it is now", async () => {
    // Prepare: content read through a getter that counts its reads, and an object the caller changes later
    const busy = { error: { code: "service_unavailable", message: "busy" } };
    const { fetch, seen } = scriptedFetch(
      { status: 201, body: addAnswer("demo.n0.x") },
      {
        status: 200,
        body: batchOf([
          { httpStatus: 503, answer: busy },
          { httpStatus: 503, answer: busy },
        ]),
      },
      { status: 201, body: addAnswer("demo.n1.x") },
      { status: 201, body: addAnswer("demo.n2.x") },
    );
    const { sleep } = recordingSleep();
    const client = keyedClient({ fetch, sleep, addBatching: { maxInFlight: 1 } });
    let reads = 0;
    const counted = {
      topic: "demo",
      delay_seconds: 90,
      get content() {
        reads++;
        return { n: 1, read: reads };
      },
    };
    const changed = add(2);

    // Act
    const calls = [client.addTask(add(0)), client.addTask(counted), client.addTask(changed)];
    (changed.content as { n: number }).n = 99;
    await Promise.all(calls);

    // Assess: each retry is its item, key moved from the body to the header as for a lone add
    const [item1, item2] = addBodiesOf(seen[1] as SeenRequest);
    const { idempotency_key: key1, ...lone1 } = item1 ?? {};
    const { idempotency_key: key2, ...lone2 } = item2 ?? {};
    expect(seen.slice(2).map((request) => JSON.parse(request.body ?? ""))).toEqual([lone1, lone2]);
    expect(seen.slice(2).map((request) => request.headers["idempotency-key"])).toEqual([key1, key2]);
    expect(lone1.content).toEqual({ n: 1, read: 1 });
    expect(lone2.content).toEqual({ n: 2 });
  });
});

describe("addTask batching: a failing backoff", () => {
  it("rejects a 503 item whose backoff fails with that failure, as a lone add's retry does, instead of leaving it unanswered", async () => {
    // Prepare: a `sleep` seam that fails (a test's fake clock torn down, a caller's own scheduler refusing)
    const busy = { error: { code: "service_unavailable", message: "busy" } };
    const broken = new Error("no more sleeping");
    const sleep = () => Promise.reject(broken);
    const { fetch } = scriptedFetch(
      { status: 201, body: addAnswer("demo.n0.x") },
      {
        status: 200,
        body: batchOf([
          { httpStatus: 503, answer: busy },
          { httpStatus: 201, answer: addAnswer("demo.n2.x") },
        ]),
      },
    );
    const client = keyedClient({ fetch, sleep, addBatching: { maxInFlight: 1 } });
    const lone = keyedClient({
      fetch: scriptedFetch({ status: 503, body: busy }).fetch,
      sleep,
      addBatching: false,
    });

    // Act
    const outcomes = await Promise.all(range(0, 3).map((n) => settled(client.addTask(add(n)))));
    const loneOutcome = await settled(lone.addTask(add(1)));

    // Assess
    expect(loneOutcome).toEqual({ error: broken });
    expect(outcomes).toEqual([
      { value: addAnswer("demo.n0.x") },
      { error: broken },
      { value: addAnswer("demo.n2.x") },
    ]);
  });
});
