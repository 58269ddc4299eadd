import { MAX_CALLBACK_URL_LENGTH, oddCharacters } from "#shared/domain/callback-resolution.js";
import { checkCallbackUrl } from "#shared/security/ssrf.js";
import type { TopicSettings } from "./schema.js";

/**
 * A topic's `defaultCallbackUrl` must be a callback the topic's own policy accepts (characters, scheme,
 * allow-list, no credentials, length): add-task checks the default exactly so for every task that relies on it,
 * so a default the policy refuses would turn each such add into a 400 blaming the caller's request. Run wherever
 * topic settings are checked (synth, cold start, every runtime settings document), so an allow-list narrowed at
 * runtime cannot strand the default either. A fan-out topic's default is refused by subscriberProblems already.
 */
export function defaultCallbackProblems(topic: TopicSettings & { readonly name: string }): string[] {
  if (topic.defaultCallbackUrl === undefined || topic.subscribers !== undefined) return [];
  const where = `topic "${topic.name}", field "defaultCallbackUrl"`;
  // What resolveCallback checks of the default on a task without a callback of its own (called directly: the
  // resolution's other branches would ride into every function that loads the config, deliver among them).
  const odd = oddCharacters(topic.defaultCallbackUrl);
  if (odd) return [`${where}: the topic's default callback ${odd}`];
  const checked = checkCallbackUrl(topic.defaultCallbackUrl, topic);
  if (!checked.ok) return [`${where}: ${checked.reason}`];
  if (checked.url.href.length > MAX_CALLBACK_URL_LENGTH) {
    return [`${where}: at most ${MAX_CALLBACK_URL_LENGTH} characters`];
  }
  return [];
}
