import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tableAfter } from "./readme.js";

/**
 * docs/OPERATIONS.md's alarms table is what an on-call reader looks an alarm up in: it lists every alarm the stack creates
 * (by its construct id, the last part of the alarm's name) and none it does not.
 */
function alarmIdsInStack(): Set<string> {
  const dir = new URL("../../../cdk/lib/", import.meta.url);
  const sources = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => readFileSync(path.join(entry.parentPath, entry.name), "utf8"));
  return new Set(
    sources.flatMap((source) => [...source.matchAll(/\(\w+, "(\w+Alarm)"/g)].map((m) => m[1] as string)),
  );
}

function alarmIdsInDocs(): Set<string> {
  const cells = tableAfter("The alarms (each notifies the topic").map(([alarms]) => alarms ?? "");
  return new Set(cells.flatMap((cell) => [...cell.matchAll(/`(\w+Alarm)`/g)].map((m) => m[1] as string)));
}

describe("the alarms table (docs/OPERATIONS.md)", () => {
  it("lists exactly the alarms the stack creates", () => {
    const stack = alarmIdsInStack();
    expect(stack.size).toBeGreaterThanOrEqual(15);
    expect([...alarmIdsInDocs()].sort()).toEqual([...stack].sort());
  });
});
