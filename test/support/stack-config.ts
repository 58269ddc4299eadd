import { loadEnvironmentConfig, type PunctualConfig } from "#shared/config/index.js";

/** An environment's configuration as a deployment would synthesize it. */
export function stackConfig(environment: string): PunctualConfig {
  return loadEnvironmentConfig(environment);
}
