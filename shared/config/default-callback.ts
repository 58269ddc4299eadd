import { MAX_CALLBACK_URL_LENGTH, resolveCallback } from "#shared/domain/callback-resolution.js";
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
  // The same resolution add-task runs on a task without a callback of its own: the default alone.
  const resolved = resolveCallback({
    content: {},
    services: {},
    defaultCallbackUrl: topic.defaultCallbackUrl,
  });
  if (!resolved.ok) return [`${where}: ${resolved.issue.message}`];
  const checked = checkCallbackUrl(resolved.url, topic);
  if (!checked.ok) return [`${where}: ${checked.reason}`];
  if (checked.url.href.length > MAX_CALLBACK_URL_LENGTH) {
    return [`${where}: at most ${MAX_CALLBACK_URL_LENGTH} characters`];
  }
  return [];
}
