import { afterEach, describe, expect, it } from "vitest";
import { localCloudOptions, parseStartOptions } from "#local/bin/start-options.js";

const saved = {
  PORT: process.env.PORT,
  AWS_PORT: process.env.AWS_PORT,
  PUNCTUAL_LOCAL_EMULATORS: process.env.PUNCTUAL_LOCAL_EMULATORS,
  PUNCTUAL_LOCAL_FUNCTION_HOSTS: process.env.PUNCTUAL_LOCAL_FUNCTION_HOSTS,
};
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** Parses `npm start`'s arguments; a refusal is thrown with commander's one-line message instead of exiting. */
function parse(args: string[], env: Record<string, string> = {}) {
  for (const name of Object.keys(saved)) delete process.env[name];
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

  it("refuses the same port for the API and the AWS endpoint before starting anything; 0 on both is two free ports", () => {
    expect(() => parse(["--port", "4600", "--aws-port", "4600"])).toThrow(/--port and --aws-port.*4600/);
    expect(() => parse([], { PORT: "4600", AWS_PORT: "4600" })).toThrow(/PORT and AWS_PORT.*4600/);
    expect(() => parse(["--aws-port", "3000"])).toThrow(/both 3000/);
    expect(parse(["--port", "0", "--aws-port", "0"])).toMatchObject({ port: 0, awsPort: 0 });
  });

  it("refuses --fault-seed without --faults (a run meant to reproduce faults would have had none)", () => {
    expect(() => parse(["--fault-seed", "7"])).toThrow(/--fault-seed.*--faults/);
    expect(() => parse(["--fault-seed", "7", "--faults", "0"])).toThrow(/--fault-seed.*--faults/);
    expect(parse(["--fault-seed", "7", "--faults", "0.1"])).toMatchObject({ faultSeed: 7, faults: 0.1 });
  });

  it("refuses an empty value rather than reading it as 0 or as no --data (everything kept in memory only)", () => {
    expect(() => parse(["--data", ""])).toThrow(/--data.*must not be empty/);
    expect(() => parse(["--settings", " "])).toThrow(/--settings.*must not be empty/);
    expect(() => parse(["--firing-window", ""])).toThrow(/--firing-window/);
    expect(() => parse(["--faults", ""])).toThrow(/--faults/);
    expect(() => parse(["--fault-seed", " "])).toThrow(/--fault-seed/);
  });

  it("refuses a PUNCTUAL_LOCAL_* value it does not know rather than running the default layout without a word", () => {
    expect(() => parse([], { PUNCTUAL_LOCAL_EMULATORS: "childs" })).toThrow(
      /PUNCTUAL_LOCAL_EMULATORS is "childs".*thread, child, in-process/,
    );
    expect(() => parse([], { PUNCTUAL_LOCAL_FUNCTION_HOSTS: "true" })).toThrow(
      /PUNCTUAL_LOCAL_FUNCTION_HOSTS is "true".*0, 1/,
    );
    expect(
      parse([], { PUNCTUAL_LOCAL_EMULATORS: "child", PUNCTUAL_LOCAL_FUNCTION_HOSTS: "1" }),
    ).toMatchObject({
      port: 3000,
    });
    expect(parse([], { PUNCTUAL_LOCAL_EMULATORS: "", PUNCTUAL_LOCAL_FUNCTION_HOSTS: "" })).toMatchObject({
      port: 3000,
    });
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

  it("with --verbose prints the functions' metric lines and every log line; without, only errors and settings", () => {
    // Prepare
    const written: string[] = [];
    const io = { signingSecret: "whsec_dGVzdA==", writeErr: (text: string) => written.push(text) };

    // Act
    const verbose = localCloudOptions(parse(["--verbose"]), io);
    const quiet = localCloudOptions(parse([]), io);
    verbose.log?.("[aws] scheduler: listening");
    quiet.log?.("[aws] scheduler: listening");
    quiet.log?.("[deliver] receive failed: socket hang up");

    // Assess
    expect(verbose.printMetrics).toBe(true);
    expect(quiet.printMetrics).toBe(false);
    expect(written).toEqual(["[aws] scheduler: listening\n", "[deliver] receive failed: socket hang up\n"]);
  });

  it("passes the ports, data directory, firing window, settings file, secret and faults on", () => {
    // Prepare
    const io = { signingSecret: "whsec_dGVzdA==", writeErr: () => undefined };
    const args = ["--port", "3100", "--aws-port", "4600", "--data", "d", "--firing-window", "5"];

    // Act
    const options = localCloudOptions(parse([...args, "--faults", "0.2", "--fault-seed", "7"]), io);

    // Assess
    expect(options).toMatchObject({
      apiPort: 3100,
      awsPort: 4600,
      dataDir: "d",
      firingWindowSeconds: 5,
      settingsFile: ".punctual/local-settings.json",
      signingSecret: "whsec_dGVzdA==",
      faults: { seed: 7 },
    });
    expect(Object.values(options.faults?.rates ?? {}).reduce((sum, r) => sum + (r ?? 0), 0)).toBeCloseTo(0.2);
  });
});
