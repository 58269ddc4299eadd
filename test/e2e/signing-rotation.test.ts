import { randomBytes, randomUUID } from "node:crypto";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { topicSigningKey } from "#shared/security/signing.js";
import { e2eTarget, type Harness, startHarness } from "./support/harness.js";

/**
 * docs/CALLBACKS.md "Rotating the secret", rehearsed locally: `PUNCTUAL_SIGNING_SECRET` holding the rotation document starts
 * the local cloud (which prints each topic's key), and every delivery verifies with either topic key.
 */
const current = `whsec_${randomBytes(32).toString("base64")}`;
const previous = `whsec_${randomBytes(32).toString("base64")}`;
let h: Harness;

beforeAll(async () => {
  if (e2eTarget() !== "local") return;
  h = await startHarness({ signingSecret: JSON.stringify({ current, previous }) });
});

afterAll(async () => {
  await h?.stop();
});

describe.skipIf(e2eTarget() !== "local")("a rotation document as the local signing secret", () => {
  it("starts the local cloud, and each delivery verifies with the current and the previous topic key", async () => {
    // Act
    const response = await h.api("POST", "/v1/tasks", {
      topic: "demo",
      delay_seconds: 0,
      content: { order_id: randomUUID() },
      callback: { url: `${h.receiver.url}/ok/rotation` },
    });
    expect(response.status, response.text).toBe(201);
    const taskId = String(response.json.task_id);
    await h.receiver.waitFor(() => h.receiver.forTask(taskId).length > 0);

    // Assess: two v1 signatures, one per key; a stranger's key verifies neither.
    const [callback] = h.receiver.forTask(taskId);
    const verify = (secret: string) => () =>
      new Webhook(topicSigningKey(secret, "demo")).verify(callback?.body ?? "", callback?.headers ?? {});
    expect(String(callback?.headers["webhook-signature"]).split(" ")).toHaveLength(2);
    expect(verify(current)).not.toThrow();
    expect(verify(previous)).not.toThrow();
    expect(verify(`whsec_${randomBytes(32).toString("base64")}`)).toThrow(WebhookVerificationError);
  });
});
