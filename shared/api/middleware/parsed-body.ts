import type { APIGatewayProxyEventV2 } from "aws-lambda";

/*
 * Where the JSON body middleware (json-body.ts) leaves the body it parsed, for the route to read. Apart from it so
 * that a route without a body bundles this lookup, not the parser.
 */
const parsedBodies = new WeakMap<object, unknown>();

/** The body `jsonBody` parsed for this event; undefined when the route takes none. */
export function parsedBody(event: APIGatewayProxyEventV2): unknown {
  return parsedBodies.get(event);
}

export function setParsedBody(event: APIGatewayProxyEventV2, value: unknown): void {
  parsedBodies.set(event, value);
}
