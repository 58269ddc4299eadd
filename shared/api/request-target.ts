/**
 * The path of a request target exactly as sent, and the rest (its `?query`, or nothing) apart. API Gateway's
 * documentation describes no path normalization for HTTP APIs (routes:
 * docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html), so the local servers take the
 * strict reading: the local API server routes on the path as sent (local/runtime/api-server.ts), and the console
 * (console/server.ts consoleHandler) takes only a path that is its own as sent. WHATWG URL parsing, used before,
 * resolved `..` and `.` segments (`%2e%2e` too), turned `\` into `/` and read `//x/v1/tasks` as host `x` and path
 * `/v1/tasks`, so such paths reached a route (or the console's local view) that they may not reach deployed. Now
 * they match none (`$default`, whose function answers 404). An absolute-form target (`http://host/v1/tasks`, RFC
 * 9112 §3.2.2) is its path part. Only the rest goes through URL (for the query): the whole target did, and one whose
 * start reads as a host no URL takes (`//x:99999/v1/tasks`, `//[/…`) threw, the API server's bare 500. (The local
 * cloud's prelude answers such a target its own 400 before either runs: console/server.ts, targetParses.)
 */
export function targetParts(target: string): RequestTarget {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  const afterAuthority = authority ? target.slice(authority[0].length) || "/" : target;
  const end = afterAuthority.search(/[?#]/);
  const path = end === -1 ? afterAuthority : afterAuthority.slice(0, end);
  // The rest starts with `?` or `#` (or is empty), so against a base it never throws.
  const { search, searchParams } = new URL(end === -1 ? "" : afterAuthority.slice(end), "http://localhost/");
  return { path, search, searchParams };
}

/** A request target's path as sent, and its query as the URL standard reads it (`search` with its `?`, or ""). */
export interface RequestTarget {
  readonly path: string;
  readonly search: string;
  readonly searchParams: URLSearchParams;
}
