import { randomUUID } from "node:crypto";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MeteringReceiver, startMeteringReceiver } from "../support/metering-receiver.js";
import { e2eTarget, type Harness, startHarness } from "./support/harness.js";

/**
 * An operator sequence around a destination's circuit, through the local cloud: a host goes down and its circuit
 * opens while a group waits for it; the topic is paused, one of the group's tasks cancelled, the host fixed, the
 * circuit reset by hand, the topic resumed. Expected: the rest of the group delivered in its order, the cancelled
 * task never, and each task's `attempts` and attempt log telling the requests its receiver really saw.
 * Local cloud only (the receiver is on this host).
 */
const local = e2eTarget() === "local";
let h: Harness;
let client: PunctualClient;
let down: MeteringReceiver;

beforeAll(async () => {
  if (!local) return;
  h = await startHarness({
    configOverrides: {
      topics: {
        breaker: {
          deliverBy: "order_id",
          maxAttempts: 3,
          backoff: { initialSeconds: 1, maxSeconds: 1, multiplier: 1, jitter: "none" },
          circuitFailureThreshold: 2,
          circuitCooldownSeconds: 2,
        },
      },
    },
  });
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl });
  down = await startMeteringReceiver();
});

afterAll(async () => {
  await down?.stop();
  await h?.stop();
});

function add(group: string, url: string, seq: number) {
  return client.addTask({
    topic: "breaker",
    delay_seconds: 0,
    content: { order_id: group, seq },
    callback: { url },
  });
}

async function circuitState(host: string): Promise<string | undefined> {
  const page = await client.listDestinations({ limit: 100 });
  return page.destinations.find((d) => d.topic === "breaker" && d.host === host)?.state;
}

async function waitForCircuit(host: string, states: readonly string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!states.includes((await circuitState(host)) ?? "")) {
    if (Date.now() > deadline) throw new Error(`${host} never ${states.join("|")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.runIf(local)("circuit reset while the topic is paused", () => {
  it("open circuit → pause → cancel one task → host fixed → reset → resume: the rest delivered in order, the cancelled one never, GET counts true", async () => {
    // Prepare: the host is down; a group of three to it; its circuit opens.
    down.setDown(true);
    const group = `g-${randomUUID()}`;
    const url = `${down.url}/${randomUUID()}`;
    const tasks = [await add(group, url, 1), await add(group, url, 2), await add(group, url, 3)];
    const [first, second, third] = tasks.map((t) => t.task_id) as [string, string, string];
    await waitForCircuit(down.host, ["open", "half-open"]);

    // Act
    await client.pauseTopic("breaker");
    const cancelled = await client.cancelTask(third);
    down.setDown(false);
    const reset = await client.resetDestination(down.host, { topic: "breaker" });
    const resumedAtMs = Date.now();
    await client.resumeTopic("breaker");
    await h.waitForStatus(first, ["delivered"], 30_000);
    await h.waitForStatus(second, ["delivered"], 30_000);

    // Assess
    expect(cancelled).toMatchObject({ status: "cancelled" });
    expect(reset.destinations[0]).toMatchObject({ state: "closed" });
    const requestsOf = (id: string) => down.requests.filter((r) => r.taskId === id);
    expect(requestsOf(third).filter((r) => r.arrivedAtMs >= resumedAtMs)).toEqual([]);
    expect(await client.getTask(third)).toMatchObject({ status: "cancelled" });
    const ok = down.requests.filter((r) => r.status === 200).map((r) => r.taskId);
    expect(ok).toEqual([first, second]);
    for (const id of [first, second]) {
      const view = await client.getTask(id);
      const distinct = new Set(requestsOf(id).map((r) => r.punctualAttempt)).size;
      expect(view.attempts).toBe(distinct);
      expect(view.attempt_log.length).toBe(requestsOf(id).length);
    }
  });
});
