import { describe, expect, it } from "vitest";
import { resolveCallback, resolveUnderService } from "#shared/domain/callback-resolution.js";

const services = { billing: "https://billing.example.com/api/v1", root: "http://127.0.0.1:4000" };

describe("resolveCallback: precedence", () => {
  it("prefers callback.url over everything", () => {
    const r = resolveCallback({
      callbackUrl: "https://explicit.example.com/x",
      content: { sn: "billing", url: "/notify" },
      services,
      defaultCallbackUrl: "https://default.example.com/",
    });
    expect(r).toEqual({
      ok: true,
      url: "https://explicit.example.com/x",
      source: "callback",
      path: "callback.url",
    });
  });

  it("uses content.sn + content.url next", () => {
    const r = resolveCallback({
      content: { sn: "billing", url: "/notify" },
      services,
      defaultCallbackUrl: "https://default.example.com/",
    });
    expect(r).toEqual({
      ok: true,
      url: "https://billing.example.com/api/v1/notify",
      source: "service",
      path: "content.url",
    });
  });

  it("falls back to the topic default", () => {
    const r = resolveCallback({
      content: { x: 1 },
      services,
      defaultCallbackUrl: "https://default.example.com/",
    });
    expect(r).toMatchObject({ ok: true, url: "https://default.example.com/", source: "topic-default" });
  });

  it("ignores a lone url or sn field (a link, a serial number) and uses the default", () => {
    expect(
      resolveCallback({
        content: { url: "https://x.example/" },
        services,
        defaultCallbackUrl: "https://d.example/",
      }),
    ).toMatchObject({ ok: true, source: "topic-default" });
    expect(
      resolveCallback({ content: { sn: "SN-123" }, services, defaultCallbackUrl: "https://d.example/" }),
    ).toMatchObject({ ok: true, source: "topic-default" });
  });

  it("refuses when there is no callback at all", () => {
    expect(resolveCallback({ content: {}, services })).toMatchObject({
      ok: false,
      issue: { path: "callback" },
    });
  });

  it("refuses an unknown service, naming the known ones", () => {
    const r = resolveCallback({ content: { sn: "nope", url: "/x" }, services });
    expect(r).toMatchObject({ ok: false, issue: { path: "content.sn" } });
    expect(!r.ok && r.issue.message).toContain("billing");
  });

  it("does not treat inherited properties as services", () => {
    expect(resolveCallback({ content: { sn: "constructor", url: "/x" }, services })).toMatchObject({
      ok: false,
    });
  });
});

describe("resolveUnderService", () => {
  const base = "https://billing.example.com/api/v1";
  it.each([
    ["/notify", "https://billing.example.com/api/v1/notify"],
    ["notify", "https://billing.example.com/api/v1/notify"],
    ["notify?x=1&y=2", "https://billing.example.com/api/v1/notify?x=1&y=2"],
    ["a/b/../c", "https://billing.example.com/api/v1/a/c"],
    ["", "https://billing.example.com/api/v1/"],
    ["https://billing.example.com/api/v1/hook", "https://billing.example.com/api/v1/hook"],
  ])("%s → %s", (target, expected) => {
    expect(resolveUnderService(base, target)).toMatchObject({ ok: true, url: expected });
  });

  it.each([
    ["https://evil.example.com/api/v1/hook", "origin"],
    ["http://billing.example.com/api/v1/hook", "origin"], // scheme change is another origin
    ["https://billing.example.com:8443/api/v1/hook", "origin"],
    ["//evil.example.com/x", "ok-under-base"],
    ["\\\\evil.example.com/x", "ok-under-base"],
    ["../admin", "path"],
    ["%2e%2e/admin", "path"],
    ["/../../admin", "path"],
    ["https://billing.example.com/admin", "path"],
    ["https://billing.example.com/api/v10/x", "path"], // a sibling that merely shares the prefix text
  ])("%s does not escape the service", (target, kind) => {
    const r = resolveUnderService(base, target);
    if (kind === "ok-under-base") {
      // Leading slashes are stripped: it becomes a path under the base, never another host.
      expect(r).toMatchObject({ ok: true });
      expect(r.ok && new URL(r.url).host).toBe("billing.example.com");
      expect(r.ok && new URL(r.url).pathname.startsWith("/api/v1/")).toBe(true);
    } else {
      expect(r).toMatchObject({ ok: false, issue: { path: "content.url" } });
    }
  });

  it.each([
    // WHATWG leaves these as they are (they are not dot segments to it), but a receiver's proxy that decodes
    // before normalising (nginx matches locations on the decoded, normalised path) or reads `..;` as `..`
    // (Tomcat) would route them to /api/admin or further up.
    "..%2fadmin",
    "..%2Fadmin",
    "x/..%2F..%2Fadmin",
    "%2e%2e%2fadmin",
    "%2E%2E%5Cadmin",
    ".%2e%5c..%5cadmin",
    "..;/admin",
    "x/..;x/..;/admin",
    "https://billing.example.com/api/v1/..%2f..%2fadmin",
  ])("%s does not escape the service through an encoded or decorated dot segment", (target) => {
    expect(resolveUnderService(base, target)).toMatchObject({ ok: false, issue: { path: "content.url" } });
  });

  it.each([
    ["orders%2F42/notify", "https://billing.example.com/api/v1/orders%2F42/notify"], // an encoded slash in an id
    ["v1.2/notify", "https://billing.example.com/api/v1/v1.2/notify"],
    ["..x/notify", "https://billing.example.com/api/v1/..x/notify"],
    ["a;b=1/notify", "https://billing.example.com/api/v1/a;b=1/notify"],
    ["100%25/x", "https://billing.example.com/api/v1/100%25/x"],
  ])("%s is an ordinary path under the service → %s", (target, expected) => {
    expect(resolveUnderService(base, target)).toMatchObject({ ok: true, url: expected });
  });

  it("works with a base URL that has no path", () => {
    expect(resolveUnderService("http://127.0.0.1:4000", "/hook")).toMatchObject({
      ok: true,
      url: "http://127.0.0.1:4000/hook",
    });
  });
});
