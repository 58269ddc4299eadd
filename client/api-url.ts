/**
 * Why the client cannot call this API URL, never quoting its password (or its query); undefined when it can. fetch refuses a URL
 * with credentials in it only when a request is made, with an error that quotes the whole URL (password included)
 * into logs, and other schemes than http(s) fail as "network errors" retried four times.
 */
export function apiUrlProblem(url: URL): string | undefined {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `the API URL must be http: or https:, not ${url.protocol}`;
  }
  if (url.username !== "" || url.password !== "") {
    return "the API URL must hold no user name or password: auth is iam, jwt or none";
  }
  // Each route is written under the URL's scheme, host and path (apiRouteUrl): a query (`?x-api-key=…`) or fragment
  // would be dropped without a word, the calls sent as something else than configured. Not quoted: it may be a key.
  if (url.search !== "" || url.hash !== "") {
    return "the API URL must hold no query or fragment (?…, #…): the client would send its calls without it";
  }
  return undefined;
}

/**
 * A URL as text with its `user:password@` part hidden, for an error about a URL that did not parse. Hidden up to
 * the last `@`: a password typed raw may hold `/`, `?` or `#` (base64 ones often hold `/`), which is what makes such
 * a URL not parse (the authority ends there, and the rest reads as an invalid port), so no URL rule tells where its
 * credentials end. A path's `@` hides the host too; a password is never shown.
 */
export function withoutCredentials(text: string): string {
  const at = text.lastIndexOf("@");
  if (at === -1) return text;
  const slashes = text.indexOf("//");
  const from = slashes !== -1 && slashes < at ? slashes + 2 : 0;
  return `${text.slice(0, from)}…${text.slice(at)}`;
}

/**
 * `apiUrl` as a URL. Node's own refusal of a text that does not parse carries the whole text in its `input` field,
 * which every logger that prints an error's fields (console.log, util.inspect, Powertools, pino) writes out, a
 * password in it included; this one quotes it without its credentials.
 */
export function parsedApiUrl(apiUrl: string | URL): URL {
  if (apiUrl instanceof URL) return new URL(apiUrl.href);
  try {
    return new URL(apiUrl);
  } catch {
    // Not Node's error as a cause: it is the one carrying the text.
    throw new TypeError(`the API URL is not an absolute URL: "${withoutCredentials(apiUrl)}"`);
  }
}

/**
 * The URL of `route` (a path and its query) under the API URL's path: a stage path (`/prod`) kept, trailing slashes
 * dropped. Written out whole from the API's own scheme and host, never resolved against the API URL: a path that
 * starts with two slashes (`https://api.example//prod`) would read as scheme-relative there, and the call, its
 * signature or bearer token with it, go to the host `prod`.
 */
export function apiRouteUrl(apiUrl: URL, route: string): URL {
  return new URL(`${apiUrl.protocol}//${apiUrl.host}${apiUrl.pathname.replace(/\/+$/, "")}${route}`);
}

/**
 * Writes `url`'s query parameters back in RFC 3986's form, the one SigV4 signs: every space as `%20`, `*` as
 * `%2A`, `~` as itself. URLSearchParams writes a space as `+`, which only form decoding reads as a space: SigV4
 * signs a space as `%20` and reads a raw `+` as a plus (AWS's signing docs: a space "must be encoded as %20 (and
 * not as +)"), so a signed call with a space in a value (a group `A 1001`) would not verify, and what API Gateway
 * hands the function for a raw `+` its docs do not say. A literal plus is already `%2B` in URLSearchParams'
 * output, so every `+` left in it is a space. It also leaves `*` raw and writes `~` as `%7E`, which the signer
 * signs the other way round: a server canonicalizing the query as it came would then refuse the signature (API
 * Gateway answered 403 to a raw `*`, aws-amplify/amplify-js#2356). Sent in the signed form, it verifies read
 * either way, and decodes to the same value.
 */
export function withPercentEncodedQuery(url: URL): URL {
  const query = url.searchParams
    .toString()
    .replaceAll("+", "%20")
    .replaceAll("*", "%2A")
    .replaceAll("%7E", "~");
  url.search = query === "" ? "" : `?${query}`;
  return url;
}

/**
 * A path parameter in RFC 3986's form, as SigV4 encodes it: encodeURIComponent leaves `!'()*` raw, which a server
 * decoding the path before canonicalizing signs another way than one that takes it as it came. Encoded, both
 * agree, and the value decodes the same.
 */
export function pathSegment(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
