import { describe, expect, it } from "vitest";
import {
  conflict,
  DEPENDENCY_FAILED_MESSAGE,
  GENERIC_INTERNAL_MESSAGE,
  HttpError,
  internalError,
  serviceUnavailable,
  THROTTLED_MESSAGE,
  toHttpError,
  validationFailed,
} from "#shared/api/errors.js";

describe("HttpError bodies", () => {
  it("shows 4xx messages and issues", () => {
    expect(validationFailed([{ path: "topic", message: "is required" }]).toBody()).toEqual({
      error: {
        code: "validation_failed",
        message: "the request is invalid",
        issues: [{ path: "topic", message: "is required" }],
      },
    });
  });

  it("omits an empty issue list", () => {
    expect(conflict("busy").toBody()).toEqual({ error: { code: "conflict", message: "busy" } });
  });

  it("never shows a 5xx message unless we wrote it for the client", () => {
    const leaky = new HttpError(500, "internal_error", "password=hunter2");
    expect(leaky.toBody().error.message).toBe(GENERIC_INTERNAL_MESSAGE);
    expect(serviceUnavailable("retry later").toBody().error.message).toBe("retry later");
    expect(internalError(new Error("db down")).toBody().error.message).toBe(GENERIC_INTERNAL_MESSAGE);
  });

  it("turns anything else into an unexposed 500", () => {
    const error = toHttpError(new Error("ECONNREFUSED 10.0.0.5:8000"));
    expect(error).toMatchObject({ status: 500, code: "internal_error", expose: false });
    expect(JSON.stringify(error.toBody())).not.toContain("10.0.0.5");
    expect(toHttpError("a string")).toMatchObject({ status: 500 });
  });

  it("turns an AWS throttling error the SDK gave up on into a retryable 503, and leaks nothing of it", () => {
    // Prepare: errors shaped as the SDK throws them (name and $metadata; throttling by name or by trait)
    const provisioned = Object.assign(
      new Error("Throughput exceeds the current capacity of table tasks-123"),
      {
        name: "ProvisionedThroughputExceededException",
        $metadata: { httpStatusCode: 400 },
      },
    );
    const byTrait = Object.assign(new Error("Rate exceeded"), {
      name: "SomethingNew",
      $metadata: { httpStatusCode: 400 },
      $retryable: { throttling: true },
    });
    const conditional = Object.assign(new Error("The conditional request failed"), {
      name: "ConditionalCheckFailedException",
      $metadata: { httpStatusCode: 400 },
    });

    // Act
    const answers = [provisioned, byTrait, conditional].map(toHttpError);

    // Assess
    expect(answers.map((e) => [e.status, e.code, e.headers?.["retry-after"]])).toEqual([
      [503, "service_unavailable", "1"],
      [503, "service_unavailable", "1"],
      [500, "internal_error", undefined],
    ]);
    expect(answers[0]?.toBody().error.message).toBe(THROTTLED_MESSAGE);
    expect(JSON.stringify(answers[0]?.toBody())).not.toContain("tasks-123");
  });

  it("turns an AWS call that failed for now past the SDK's retries (timeout, reset, 5xx) into a retryable 503, and a bug into a 500", () => {
    // Prepare: errors shaped as the SDK throws them
    const timeout = Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
    const reset = Object.assign(new Error("read ECONNRESET"), { name: "Error", code: "ECONNRESET" });
    const internal = Object.assign(new Error("We encountered an internal error in table tasks-123"), {
      name: "InternalServerError",
      $fault: "server",
      $metadata: { httpStatusCode: 500 },
    });
    const unavailable = Object.assign(new Error("Service unavailable"), {
      name: "ServiceUnavailable",
      $metadata: { httpStatusCode: 503 },
    });
    const bug = new TypeError("Cannot read properties of undefined (reading 'pk')");

    // Act
    const answers = [timeout, reset, internal, unavailable, bug].map(toHttpError);

    // Assess
    expect(answers.map((e) => [e.status, e.code, e.headers?.["retry-after"]])).toEqual([
      [503, "service_unavailable", "1"],
      [503, "service_unavailable", "1"],
      [503, "service_unavailable", "1"],
      [503, "service_unavailable", "1"],
      [500, "internal_error", undefined],
    ]);
    expect(answers[2]?.toBody().error.message).toBe(DEPENDENCY_FAILED_MESSAGE);
    expect(JSON.stringify(answers[2]?.toBody())).not.toContain("tasks-123");
  });

  it("does not let details override the code or message", () => {
    const error = new HttpError(409, "conflict", "m", {
      details: { code: "x", message: "y", task_status: "queued" },
    });
    expect(error.toBody()).toEqual({ error: { code: "conflict", message: "m", task_status: "queued" } });
  });
});
