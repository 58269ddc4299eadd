import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { userDocs } from "./readme.js";

/** Every output the stack declares is named in the user docs (./readme.ts), which tell an operator what each is for. */
describe("the user docs' stack outputs", () => {
  it("names every CfnOutput of cdk/lib/punctual-stack.ts", () => {
    const source = readFileSync(new URL("../../../cdk/lib/punctual-stack.ts", import.meta.url), "utf8");
    const outputs = [...source.matchAll(/new CfnOutput\(\w+, "(\w+)"/g)].map((m) => m[1] as string);
    expect(outputs.length).toBeGreaterThanOrEqual(8);
    expect(outputs.filter((output) => !userDocs.includes(`\`${output}\``))).toEqual([]);
  });
});
