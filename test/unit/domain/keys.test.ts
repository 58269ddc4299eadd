import { describe, expect, it } from "vitest";
import {
  groupPartitionKey,
  groupValueOf,
  makeTaskKey,
  newUlid,
  parseTaskId,
  scheduleNameFor,
  sortKey,
  sortKeyUpperBound,
} from "#shared/domain/keys.js";

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

describe("task ids and table keys", () => {
  it("round-trips: the id alone yields the table key and due time", () => {
    // Prepare
    const key = makeTaskKey("demo", "order-42", NOW + 5_000, newUlid(NOW));

    // Act
    const parsed = parseTaskId(key.taskId);

    // Assess
    expect(parsed).toEqual(key);
  });

  it("parses only the due segment an id is made with: leading zeros would name the same key under another id", () => {
    // Prepare
    const key = makeTaskKey("demo", "order-42", NOW + 5_000, newUlid(NOW));
    const [topic, group, due, ulid] = key.taskId.split(".");

    // Act
    const padded = [`0${due}`, `00${due}`].map((d) => parseTaskId(`${topic}.${group}.${d}.${ulid}`));

    // Assess
    expect(padded).toEqual([undefined, undefined]);
    expect(parseTaskId(`demo._.0.${ulid}`)?.dueAtMs).toBe(0);
  });

  it("tasks with the same topic and group value share a partition; other topics do not", () => {
    const a = makeTaskKey("demo", "42", NOW, newUlid(NOW));
    const b = makeTaskKey("demo", "42", NOW + 60_000, newUlid(NOW));
    const c = makeTaskKey("other", "42", NOW, newUlid(NOW));

    expect(a.pk).toBe(b.pk);
    expect(c.pk).not.toBe(a.pk);
  });

  it("a task without a group value is its own group", () => {
    const a = makeTaskKey("demo", undefined, NOW, newUlid(NOW));
    const b = makeTaskKey("demo", undefined, NOW, newUlid(NOW));

    expect(a.pk).not.toBe(b.pk);
    expect(parseTaskId(a.taskId)?.pk).toBe(a.pk);
    expect(a.pk).toBe(groupPartitionKey("demo", undefined, a.ulid));
  });

  it("new ULIDs across many milliseconds are valid, distinct and use every random character (the pool refills)", () => {
    // Prepare: 1,000 ids in new milliseconds draw 16,000 random bytes, several refills of the 4 KiB pool.
    const count = 1_000;

    // Act
    const ulids = Array.from({ length: count }, (_, i) => newUlid(NOW + 1 + i));

    // Assess
    expect(new Set(ulids).size).toBe(count);
    for (const u of ulids) expect(u).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const randomChars = new Set(ulids.flatMap((u) => [...u.slice(10)]));
    expect(randomChars.size).toBe(32);
  });

  it("sort keys order by due time, then by acceptance, even within one millisecond", () => {
    const ulids = Array.from({ length: 50 }, () => newUlid(NOW));
    const keys = [
      sortKey(NOW + 1000, ulids[0] as string),
      ...ulids.map((u) => sortKey(NOW, u)),
      sortKey(NOW - 1, ulids[49] as string),
    ];

    const sorted = [...keys].sort();

    expect(sorted[0]).toBe(keys.at(-1));
    expect(sorted.slice(1, 51)).toEqual(keys.slice(1, 51));
    expect(sorted.at(-1)).toBe(keys[0]);
    expect(sortKey(NOW, ulids[3] as string) < sortKeyUpperBound(NOW)).toBe(true);
    expect(sortKey(NOW + 1, ulids[3] as string) > sortKeyUpperBound(NOW)).toBe(true);
  });

  it("ids never contain the group value", () => {
    const key = makeTaskKey("demo", "secret-customer@example.com", NOW, newUlid(NOW));

    expect(key.taskId).not.toContain("secret");
    expect(key.pk).not.toContain("secret");
  });

  it.each([
    "",
    "demo",
    "Demo._.1.01JD3ZZZZZZZZZZZZZZZZZZZZZ",
    "demo._.1.01JD3ZZZZZZZZZZZZZZZZZZZZ",
    "demo.short.1.01JD3ZZZZZZZZZZZZZZZZZZZZZ",
    "../../etc/passwd",
    "demo._.zzzzzzzzzzzz.01JD3ZZZZZZZZZZZZZZZZZZZZZ",
  ])("rejects malformed id %j", (id) => {
    expect(parseTaskId(id)).toBeUndefined();
  });

  it("schedule names fit Scheduler's 64-char [0-9a-zA-Z-_.] rule and are deterministic", () => {
    const id = makeTaskKey("a-very-long-topic-name-x", "g", NOW, newUlid(NOW)).taskId;

    expect(scheduleNameFor(id)).toMatch(/^[0-9a-zA-Z_.-]{1,64}$/);
    expect(scheduleNameFor(id)).toBe(scheduleNameFor(id));
    expect(scheduleNameFor(`${id}x`)).not.toBe(scheduleNameFor(id));
  });
});

describe("group value", () => {
  it.each([
    [{ order_id: "A-1" }, "order_id", "A-1"],
    [{ order_id: 42 }, "order_id", "42"],
    [{ order_id: true }, "order_id", "true"],
    [{ other: 1 }, "order_id", undefined],
    [{ order_id: null }, "order_id", undefined],
    [{ order_id: "x" }, undefined, undefined],
  ])("%j by %s → %j", (content, deliverBy, expected) => {
    expect(groupValueOf(content, deliverBy)).toEqual({ ok: true, value: expected });
  });

  it("refuses objects, arrays and overlong values as group values", () => {
    expect(groupValueOf({ order_id: { a: 1 } }, "order_id").ok).toBe(false);
    expect(groupValueOf({ order_id: [1] }, "order_id").ok).toBe(false);
    expect(groupValueOf({ order_id: "x".repeat(1025) }, "order_id").ok).toBe(false);
  });

  it("does not read inherited properties", () => {
    expect(groupValueOf({}, "constructor")).toEqual({ ok: true, value: undefined });
  });
});
