import { Token } from "aws-cdk-lib";
import { API_ROUTE_KEYS } from "#shared/api/routes.js";
import { ConfigError, type PunctualConfig, type TopicSettings } from "#shared/config/index.js";
import { isPrivateHostPattern } from "#shared/security/ssrf.js";

/** The one environment meant for the local cloud and LocalStack; never for a real AWS account. */
export const LOCAL_ENVIRONMENT = "local";
/** The account id the local cloud and LocalStack present. */
export const LOCAL_ACCOUNT = "000000000000";
/** Environments that must notify someone when an alarm fires. */
export const ENVIRONMENTS_REQUIRING_ALARM_SUBSCRIBERS: readonly string[] = ["prod"];

/**
 * Refuses, at synthesis, a configuration that must never reach a real account: the local environment's
 * relaxations (no API authentication, plain-http callbacks, private callback hosts) anywhere but `local`; the
 * `local` environment for any account but the local one; and an environment that needs alarm subscribers
 * without any. `account` is the stack's account, or undefined when synthesis does not know it yet.
 */
export function assertDeployable(config: PunctualConfig, account: string | undefined): void {
  const problems = [
    ...(config.name === LOCAL_ENVIRONMENT
      ? localEnvironmentProblems(config, account)
      : deployedProblems(config)),
    ...jwtScopeProblems(config),
  ];
  if (problems.length > 0) throw new ConfigError(config.name, problems);
}

/**
 * HTTP API quotas no support case raises: "Scopes per route: 10" and "Audiences per authorizer: 50"
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html). CloudFormation's schema does
 * not bound either, so past them the stack synthesizes and its deploy fails on the route or the authorizer.
 */
export const JWT_SCOPES_PER_ROUTE = 10;
export const JWT_AUDIENCES_PER_AUTHORIZER = 50;

/**
 * `api.auth.scopes` keys that name no route: that route would fall back to the `"*"` scopes (or to none, open
 * to any token for the audience) while the config reads as if it were restricted. And what API Gateway's quotas
 * refuse at deploy: an entry of more scopes than a route takes, more audiences than the authorizer takes.
 */
function jwtScopeProblems(config: PunctualConfig): string[] {
  const { auth } = config.api;
  if (auth.type !== "jwt") return [];
  const problems: string[] = [];
  if (auth.audience.length > JWT_AUDIENCES_PER_AUTHORIZER) {
    problems.push(
      `field "api.auth.audience": ${auth.audience.length} audiences; API Gateway's JWT authorizer takes at most ${JWT_AUDIENCES_PER_AUTHORIZER} (a quota that cannot be raised), so the deploy would fail`,
    );
  }
  for (const [key, scopes] of Object.entries(auth.scopes ?? {})) {
    if (key !== "*" && !API_ROUTE_KEYS.includes(key)) {
      problems.push(
        `field "api.auth.scopes": "${key}" is no route; name a route key ("POST /v1/tasks", README "API (v1)") or "*" for every route not named`,
      );
    }
    if (scopes.length > JWT_SCOPES_PER_ROUTE) {
      problems.push(
        `field "api.auth.scopes": "${key}" lists ${scopes.length} scopes; API Gateway takes at most ${JWT_SCOPES_PER_ROUTE} per route (a quota that cannot be raised), so the deploy would fail: give the route fewer, broader scopes`,
      );
    }
  }
  return problems;
}

function localEnvironmentProblems(config: PunctualConfig, account: string | undefined): string[] {
  const stackAccount = account !== undefined && !Token.isUnresolved(account) ? account : undefined;
  // With neither the config nor the stack naming an account, a deploy would go wherever the caller's
  // credentials point: only the local account, spelled out, is accepted.
  const target = stackAccount ?? config.account;
  if (target === LOCAL_ACCOUNT && (config.account ?? LOCAL_ACCOUNT) === LOCAL_ACCOUNT) return [];
  return [
    `field "account": the ${LOCAL_ENVIRONMENT} environment (no authentication, loopback and plain-http callbacks) may only target the local cloud or LocalStack account ${LOCAL_ACCOUNT}; found ${target ?? "no account (a deploy would go wherever your credentials point)"}`,
  ];
}

function deployedProblems(config: PunctualConfig): string[] {
  const problems: string[] = [];
  const onlyLocal = `is only allowed in the ${LOCAL_ENVIRONMENT} environment`;
  if (config.api.auth.type === "none") {
    problems.push(
      `field "api.auth.type": "none" ${onlyLocal}; a deployed API must authenticate (use "iam" or "jwt")`,
    );
  }
  const sections: [string, TopicSettings][] = [
    ["", config.system],
    ...Object.entries(config.resolvedTopics).map(([name, topic]): [string, TopicSettings] => [
      `topic "${name}", `,
      topic,
    ]),
  ];
  for (const [where, settings] of sections) {
    const field = where ? "" : "system.";
    if (settings.allowHttpCallbacks) {
      problems.push(`${where}field "${field}allowHttpCallbacks": plain-http callbacks ${onlyLocal}`);
    }
    for (const pattern of settings.allowedCallbackHosts.filter(isPrivateHostPattern)) {
      problems.push(
        `${where}field "${field}allowedCallbackHosts": "${pattern}" names a private, loopback, link-local or internal host, which ${onlyLocal}`,
      );
    }
  }
  problems.push(...unreachableAlarmEndpoints(config.alarmSubscribers.httpsUrls));
  const { emails, httpsUrls } = config.alarmSubscribers;
  if (
    ENVIRONMENTS_REQUIRING_ALARM_SUBSCRIBERS.includes(config.name) &&
    emails.length + httpsUrls.length === 0
  ) {
    problems.push(
      'field "alarmSubscribers": at least one e-mail address or HTTPS endpoint must receive the alarms; pass them with -c alarmEmails=a@example.com,b@example.com and/or -c alarmHttpsUrls=https://… (README, "Alarm subscribers")',
    );
  }
  return problems;
}

/**
 * HTTPS alarm subscribers on a host SNS cannot reach. SNS posts to HTTPS endpoints over the public internet and
 * "does not currently support private HTTP(S) endpoints"
 * (https://docs.aws.amazon.com/sns/latest/dg/sns-http-https-endpoint-as-subscriber.html): such a subscriber would
 * receive no alarm while the topic reads as watched. Refused: what is private whatever DNS says, as the callback
 * policy reads it (isPrivateHostPattern: private, loopback, link-local, CGNAT, unique-local and metadata addresses in
 * any spelling the URL parser folds, `localhost`, `.internal`/`.local`-style suffixes, single-label names). A public
 * name that resolves to a private address (or is re-pointed later) cannot be known at synth, and is not refused.
 * The host alone is named: SNS takes Basic credentials in the URL, which an error must not echo.
 */
function unreachableAlarmEndpoints(httpsUrls: readonly string[]): string[] {
  return httpsUrls.flatMap((raw) => {
    // The schema has checked each is a URL; its host as the URL parser folds it (`0x7f.1` is 127.0.0.1).
    const host = new URL(raw).hostname;
    if (!isPrivateHostPattern(host)) return [];
    return [
      `field "alarmSubscribers.httpsUrls": the host "${host}" is private, loopback, link-local or internal; Amazon SNS delivers to HTTPS subscribers over the public internet only, so no alarm would reach it: subscribe a publicly reachable endpoint (for a private one, subscribe a Lambda function or an SQS queue to the topic, stack output AlarmTopicArn)`,
    ];
  });
}

/** Moved to shared/security/ssrf.ts: the runtime topic settings apply the same rule (shared/config/runtime-settings.ts). */
export { isPrivateHostPattern };
