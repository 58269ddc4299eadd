import type { ErrorIssue } from "#shared/api/errors.js";
import { canParseUrl } from "./can-parse-url.js";
import { notWellFormed } from "./well-formed.js";

/** A callback URL longer than this is a mistake, and it is stored in every task item. */
export const MAX_CALLBACK_URL_LENGTH = 2048;

/**
 * Whether a host name (as WHATWG URL writes it: ASCII, IDNA applied; without a root dot) is longer than DNS can
 * hold: a name of at most 253 characters (255 octets on the wire), labels of at most 63 (RFC 1035 §2.3.4). The
 * URL parser takes any length; no resolver can look such a name up, and the deliver function keys a protected
 * topic's destination items by the host (DynamoDB's sort key holds 1,024 bytes), so it is refused at the add.
 */
export function exceedsDnsLimits(name: string): boolean {
  return name.length > 253 || name.split(".").some((label) => label.length > 63);
}

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
  if (inputs.callbackUrl !== undefined) {
    const odd = oddCharacters(inputs.callbackUrl);
    if (odd) return fail("callback.url", odd);
    return { ok: true, url: inputs.callbackUrl, source: "callback", path: "callback.url" };
  }

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
    const oddBase = oddCharacters(base);
    if (oddBase) return fail("content.sn", `the service's base URL ${oddBase}`);
    const odd = oddCharacters(url);
    if (odd) return fail("content.url", odd);
    return resolveUnderService(base, url);
  }

  if (inputs.defaultCallbackUrl !== undefined) {
    const odd = oddCharacters(inputs.defaultCallbackUrl);
    if (odd) return fail("callback", `the topic's default callback ${odd}`);
    return { ok: true, url: inputs.defaultCallbackUrl, source: "topic-default", path: "callback" };
  }
  return fail(
    "callback",
    "no callback: give callback.url, or content.sn and content.url, or configure the topic's defaultCallbackUrl",
  );
}

/**
 * C0 controls (U+0000–U+001F, which include TAB, LF and CR), DEL and the C1 controls (U+0080–U+009F). The WHATWG
 * URL parser silently removes TAB, LF and CR anywhere, trims C0 and spaces at the ends, and percent-encodes the
 * rest, so `https://a.example/x\n` and `https://a.example/x` would be one callback: the request would be changed
 * instead of refused. None of them is typed in a real URL; C1 ones are invisible, so they are refused as well.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this pattern's purpose.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/u;

/**
 * Why a raw URL is refused before parsing (control characters, spaces at its ends, a lone surrogate, which the URL
 * parser silently turns into U+FFFD's `%EF%BF%BD`), or undefined.
 */
export function oddCharacters(raw: string): string | undefined {
  const control = CONTROL_CHARACTERS.exec(raw);
  if (control) {
    const code = control[0].codePointAt(0) ?? 0;
    return `must not contain control characters (U+${code.toString(16).toUpperCase().padStart(4, "0")} at ${control.index})`;
  }
  if (raw.trim() !== raw) return "must not start or end with white space";
  return notWellFormed(raw);
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
  // Not `URL.canParse`: its Node 20 fast path misreads a non-ASCII target once warm (`canParseUrl`).
  if (canParseUrl(target)) {
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
  if (hidesDotSegment(resolved.pathname)) {
    return fail(
      "content.url",
      "must not contain encoded or decorated dot segments (`..%2F`, `%2e%2e%5C`, `..;`)",
    );
  }
  return { ok: true, url: resolved.href, source: "service", path: "content.url" };
}

/**
 * WHATWG has resolved every `.` and `..` it knows, so a dot segment left in the path is one it did not see: hidden
 * behind an encoded slash or backslash (`..%2Fadmin`, `%2e%2e%5Cadmin`) or a path parameter (`..;/admin`). The
 * receiver's side may still see it — nginx matches locations on the decoded, normalised path; Tomcat reads `..;`
 * as `..` — and route the callback above the base path. An encoded slash without dots (`orders%2F42`) is fine.
 */
function hidesDotSegment(pathname: string): boolean {
  const decoded = pathname.replace(/%([0-9a-f]{2})/gi, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
  return decoded.split(/[/\\]/).some((segment) => {
    const name = segment.split(";", 1)[0];
    return name === "." || name === "..";
  });
}

function fail(path: string, message: string): CallbackResolution {
  return { ok: false, issue: { path, message } };
}
