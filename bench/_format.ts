// Formatting the benchmark scripts share: numbers and Markdown tables.

/** `value` with `digits` decimals, or `—` when it is not a finite number. */
export function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "—";
}

/**
 * Formats rows as a Markdown table; `right` marks the right-aligned columns (by default every
 * column but the first).
 */
export function table(
  header: string[],
  rows: string[][],
  right: boolean[] = header.map((_, c) => c > 0),
): string {
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((r) => r[c]?.length ?? 0)));
  const cells = (row: string[]): string[] =>
    row.map((cell, c) => right[c] ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0));
  const rule = widths.map((w, c) => right[c] ? `${"-".repeat(w - 1)}:` : "-".repeat(w));
  return [cells(header), rule, ...rows.map(cells)].map((row) => `| ${row.join(" | ")} |`).join(
    "\n",
  );
}
