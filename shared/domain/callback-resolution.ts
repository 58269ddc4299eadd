import type { ErrorIssue } from "./http-errors.js";

/** Where a task's callback URL came from; the SSRF refusal names the request field to blame. */
export type CallbackSource = "callback" | "service" | "topic-default";

export type CallbackResolution =
  | { readonly ok: true; readonly url: string; readonly source: CallbackSource; readonly path: string }
  | { readonly ok: false; readonly issue: ErrorIssue };

export interface CallbackInputs {
  readonly callbackUrl?: string | undefined;
  readonly content: Readonly<Record<string, unknown>>;
  /** The environment's `services` map: name → base URL. */
  readonly services: Readonly<Record<string, string>>;
  readonly defaultCallbackUrl?: string | undefined;
}

/**
 * The callback, in order of precedence:
 * 1. `callback.url` from the request;
 * 2. seed style: `content.sn` names a service in the environment's `services` map and `content.url` is resolved
 *    under its base URL. Both must be strings for this to apply: a payload that merely has a `url` field (a
 *    link) or an `sn` (a serial number) is not a routing instruction;
 * 3. the topic's `defaultCallbackUrl`;
 * else the request is refused: a task nobody can receive must not be accepted.
 *
 * The result still has to pass `checkCallbackUrl`; this only decides which URL is meant.
 */
export function resolveCallback(inputs: CallbackInputs): CallbackResolution {
  if (inputs.callbackUrl !== undefined)
    return { ok: true, url: inputs.callbackUrl, source: "callback", path: "callback.url" };

  const { sn, url } = inputs.content;
  if (typeof sn === "string" && typeof url === "string") {
    const base = Object.hasOwn(inputs.services, sn) ? inputs.services[sn] : undefined;
    if (base === undefined) {
      const known = Object.keys(inputs.services);
      return fail(
        "content.sn",
        known.length > 0 ? `unknown service; known: ${known.join(", ")}` : "no services are configured",
      );
    }
    return resolveUnderService(base, url);
  }

  if (inputs.defaultCallbackUrl !== undefined) {
    return { ok: true, url: inputs.defaultCallbackUrl, source: "topic-default", path: "callback" };
  }
  return fail(
    "callback",
    "no callback: give callback.url, or content.sn and content.url, or configure the topic's defaultCallbackUrl",
  );
}

/**
 * `content.url` is a path under the service's base URL (`/orders/notify`, `orders/notify?x=1`), or an absolute
 * URL on the service's own origin. The base URL's path is a prefix the result must stay under: a service
 * `http://gw/api/orders` must not be turned into `http://gw/admin` by `../admin` or `%2e%2e/admin` (WHATWG
 * resolves both), nor into another host by `//evil.example` or `\\evil.example`.
 */
export function resolveUnderService(baseUrl: string, target: string): CallbackResolution {
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    return fail("content.sn", "the service's base URL is not a valid URL");
  }
  const prefix = base.pathname.endsWith("/") ? base.pathname : `${base.pathname}/`;
  const root = new URL(base.href);
  root.pathname = prefix;
  root.search = "";
  root.hash = "";

  let resolved: URL;
  if (URL.canParse(target)) {
    resolved = new URL(target);
  } else {
    // Relative: resolve against the base path, keeping it (a leading `/` means "under the base", not "root").
    // Leading slashes and backslashes are stripped so `//host` cannot become a scheme-relative URL.
    const relative = target.replace(/^[/\\]+/, "");
    try {
      resolved = new URL(relative, root);
    } catch {
      return fail("content.url", "is not a valid URL path");
    }
  }
  if (resolved.origin !== base.origin) return fail("content.url", "must stay on the service's origin");
  const underBase =
    resolved.pathname === base.pathname ||
    resolved.pathname.startsWith(prefix) ||
    `${resolved.pathname}/` === prefix;
  if (!underBase) return fail("content.url", `must stay under the service's base path ${prefix}`);
  return { ok: true, url: resolved.href, source: "service", path: "content.url" };
}

function fail(path: string, message: string): CallbackResolution {
  return { ok: false, issue: { path, message } };
}
