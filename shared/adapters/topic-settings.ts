import { AppConfigProvider } from "@aws-lambda-powertools/parameters/appconfig";
import { AppConfigDataClient } from "@aws-sdk/client-appconfigdata";
import type { PunctualConfig } from "#shared/config/index.js";
import {
  applyRuntimeSettingsText,
  SETTINGS_ROLLOUT_MINUTES,
  settingsDocumentText,
} from "#shared/config/runtime-settings.js";
import { readTopicSettingsRoute, type TopicSettingsRoute } from "#shared/contract/topic-settings-route.js";
import { withinMs } from "#shared/runtime/async.js";
import type { ServiceLogger } from "#shared/runtime/observability.js";
import { createAwsClient } from "./aws-clients.js";

/**
 * The one port through which runtime code reads topic settings: the deployed configuration with the runtime
 * settings document (AWS AppConfig; locally the settings file) applied. Built once at module scope; `current()`
 * is called per invocation and is cheap between refreshes (Powertools caches the document for maxAge).
 */
export interface TopicSettingsSource {
  current(): Promise<PunctualConfig>;
}

/** What the port logs: a refused or unreadable document (warn) and a newly applied one (info). */
export type SettingsLogger = Pick<ServiceLogger, "info" | "warn">;

/** The deployed settings only: functions whose stack gives them no runtime settings, and unit tests. */
export class StaticTopicSettings implements TopicSettingsSource {
  constructor(private readonly config: PunctualConfig) {}
  current(): Promise<PunctualConfig> {
    return Promise.resolve(this.config);
  }
}

/** Fetches the document's current text (undefined: nothing deployed yet). Throws when unavailable. */
export type SettingsFetch = () => Promise<string | undefined>;

/**
 * How long an invocation waits for a settings poll before going on with the last good settings. The SDK sets no
 * request timeout, so a poll whose answer was lost held every invocation reading the settings (each add, each
 * deliver batch) until its Lambda timed out. A poll answers in well under a second, retries included.
 */
export const SETTINGS_WAIT_MS = 3_000;
/**
 * The same wait before the function has read any document: its last good settings are then the deployed ones, which
 * may be wider than the runtime document (a narrowed allow-list, a `paused: true`), so a slow cold start is waited for
 * longer. At most half an API function's 10 s timeout: at 10 s, a cold route whose first poll hung answered its early
 * 503 "retry" (9.5 s) instead of going on with the deployed settings, and an add had no time left for its writes.
 */
export const SETTINGS_FIRST_WAIT_MS = 5_000;
/**
 * The first wait of the functions with a longer timeout than the API's (deliver, the sweeper): the deliver function
 * is the one a narrowed allow-list or a `paused: true` protects a receiver in, and it has the time.
 */
export const SETTINGS_FIRST_WAIT_LONG_MS = 10_000;
/**
 * After a poll that failed or did not answer, how long the last good settings are used without polling again (at
 * most the cache's max age, so a change still shows within it once AppConfig answers again).
 */
export const SETTINGS_RETRY_AFTER_MS = 15_000;

export interface SettingsTiming {
  readonly waitMs?: number;
  readonly firstWaitMs?: number;
  readonly retryAfterMs?: number;
  readonly now?: () => number;
}

/**
 * Keeps the last good settings: the deployed ones at cold start, then each document that passes the same
 * validation as the environment file. A document that is refused, or a fetch that fails or does not answer within
 * `waitMs` (`firstWaitMs` until a document was read), changes nothing and is logged once per distinct document or
 * error (not once per invocation); after a fetch that failed or did not answer, the next `retryAfterMs` use the last
 * good settings without polling again.
 */
export class LastGoodTopicSettings implements TopicSettingsSource {
  private good: PunctualConfig;
  private lastText: string | undefined;
  private lastProblem: string | undefined;
  private inflight: Promise<PunctualConfig> | undefined;
  private quietUntilMs = Number.NEGATIVE_INFINITY;
  private readonly waitMs: number;
  private readonly firstWaitMs: number;
  private readonly retryAfterMs: number;
  private readonly now: () => number;

  constructor(
    private readonly deployed: PunctualConfig,
    private readonly fetch: SettingsFetch,
    private readonly logger: SettingsLogger,
    timing: SettingsTiming = {},
  ) {
    this.good = deployed;
    this.waitMs = timing.waitMs ?? SETTINGS_WAIT_MS;
    this.firstWaitMs = timing.firstWaitMs ?? SETTINGS_FIRST_WAIT_MS;
    this.retryAfterMs = timing.retryAfterMs ?? SETTINGS_RETRY_AFTER_MS;
    this.now = timing.now ?? Date.now;
  }

  /**
   * Concurrent callers share one refresh: an AppConfig poll token is good for one call, and the local cloud runs
   * many invocations of a function in one process.
   */
  current(): Promise<PunctualConfig> {
    if (this.now() < this.quietUntilMs) return Promise.resolve(this.good);
    this.inflight ??= this.refresh().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** The last good settings, without polling again for `retryAfterMs`; `problem` logged once when there is one. */
  private pauseOnGood(problem?: string): PunctualConfig {
    this.quietUntilMs = this.now() + this.retryAfterMs;
    if (problem !== undefined)
      this.reportOnce(`topic settings unavailable, keeping the last good ones: ${problem}`);
    return this.good;
  }

  private async refresh(): Promise<PunctualConfig> {
    let text: string | undefined | "overdue";
    const waitMs = this.lastText === undefined ? this.firstWaitMs : this.waitMs;
    try {
      const answer = this.fetch();
      answer.catch(() => undefined); // a poll given up on may still fail: nobody waits for it
      text = await withinMs(answer, waitMs);
    } catch (error) {
      // Paused as after a poll that does not answer: polled again by the next invocation, an AppConfig outage
      // added the SDK's retries to every invocation, each a new session and poll (AWS: one poll per 15 s at least).
      return this.pauseOnGood(errorText(error));
    }
    if (text === "overdue") return this.pauseOnGood(`no answer within ${waitMs} ms`);
    // Nothing deployed to this session yet. Powertools caches no empty answer, so without the pause the next
    // invocation polled the same session at once, which AWS refuses sooner than its interval ("Request too early").
    if (text === undefined) return this.pauseOnGood();
    if (text === this.lastText) return this.good;
    this.lastText = text;
    const result = applyRuntimeSettingsText(this.deployed, text);
    if (!result.ok) {
      this.reportOnce("topic settings refused, keeping the last good ones", result.problems);
      return this.good;
    }
    this.good = result.config;
    this.lastProblem = undefined;
    this.logger.info("topic settings applied", { topics: Object.keys(result.config.resolvedTopics) });
    return this.good;
  }

  private reportOnce(message: string, problems?: readonly string[]): void {
    const key = `${message}\n${problems?.join("\n") ?? ""}`;
    if (key === this.lastProblem) return;
    this.lastProblem = key;
    this.logger.warn(message, problems ? { problems } : {});
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** How long a function keeps the settings document before asking AppConfig again; a change shows within it. */
export const SETTINGS_MAX_AGE_SECONDS = 45;
/**
 * The session's RequiredMinimumPollIntervalInSeconds: AWS's least (15–86,400 s). Left out, AWS holds the session
 * to 60 s and refuses a sooner GetLatestConfiguration ("Request too early"), so every invocation between 45 and
 * 60 s after a poll made a failing AppConfig call and ran on the cached settings.
 */
export const SETTINGS_POLL_INTERVAL_SECONDS = 15;
/** The local cloud's shorter refresh (PUNCTUAL_ENV=local only), so edits of the settings file show within a second. */
export const SETTINGS_MAX_AGE_VARIABLE = "PUNCTUAL_SETTINGS_MAX_AGE_SECONDS";

/**
 * The port for a function: AppConfig through Powertools Parameters when its topology names the settings profile,
 * else the deployed settings. The ids travel in the topology contract (`topicSettings`).
 */
export function topicSettingsFromEnvironment(
  deployed: PunctualConfig,
  logger: SettingsLogger,
  env: NodeJS.ProcessEnv = process.env,
  timing: Pick<SettingsTiming, "firstWaitMs"> = {},
): TopicSettingsSource {
  const route = readTopicSettingsRoute(env);
  if (!route) return new StaticTopicSettings(deployed);
  const maxAge = maxAgeSeconds(deployed, env);
  const fetch = appConfigSettingsFetch(route, maxAge, createAwsClient(AppConfigDataClient));
  const source = new LastGoodTopicSettings(deployed, fetch, logger, {
    ...timing,
    retryAfterMs: Math.min(SETTINGS_RETRY_AFTER_MS, maxAge * 1000),
  });
  // Fetch during init, overlapping the rest of the cold start; a failure is logged and retried on use.
  void source.current();
  return source;
}

/**
 * The settings document through Powertools' AppConfig provider, cached for `maxAge` seconds.
 *
 * A poll that failed starts a new session next time. AWS: "Each configuration token is only valid for one call to
 * GetLatestConfiguration" (https://docs.aws.amazon.com/appconfig/2021-11-11/APIReference/API_appconfigdata_GetLatestConfiguration.html),
 * and Powertools keeps the token of a call that failed; so a poll whose answer was lost (the token spent on AWS's
 * side, the SDK's retry of it refused as a reuse) left every later poll failing on that token until it expired
 * (24 hours), the warm function running on stale settings all along.
 */
export function appConfigSettingsFetch(
  route: TopicSettingsRoute,
  maxAge: number,
  client: AppConfigDataClient,
): SettingsFetch {
  const session = () =>
    new AppConfigProvider({
      application: route.applicationId,
      environment: route.environmentId,
      awsSdkV3Client: client,
    });
  let provider = session();
  let answered = true;
  return async () => {
    if (!answered) provider = session();
    const polled = provider;
    answered = false;
    const value = await polled.get(route.profileId, {
      maxAge,
      sdkOptions: { RequiredMinimumPollIntervalInSeconds: SETTINGS_POLL_INTERVAL_SECONDS },
    });
    // A poll given up on that answers late says nothing of the session that replaced it.
    if (polled === provider) answered = true;
    if (value === undefined) return undefined;
    return typeof value === "string" ? value : settingsDocumentText(value as Uint8Array);
  };
}

/**
 * The longest a deployed settings change takes to reach every function: the rollout (AppConfig's deployment
 * time; none locally, where the emulator deploys an accepted file at once) plus the port's cache, plus a second
 * for the poll itself.
 */
export function settingsPropagationSeconds(
  deployed: PunctualConfig,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const rollout = deployed.name === "local" ? 0 : SETTINGS_ROLLOUT_MINUTES * 60;
  return rollout + maxAgeSeconds(deployed, env) + 1;
}

function maxAgeSeconds(deployed: PunctualConfig, env: NodeJS.ProcessEnv): number {
  const local = Number(env[SETTINGS_MAX_AGE_VARIABLE]);
  if (deployed.name === "local" && local > 0 && local <= SETTINGS_MAX_AGE_SECONDS) return local;
  return SETTINGS_MAX_AGE_SECONDS;
}

/** What a handler's dependencies carry to read topic settings per invocation (absent: the deployed config). */
export interface WithTopicSettings {
  readonly config: PunctualConfig;
  readonly settings?: TopicSettingsSource;
}

/** The dependencies with `config` replaced by the current effective settings: called once per invocation. */
export async function withCurrentSettings<D extends WithTopicSettings>(deps: D): Promise<D> {
  return deps.settings ? { ...deps, config: await deps.settings.current() } : deps;
}
