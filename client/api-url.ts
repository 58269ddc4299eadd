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
