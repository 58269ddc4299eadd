import * as z from "#shared/zod.js";

/**
 * The documented ranges of a Lambda SQS event source mapping (the CDK tests check the synthesized template
 * against these same numbers):
 * - BatchSize: standard queues 1–10,000, FIFO queues 1–10; above 10 a batching window of at least 1 s is
 *   required — https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html,
 *   https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/lambda/aws.sdk.kotlin.services.lambda.model/-get-event-source-mapping-response/maximum-batching-window-in-seconds.html
 * - MaximumBatchingWindowInSeconds: 0–300, streams and SQS *standard* queues only (FIFO: none) — same pages.
 * - ScalingConfig.MaximumConcurrency: 2–1000 — https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html
 * - ProvisionedPollerConfig for SQS: MinimumPollers 2–200, MaximumPollers 2–2,000 (CloudFormation's schema; the
 *   Lambda API page now quotes up to 10,000 for SQS, we keep the narrower range both accept) —
 *   https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-eventsourcemapping-provisionedpollerconfig.html,
 *   https://docs.aws.amazon.com/lambda/latest/api/API_ProvisionedPollerConfig.html
 * - Provisioned mode and MaximumConcurrency are mutually exclusive —
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
 */
export const EVENT_SOURCE_LIMITS = {
  standardBatchSize: { min: 1, max: 10_000 },
  fifoBatchSize: { min: 1, max: 10 },
  /** The largest batch Lambda accepts without a batching window. */
  batchSizeWithoutWindow: 10,
  batchingWindowSeconds: { min: 0, max: 300 },
  maxConcurrency: { min: 2, max: 1000 },
  minimumPollers: { min: 2, max: 200 },
  maximumPollers: { min: 2, max: 2000 },
} as const;

/**
 * How far ahead of its due time a timer message may arrive: the relay holds a batch until each task is due
 * (never early), and the relay function's 30 s timeout must cover that hold plus the forwarding.
 */
export const MAX_EARLY_WAKE_SECONDS = 10;

const L = EVENT_SOURCE_LIMITS;
const XOR_MESSAGE =
  "provisionedPollers and maxConcurrency cannot be combined: Lambda refuses ScalingConfig.MaximumConcurrency on a mapping in provisioned mode (bound the concurrency with provisionedPollers.max instead)";

/** A mapping scales by provisioned pollers or by `maxConcurrency`, never both (XOR_MESSAGE). */
const oneScalingMode = (s: { provisionedPollers?: unknown; maxConcurrency?: number }) =>
  !(s.provisionedPollers && s.maxConcurrency !== undefined);
const ONE_SCALING_MODE = { message: XOR_MESSAGE, path: ["maxConcurrency"] };

/*
 * The schemas below are functions, built when called rather than at import: a deployed function never calls them
 * (schema.ts, checkedAtSynth), and esbuild keeps every module-level schema (a call it cannot prove free of side
 * effects) in every bundle that imports this file for its limits or defaults.
 */
function pollersSchema() {
  return z
    .strictObject({
      min: z.number().check(z.int(), z.gte(L.minimumPollers.min), z.lte(L.minimumPollers.max)),
      max: z.number().check(z.int(), z.gte(L.maximumPollers.min), z.lte(L.maximumPollers.max)),
    })
    .check(z.refine((p) => p.max >= p.min, { message: "max must be at least min", path: ["max"] }));
}

function maxConcurrencySchema() {
  return z.number().check(z.int(), z.gte(L.maxConcurrency.min), z.lte(L.maxConcurrency.max));
}

/** The relay's mapping on the standard timer queue: batches up to 10,000 with a batching window. */
function relayEventSourceSchema() {
  return z
    .strictObject({
      batchSize: z.number().check(z.int(), z.gte(L.standardBatchSize.min), z.lte(L.standardBatchSize.max)),
      maxBatchingWindowSeconds: z
        .number()
        .check(z.int(), z.gte(L.batchingWindowSeconds.min), z.lte(L.batchingWindowSeconds.max)),
      provisionedPollers: z.optional(pollersSchema()),
      maxConcurrency: z.optional(maxConcurrencySchema()),
    })
    .check(
      z.refine(oneScalingMode, ONE_SCALING_MODE),
      z.refine((s) => s.batchSize <= L.batchSizeWithoutWindow || s.maxBatchingWindowSeconds >= 1, {
        message: `a batch above ${L.batchSizeWithoutWindow} needs maxBatchingWindowSeconds of at least 1: Lambda refuses a larger batch without a batching window`,
        path: ["maxBatchingWindowSeconds"],
      }),
    );
}

/** A topic's deliver mapping on its FIFO queue: batches of 1–10 and no batching window (Lambda allows none). */
function deliverEventSourceSchema() {
  return z
    .strictObject({
      batchSize: z.number().check(z.int(), z.gte(L.fifoBatchSize.min), z.lte(L.fifoBatchSize.max)),
      maxBatchingWindowSeconds: z.optional(
        z.undefined({
          error:
            "FIFO topic queues take no batching window: Lambda accepts MaximumBatchingWindowInSeconds only for standard queues and streams",
        }),
      ),
      provisionedPollers: z.optional(pollersSchema()),
      /** A cap on every topic's own `maxConcurrency` (standard mode only). */
      maxConcurrency: z.optional(maxConcurrencySchema()),
    })
    .check(z.refine(oneScalingMode, ONE_SCALING_MODE));
}

export function eventSourcesSchema() {
  return z
    .strictObject({
      relay: relayEventSourceSchema(),
      deliver: deliverEventSourceSchema(),
      /**
       * Timer messages are armed this many seconds before the task is due, so the poll, the batching window and a
       * cold start happen before the due time; the relay holds each task until it is due.
       */
      earlyWakeSeconds: z.number().check(z.int(), z.gte(0), z.lte(MAX_EARLY_WAKE_SECONDS)),
    })
    .check(
      z.refine((s) => s.earlyWakeSeconds >= s.relay.maxBatchingWindowSeconds, {
        message:
          "must be at least relay.maxBatchingWindowSeconds: the batching window may hold a timer that long, so a shorter early wake makes tasks late",
        path: ["earlyWakeSeconds"],
      }),
    );
}

export type EventSourcesConfig = z.infer<ReturnType<typeof eventSourcesSchema>>;

/** What an environment leaves out: today's latency-first mapping (batches of 10, no window, no early wake). */
export const DEFAULT_EVENT_SOURCES: EventSourcesConfig = {
  relay: { batchSize: 10, maxBatchingWindowSeconds: 0 },
  deliver: { batchSize: 10 },
  earlyWakeSeconds: 0,
};

/** An environment file's `eventSources`: each mapping given whole, or left to the defaults. */
export interface EventSourcesInput {
  readonly relay?: EventSourcesConfig["relay"];
  readonly deliver?: EventSourcesConfig["deliver"];
  readonly earlyWakeSeconds?: number;
}

/**
 * Groups the relay forwards side by side in one invocation: a batch of 10 keeps the historical 8; larger
 * batches (up to a few hundred groups each) get up to 32, so a batch's forwarding time stays around a tenth of a
 * second instead of growing with its size. Each group is a Query and its share of a SendMessageBatch (the relay writes nothing since issue 13.2).
 */
export function relayGroupConcurrency(eventSources: EventSourcesConfig): number {
  return Math.min(32, Math.max(8, Math.ceil(eventSources.relay.batchSize / 4)));
}
