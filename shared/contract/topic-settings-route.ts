import { ENV, MissingEnvironmentError } from "#shared/runtime/env.js";
import * as z from "#shared/zod.js";

/**
 * The topology's `topicSettings` section (shared/contract/topology.ts): the AppConfig ids of the runtime topic
 * settings. In a module of its own so that a function reading only this section (the schedule routes, the adds)
 * does not bundle the schema of every other section.
 */
export const topicSettingsRouteSchema = z.strictObject({
  applicationId: z.string().check(z.minLength(1)),
  environmentId: z.string().check(z.minLength(1)),
  profileId: z.string().check(z.minLength(1)),
});

export type TopicSettingsRoute = z.infer<typeof topicSettingsRouteSchema>;

/** This function's settings route, if its topology names one; a malformed variable fails the cold start. */
export function readTopicSettingsRoute(env: NodeJS.ProcessEnv = process.env): TopicSettingsRoute | undefined {
  const raw = env[ENV.topology];
  if (!raw) return undefined;
  let section: unknown;
  try {
    section = (JSON.parse(raw) as { topicSettings?: unknown } | null)?.topicSettings;
  } catch {
    throw new MissingEnvironmentError(`environment variable ${ENV.topology} must hold JSON`);
  }
  if (section === undefined) return undefined;
  const parsed = topicSettingsRouteSchema.safeParse(section);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map(
    (i) => `${[ENV.topology, "topicSettings", ...i.path].join(".")}: ${i.message}`,
  );
  throw new MissingEnvironmentError(`invalid ${ENV.topology}: ${problems.join("; ")}`);
}
