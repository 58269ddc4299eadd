import { scanStructure } from "#shared/domain/exact-json.js";
import { isPrivateHostPattern } from "#shared/security/ssrf.js";
import * as z from "#shared/zod.js";
import {
  checkTopicSettings,
  describeIssues,
  mergeTopicSettings,
  type PunctualConfig,
  type TopicConfig,
} from "./load.js";
import { isProtectedTopic, type TopicSettings, topicOverridesSchema } from "./schema.js";

/**
 * Topic settings without a deploy: the document AWS AppConfig hosts (and the local cloud serves from a file).
 *
 * `{"topics": {"<topic>": {<any rows of the topic settings schema>}}}` — each topic's rows are laid over the
 * topic's CDK-declared settings and the result goes through the same zod schema and cross-field rules as the
 * environment file (`checkTopicSettings`). Every row of `topicSettingsSchema` is therefore changeable at runtime
 * with no extra work, except the rows listed in DEPLOY_BOUND_TOPIC_SETTINGS. A topic the stack does not declare is
 * refused: a new topic is a new queue and deliver function, so it needs a deploy.
 *
 * The CDK writes the fully resolved settings of every topic as the initial hosted version (`settingsDocumentOf`).
 */
export const runtimeSettingsDocumentSchema = z.strictObject({
  topics: z.record(z.string(), topicOverridesSchema),
});

export type RuntimeSettingsDocument = z.infer<typeof runtimeSettingsDocumentSchema>;

/**
 * The AppConfig deployment strategy's deployment time (cdk/lib/constructs/runtime-settings.ts): a deployed
 * document reaches every configuration session within it (linear steps; the bake time that follows only watches
 * the rollback alarm). What waits for a change to be everywhere counts on it (shared/services/settings-hold.ts).
 */
export const SETTINGS_ROLLOUT_MINUTES = 2;

/**
 * Rows whose value the stack builds infrastructure from, so a runtime change cannot take effect (or would be
 * unsafe) without a deploy:
 * - `equal`: must keep the deployed value (`maxConcurrency` is the event source mapping's MaximumConcurrency,
 *   `alarms` are CloudWatch alarm thresholds);
 * - `at-most`: may be lowered, not raised (`maxAttempts` sizes the FIFO queue's maxReceiveCount backstop,
 *   `callbackTimeoutSeconds` the deliver function's timeout and the queue's visibility timeout).
 * Any row not listed — including rows added to the schema later — is runtime-changeable.
 */
export const DEPLOY_BOUND_TOPIC_SETTINGS = {
  maxConcurrency: "equal",
  alarms: "equal",
  maxAttempts: "at-most",
  callbackTimeoutSeconds: "at-most",
} as const satisfies Partial<Record<keyof TopicSettings, "equal" | "at-most">>;

export type RuntimeSettingsResult =
  | { readonly ok: true; readonly config: PunctualConfig }
  | { readonly ok: false; readonly problems: readonly string[] };

/** The deployed configuration with a runtime settings document applied, or every reason it is refused. */
export function applyRuntimeSettings(deployed: PunctualConfig, document: unknown): RuntimeSettingsResult {
  const parsed = z.safeParseBounded(runtimeSettingsDocumentSchema, document);
  if (!parsed.success) return { ok: false, problems: describeIssues(parsed.error.issues) };
  const problems: string[] = [];
  const resolvedTopics: Record<string, TopicConfig> = { ...deployed.resolvedTopics };
  // zod's record skips a `__proto__` key without a word (copied, it would set the result's prototype), so a
  // document naming that topic lost it and was accepted: it is refused as every unknown topic is.
  const names = [...(namesProtoTopic(document) ? ["__proto__"] : []), ...Object.keys(parsed.data.topics)];
  for (const name of names) {
    const base = Object.hasOwn(deployed.resolvedTopics, name) ? deployed.resolvedTopics[name] : undefined;
    const overrides = Object.hasOwn(parsed.data.topics, name) ? parsed.data.topics[name] : undefined;
    if (!base || !overrides) {
      problems.push(
        `topic "${name}": not a deployed topic (known: ${Object.keys(deployed.resolvedTopics).join(", ")}); adding a topic needs a deploy`,
      );
      continue;
    }
    const { name: _name, ...baseSettings } = base;
    const checked = checkTopicSettings(name, mergeTopicSettings(baseSettings, overrides));
    problems.push(...checked.problems);
    if (!checked.topic) continue;
    problems.push(...deployBoundProblems(base, checked.topic));
    problems.push(...protectionProblems(base, checked.topic));
    problems.push(...callbackExposureProblems(deployed.name, checked.topic));
    resolvedTopics[name] = checked.topic;
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: { ...deployed, resolvedTopics } };
}

/** Whether a document's `topics` holds an own `__proto__` key (JSON.parse makes one, as any other key). */
function namesProtoTopic(document: unknown): boolean {
  const topics = (document as { topics?: unknown }).topics;
  return typeof topics === "object" && topics !== null && Object.hasOwn(topics, "__proto__");
}

const UTF8 = new TextDecoder();

/**
 * A hosted document's bytes as text, decoded one way for the validator and the functions alike: UTF-8, a byte
 * order mark dropped (TextDecoder's default; some editors and Windows PowerShell write one). Decoded differently,
 * the validator would refuse as "not JSON" a document every function reads.
 */
export function settingsDocumentText(bytes: Uint8Array): string {
  return UTF8.decode(bytes);
}

/** Parses a document's text (JSON) and applies it: the one path the validator, the runtime and the emulator take. */
export function applyRuntimeSettingsText(deployed: PunctualConfig, text: string): RuntimeSettingsResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // Not V8's message whole: it quotes the text around the fault, which may be a callback URL's token, and this
    // problem reaches the functions' logs and AppConfig's validator answer. Its position alone is enough to find it.
    const position = /at position (\d+)/.exec((error as Error).message)?.[1];
    return {
      ok: false,
      problems: [`not JSON${position === undefined ? "" : ` (at character ${position})`}`],
    };
  }
  // JSON.parse keeps the last of a key given twice, where other tools (an editor's, a reviewer's eye) see the first:
  // which was meant is ambiguous, so such a document is refused, as the API refuses such a body (exact-json.ts).
  // After the parse, so the scan only reads JSON; it is iterative and tracks no depth that matters here.
  const repeated = scanStructure(text, Number.MAX_SAFE_INTEGER);
  if (repeated?.kind === "duplicate") {
    return { ok: false, problems: [`"${repeated.issue.path}": ${repeated.issue.message}`] };
  }
  try {
    return applyRuntimeSettings(deployed, json);
  } catch (error) {
    // zod gathers issues with push(...spread): some 100,000 refused entries overflow the call stack. Thrown, that
    // failed the function reading the document; any such failure refuses it instead, as an invalid one is.
    return { ok: false, problems: [`could not be checked: ${(error as Error).message}`] };
  }
}

/** How many of a refused document's problems a summary names; the rest are counted. */
export const PROBLEMS_SHOWN = 10;

/**
 * A refused document's problems in one line for an operator: the first PROBLEMS_SHOWN, then how many more. A
 * document of 50,000 unknown topics (well under AppConfig's 2 MB) had a 5 MB message, past what a Lambda error
 * answer and a log line carry.
 */
export function problemsSummary(problems: readonly string[]): string {
  const shown = problems.slice(0, PROBLEMS_SHOWN).join("; ");
  const more = problems.length - PROBLEMS_SHOWN;
  return more > 0 ? `${shown}; … and ${more} more` : shown;
}

/**
 * The rule synthesis applies to a deployed environment (cdk/lib/deployment-guards.ts), applied to runtime documents
 * too: outside `local`, no plain-http callbacks and no allow-list entry naming a private, loopback, link-local or
 * internal host — else AppConfig would be a way around the SSRF policy a deploy enforces.
 */
function callbackExposureProblems(environment: string, topic: TopicConfig): string[] {
  if (environment === "local") return [];
  const where = `topic "${topic.name}", field`;
  const problems = topic.allowHttpCallbacks
    ? [`${where} "allowHttpCallbacks": plain-http callbacks are only allowed in the local environment`]
    : [];
  for (const pattern of topic.allowedCallbackHosts.filter(isPrivateHostPattern)) {
    problems.push(
      `${where} "allowedCallbackHosts": "${pattern}" names a private, loopback, link-local or internal host, which is only allowed in the local environment`,
    );
  }
  return problems;
}

/**
 * Rate limits, per-host concurrency and the circuit breaker make deliveries wait, and every wait is a receive: a
 * topic deployed with one of them has its queue's maxReceiveCount raised for that (cdk/lib/sizing.ts). Turned on
 * at runtime on a topic deployed without, waits would count towards the lower redrive limit and push waiting
 * tasks to the DLQ, so that needs a deploy; on a protected topic they change freely.
 */
function protectionProblems(deployed: TopicConfig, candidate: TopicConfig): string[] {
  if (isProtectedTopic(deployed) || !isProtectedTopic(candidate)) return [];
  return [
    `topic "${deployed.name}": rateLimit, maxConcurrencyPerHost and circuitFailureThreshold can be turned on at runtime only on a topic deployed with one of them (its queue's receive limit is sized for waiting); set one in the environment file and deploy`,
  ];
}

function deployBoundProblems(deployed: TopicConfig, candidate: TopicConfig): string[] {
  const problems: string[] = [];
  for (const [row, rule] of Object.entries(DEPLOY_BOUND_TOPIC_SETTINGS) as [keyof TopicSettings, string][]) {
    const was = deployed[row];
    const now = candidate[row];
    const where = `topic "${deployed.name}", field "${row}"`;
    if (rule === "equal" && JSON.stringify(was) !== JSON.stringify(now)) {
      problems.push(`${where}: sizes deployed infrastructure; change it in the environment file and deploy`);
    }
    if (rule === "at-most" && Number(now) > Number(was)) {
      problems.push(
        `${where}: may be lowered at runtime, raising it above the deployed ${was} needs a deploy`,
      );
    }
  }
  return problems;
}

/** The initial hosted version: every deployed topic's resolved settings, as the runtime document's shape. */
export function settingsDocumentOf(config: PunctualConfig): RuntimeSettingsDocument {
  const topics: Record<string, TopicSettings> = {};
  for (const { name: topicName, ...settings } of Object.values(config.resolvedTopics)) {
    topics[topicName] = settings;
  }
  return { topics };
}
