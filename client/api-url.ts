/**
 * Why the client cannot call this API URL, never quoting its password; undefined when it can. fetch refuses a URL
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
  return undefined;
}

/** A URL as text with its `user:password@` part hidden, for an error about a URL that did not parse. */
export function withoutCredentials(text: string): string {
  return text.replace(/\/\/[^/?#]*@/, "//…@");
}

/**
 * Writes `url`'s query parameters back with every space as `%20`. URLSearchParams writes a space as `+`, which
 * only form decoding reads as a space: SigV4 signs a space as `%20` and reads a raw `+` as a plus (AWS's signing
 * docs: a space "must be encoded as %20 (and not as +)"), so a signed call with a space in a value (a group
 * `A 1001`) would not verify, and what API Gateway hands the function for a raw `+` its docs do not say. A literal
 * plus is already `%2B` in URLSearchParams' output, so every `+` left in it is a space.
 */
export function withPercentEncodedQuery(url: URL): URL {
  const query = url.searchParams.toString().replaceAll("+", "%20");
  url.search = query === "" ? "" : `?${query}`;
  return url;
}
