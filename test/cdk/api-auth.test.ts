/**
 * Who may call what on a JWT stack: `api.auth.scopes` names the scopes a token needs per route (API Gateway
 * admits a token holding at least one of them), `"*"` for every route not named. Without scopes any token for
 * the audience may call every route, an ID token included (AWS recommends scopes on every route).
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { API_ROUTE_KEYS } from "#shared/api/routes.js";
import { ConfigError, type EnvironmentConfigInput, parseConfig } from "#shared/config/index.js";

const ISSUER = "https://issuer.example.com/";

function jwtEnvironment(
  scopes?: Record<string, string[]>,
  audience: string[] = ["punctual-api"],
): EnvironmentConfigInput {
  return {
    name: "jwtenv",
    api: {
      auth: { type: "jwt", issuer: ISSUER, audience, ...(scopes ? { scopes } : {}) },
    },
    topics: { orders: { deliverBy: "order_id" } },
  } as EnvironmentConfigInput;
}

/** Each route key's `AuthorizationScopes` (undefined: none) as synthesized. */
function scopesByRoute(input: EnvironmentConfigInput): Record<string, string[] | undefined> {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const template = Template.fromStack(addPunctualStack(app, parseConfig(input)));
  const routes = template.findResources("AWS::ApiGatewayV2::Route");
  return Object.fromEntries(
    Object.values(routes).map((r) => [r.Properties.RouteKey, r.Properties.AuthorizationScopes]),
  );
}

/** The problems parsing and synthesis report, or [] when it synthesizes. */
function refusals(input: EnvironmentConfigInput): string[] {
  try {
    scopesByRoute(input);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.problems];
  }
}

describe("JWT scopes per route (api.auth.scopes)", () => {
  it("gives a named route its scopes and every other route the '*' scopes; $default needs none", () => {
    // Act
    const scopes = scopesByRoute(
      jwtEnvironment({
        "*": ["punctual/admin"],
        "POST /v1/tasks": ["punctual/add", "punctual/admin"],
        "POST /v1/tasks/batch": ["punctual/add", "punctual/admin"],
      }),
    );

    // Assess: $default only answers 404/405, so a token for the audience still learns a path is wrong.
    const add = ["punctual/add", "punctual/admin"];
    expect(scopes).toEqual({
      ...Object.fromEntries(API_ROUTE_KEYS.map((key) => [key, ["punctual/admin"]])),
      "POST /v1/tasks": add,
      "POST /v1/tasks/batch": add,
      $default: undefined,
    });
  });

  it("without scopes, no route asks for any (as before)", () => {
    // Act
    const scopes = scopesByRoute(jwtEnvironment());

    // Assess
    expect(Object.values(scopes).every((s) => s === undefined)).toBe(true);
  });

  it("refuses a key that is no route (a typo would leave that route to any token) and unusable scopes", () => {
    // Act
    const unknown = refusals(jwtEnvironment({ "POST /v1/task": ["punctual/add"], "*": ["punctual/admin"] }));
    const empty = refusals(jwtEnvironment({ "*": [] }));
    const spaced = refusals(jwtEnvironment({ "*": ["punctual admin"] }));

    // Assess
    expect(unknown).toEqual([
      expect.stringMatching(/^field "api\.auth\.scopes": "POST \/v1\/task" is no route/),
    ]);
    expect(empty).toEqual([expect.stringMatching(/api\.auth\.scopes\.\*/)]);
    expect(spaced).toEqual([expect.stringMatching(/api\.auth\.scopes\.\*\.0/)]);
  });

  it("refuses at synth what API Gateway refuses at deploy: more than 10 scopes on a route, more than 50 audiences", () => {
    // Prepare: HTTP API quotas "Scopes per route: 10" and "Audiences per authorizer: 50", neither can be raised
    // (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
    const scopes = (n: number) => Array.from({ length: n }, (_, i) => `punctual/s${i}`);
    const audiences = (n: number) => Array.from({ length: n }, (_, i) => `client-${i}`);

    // Act
    const atQuota = refusals(
      jwtEnvironment({ "*": scopes(10), "POST /v1/tasks": scopes(10) }, audiences(50)),
    );
    const starOver = refusals(jwtEnvironment({ "*": scopes(11) }));
    const routeOver = refusals(jwtEnvironment({ "*": scopes(1), "POST /v1/tasks": scopes(11) }));
    const audienceOver = refusals(jwtEnvironment(undefined, audiences(51)));

    // Assess
    expect(atQuota).toEqual([]);
    expect(starOver).toEqual([
      expect.stringMatching(
        /^field "api\.auth\.scopes": "\*" lists 11 scopes; API Gateway takes at most 10 per route/,
      ),
    ]);
    expect(routeOver).toEqual([
      expect.stringMatching(
        /^field "api\.auth\.scopes": "POST \/v1\/tasks" lists 11 scopes; API Gateway takes at most 10/,
      ),
    ]);
    expect(audienceOver).toEqual([
      expect.stringMatching(
        /^field "api\.auth\.audience": 51 audiences; API Gateway's JWT authorizer takes at most 50/,
      ),
    ]);
  });
});
