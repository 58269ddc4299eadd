import { ENVIRONMENTS } from "./environments/index.js";
import { ConfigError, type PunctualConfig, parseConfig } from "./load.js";

export { ConfigError, type PunctualConfig, parseConfig, type TopicConfig, topicConfig } from "./load.js";
export * from "./schema.js";

/** Loads and validates a named environment's configuration (at synth time and at every cold start). */
export function loadEnvironmentConfig(name: string | undefined): PunctualConfig {
  if (!name) throw new ConfigError("(unset)", ["PUNCTUAL_ENV / -c env=<name> is required"]);
  const input = Object.hasOwn(ENVIRONMENTS, name) ? ENVIRONMENTS[name] : undefined;
  if (!input) {
    throw new ConfigError(name, [`unknown environment; known: ${Object.keys(ENVIRONMENTS).join(", ")}`]);
  }
  if (input.name !== name)
    throw new ConfigError(name, [`field "name": must be "${name}", found "${input.name}"`]);
  return parseConfig(input);
}
