/**
 * The topic routes' path parameters and response bodies (`/v1/topics…`): the handlers validate with the
 * parameter schema, the client parses with the response schemas, and the OpenAPI document is generated from both.
 */

import { TOPIC_NAME_PATTERN } from "#shared/config/schema.js";
import * as z from "#shared/zod.js";

/** Topic names as the configuration allows them; anything else cannot name a topic (404). */
export const topicParamsSchema = z.object({
  topic: z.withMeta(z.string().check(z.regex(TOPIC_NAME_PATTERN)), { description: "the topic's name" }),
});

/** `POST /v1/topics/{topic}/pause` and `/resume`. */
export const topicPauseResponseSchema = z.looseObject({
  topic: z.string(),
  paused: z.boolean(),
});
export type TopicPauseResponse = z.output<typeof topicPauseResponseSchema>;

/** `GET /v1/topics/{topic}`, and each entry of `GET /v1/topics`. */
export const topicViewSchema = z.looseObject({
  topic: z.string(),
  paused: z.boolean(),
  /** The topic's resolved configuration (nothing in it is secret). */
  settings: z.looseObject({}),
  backlog: z.looseObject({
    /** Messages waiting in the topic's FIFO queue (SQS ApproximateNumberOfMessages). */
    waiting: z.number().check(z.int(), z.nonnegative()),
    /** Received and not yet deleted (ApproximateNumberOfMessagesNotVisible). */
    in_flight: z.number().check(z.int(), z.nonnegative()),
  }),
  /** Age of the oldest task of the topic that came due and is not delivered yet; null when none waits. */
  oldest_age_seconds: z.nullable(z.number().check(z.nonnegative())),
  /** Messages in the topic's FIFO dead-letter queue, visible or being checked by the sweeper (both SQS counts). */
  dead_letter_count: z.number().check(z.int(), z.nonnegative()),
});
export type TopicView = z.output<typeof topicViewSchema>;

export const topicListSchema = z.looseObject({ topics: z.array(topicViewSchema) });
export type TopicList = z.output<typeof topicListSchema>;
