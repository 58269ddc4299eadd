import type { Metafile } from "esbuild";
import { describe, expect, it } from "vitest";
import { sdkBytesOf } from "../../../bench/functions.js";

/** A one-output metafile whose output holds `inputs` (path → bytes in the output). */
function metafileOf(inputs: Readonly<Record<string, number>>): Metafile {
  const entries = Object.entries(inputs).map(([input, bytesInOutput]) => [input, { bytesInOutput }] as const);
  return {
    inputs: {},
    outputs: {
      "out/index.mjs": {
        bytes: Object.values(inputs).reduce((a, b) => a + b, 0),
        inputs: Object.fromEntries(entries),
        imports: [],
        exports: [],
      },
    },
  };
}

describe("sdkBytesOf", () => {
  it("counts with the AWS SDK the packages only it brings (the DynamoDB client's endpoint cache: mnemonist, obliterator), not with our code and libraries", () => {
    // Prepare: SDK packages, the endpoint cache's two dependencies (hoisted and nested), our code and our libraries
    const metafile = metafileOf({
      "node_modules/@aws-sdk/client-dynamodb/dist-es/DynamoDBClient.js": 1_000,
      "node_modules/@smithy/smithy-client/dist-es/client.js": 200,
      "node_modules/@aws-crypto/crc32/build/module/index.js": 30,
      "node_modules/@aws-sdk/endpoint-cache/dist-es/EndpointCache.js": 40,
      "node_modules/mnemonist/lru-cache.js": 5,
      "node_modules/@aws-sdk/endpoint-cache/node_modules/obliterator/iterator.js": 3,
      "node_modules/zod/v4/classic/schemas.js": 9_000,
      "node_modules/@aws-lambda-powertools/logger/lib/esm/Logger.js": 700,
      "shared/services/deliver/index.ts": 600,
    });

    // Act
    const bytes = sdkBytesOf(metafile);

    // Assess
    expect(bytes).toBe(1_000 + 200 + 30 + 40 + 5 + 3);
  });
});
