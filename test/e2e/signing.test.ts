import { randomUUID } from "node:crypto";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { topicSigningKey } from "#shared/security/signing.js";
import { e2eTarget, type Harness, startHarness } from "./support/harness.js";

/**
 * Every topic signs with its own key: a receiver holding topic A's verification key rejects topic B's callbacks,
 * so a caller allowed to use one topic cannot send validly signed content to another topic's receiver.
 * Local cloud only: a second topic is added through the local config overrides.
 */
let h: Harness;

beforeAll(async () => {
  if (e2eTarget() !== "local") return;
  h = await startHarness({ configOverrides: { topics: { ledger: { deliverBy: "account_id" } } } });
});

afterAll(async () => {
  await h?.stop();
});

describe.skipIf(e2eTarget() !== "local")("per-topic signing keys (local cloud)", () => {
  it("a receiver holding one topic's key rejects the other topic's callbacks", async () => {
    // Prepare: one task per topic, to the same receiver.
    const url = `${h.receiver.url}/ok/signing-${randomUUID()}`;
    const add = async (topic: string) => {
      const response = await h.api("POST", "/v1/tasks", {
        topic,
        delay_seconds: 0,
        content: { order_id: randomUUID(), account_id: randomUUID() },
        callback: { url },
      });
      expect(response.status).toBe(201);
      return String(response.json.task_id);
    };

    // Act
    const [demoTask, ledgerTask] = [await add("demo"), await add("ledger")];
    await h.receiver.waitFor(
      () => h.receiver.forTask(demoTask).length > 0 && h.receiver.forTask(ledgerTask).length > 0,
    );

    // Assess: each verifies with its own topic's key only, never with the other's or the secret itself.
    const demoKey = new Webhook(topicSigningKey(h.cloud.signingSecret, "demo"));
    const ledgerKey = new Webhook(topicSigningKey(h.cloud.signingSecret, "ledger"));
    const [demoCallback] = h.receiver.forTask(demoTask);
    const [ledgerCallback] = h.receiver.forTask(ledgerTask);
    const verify = (webhook: Webhook, callback: typeof demoCallback) => () =>
      webhook.verify(callback?.body ?? "", callback?.headers ?? {});
    expect(verify(demoKey, demoCallback)).not.toThrow();
    expect(verify(ledgerKey, ledgerCallback)).not.toThrow();
    expect(verify(demoKey, ledgerCallback)).toThrow(WebhookVerificationError);
    expect(verify(ledgerKey, demoCallback)).toThrow(WebhookVerificationError);
    expect(verify(new Webhook(h.cloud.signingSecret), demoCallback)).toThrow(WebhookVerificationError);
  });
});
