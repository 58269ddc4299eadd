import { randomUUID } from "node:crypto";
import type { ScheduledEvent } from "aws-lambda";
import { LOCAL_ACCOUNT, LOCAL_REGION } from "#local/aws/emulators.js";
import { createLambdaContext, invokeWithTimeout } from "./lambda-context.js";
import type { LambdaHandler } from "./sqs-event-source.js";

export interface ScheduledRuleTarget {
  readonly ruleArn: string;
  readonly functionName: string;
  readonly handler: LambdaHandler;
  readonly timeoutSeconds: number;
  /** The rule's rate (from its ScheduleExpression), or a shorter one for tests. */
  readonly intervalMs: number;
}

export interface ScheduledRuleRunner {
  /** Stops firing and waits for an invocation in flight. */
  stop(): Promise<void>;
  /** Invocations started so far. */
  readonly invocations: () => number;
}

/** The event EventBridge sends a target of a scheduled rule. */
export function scheduledEvent(ruleArn: string, at: Date = new Date()): ScheduledEvent {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": "Scheduled Event",
    source: "aws.events",
    account: LOCAL_ACCOUNT,
    time: at.toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: LOCAL_REGION,
    resources: [ruleArn],
    detail: {},
  };
}

/**
 * Fires a scheduled EventBridge rule's function every `intervalMs`, with the scheduled-event payload and a
 * Lambda context that counts down from the function's timeout. One difference from AWS: a tick that comes while
 * the previous invocation still runs is skipped rather than run alongside it (the sweeper, today's only such
 * function, is idempotent either way; skipping keeps a slow local machine from piling runs up).
 */
export function startScheduledRule(
  target: ScheduledRuleTarget,
  log: (line: string) => void = () => undefined,
): ScheduledRuleRunner {
  let stopped = false;
  let inFlight: Promise<void> | undefined;
  let count = 0;

  const fire = () => {
    if (stopped || inFlight) return;
    count++;
    const context = createLambdaContext(target.functionName, target.timeoutSeconds);
    inFlight = invokeWithTimeout(
      () => target.handler(scheduledEvent(target.ruleArn) as never, context),
      target.timeoutSeconds,
    )
      .then(
        () => undefined,
        (error: unknown) => log(`[${target.functionName}] scheduled invocation failed: ${String(error)}`),
      )
      .finally(() => {
        inFlight = undefined;
      });
  };
  const timer = setInterval(fire, Math.max(1, target.intervalMs));
  timer.unref();

  return {
    invocations: () => count,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await inFlight;
    },
  };
}
