import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { expect } from "vitest";
import type { TaskRecord } from "#shared/domain/task.js";

/**
 * A DynamoDB client seam whose every UpdateItem is refused with `item`, as DynamoDB answers a refusal asked for
 * ReturnValuesOnConditionCheckFailure ALL_OLD (which it asserts was asked). A GetItem goes to `reads` when given (a
 * real table), else fails as any other call does. `sent` names each command sent, in order.
 */
export function refusingWithItem(item: TaskRecord, reads?: DynamoDBClient) {
  const sent: string[] = [];
  const client = {
    send: async (command: unknown) => {
      sent.push((command as object).constructor.name);
      if (command instanceof UpdateItemCommand) {
        expect(command.input.ReturnValuesOnConditionCheckFailure).toBe("ALL_OLD");
        throw new ConditionalCheckFailedException({
          message: "The conditional request failed",
          $metadata: {},
          Item: marshall(item, { removeUndefinedValues: true }),
        });
      }
      if (reads && command instanceof GetItemCommand) return reads.send(command);
      throw new Error(`unexpected call: ${(command as object).constructor.name}`);
    },
  };
  return { client: client as unknown as DynamoDBClient, sent };
}
