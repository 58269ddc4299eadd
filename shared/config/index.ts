import { ENVIRONMENTS } from "./environments/index.js";
import { ConfigError, type PunctualConfig, parseConfig } from "./load.js";
import type { EnvironmentConfigInput } from "./schema.js";

export * from "./event-sources.js";
export * from "./function-observability.js";
export {
  ConfigError,
  distinctSubscribers,
  type PunctualConfig,
  parseConfig,
  type TopicConfig,
  timerSettings,
  topicConfig,
} from "./load.js";
export * from "./receive-backstop.js";
export * from "./schema.js";
export * from "./table-capacity.js";

/** Loads and validates a named environment's configuration (at synth time and at every cold start). */
export function loadEnvironmentConfig(
  name: string | undefined,
  overridesJson: string | undefined = process.env.PUNCTUAL_CONFIG_OVERRIDES,
): PunctualConfig {
  if (!name) throw new ConfigError("(unset)", ["PUNCTUAL_ENV / -c env=<name> is required"]);
  const input = Object.hasOwn(ENVIRONMENTS, name) ? ENVIRONMENTS[name] : undefined;
  if (!input) {
    throw new ConfigError(name, [`unknown environment; known: ${Object.keys(ENVIRONMENTS).join(", ")}`]);
  }
  if (input.name !== name) {
    throw new ConfigError(name, [`field "name": must be "${name}", found "${input.name}"`]);
  }
  return parseConfig(withLocalOverrides(input, overridesJson));
}

/**
 * The local cloud and its tests may tighten timings (e.g. a 3 s horizon to exercise the Scheduler path) through
 * PUNCTUAL_CONFIG_OVERRIDES. Deployed environments never honour it: their config is what was reviewed.
 */
function withLocalOverrides(
  input: EnvironmentConfigInput,
  overridesJson: string | undefined,
): EnvironmentConfigInput {
  if (!overridesJson || input.name !== "local") return input;
  let overrides: unknown;
  try {
    overrides = JSON.parse(overridesJson);
  } catch {
    throw new ConfigError(input.name, ["PUNCTUAL_CONFIG_OVERRIDES: must be a JSON object"]);
  }
  return deepMerge(input, overrides) as EnvironmentConfigInput;
}

function deepMerge(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(patch)) return patch === undefined ? base : patch;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) merged[key] = deepMerge(base[key], value);
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
