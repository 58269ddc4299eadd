import { loadEnvironmentConfig, type PunctualConfig } from "#shared/config/index.js";

/**
 * An environment's configuration as a deployment synthesizes it: prod with the alarm subscriber a deployer
 * passes with `-c alarmEmails=…` (synthesis refuses prod without one).
 */
export function stackConfig(environment: string): PunctualConfig {
  const config = loadEnvironmentConfig(environment);
  if (environment !== "prod") return config;
  return { ...config, alarmSubscribers: { emails: ["oncall@punctual.test"], httpsUrls: [] } };
}
