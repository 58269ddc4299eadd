import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";
import { scriptedFetch } from "./fakes.js";

/**
 * The client writes each route under the API URL's scheme, host and path (apiRouteUrl): a query or fragment in the
 * API URL was dropped without a word, so `?x-api-key=…` or a stage written `#prod` was never sent, and the calls went
 * out as something else than configured.
 */
const URLS = [
  "http://127.0.0.1:3000/prod?x-api-key=k1",
  "http://127.0.0.1:3000?stage=prod",
  "http://127.0.0.1:3000/#prod",
];

describe("an API URL with a query or fragment", () => {
  it.each(URLS)(
    "the client refuses it when made (a TypeError naming the part), never sending without it: %s",
    (apiUrl) => {
      // Prepare
      const { fetch } = scriptedFetch();

      // Act
      const make = () => new PunctualClient({ apiUrl, fetch });

      // Assess
      expect(make).toThrow(TypeError);
      expect(make).toThrow(/query or fragment/);
    },
  );

  it.each(URLS)("the CLI's --api: a usage error (exit 1), nothing sent: %s", async (apiUrl) => {
    // Prepare
    const { fetch, seen } = scriptedFetch();
    const err: string[] = [];
    const io = { out: () => {}, err: (t: string) => void err.push(t), env: {}, fetch };

    // Act
    const code = await main(["--api", apiUrl, "--json", "topics", "list"], io);

    // Assess
    expect(code).toBe(1);
    expect(seen).toEqual([]);
    expect(JSON.parse(err.join("")).error).toMatchObject({
      code: "usage",
      message: expect.stringMatching(/query or fragment/),
    });
  });

  it("an empty query or fragment (`?`, `#`) holds nothing to drop: taken as before", () => {
    // Act
    const client = new PunctualClient({
      apiUrl: "http://127.0.0.1:3000/prod?#",
      fetch: scriptedFetch().fetch,
    });

    // Assess
    expect(client.apiUrl.pathname).toBe("/prod");
  });
});
