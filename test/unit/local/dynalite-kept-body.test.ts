import { describe, expect, it } from "vitest";
import { KeptBody } from "../../../local/aws/dynalite-guard.js";

describe("the local DynamoDB guard's kept request body", () => {
  it("keeps a body dynalite reads whole, chunk by chunk, for its null check", () => {
    // Prepare
    const kept = new KeptBody();

    // Act
    kept.add(Buffer.from('{"TableName":'));
    kept.add(Buffer.from('"t"}'));

    // Assess
    expect(kept.text()).toBe('{"TableName":"t"}');
  });

  it("keeps nothing of a body past dynalite's 16 MiB (dynalite answers it 413), however much more arrives", () => {
    // Prepare
    const kept = new KeptBody();
    const mebibyte = Buffer.alloc(1024 * 1024, 0x20);

    // Act
    for (let i = 0; i < 17; i++) kept.add(mebibyte);
    kept.add(Buffer.from("null"));

    // Assess
    expect(kept.text()).toBe("");
  });
});
