import Table from "cli-table3";
import { describe, expect, it } from "vitest";
import { printRows } from "../../../cli/output.js";
import { drawTable } from "../../../cli/table.js";

/** What `printRows` writes, with this head and these rows. */
function printed(head: string[], rows: string[][]): string {
  const out: string[] = [];
  printRows({ out: (t) => void out.push(t), err: () => {}, env: {} }, head, rows);
  return out.join("");
}

describe("a long list's table", () => {
  it("lists 130,000 rows under its head (cli-table3's head overflowed the call stack past ~120,000)", () => {
    // Arrange: a topic's schedules, as `schedules list` reads them page by page
    const rows = Array.from({ length: 130_000 }, (_, i) => [`orders.schedule.${i}`]);

    // Act
    const lines = printed(["schedule_id"], rows).trimEnd().split("\n");

    // Assess: a top border, the head, then a border and a line per row, and the bottom border
    expect(lines).toHaveLength(2 + 2 * 130_000 + 1);
    expect(lines[1]).toMatch(/^│ schedule_id +│$/);
    expect(lines.at(-2)).toMatch(/^│ orders\.schedule\.129999 │$/);
    // cli-table3 spends some 25 µs a cell: a guard against a hang, not a measure
  }, 60_000);

  it("is the one table cli-table3 draws, drawn in runs of rows whose widths differ", () => {
    // Arrange: more rows than one run, cells of every width (wide characters, empty ones), the widest late
    const cells = ["", "a", "active", "漢字テキスト", "😀x", "-", "2026-11-23T12:00:00.000Z", "\\u202e"];
    const rows = Array.from({ length: 650 }, (_, i) =>
      Array.from({ length: 4 }, (_, c) => cells[(i * 7 + c * 3) % cells.length] as string),
    );
    rows[640] = ["orders.schedule.01JD3ABCDEFGHJKMNPQRSTVWXY", "x", "", "y"];
    const one = new Table({ style: { head: [], border: [] } });
    for (const row of rows) one.push(row);

    // Act
    const drawn = drawTable(rows);

    // Assess
    expect(drawn).toBe(one.toString());
  });

  it("draws a column with nothing to show in any cell (empty, or only zero-width marks) as narrow as cli-table3 does", () => {
    // Arrange: more rows than one run; a value column whose every cell is empty or a lone combining mark (width 0)
    const rows = Array.from({ length: 450 }, (_, i) => [`field.${i}`, i === 300 ? "\u0301" : ""]);
    const one = new Table({ style: { head: [], border: [] } });
    for (const row of rows) one.push(row);

    // Act
    const drawn = drawTable(rows);

    // Assess: the column is its padding alone (it was drawn one character wider than cli-table3 draws it)
    expect(drawn).toBe(one.toString());
  });
});
