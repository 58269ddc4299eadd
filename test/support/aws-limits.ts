import type { AttributeValue } from "@aws-sdk/client-dynamodb";

/**
 * AWS limits our calls must respect where the local emulators may not check them (or check them only after the
 * fact, as a failed call). Each is DynamoDB's documented constraint, checked on the commands the adapters build
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html, "Partition keys and sort
 * keys"): a partition key value of 1–2,048 bytes, a sort key value of 1–1,024 bytes (UTF-8 for strings).
 */
export const DYNAMO_PARTITION_KEY_BYTES = 2048;
export const DYNAMO_SORT_KEY_BYTES = 1024;

/** The keys a DynamoDB command names: `Key` (Get/Update/Delete) or the key attributes of `Item` (Put). */
function keysOf(input: Record<string, unknown>): Record<string, AttributeValue> | undefined {
  const key = (input.Key ?? input.Item) as Record<string, AttributeValue> | undefined;
  return key && { ...(key.pk && { pk: key.pk }), ...(key.sk && { sk: key.sk }) };
}

function byteLength(value: AttributeValue | undefined): number {
  if (value === undefined) return 0;
  if ("S" in value && value.S !== undefined) return Buffer.byteLength(value.S, "utf8");
  if ("N" in value && value.N !== undefined) return value.N.length;
  return 0;
}

/**
 * What DynamoDB would refuse (a ValidationException) about the table key a command names, for the task table's
 * `pk`/`sk` schema: one line per violated limit, none when the key fits.
 */
export function dynamoKeyViolations(command: { readonly input: object }): string[] {
  const key = keysOf(command.input as Record<string, unknown>);
  if (!key) return [];
  const issues: string[] = [];
  const pk = byteLength(key.pk);
  const sk = byteLength(key.sk);
  if (pk < 1 || pk > DYNAMO_PARTITION_KEY_BYTES)
    issues.push(`partition key of ${pk} bytes (1–${DYNAMO_PARTITION_KEY_BYTES})`);
  if (key.sk !== undefined && (sk < 1 || sk > DYNAMO_SORT_KEY_BYTES))
    issues.push(`sort key of ${sk} bytes (1–${DYNAMO_SORT_KEY_BYTES})`);
  return issues;
}
