import { randomUUID } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { topicSigningKey } from "#shared/security/signing.js";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * Issue 9, point 4 end to end: the request body is sent as raw text through the local cloud's HTTP API, and the
 * receiver's raw body bytes are compared with it: every number token arrives as the caller wrote it.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

/** Compact content text (no insignificant white space): what is delivered must be these very characters. */
function exactContent(orderId: string): string {
  return `{"order_id":"${orderId}","big":1e400,"negz":-0,"long":12345678901234567890,"one":1.0,"e":1E5,"tiny":1e-400,"s":"é😀 \\"q\\""}`;
}

function rawBody(contentText: string, url: string, extra = ""): string {
  return `{"topic":"demo","delay_seconds":0,"callback":{"url":"${url}"}${extra},"content":${contentText}}`;
}

describe("content delivered exactly as sent", () => {
  it("the receiver's body holds the content text verbatim, signed", async () => {
    // Prepare
    const content = exactContent(`order-${randomUUID()}`);

    // Act
    const added = await h.api("POST", "/v1/tasks", rawBody(content, `${h.receiver.url}/ok/exact`));
    expect(added.status, added.text).toBe(201);
    const taskId = String(added.json.task_id);
    await h.receiver.waitFor(() => h.receiver.forTask(taskId).length > 0);

    // Assess: deliver embeds the stored text as the body's last member.
    const [callback] = h.receiver.forTask(taskId);
    expect(callback?.body.endsWith(`"content":${content}}`), callback?.body).toBe(true);
    const webhook = new Webhook(topicSigningKey(h.cloud.signingSecret, "demo"));
    expect(() => webhook.verify(callback?.body ?? "", callback?.headers ?? {})).not.toThrow();
  });

  it("a string content (seed style) arrives as its inner JSON, numbers as written", async () => {
    const content = exactContent(`order-${randomUUID()}`);
    const added = await h.api(
      "POST",
      "/v1/tasks",
      rawBody(JSON.stringify(content), `${h.receiver.url}/ok/exact`),
    );
    expect(added.status, added.text).toBe(201);
    const taskId = String(added.json.task_id);
    await h.receiver.waitFor(() => h.receiver.forTask(taskId).length > 0);
    expect(h.receiver.forTask(taskId)[0]?.body.endsWith(`"content":${content}}`)).toBe(true);
  });

  it("half a surrogate pair: delivered as its escape inside content; refused as the ordering group's value, nothing stored", async () => {
    const url = `${h.receiver.url}/ok/exact`;
    const content = `{"order_id":"order-${randomUUID()}","half":"A-\\ud83d","\\udc00":["\\udfff"]}`;
    const added = await h.api("POST", "/v1/tasks", rawBody(content, url));
    expect(added.status, added.text).toBe(201);
    const taskId = String(added.json.task_id);
    await h.receiver.waitFor(() => h.receiver.forTask(taskId).length > 0);
    expect(h.receiver.forTask(taskId)[0]?.body.endsWith(`"content":${content}}`)).toBe(true);

    // DynamoDB strings are UTF-8, which cannot hold the half: the group value is stored and keyed as one.
    const before = (await h.tableItems()).length;
    const grouped = await h.api("POST", "/v1/tasks", rawBody('{"order_id":"A-\\ud83d"}', url), {
      "idempotency-key": `lone-${randomUUID()}`,
    });
    expect(grouped.status, grouped.text).toBe(400);
    expect(grouped.json.error?.issues).toContainEqual(
      expect.objectContaining({ path: "content.order_id", message: expect.stringContaining("well-formed") }),
    );
    expect((await h.tableItems()).length).toBe(before);
  });

  it("duplicate keys are a 400 naming where; an idempotent retry differing in the last digit is a 409", async () => {
    const url = `${h.receiver.url}/ok/exact`;
    const before = (await h.tableItems()).length;
    const dup = await h.api("POST", "/v1/tasks", rawBody('{"a":{"k":1,"k":1}}', url));
    expect(dup.status, dup.text).toBe(400);
    expect(dup.json.error?.issues).toContainEqual(expect.objectContaining({ path: "content.a.k" }));
    expect((await h.tableItems()).length).toBe(before);

    const key = { "idempotency-key": `exact-${randomUUID()}` };
    const first = await h.api("POST", "/v1/tasks", rawBody('{"long":12345678901234567890}', url), key);
    const same = await h.api("POST", "/v1/tasks", rawBody('{"long":12345678901234567890}', url), key);
    const other = await h.api("POST", "/v1/tasks", rawBody('{"long":12345678901234567891}', url), key);
    expect(first.status, first.text).toBe(201);
    expect(same.status, same.text).toBe(200);
    expect(same.json.task_id).toBe(first.json.task_id);
    expect(other.status, other.text).toBe(409);
    expect(other.json.error?.code).toBe("idempotency_conflict");
  });
});
