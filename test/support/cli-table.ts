/** The rows a CLI command printed with cli-table3, each as its cells between the `│` borders, trimmed. */
export function tableRows(out: string): string[][] {
  return out
    .split("\n")
    .filter((line) => line.includes("│"))
    .map((line) =>
      line
        .split("│")
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
}
