/**
 * The SigV4 signature verifies however API Gateway reads the URL it was sent. Verified here without
 * @smithy/signature-v4 (the client's own signer), from the bytes sent, two ways: a server that canonicalizes the
 * raw path and query as they came (each path segment encoded once more, the query pairs as sent), and one that
 * decodes them first and encodes by RFC 3986. Equal only when what is sent is already RFC 3986's form: a raw `*`
 * or an encoded `~` reads differently in the two (API Gateway answered 403 to `*!()` in a query sent raw,
 * aws-amplify/amplify-js#2356).
 */
import { createHash, createHmac } from "node:crypto";
import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import { authorizer } from "../../../client/auth.js";
import { type SeenRequest, scriptedFetch, taskId, taskViewAnswer } from "./fakes.js";

const CREDENTIALS = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const AWS_URL = "https://abc123def4.execute-api.eu-west-1.amazonaws.com/";
const AWKWARD = "A*1~x(y)!'z é+w/v%2F";

const rfc3986 = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

type Reading = "as-sent" | "decoded";

function canonicalPath(path: string, reading: Reading): string {
  const segments = path.split("/").map((segment) => {
    const once = reading === "as-sent" ? segment : rfc3986(decodeURIComponent(segment));
    return rfc3986(once);
  });
  return segments.join("/");
}

function canonicalQuery(search: string, reading: Reading): string {
  if (search === "") return "";
  const pairs = search
    .slice(1)
    .split("&")
    .map((pair) => {
      const [name = "", value = ""] = pair.split("=");
      return reading === "as-sent"
        ? [name, value]
        : [rfc3986(decodeURIComponent(name)), rfc3986(decodeURIComponent(value))];
    });
  pairs.sort(([a = "", x = ""], [b = "", y = ""]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1));
  return pairs.map(([name, value]) => `${name}=${value}`).join("&");
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");
const hmac = (key: string | Buffer, text: string) => createHmac("sha256", key).update(text, "utf8").digest();

/** The signature a server reading the request `reading` computes. */
function serverSignature(request: SeenRequest, reading: Reading): string {
  const authorization = request.headers.authorization ?? "";
  const [, scope = "", signedHeaders = ""] =
    /Credential=AKIDEXAMPLE\/([^,]+), SignedHeaders=([^,]+),/.exec(authorization) ?? [];
  const headers: Record<string, string> = { ...request.headers, host: request.url.host };
  const canonical = [
    request.method,
    canonicalPath(request.url.pathname, reading),
    canonicalQuery(request.url.search, reading),
    ...signedHeaders.split(";").map((name) => `${name}:${headers[name]?.trim()}`),
    "",
    signedHeaders,
    sha256(request.body ?? ""),
  ].join("\n");
  const amzDate = request.headers["x-amz-date"] ?? "";
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
  const [day = "", region = "", service = ""] = scope.split("/");
  let key = hmac(`AWS4${CREDENTIALS.secretAccessKey}`, day);
  for (const part of [region, service, "aws4_request"]) key = hmac(key, part);
  return createHmac("sha256", key).update(toSign, "utf8").digest("hex");
}

function expectVerifiable(request: SeenRequest | undefined): void {
  const sent = /Signature=([0-9a-f]{64})$/.exec(request?.headers.authorization ?? "")?.[1];
  expect(sent).toBeDefined();
  for (const reading of ["as-sent", "decoded"] as const)
    expect(serverSignature(request as SeenRequest, reading), reading).toBe(sent);
}

describe("SigV4: what is sent is what is signed", () => {
  it("a query value with * ~ ( ) ! ' a space, + / % and non-ASCII verifies read as sent and read decoded", async () => {
    // Prepare
    const { fetch, seen } = scriptedFetch({ status: 200, body: { tasks: [], next_cursor: null } });
    const client = new PunctualClient({
      apiUrl: AWS_URL,
      auth: { kind: "iam", credentials: CREDENTIALS },
      fetch,
    });

    // Act
    await client.listGroupTasks({ topic: "demo", group: AWKWARD });

    // Assess
    expect(new URLSearchParams(seen[0]?.url.search).get("group")).toBe(AWKWARD);
    expectVerifiable(seen[0]);
  });

  it("a path parameter with the same characters verifies read as sent and read decoded", async () => {
    // Prepare
    const id = taskId();
    const { fetch, seen } = scriptedFetch({ status: 200, body: taskViewAnswer(id) });
    const client = new PunctualClient({
      apiUrl: AWS_URL,
      auth: { kind: "iam", credentials: CREDENTIALS },
      fetch,
    });

    // Act: the answer is another task's, which the client may refuse; only the request matters here.
    await client.getTask(AWKWARD, { includeContent: true }).catch(() => undefined);

    // Assess
    const segment = seen[0]?.url.pathname.split("/").at(-1) ?? "";
    expect(decodeURIComponent(segment)).toBe(AWKWARD);
    expectVerifiable(seen[0]);
  });
});

describe("SigV4 of a URL whose query names a parameter twice (the console's proxy signs the page's query as it came)", () => {
  it("signs every value, as API Gateway canonicalizes them (sorted by name, then value), so it verifies", async () => {
    // Prepare: the authorizer the client and `punctual console` sign with, and a query with a repeated name.
    const authorize = authorizer({ kind: "iam", credentials: CREDENTIALS }, new URL(AWS_URL));
    const url = new URL(`${AWS_URL}v1/tasks?topic=demo&group=b%20b&limit=5&group=a`);
    const headers = { accept: "application/json" };

    // Act
    const signed = await authorize({ method: "GET", url, headers });

    // Assess
    expectVerifiable({ url, method: "GET", headers: { ...headers, ...signed }, body: undefined });
  });
});

describe("a JWT never travels over plain http but to loopback", () => {
  it("jwt to http://punctual.example.com is refused when the client is made; SigV4 (no secret sent) is not", () => {
    // Act
    const jwt = () =>
      new PunctualClient({ apiUrl: "http://punctual.example.com/", auth: { kind: "jwt", token: "t0k" } });
    const iam = () =>
      new PunctualClient({
        apiUrl: "http://punctual.example.com/",
        auth: { kind: "iam", region: "eu-west-1", credentials: CREDENTIALS },
      });

    // Assess
    expect(jwt).toThrow(/https/);
    expect(iam).not.toThrow();
  });

  it("a host named like a loopback address (127.0.0.1.example.com) is no loopback: jwt refused, iam by default", () => {
    // Prepare: a domain name DNS may point anywhere; and IPv4 forms the URL parser writes as 127.0.0.1.
    const named = "http://127.0.0.1.example.com/";

    // Act
    const jwt = () => new PunctualClient({ apiUrl: named, auth: { kind: "jwt", token: "t0k" } });
    const byDefault = () => new PunctualClient({ apiUrl: named, env: {} });
    const loopbacks = [
      "http://127.0.0.1:3000/",
      "http://0x7f.1/",
      "http://2130706433/",
      "http://[::1]:3000/",
    ];

    // Assess: no region for the SigV4 it defaults to, so the default is iam, not none
    expect(jwt).toThrow(/https/);
    expect(byDefault).toThrow(/AWS region/);
    for (const apiUrl of loopbacks) {
      expect(() => new PunctualClient({ apiUrl, auth: { kind: "jwt", token: "t0k" } })).not.toThrow();
      expect(() => new PunctualClient({ apiUrl, env: {} })).not.toThrow();
    }
  });
});
