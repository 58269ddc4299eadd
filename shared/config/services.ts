import { MAX_CALLBACK_URL_LENGTH, oddCharacters } from "#shared/domain/callback-resolution.js";
import { checkCallbackUrl } from "#shared/security/ssrf.js";
import type { TopicSettings } from "./schema.js";

/**
 * The environment's `services` map (seed-style callbacks: `content.sn` names a service, `content.url` a path under
 * its base URL). A callback resolved under a base keeps the base's scheme, credentials and host, and must pass the
 * task's topic policy (allow-list, scheme, no credentials, length) at every add. A base that no topic's policy
 * accepts can never be used: each add naming it would be a 400 blaming the caller's `content.sn` for a deploy's
 * mistake. So it is refused where the configuration is checked (synth, cold start). One topic accepting it is
 * enough: the others may narrow their allow-lists on purpose.
 */
export function serviceProblems(
  services: Readonly<Record<string, string>>,
  topics: Readonly<Record<string, TopicSettings>>,
): string[] {
  const problems: string[] = [];
  for (const [name, baseUrl] of Object.entries(services)) {
    const problem = serviceProblem(baseUrl, topics);
    if (problem) problems.push(`field "services.${name}": ${problem}`);
  }
  return problems;
}

function serviceProblem(
  baseUrl: string,
  topics: Readonly<Record<string, TopicSettings>>,
): string | undefined {
  if (baseUrl.length > MAX_CALLBACK_URL_LENGTH) return `at most ${MAX_CALLBACK_URL_LENGTH} characters`;
  // What resolveCallback refuses every add naming this service for (`content.sn`: the service's base URL …).
  const odd = oddCharacters(baseUrl);
  if (odd) return odd;
  const refusals: string[] = [];
  for (const [topic, settings] of Object.entries(topics)) {
    const checked = checkCallbackUrl(baseUrl, settings);
    if (checked.ok) return undefined;
    refusals.push(`topic "${topic}": ${checked.reason}`);
  }
  return `no topic's callback policy accepts it (${refusals.join("; ")})`;
}
