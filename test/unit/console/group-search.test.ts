import { describe, expect, it } from "vitest";
import { query } from "../../../console/src/api.js";
import { groupLabel, groupToList } from "../../../console/src/group-search.js";

/**
 * The console's group search lists exactly the group the operator names: a value with spaces around it is its own
 * group, and the group whose value is the empty string is asked for by its own control (an empty field is no search).
 */
describe("the console's group search", () => {
  it("lists the group exactly as typed: spaces around a value are part of it", () => {
    // Act
    const groups = [" A", "A ", "A", " "].map((typed) => groupToList(typed, false));

    // Assess
    expect(groups).toEqual([" A", "A ", "A", " "]);
  });

  it("lists nothing for an empty field, and the empty group only when asked for it", () => {
    // Act
    const none = groupToList("", false);
    const empty = [groupToList("", true), groupToList("typed before ticking", true)];

    // Assess
    expect(none).toBeUndefined();
    expect(empty).toEqual(["", ""]);
  });

  it("sends the group as given, the empty group as group= with the key present", () => {
    // Act
    const spaced = new URLSearchParams(query({ topic: "t", group: " A", cursor: undefined }));
    const empty = new URLSearchParams(query({ topic: "t", group: "", cursor: undefined }));

    // Assess
    expect(spaced.get("group")).toBe(" A");
    expect(empty.get("group")).toBe("");
    expect([...empty.keys()]).toEqual(["topic", "group"]);
  });

  it("names a group between quotation marks, so its spaces and an empty value show, with hidden characters escaped", () => {
    // Act
    const labels = [" A", "", "A\u202eB"].map(groupLabel);

    // Assess
    expect(labels).toEqual(["\u201c A\u201d", "\u201c\u201d", "\u201cA\\u202eB\u201d"]);
  });
});
