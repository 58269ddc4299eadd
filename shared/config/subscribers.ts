import { MAX_CALLBACK_URL_LENGTH, oddCharacters } from "#shared/domain/callback-resolution.js";
import { type CallbackCheck, checkCallbackUrl } from "#shared/security/ssrf.js";
import type { TopicSettings } from "./schema.js";

/**
 * The rules across a fan-out topic's fields (issue 14, point 3), run wherever topic settings are checked (synth,
 * cold start, every runtime settings document): ids unique, each URL a callback the topic's own policy accepts
 * (characters, allow-list, scheme, no credentials, length), and no `defaultCallbackUrl` beside subscribers (a task
 * on the topic goes to its subscribers, so a default callback would never be used, and silently ignoring it
 * misleads).
 * The callback client checks each resolved address again at delivery time (SSRF), as for any callback.
 */
export function subscriberProblems(topic: TopicSettings & { readonly name: string }): string[] {
  if (!topic.subscribers) return [];
  const where = `topic "${topic.name}", field "subscribers`;
  const problems: string[] = [];
  const seen = new Set<string>();
  topic.subscribers.forEach((subscriber, index) => {
    if (seen.has(subscriber.id)) problems.push(`${where}.${index}.id": "${subscriber.id}" is declared twice`);
    seen.add(subscriber.id);
    // As for a default callback: the URL parser writes a lone surrogate as U+FFFD and percent-encodes an invisible
    // C1 control, so the delivery tasks would keep one URL (DynamoDB refuses or alters a lone surrogate) and call
    // another.
    const odd = oddCharacters(subscriber.url);
    const checked: CallbackCheck = odd ? { ok: false, reason: odd } : checkCallbackUrl(subscriber.url, topic);
    if (!checked.ok) problems.push(`${where}.${index}.url": ${checked.reason}`);
    else if (checked.url.href.length > MAX_CALLBACK_URL_LENGTH) {
      problems.push(`${where}.${index}.url": at most ${MAX_CALLBACK_URL_LENGTH} characters`);
    }
  });
  if (topic.defaultCallbackUrl !== undefined) {
    problems.push(
      `topic "${topic.name}", field "defaultCallbackUrl": a fan-out topic delivers to its subscribers; remove the default callback`,
    );
  }
  return problems;
}
