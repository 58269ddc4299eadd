import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import { recordingSleep, scriptedFetch, taskId } from "./fakes.js";

/**
 * Credentials that never come: a JWT function waiting on an identity provider that never answers, or an IAM
 * credential source (SSO, a container's credentials endpoint) that hangs. The call must still end.
 */
const API = "https://api.example.com/";
const addBody = { topic: "demo", delay_seconds: 90, content: { n: 1 } };

function neverToken() {
  const calls: number[] = [];
  const token = () => {
    calls.push(calls.length + 1);
    return new Promise<string>(() => {});
  };
  return { token, calls };
}

describe("a call waiting for its credentials", () => {
  it("rejects with the signal's reason when its caller aborts, nothing sent", async () => {
    // Prepare
    const { fetch, seen } = scriptedFetch();
    const { token, calls } = neverToken();
    const client = new PunctualClient({
      apiUrl: API,
      auth: { kind: "jwt", token },
      fetch,
      addBatching: false,
    });
    const controller = new AbortController();
    const reason = new Error("caller gave up");

    // Act
    const call = client.addTask(addBody, { signal: controller.signal }).catch((e: unknown) => e);
    await Promise.resolve();
    controller.abort(reason);

    // Assess
    expect(await call).toBe(reason);
    expect(calls).toEqual([1]);
    expect(seen).toEqual([]);
  });

  it("is held to the per-attempt timeout: each attempt gives up, and the call ends in network_error", async () => {
    // Prepare
    const { fetch, seen } = scriptedFetch();
    const { sleep } = recordingSleep();
    const { token, calls } = neverToken();
    const client = new PunctualClient({
      apiUrl: API,
      auth: { kind: "jwt", token },
      fetch,
      sleep,
      timeoutMs: 1,
    });

    // Act
    const error = await client.getTask(taskId()).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "network_error", status: 0 });
    expect(calls).toEqual([1, 2, 3, 4]);
    expect(seen).toEqual([]);
  });
});
