#!/usr/bin/env node
/**
 * Our npm registry mirror serves only the platform packages of the machines we run on (linux), so `npm install`
 * leaves the other platforms' optional binaries (biome's, esbuild's, msgpackr's…) out of package-lock.json and
 * `npm ci` then refuses the lock as out of sync. This adds each missing optional dependency as a
 * platform-gated optional entry, which npm skips on a non-matching platform and installs where it matches.
 * Run after every `npm install`: `npm run lock:complete`.
 */
import { readFileSync, writeFileSync } from "node:fs";

const OS = ["darwin", "win32", "android", "freebsd", "openbsd", "netbsd", "sunos", "aix", "linux"];
const CPU = ["arm64", "x64", "arm", "ia32", "ppc64", "s390x", "riscv64", "loong64", "mips64el"];

const file = process.argv[2] ?? "package-lock.json";
const lock = JSON.parse(readFileSync(file, "utf8"));
const packages = lock.packages;
const added = [];

for (const [path, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    const hoisted = `node_modules/${name}`;
    if (resolvable(path, name)) continue;
    const stub = { version: String(spec).replace(/^[\^~=]/, ""), optional: true };
    if (entry.dev) stub.dev = true;
    const os = OS.filter((o) => name.includes(o));
    const cpu = CPU.filter((c) => new RegExp(`(^|[-/])${c}($|-)`).test(name));
    if (os.length > 0) stub.os = os;
    if (cpu.length > 0) stub.cpu = cpu;
    if (name.includes("musl")) stub.libc = ["musl"];
    packages[hoisted] = stub;
    added.push(hoisted);
  }
}

/** Node's lookup: the package's own node_modules, then each ancestor's, up to the root. */
function resolvable(from, name) {
  let dir = from;
  for (;;) {
    if (packages[dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`]) return true;
    if (!dir) return false;
    const cut = dir.lastIndexOf("/node_modules/");
    dir = cut < 0 ? "" : dir.slice(0, cut);
  }
}

lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)),
);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(
  added.length ? `added ${added.length} platform stub(s):\n  ${added.join("\n  ")}\n` : "lock complete\n",
);
