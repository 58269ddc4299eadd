import { describe, expect, it, vi } from "vitest";

// The console's server and page build stand in: what is under test is the line the CLI writes for what it logs.
const logged = vi.hoisted(() => ({ log: undefined as ((line: string) => void) | undefined }));
vi.mock("../../../console/build.js", () => ({ ensureConsoleBuilt: async () => {} }));
vi.mock("../../../console/cli-server.js", () => ({
  startConsoleServer: async (options: { log?: (line: string) => void }) => {
    logged.log = options.log;
    return { url: "http://127.0.0.1:4000/console#token", stop: async () => {} };
  },
}));
vi.mock("../../../cli/until-stopped.js", () => ({ untilStopped: async () => "SIGINT" }));

const { main } = await import("../../../cli/main.js");

describe("punctual console's log lines (the errors its server meets: CloudWatch's, the API's way)", () => {
  it("are shown by the CLI's rule: an escape sequence or a carriage return in an error's message is escaped", async () => {
    // Prepare: the console run (it stops at once), its log kept
    const err: string[] = [];
    const io = { out: () => {}, err: (t: string) => void err.push(t), env: {} };
    expect(await main(["--api", "http://127.0.0.1:3000", "console", "--port", "0"], io)).toBe(0);

    // Act: an error whose message carries what a server sent
    logged.log?.("[console] metrics: \u001b]0;owned\u0007\u001b[2J\rall good C:\\x");

    // Assess
    expect(err.join("")).toBe("[console] metrics: \\u001b]0;owned\\u0007\\u001b[2J\\rall good C:\\\\x\n");
  });
});
