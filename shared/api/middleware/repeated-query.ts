import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { validationFailed } from "#shared/api/errors.js";
import { echoed } from "#shared/domain/echoed.js";

/**
 * A query key given more than once is a 400 naming it, before the route reads its parameters. API Gateway (HTTP
 * API, payload 2.0) joins a repeated key's values with a comma in `queryStringParameters` (`?group=a&group=b` →
 * `"a,b"`), so a route reading that map would act on a value nobody sent: list the group "a,b", cancel it. Only
 * the raw query string still shows the repeat; its keys are decoded as API Gateway decodes them (`%61` is `a`).
 */
export function repeatedQueryGuard(): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      const seen = new Set<string>();
      const repeated = new Set<string>();
      for (const name of new URLSearchParams(event.rawQueryString ?? "").keys()) {
        if (seen.has(name)) repeated.add(name);
        seen.add(name);
      }
      if (repeated.size === 0) return;
      const issues = [...repeated].map((name) => ({
        // Cut as every refusal cuts a value the caller sent (echoed.ts): a key may be kilobytes long.
        path: echoed(name),
        message: "given more than once; give it once",
      }));
      throw validationFailed(issues, "a query parameter is repeated");
    },
  };
}
