import { describe, expect, it } from "vitest";
import { errorText } from "../../../console/src/action.js";
import { ApiError } from "../../../console/src/api.js";

/** The page's error line shows the API's words by the rule of test/unit/domain/visible-text.test.ts. */
const RLO = "\u202e";

describe("errorText (an error line)", () => {
  it("shows what an API message echoes of a value as visible text", () => {
    const error = new ApiError(404, `no task "x${RLO}y"`, "not_found");
    expect(errorText(error)).toBe('not_found: no task "x\\u202ey"');
  });
});
