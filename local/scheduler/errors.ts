/**
 * The error shapes of the EventBridge Scheduler model (com.amazonaws.scheduler). The AWS SDK and the AWS CLI
 * both pick the exception class from the `x-amzn-errortype` header and read `Message` from the JSON body.
 */
export type SchedulerErrorType =
  | "ValidationException"
  | "ConflictException"
  | "ResourceNotFoundException"
  | "ServiceQuotaExceededException"
  | "ThrottlingException"
  | "InternalServerException"
  | "SerializationException"
  | "UnknownOperationException";

const STATUS: Record<SchedulerErrorType, number> = {
  ValidationException: 400,
  ConflictException: 409,
  ResourceNotFoundException: 404,
  ServiceQuotaExceededException: 402,
  ThrottlingException: 429,
  InternalServerException: 500,
  SerializationException: 400,
  UnknownOperationException: 404,
};

export class SchedulerError extends Error {
  readonly type: SchedulerErrorType;
  readonly status: number;

  constructor(type: SchedulerErrorType, message: string) {
    super(message);
    this.name = type;
    this.type = type;
    this.status = STATUS[type];
  }
}

/** One failed constraint, worded the way AWS's request validation words it. */
export interface ConstraintViolation {
  readonly path: string;
  readonly value: unknown;
  readonly constraint: string;
}

/** AWS reports every violated constraint of a request at once ("2 validation errors detected: …"). */
export function validationError(violations: readonly ConstraintViolation[]): SchedulerError {
  const parts = violations.map(
    (v) => `Value ${describeValue(v.value)} at '${v.path}' failed to satisfy constraint: ${v.constraint}`,
  );
  const count = violations.length;
  return new SchedulerError(
    "ValidationException",
    `${count} validation error${count === 1 ? "" : "s"} detected: ${parts.join("; ")}`,
  );
}

function describeValue(value: unknown): string {
  if (value === undefined || value === null) return "null";
  if (typeof value === "string") return `'${value}'`;
  if (typeof value === "number" || typeof value === "boolean") return `'${String(value)}'`;
  return `'${JSON.stringify(value)}'`;
}
