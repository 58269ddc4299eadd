import { readFileSync } from "node:fs";
import semver from "semver";
import { describe, expect, it } from "vitest";

/**
 * `npm ci` prints an EBADENGINE warning for every installed package whose `engines.node` excludes the Node
 * running it. The project supports the oldest and newest lines its own `engines` names (docs/OPERATIONS.md, "Node
 * versions"), so every locked package must accept both; a dependency that needs a newer Node fails here, not as
 * a warning on a user's machine.
 */
interface LockEntry {
  readonly engines?: { readonly node?: unknown };
  readonly optional?: boolean;
  readonly os?: string[];
  readonly cpu?: string[];
}

const root = new URL("../../../", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
const lock = JSON.parse(readFileSync(new URL("package-lock.json", root), "utf8"));

/** The lowest version of each major line the project's range admits (e.g. 20.19.0 and 22.13.0). */
function supportedNodeVersions(range: string): string[] {
  return range.split("||").map((part) => semver.minVersion(part.trim())?.version ?? part);
}

describe("Node engines", () => {
  it("the project supports Node 20.19+ and 22.13+ (Lambda runs nodejs22.x)", () => {
    expect(supportedNodeVersions(pkg.engines.node)).toEqual(["20.19.0", "22.13.0"]);
    expect(lock.packages[""].engines.node).toBe(pkg.engines.node);
  });

  it("every locked package installed on this platform accepts every supported Node version", () => {
    const refused: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages as Record<string, LockEntry>)) {
      const range = entry.engines?.node;
      // Other platforms' optional binaries are never installed here (npm skips them by os/cpu).
      const otherPlatform = entry.optional && (entry.os || entry.cpu);
      if (!path || typeof range !== "string" || otherPlatform) continue;
      for (const version of supportedNodeVersions(pkg.engines.node)) {
        if (!semver.satisfies(version, range)) refused.push(`${path} (${range}) refuses Node ${version}`);
      }
    }
    expect(refused).toEqual([]);
  });
});
