import { describe, expect, it } from "vitest";
import { startFailureMessage } from "#local/cloud/start-failure.js";
import { DataDirInUseError } from "#local/runtime/data-dir-lock.js";

/** What `listen` rejects with when the port is taken (the worker thread passes code, address and port on). */
const addressInUse = (port: number) =>
  Object.assign(new Error(`listen EADDRINUSE: address already in use 127.0.0.1:${port}`), {
    code: "EADDRINUSE",
    syscall: "listen",
    address: "127.0.0.1",
    port,
  });

const ports = { port: 3000, awsPort: 4566 };

describe("why `npm start` could not start, in one line", () => {
  it("names the API port taken and the option that moves it", () => {
    const message = startFailureMessage(addressInUse(3000), ports);
    expect(message).toContain("127.0.0.1:3000");
    expect(message).toContain("--port");
    expect(message).not.toContain("--aws-port");
  });

  it("names the AWS endpoint's port taken and the option that moves it", () => {
    const message = startFailureMessage(addressInUse(4566), ports);
    expect(message).toContain("127.0.0.1:4566");
    expect(message).toContain("--aws-port");
  });

  it("says another local cloud may hold the port", () => {
    expect(startFailureMessage(addressInUse(3000), ports)).toMatch(/another local cloud/);
  });

  it("passes the data directory's refusal on as it is", () => {
    const error = new DataDirInUseError("/tmp/data", 42);
    expect(startFailureMessage(error, ports)).toBe(error.message);
  });

  it("leaves any other failure to its stack trace", () => {
    expect(startFailureMessage(new Error("boom"), ports)).toBeUndefined();
    expect(startFailureMessage("boom", ports)).toBeUndefined();
  });
});
