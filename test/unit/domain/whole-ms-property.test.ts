import fc from "fast-check";
import { expect, it } from "vitest";
import { msAtOrAfterInstant, msAtOrAfterSeconds } from "#shared/domain/whole-ms.js";

/**
 * whole-ms.ts against exact rational arithmetic (BigInt): for any decimal JSON or `String` writes (sign, leading
 * zero, fraction, exponent in either case) and any RFC 3339 date-time with a fraction and an offset, the result is
 * ⌈value × 1000⌉, compared wherever that is a safe integer.
 */

/** ⌈sign·whole.fraction·10^exp × 1000⌉, exactly. */
function ceilMs(sign: string, whole: string, fraction: string, exp: number): bigint {
  let p = BigInt(`${whole}${fraction}`);
  let q = 10n ** BigInt(fraction.length);
  const e = exp + 3;
  if (e >= 0) p *= 10n ** BigInt(e);
  else q *= 10n ** BigInt(-e);
  if (sign === "-") p = -p;
  const f = p >= 0n ? p / q : -((-p + q - 1n) / q); // floor
  return f * q === p ? f : f + 1n;
}

it("msAtOrAfterSeconds is the exact ceiling of the decimal in ms", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("", "-"),
      fc.oneof(fc.constant("0"), fc.stringMatching(/^[1-9][0-9]{0,15}$/)),
      fc.stringMatching(/^[0-9]{0,22}$/),
      fc.option(fc.integer({ min: -25, max: 12 })),
      fc.constantFrom("e", "E", "e+"),
      (sign, whole, fraction, exp, e) => {
        // `e+` only before a non-negative exponent (`1e+-5` is no number)
        const marker = e === "e+" && (exp ?? 0) < 0 ? "e" : e;
        const text = `${sign}${whole}${fraction ? `.${fraction}` : ""}${exp === null ? "" : `${marker}${exp}`}`;
        const expected = ceilMs(sign, whole, fraction, exp ?? 0);
        const got = msAtOrAfterSeconds(text);
        if (expected > 2n ** 53n || expected < -(2n ** 53n)) return;
        expect(Object.is(got, -0) ? 0 : got, text).toBe(Number(expected));
      },
    ),
    { numRuns: 5000 },
  );
});

it("msAtOrAfterInstant is the exact ceiling of the instant in ms, any offset", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -62167219200, max: 253402300799 }),
      fc.stringMatching(/^[0-9]{0,15}$/),
      fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
      (s, fraction, offMin) => {
        const base = new Date(s * 1000).toISOString().slice(0, 19);
        const local = new Date((s + offMin * 60) * 1000).toISOString().slice(0, 19);
        const sign = offMin < 0 ? "-" : "+";
        const a = Math.abs(offMin);
        const off = `${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
        const text = `${local}${fraction ? `.${fraction}` : ""}${off}`;
        const expected = s * 1000 + Number(ceilMs("", "0", fraction || "0", 0));
        if (local.startsWith("-") || local.startsWith("+")) return;
        expect(msAtOrAfterInstant(text), `${text} ${base}`).toBe(expected);
      },
    ),
    { numRuns: 5000 },
  );
});
