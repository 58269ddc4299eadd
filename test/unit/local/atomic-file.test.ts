import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeFileAtomic, writeFileAtomicSync } from "#local/runtime/atomic-file.js";

/** The local cloud's atomic file replacement: a file is either the old one or the new one, whole. */
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dir(): string {
  const made = mkdtempSync(join(tmpdir(), "punctual-atomic-"));
  dirs.push(made);
  return made;
}

describe("writeFileAtomicSync", () => {
  it("creates or replaces the file, leaving nothing else behind", () => {
    // Prepare
    const at = dir();
    const path = join(at, "state.json");

    // Act
    writeFileAtomicSync(path, "first");
    writeFileAtomicSync(path, "second");

    // Assess
    expect(readFileSync(path, "utf8")).toBe("second");
    expect(readdirSync(at)).toEqual(["state.json"]);
  });

  it("a write that fails leaves the old target as it was and removes its temporary file", () => {
    // Prepare: the target is a directory, so the final rename fails after the text was written
    const at = dir();
    const path = join(at, "state.json");
    mkdirSync(path);
    writeFileSync(join(path, "inside"), "old");

    // Act
    const write = () => writeFileAtomicSync(path, "new");

    // Assess
    expect(write).toThrow();
    expect(readdirSync(at)).toEqual(["state.json"]);
    expect(readFileSync(join(path, "inside"), "utf8")).toBe("old");
  });
});

describe("writeFileAtomic (async)", () => {
  it("creates or replaces the file, leaving nothing else behind", async () => {
    // Prepare
    const at = dir();
    const path = join(at, "state.json");

    // Act
    await writeFileAtomic(path, "first");
    await writeFileAtomic(path, "second");

    // Assess
    expect(readFileSync(path, "utf8")).toBe("second");
    expect(readdirSync(at)).toEqual(["state.json"]);
  });

  it("concurrent writes of one path each leave a whole file and no temporary one", async () => {
    // Prepare
    const at = dir();
    const path = join(at, "state.json");
    const texts = Array.from({ length: 8 }, (_, i) => String(i).repeat(100_000));

    // Act
    await Promise.all(texts.map((text) => writeFileAtomic(path, text)));

    // Assess
    expect(texts).toContain(readFileSync(path, "utf8"));
    expect(readdirSync(at)).toEqual(["state.json"]);
  });

  it("a write that fails leaves the old target as it was and removes its temporary file", async () => {
    // Prepare: the target is a directory, so the final rename fails after the text was written
    const at = dir();
    const path = join(at, "state.json");
    mkdirSync(path);
    writeFileSync(join(path, "inside"), "old");

    // Act
    const write = writeFileAtomic(path, "new");

    // Assess
    await expect(write).rejects.toThrow();
    expect(readdirSync(at)).toEqual(["state.json"]);
    expect(readFileSync(join(path, "inside"), "utf8")).toBe("old");
  });
});
