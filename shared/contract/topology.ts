import { ENV, MissingEnvironmentError } from "#shared/runtime/env.js";
import * as z from "#shared/zod.js";
import { type TopicSettingsRoute, topicSettingsRouteSchema } from "./topic-settings-route.js";

/**
 * The topology contract: what the stack tells a function about topics, their queues and the timings derived
 * from the CDK's sizing. The CDK builds it (typed `TopologyInput`), puts it in one environment variable as JSON,
 * and the functions and the local cloud read it back through this schema at cold start, so runtime code never
 * imports infrastructure code and a shape change breaks both sides at compile time.
 *
 * Each function gets only the section it uses (Lambda caps a function's environment at 4 KB):
 * - `topicQueues` (relay): topic → its FIFO queue URL;
 * - `deliveries` (deliver): FIFO queue ARN → the topic it carries, that queue's URL and the topic's DLQ URL;
 * - `sweep` (sweeper): topic → its queues, how long a group head may idle before it counts as stalled, and its
 *   deliver mapping's UUID (a topic its runtime settings pause is held by disabling it);
 * - `topicMappings` (the topic routes: pause, resume, list, show): topic → the UUID of its deliver function's
 *   SQS event source mapping (pausing a topic disables it) and its queue and DLQ URLs;
 * - `topicSettings` (every function that reads topic settings): the AppConfig application, environment and
 *   configuration profile ids of the runtime topic settings (shared/adapters/topic-settings.ts);
 * - `queueUrlBase`: with it, a queue URL may be written as the queue's name, resolved against this URL of a queue of
 *   the same account and region (SQS queue URLs differ only in their last segment). The stack writes the topic-wide
 *   sections so: each topic's two URLs in full cost the sweeper and the topic views about 120 of their 4 KB.
 *   Resolved when parsed; readers see full URLs.
 */
export const TOPOLOGY_VARIABLE = ENV.topology;

const url = z.string().check(z.minLength(1));

const topologyFields = z.strictObject({
  queueUrlBase: z.optional(url.check(z.refine(URL.canParse, "must be a URL"))),
  topicQueues: z.optional(z.record(z.string(), url)),
  deliveries: z.optional(
    z.record(z.string(), z.object({ topic: z.string().check(z.minLength(1)), queueUrl: url, dlqUrl: url })),
  ),
  sweep: z.optional(
    z.record(
      z.string(),
      z.object({
        queueUrl: url,
        dlqUrl: url,
        stalledAfterMs: z.number().check(z.int(), z.gt(0)),
        mappingUuid: z.string().check(z.minLength(1)),
      }),
    ),
  ),
  topicMappings: z.optional(
    z.record(
      z.string(),
      z.object({
        mappingUuid: z.string().check(z.minLength(1)),
        queueUrl: url,
        dlqUrl: url,
      }),
    ),
  ),
  topicSettings: z.optional(topicSettingsRouteSchema),
});

export const topologySchema = z.pipe(topologyFields, z.transform(withFullQueueUrls));

/** What a function is told (the stack builds it: queue names with a base allowed). */
export type TopologyInput = z.input<typeof topologySchema>;
/** What a function reads: every queue URL in full. */
export type Topology = z.output<typeof topologySchema>;
export type TopologySection = keyof Topology;
export type DeliveryRoute = NonNullable<Topology["deliveries"]>[string];
export type SweepRoute = NonNullable<Topology["sweep"]>[string];
export type TopicMapping = NonNullable<Topology["topicMappings"]>[string];
export type { TopicSettingsRoute };

/**
 * Reads this function's section of the topology from its environment; a missing variable, bad JSON, a wrong
 * shape or an empty section fails the cold start with every problem named.
 */
export function readTopology<const S extends TopologySection>(
  section: S,
  env: NodeJS.ProcessEnv = process.env,
): NonNullable<Topology[S]> {
  const raw = env[TOPOLOGY_VARIABLE];
  if (!raw) throw new MissingEnvironmentError(`missing environment variables: ${TOPOLOGY_VARIABLE}`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new MissingEnvironmentError(`environment variable ${TOPOLOGY_VARIABLE} must hold JSON`);
  }
  const parsed = topologySchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) => `${[TOPOLOGY_VARIABLE, ...i.path].join(".")}: ${i.message}`,
    );
    throw new MissingEnvironmentError(`invalid ${TOPOLOGY_VARIABLE}: ${problems.join("; ")}`);
  }
  const value = parsed.data[section];
  if (!value || Object.keys(value).length === 0) {
    throw new MissingEnvironmentError(`${TOPOLOGY_VARIABLE}.${section} lists nothing`);
  }
  return value as NonNullable<Topology[S]>;
}

/** Every queue URL of the topology resolved against `queueUrlBase` (a full URL stays as it is); the base dropped. */
function withFullQueueUrls({ queueUrlBase, ...topology }: z.output<typeof topologyFields>) {
  if (!queueUrlBase) return topology;
  const full = (value: string) => new URL(value, queueUrlBase).href;
  const routes = (section?: Record<string, { queueUrl: string; dlqUrl: string }>) => {
    for (const route of Object.values(section ?? {})) {
      route.queueUrl = full(route.queueUrl);
      route.dlqUrl = full(route.dlqUrl);
    }
  };
  // The parsed object is the schema's own copy: resolved in place.
  for (const [topic, queueUrl] of Object.entries(topology.topicQueues ?? {})) {
    (topology.topicQueues as Record<string, string>)[topic] = full(queueUrl);
  }
  routes(topology.deliveries);
  routes(topology.sweep);
  routes(topology.topicMappings);
  return topology;
}

/**
 * Two functions' topologies as one (the local cloud runs every function in one process, so it merges their
 * environments): sections are joined entry by entry; an entry both name must agree.
 */
export function mergeTopologies(a: TopologyInput, b: TopologyInput): Topology {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const topology of [topologySchema.parse(a), topologySchema.parse(b)]) {
    for (const [section, entries] of Object.entries(topology) as [string, Record<string, unknown>][]) {
      const into = merged[section] ?? {};
      merged[section] = into;
      for (const [key, value] of Object.entries(entries)) {
        if (key in into && JSON.stringify(into[key]) !== JSON.stringify(value)) {
          throw new Error(`functions disagree on ${TOPOLOGY_VARIABLE}.${section}["${key}"]`);
        }
        into[key] = value;
      }
    }
  }
  return topologySchema.parse(merged);
}
