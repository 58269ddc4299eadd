import { LosslessNumber } from "lossless-json";
import { PunctualClient } from "punctual/client";
import { beforeAll, describe, expect, it } from "vitest";
import { bodyText } from "../../../client/body-text.js";
import { handlerFetch, loadAddHandlers } from "./handler-fetch.js";

/**
 * A timing field given as a LosslessNumber is sent with every digit as given, through each way the client sends an
 * add (alone, in the batcher's batch, `addTasks` and its halves after a 500), so the API's due time is the next whole
 * ms after it, never the whole second a double makes of it.
 */
beforeAll(loadAddHandlers);

const API = "http://127.0.0.1:3000";
/** A whole second a day from now (within every topic's maxDelay), as unix seconds. */
const second = () => Math.floor(Date.now() / 1000) + 86_400;
const add = (moment: string, n: number) => ({
  topic: "demo",
  timing_moment: new LosslessNumber(moment),
  content: { n },
  callback: { url: "https://hooks.example.com/n" },
});

describe("bodyText", () => {
  it.each([
    ["an add", { topic: "demo", delay_seconds: 5, content: { a: [1, undefined] }, skipped: undefined }],
    ["a batch", { tasks: [{ topic: "demo", timing_moment: 1.5 }, null] }],
    ["a toJSON", { toJSON: () => ({ x: 1 }) }],
    ["an array", [1, "a", undefined]],
    ["a string", "text"],
  ])("without a LosslessNumber, is JSON.stringify's text (%s)", (_what, body) => {
    expect(bodyText(body)).toBe(JSON.stringify(body));
  });

  it("writes a LosslessNumber member, of the body or of a batch item, as its text; other members as JSON.stringify does", () => {
    const exact = new LosslessNumber("1767225600.0000001");

    expect(bodyText({ topic: "demo", timing_moment: exact, gone: undefined, content: "{}" })).toBe(
      '{"topic":"demo","timing_moment":1767225600.0000001,"content":"{}"}',
    );
    expect(bodyText({ tasks: [{ delay_seconds: exact }, { delay_seconds: 1 }, undefined] })).toBe(
      '{"tasks":[{"delay_seconds":1767225600.0000001},{"delay_seconds":1},null]}',
    );
  });

  it("beside a LosslessNumber, writes the rest as JSON.stringify does: a hole, the body's toJSON, a toJSON's key", () => {
    const exact = new LosslessNumber("1767225600.0000001");
    const echoKey = { toJSON: (key: string) => `key ${key}` };
    const plain = (text: string) =>
      text.replaceAll('{"value":"1767225600.0000001","isLosslessNumber":true}', exact.toString());
    const bodies = [
      // biome-ignore lint/suspicious/noSparseArray: a hole, which JSON.stringify writes as null
      { tasks: [, { delay_seconds: exact }] },
      { tasks: [echoKey, { delay_seconds: exact, content: echoKey }] },
      { timing_moment: exact, content: echoKey },
      { toJSON: () => ({ x: 1 }), tasks: [{ delay_seconds: exact }] },
      { tasks: Object.assign([{ delay_seconds: exact }], { toJSON: () => "tasks" }) },
    ];

    for (const body of bodies) expect(bodyText(body)).toBe(plain(JSON.stringify(body)));
  });
});

describe("through the API's real add handlers", () => {
  it.each([
    ["alone", false],
    ["through the batcher", true],
  ] as const)("addTask %s: due at the next whole ms after 100 ns past the second", async (_how, batching) => {
    // Prepare
    const at = second();
    const api = handlerFetch();
    const client = new PunctualClient({ apiUrl: API, fetch: api.fetch, addBatching: batching });

    // Act
    const added = await client.addTask(add(`${at}.0000001`, 1));

    // Assess
    expect(added.due_at).toBe(new Date(at * 1000 + 1).toISOString());
  });

  it("addTasks whose whole batch is answered 500: its halves go again with the digits as given", async () => {
    // Prepare: the first request reaches the API; its answer comes back as API Gateway's function-error 500
    const at = second();
    const api = handlerFetch();
    let requests = 0;
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const response = await api.fetch(input, init);
      if (++requests > 1) return response;
      await response.text();
      return new Response('{"message":"Internal Server Error"}', { status: 500 });
    };
    const client = new PunctualClient({ apiUrl: API, fetch });

    // Act
    const answer = await client.addTasks({ tasks: [add(`${at}.0000001`, 1), add(`${at}.0000002`, 2)] });

    // Assess
    expect(api.paths).toEqual(["/v1/tasks/batch", "/v1/tasks/batch", "/v1/tasks/batch"]);
    expect(api.bodies.slice(1).map(String)).toEqual([
      expect.stringContaining(`"timing_moment":${at}.0000001`),
      expect.stringContaining(`"timing_moment":${at}.0000002`),
    ]);
    const due = new Date(at * 1000 + 1).toISOString();
    expect(answer.results.map((result) => [result.status, result.due_at])).toEqual([
      [200, due],
      [200, due],
    ]);
  });
});
