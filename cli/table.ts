import Table from "cli-table3";
import stringWidth from "string-width";

/**
 * The CLI's tables, drawn by cli-table3 with its default box characters and no colours. Its layout looks for row
 * and column spans by comparing each cell with every cell of the rows above it: quadratic in the rows (17 s for
 * 10,000 rows of 7 columns, 83 s for 20,000, as `schedules list` printed a topic's schedules when it drew them as one table), and
 * with a `head` its `toString` prepends it with `push.apply`, which overflows the call stack past some 120,000 rows
 * (`Maximum call stack size exceeded`, exit 3, nothing listed). So a long table is drawn in runs of RUN rows with
 * the same column widths, joined into the one table cli-table3 would draw: each run's closing and opening borders
 * replaced by the line between two rows. A head is the first row, as cli-table3 draws its `head` option when no
 * head style is set.
 */
const RUN = 200;

/** cli-table3's cell padding (`padding-left`, `padding-right`), part of a column's width. */
const PADDING = 2;

/** The rows as one table, every row with the same number of cells; a cell is one line (no line break). */
export function drawTable(rows: readonly (readonly string[])[]): string {
  if (rows.length <= RUN) return draw(rows);
  // A column is as wide as its widest cell, measured as cli-table3 measures it (string-width, its dependency).
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? PADDING, stringWidth(cell) + PADDING);
    });
  }
  const drawn: string[][] = [];
  for (let i = 0; i < rows.length; i += RUN) drawn.push(draw(rows.slice(i, i + RUN), widths).split("\n"));
  const between = rowBorder((drawn[0] as string[])[0] as string);
  const last = drawn.length - 1;
  return drawn
    .map((lines, i) => lines.slice(i === 0 ? 0 : 1, i === last ? lines.length : -1).join("\n"))
    .join(`\n${between}\n`);
}

function draw(rows: readonly (readonly string[])[], colWidths?: readonly number[]): string {
  const table = new Table({
    style: { head: [], border: [] },
    ...(colWidths ? { colWidths: [...colWidths] } : {}),
  });
  for (const row of rows) table.push([...row]);
  return table.toString();
}

/** The line cli-table3 draws between two rows, from its top border: `┌────┬──┐` → `├────┼──┤`. */
function rowBorder(top: string): string {
  return top.replace("┌", "├").replaceAll("┬", "┼").replace("┐", "┤");
}
