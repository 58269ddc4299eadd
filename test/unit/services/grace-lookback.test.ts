import { describe, expect, it } from "vitest";
import { MAX_SCHEDULED_GRACE_SECONDS, parseConfig } from "#shared/config/index.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { SCHEDULER_FIRING_WINDOW_SECONDS } from "#shared/domain/sweep.js";
import { RELAY_LOOKBACK_MS } from "#shared/services/relay.js";
import { SWEEPER_RATE_MINUTES, SWEEPER_TIMEOUT_SECONDS } from "../../../cdk/lib/sizing.js";
import { type Sim, simulate } from "../../support/pipeline-sim.js";

/**
 * The sweeper's grace against the relay's look-back. A task whose timer is lost (a Scheduler firing that never
 * comes) is forwarded by the sweeper once past due by the grace; a later task of its group due more than the
 * relay's look-back after it does not find it in its own group read. So the sweeper must have sent the head before
 * that follower is due, or the follower is called first.
 */

const MINUTE = 60_000;

/** Runs the functions as deployed (relay and deliver every 30 s, the sweeper every minute) until `untilMs`. */
async function runUntil(sim: Sim, untilMs: number) {
  for (let i = 0; sim.clock.now < untilMs; i++) {
    sim.advance(30_000);
    await sim.runRelay();
    await sim.runDeliver();
    if (i % 2 === 0) await sim.sweep();
  }
}

/** The first callbacks, in order, of a head on the Scheduler path whose firing never comes, and its follower. */
async function lostFiringThenFollower(scheduledGraceSeconds: number) {
  const sim = simulate({ sweeper: { scheduledGraceSeconds } });
  // Beyond the 300 s horizon: a one-time schedule, which the fake Scheduler never fires.
  const head = await sim.add({ order_id: "grace-lookback" }, { delay_seconds: 600 });
  const headDue = parseTaskId(head)?.dueAtMs as number;
  // The follower is accepted (and rides the timer queue) a minute before it is due, just past the look-back.
  const followerDue = headDue + RELAY_LOOKBACK_MS + MINUTE;
  await runUntil(sim, followerDue - MINUTE);
  const follower = await sim.add(
    { order_id: "grace-lookback" },
    { delay_seconds: (followerDue - sim.clock.now) / 1000 },
  );
  await runUntil(sim, followerDue + 60 * MINUTE);
  return { order: [head, follower], called: [...new Set(sim.delivered())] };
}

describe("the sweeper's grace and the relay's look-back", () => {
  it("a Scheduler-path head whose firing never comes is called before its follower due just past the look-back, with the longest grace the config accepts", async () => {
    // Prepare, Act
    const { order, called } = await lostFiringThenFollower(MAX_SCHEDULED_GRACE_SECONDS);

    // Assess
    expect(called).toEqual(order);
  });

  it("a longer grace is refused: with 1,200 s the follower was called first", () => {
    // Prepare
    const sweeper = { scheduledGraceSeconds: MAX_SCHEDULED_GRACE_SECONDS + 1 };

    // Act, Assess
    expect(() => parseConfig({ name: "x", sweeper, topics: { a: {} } })).toThrow(
      /sweeper.scheduledGraceSeconds.*15-minute look-back/,
    );
  });

  it("the longest grace, Scheduler's window beyond a lead of 0, the sweeper's period and its run fit in the look-back", () => {
    // Prepare
    const sweptByS =
      MAX_SCHEDULED_GRACE_SECONDS +
      SCHEDULER_FIRING_WINDOW_SECONDS +
      SWEEPER_RATE_MINUTES * 60 +
      SWEEPER_TIMEOUT_SECONDS;

    // Assess
    expect(sweptByS * 1000).toBeLessThan(RELAY_LOOKBACK_MS);
  });
});
