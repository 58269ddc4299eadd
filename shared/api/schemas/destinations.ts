/**
 * The destination routes (`/v1/destinations…`, issue 14): each topic's view of each callback host it protects —
 * the circuit breaker's state and the leases in use.
 */
import * as z from "zod";

export const destinationResetQuerySchema = z
  .object({
    topic: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .meta({ description: "only this topic's circuit (default: every topic)" }),
  })
  .strict();

export const destinationViewSchema = z.looseObject({
  topic: z.string(),
  host: z.string(),
  /** `half-open`: open, and its cool-down is over (the next delivery probes). */
  state: z.enum(["closed", "open", "half-open"]),
  /** Consecutive failed attempts (a success resets it). */
  failures: z.number().int().nonnegative(),
  opened_at: z.string().nullable(),
  /** When an open circuit lets its next probe through; null when closed. */
  next_probe_at: z.string().nullable(),
  last_error: z.string().nullable(),
  last_failure_at: z.string().nullable(),
  /** Concurrency leases held now (topics with `maxConcurrencyPerHost`). */
  in_flight: z.number().int().nonnegative(),
});
export type DestinationView = z.output<typeof destinationViewSchema>;

export const destinationListSchema = z.looseObject({
  destinations: z.array(destinationViewSchema),
  /** More destinations than one answer holds (a few MB): the closed ones past it were left out. */
  truncated: z.literal(true).optional().meta({
    description:
      "present when more destinations exist than one answer holds (a few MB): open and half-open circuits come first, the closed ones past it are left out",
  }),
});
export type DestinationList = z.output<typeof destinationListSchema>;

export const destinationResetResponseSchema = z.looseObject({
  host: z.string(),
  /** The host's destinations after the reset (closed, no failures), one per topic. */
  destinations: z.array(destinationViewSchema),
});
export type DestinationResetResponse = z.output<typeof destinationResetResponseSchema>;
