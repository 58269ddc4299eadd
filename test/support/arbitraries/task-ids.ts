import fc from "fast-check";
import { HARMLESS_HEADERS, oddString } from "./add-task-request.js";
import { ODD_METHODS } from "./hostile-posts.js";

/** GET/DELETE /v1/tasks/{id}: well-formed ids, their near misses, and hostile routes around them. */
// ---------------------------------------------------------------------------------------------------------
// GET and DELETE.
// ---------------------------------------------------------------------------------------------------------

export const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const wellFormedId = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(
        "demo",
        "small",
        "constructor",
        "prototype",
        "hasownproperty",
        "tostring",
        "valueof",
        "zzz",
      ),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,23}$/),
    ),
    fc.oneof(fc.constant("_"), fc.stringMatching(/^[A-Za-z0-9_-]{16}$/)),
    fc.oneof(fc.stringMatching(/^[0-9a-z]{1,11}$/), fc.constantFrom("zzzzzzzzzzz", "0", "mhx0z8ka")),
    fc.array(fc.constantFrom(...CROCKFORD), { minLength: 26, maxLength: 26 }).map((c) => c.join("")),
  )
  .map(([topic, group, due, ulid]) => `${topic}.${group}.${due}.${ulid}`);

export type IdMutation = (id: string, p: number, odd: string) => string;
export const ID_MUTATIONS: Record<string, IdMutation> = {
  identity: (id) => id,
  flipCase: (id, p) => {
    const i = Math.floor(p * id.length);
    const c = id.charAt(i);
    const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
    return id.slice(0, i) + flipped + id.slice(i + 1);
  },
  insertOdd: (id, p, odd) => {
    const i = Math.floor(p * (id.length + 1));
    return id.slice(0, i) + odd + id.slice(i);
  },
  replaceChar: (id, p, odd) => {
    const i = Math.floor(p * id.length);
    return id.slice(0, i) + (odd || "0") + id.slice(i + 1);
  },
  truncate: (id, p) => id.slice(0, Math.floor(p * id.length)),
  appendSlash: (id) => `${id}/`,
  dotDot: (id) => `../${id}`,
  dotDotEncoded: (id) => `..%2F${id}`,
  encodedSlash: (id) => id.replace(".", "%2F"),
  encodedDots: (id) => id.replaceAll(".", "%2E"),
  percentAll: (id) => [...id].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""),
  encodeURIComponent: (id) => encodeURIComponent(`${id}/x`),
  fullWidth: (id) =>
    [...id].map((c) => (c >= "!" && c <= "~" ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join(""),
  lowerUlid: (id) => id.slice(0, -26) + id.slice(-26).toLowerCase(),
  twice: (id) => `${id}${id}`,
  query: (id) => `${id}?x=1`,
  trailingSpace: (id) => `${id} `,
  trailingNewline: (id) => `${id}\n`,
  nul: (id) => `${id}\u0000`,
  long: (id) => id + "A".repeat(20_000),
  rtl: (id) => `\u202E${id}`,
  zeroWidth: (id) => id.replace(".", ".\u200B"),
  otherUlid: (id) => id.slice(0, -1) + (id.endsWith("0") ? "1" : "0"),
};

export const idCase = fc.record({
  route: fc.constantFrom("get" as const, "cancel" as const),
  target: fc.constantFrom("queue" as const, "schedule" as const, "queued" as const),
  id: fc.oneof(
    {
      weight: 5,
      arbitrary: fc.tuple(
        fc.constantFrom(...Object.keys(ID_MUTATIONS)),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        oddString(3, 1),
      ),
    },
    { weight: 2, arbitrary: wellFormedId },
    { weight: 2, arbitrary: oddString(40) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "",
        ".",
        "..",
        "/",
        "%2F",
        "%00",
        "\u0000",
        "null",
        "undefined",
        "__proto__",
        "constructor",
        "x".repeat(100_000),
      ),
    },
  ),
  params: fc.constantFrom("id", "id", "id", "id", "none", "empty-object", "other-name", "extra"),
  method: fc.oneof(
    { weight: 4, arbitrary: fc.constant("route") },
    { weight: 1, arbitrary: fc.constantFrom("route-lower", "route-mixed") },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        ...ODD_METHODS,
        "POST",
        "GET",
        "DELETE",
        "get",
        "delete",
        "dElEtE",
        "ｇｅｔ",
        undefined,
      ),
    },
  ),
  rawPath: fc.constantFrom(
    "/v1/tasks/x",
    "/v1/tasks/..%2F..",
    "/v1/tasks/%2e%2e/%2e%2e/etc/passwd",
    "/v1/tasks//",
  ),
  headers: HARMLESS_HEADERS,
  body: fc.option(fc.constantFrom("{", '{"status":"delivered"}', "x".repeat(5000)), { nil: undefined }),
});

/** Whether a method string names `route` the way the API must treat it: ASCII letters, any case. */
export function isMethod(method: string | undefined, route: string): boolean {
  return method !== undefined && /^[A-Za-z]+$/.test(method) && method.toUpperCase() === route;
}
