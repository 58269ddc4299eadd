/** One stderr line redrawn in place: `label  [#####.....]  45%  detail`. Plain lines when stderr is not a TTY. */
export class Progress {
  #label = "";
  #lastPlain = 0;

  start(label: string): void {
    this.#label = label;
    this.update(0, "");
  }

  update(fraction: number, detail: string): void {
    const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
    const width = 28;
    const filled = Math.round(f * width);
    const line = `${this.#label.padEnd(30)} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.round(f * 100)).padStart(3)}%  ${detail}`;
    if (process.stderr.isTTY) {
      process.stderr.write(
        `\r${line.slice(0, (process.stderr.columns ?? 120) - 1).padEnd((process.stderr.columns ?? 120) - 1)}`,
      );
    } else if (Date.now() - this.#lastPlain > 5_000 || f === 1) {
      // Logs and CI: one line every few seconds instead of a redraw.
      this.#lastPlain = Date.now();
      process.stderr.write(`${line}\n`);
    }
  }

  done(summary: string): void {
    if (process.stderr.isTTY) process.stderr.write("\r\x1b[2K");
    process.stderr.write(`${this.#label.padEnd(30)} ${summary}\n`);
  }

  note(line: string): void {
    if (process.stderr.isTTY) process.stderr.write("\r\x1b[2K");
    process.stderr.write(`${line}\n`);
  }
}
