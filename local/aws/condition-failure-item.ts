import type http from "node:http";
import { crc32 } from "node:zlib";
import type { RequestListener } from "./in-process.js";
import { invoke } from "./partiql.js";

/**
 * DynamoDB answers a refused conditional UpdateItem or DeleteItem that asked for
 * `ReturnValuesOnConditionCheckFailure: ALL_OLD` with the item as it is, in the ConditionalCheckFailedException's
 * `Item` (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html). dynalite ignores the
 * parameter, so locally the task store always took its fallback (one consistent read) and never the path it takes on
 * AWS. Here the refusal gets the item, read right after it (dynalite is one store in this thread; a write landing
 * in between is the one difference from DynamoDB's atomic answer). Only a refusal is touched: a written call's
 * answer passes as dynalite sent it. PutItem is left alone: the store never asks it for ALL_OLD.
 */
const TARGETS = new Set(["DynamoDB_20120810.UpdateItem", "DynamoDB_20120810.DeleteItem"]);

export function withConditionFailureItems(dynalite: RequestListener): RequestListener {
  return (req, res) => {
    if (!TARGETS.has(String(req.headers["x-amz-target"]))) {
      dynalite(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    const end = res.end.bind(res) as (body?: string | Buffer) => http.ServerResponse;
    res.end = ((body?: string | Buffer) => {
      if (res.statusCode !== 400 || !String(body ?? "").includes("ConditionalCheckFailedException"))
        return end(body);
      withItem(dynalite, req.headers, Buffer.concat(chunks).toString(), String(body)).then(
        (text) => {
          res.setHeader("x-amz-crc32", crc32(text));
          res.setHeader("Content-Length", Buffer.byteLength(text));
          end(text);
        },
        () => end(body),
      );
      return res;
    }) as typeof res.end;
    dynalite(req, res);
  };
}

/** The refusal's JSON with the item it met, when the request asked ALL_OLD and the item exists. */
async function withItem(
  dynalite: RequestListener,
  headers: http.IncomingHttpHeaders,
  requestText: string,
  refusalText: string,
): Promise<string> {
  const request = JSON.parse(requestText) as {
    TableName?: string;
    Key?: unknown;
    ReturnValuesOnConditionCheckFailure?: string;
  };
  if (request.ReturnValuesOnConditionCheckFailure !== "ALL_OLD") return refusalText;
  const current = await invoke(dynalite, headers, "DynamoDB_20120810.GetItem", {
    TableName: request.TableName,
    Key: request.Key,
    ConsistentRead: true,
  });
  if (!current.json.Item) return refusalText;
  return JSON.stringify({ ...JSON.parse(refusalText), Item: current.json.Item });
}
