import { isPunctualError, type PunctualError } from "punctual/client";
import { HttpError } from "#shared/api/errors.js";

/** The HttpError a call is refused with; fails the test when the call succeeds or throws anything else. */
export async function refusal(promise: Promise<unknown>): Promise<HttpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof HttpError)) throw new Error(`expected an HttpError, got ${String(error)}`);
  return error;
}

/** The PunctualError a client call is refused with; fails the test when the call succeeds or throws anything else. */
export async function clientRefusal(promise: Promise<unknown>): Promise<PunctualError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isPunctualError(error)) throw new Error(`expected a PunctualError, got ${String(error)}`);
  return error;
}
