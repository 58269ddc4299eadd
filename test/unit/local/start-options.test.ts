import { afterEach, describe, expect, it } from "vitest";
import { parseStartOptions } from "#local/bin/start-options.js";

const saved = { PORT: process.env.PORT, AWS_PORT: process.env.AWS_PORT };
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** Parses `npm start`'s arguments; a refusal is thrown with commander's one-line message instead of exiting. */
function parse(args: string[], env: Record<string, string> = {}) {
  delete process.env.PORT;
  delete process.env.AWS_PORT;
  Object.assign(process.env, env);
  let stderr = "";
  try {
    return parseStartOptions(["node", "start.ts", ...args], {
      exitOverride: true,
      writeErr: (text) => {
        stderr += text;
      },
    });
  } catch {
    throw new Error(stderr.trim());
  }
}

describe("npm start's options", () => {
  it("defaults to ports 3000 and 4566", () => {
    expect(parse([])).toMatchObject({ port: 3000, awsPort: 4566 });
  });

  it("takes the ports from PORT and AWS_PORT, and the flags over them", () => {
    expect(parse([], { PORT: "3100", AWS_PORT: "4600" })).toMatchObject({ port: 3100, awsPort: 4600 });
    expect(parse(["--port", "3200"], { PORT: "3100" })).toMatchObject({ port: 3200 });
  });

  it("refuses a port that is not one, from a flag or from the environment, before starting anything", () => {
    expect(() => parse(["--port", "70000"])).toThrow(/--port.*70000/);
    expect(() => parse(["--aws-port", "65536"])).toThrow(/--aws-port.*65536/);
    expect(() => parse([], { PORT: "abc" })).toThrow(/PORT.*abc|abc.*PORT/);
    expect(() => parse([], { AWS_PORT: "4566x" })).toThrow(/AWS_PORT/);
    expect(() => parse([], { PORT: "" })).toThrow(/PORT/);
  });

  it("refuses a firing window the Scheduler emulator cannot take (0-60 s)", () => {
    expect(parse(["--firing-window", "60"])).toMatchObject({ firingWindow: 60 });
    expect(() => parse(["--firing-window", "61"])).toThrow(/--firing-window.*61/);
  });

  it("keeps its other options' defaults", () => {
    expect(parse([])).toMatchObject({
      firingWindow: 0,
      faultSeed: 1,
      settings: ".punctual/local-settings.json",
      verbose: false,
    });
    expect(parse(["--data", "d", "--faults", "0.1"])).toMatchObject({ data: "d", faults: 0.1 });
  });
});
