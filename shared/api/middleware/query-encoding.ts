import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { validationFailed } from "#shared/api/errors.js";
import { echoed } from "#shared/domain/echoed.js";

/** A run of percent-escapes: the bytes one or more characters are written in. */
const ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * A query key or value whose percent-escapes are not UTF-8 (`?group=caf%E9`, a Latin-1 client's `café`; `%ED%A0%80`,
 * a lone surrogate) is a 400 naming it, before the route reads its parameters. The URL standard's reading, which the
 * local API server's `queryStringParameters` follow, makes each such byte U+FFFD, and AWS documents no other: the
 * route would list or cancel the group `caf\uFFFD`, which no task has, and answer as if the group were empty or
 * clear. The same value in the path matches no route (404). Read from the raw string, as API Gateway passes it; a `%`
 * that starts no escape (`100%`) is itself, as the URL standard reads it.
 */
export function queryEncodingGuard(): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      const issues = [];
      for (const pair of (event.rawQueryString ?? "").split("&")) {
        const [key = "", value = ""] = pair.split(/=(.*)/s);
        if (utf8Escapes(key) && utf8Escapes(value)) continue;
        const [name = ""] = new URLSearchParams(pair).keys();
        issues.push({ path: echoed(name), message: NOT_UTF8 });
      }
      if (issues.length > 0) throw validationFailed(issues, "a query parameter is not UTF-8");
    },
  };
}

export const NOT_UTF8 =
  "is not UTF-8 once its %-escapes are decoded: encode the text as UTF-8 (é is %C3%A9), as URLSearchParams and encodeURIComponent do";

/** Whether every run of %-escapes in `text` decodes as UTF-8 (none at all included). */
export function utf8Escapes(text: string): boolean {
  for (const escapes of text.match(ESCAPES) ?? []) {
    try {
      decodeURIComponent(escapes);
    } catch {
      return false;
    }
  }
  return true;
}
