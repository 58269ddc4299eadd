import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";

/**
 * Every answer of the API, success or error: a JSON body that no cache keeps and no browser sniffs as
 * another type. Headers given by the route come first, so these three can never be overridden.
 */
export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: {
      ...headers,
      "content-type": "application/json",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
    body: JSON.stringify(body),
  };
}
