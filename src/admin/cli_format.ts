// How the admin CLI prints for people: aligned tables and one-line summaries, with ids and
// values made safe for a terminal (control characters escaped, so a hostile id cannot move the
// cursor or recolour the screen).

import type { RowView, RunView } from "./views.ts";

// deno-lint-ignore no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * Text safe to print on a terminal: as is when printable, else JSON-escaped (in quotes).
 *
 * @param text Any text.
 * @returns The printable text.
 */
export function printable(text: string): string {
  if (!UNPRINTABLE.test(text)) return text;
  return JSON.stringify(text).replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Cuts printable text to `max` characters.
 *
 * @param text The text.
 * @param max The width.
 * @returns The text, with `…` when cut.
 */
export function cut(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, Math.max(1, max - 1)).join("")}…`;
}

/**
 * An aligned table.
 *
 * @param header The column titles.
 * @param rows The cells (already printable).
 * @returns The table's lines.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => [...(row[column] ?? "")].length))
  );
  const line = (cells: readonly string[]): string =>
    cells.map((cell, column) =>
      column === cells.length - 1 ? cell : cell + " ".repeat(widths[column]! - [...cell].length)
    ).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** How long ago (or ahead) an ISO time is, in a few characters. */
export function ago(iso: string | null, now: number): string {
  if (iso === null) return "-";
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  const size = Math.abs(seconds);
  const text = size < 60
    ? `${size}s`
    : size < 3600
    ? `${Math.round(size / 60)}m`
    : size < 86_400
    ? `${Math.round(size / 3600)}h`
    : `${Math.round(size / 86_400)}d`;
  return seconds >= 0 ? `${text} ago` : `in ${text}`;
}

/**
 * The runs as a table for people.
 *
 * @param runs The runs.
 * @param now The clock (epoch ms).
 * @returns The table.
 */
export function runsTable(runs: readonly RunView[], now: number): string {
  return table(
    ["ID", "WORKFLOW", "STATUS", "STATE", "ROWS", "UPDATED", "ERROR"],
    runs.map((run) => [
      cut(printable(run.id), 40),
      cut(printable(`${run.workflow || "(unnamed)"} v${run.version}`), 24),
      run.condition === null ? run.status : `${run.status} (${run.condition})`,
      cut(printable(run.state), 24),
      String(run.sequence),
      ago(run.updatedAt, now),
      cut(printable(run.error ?? ""), 60),
    ]),
  );
}

/**
 * One run, its record and its rows, for people.
 *
 * @param run The record, `null` when only a log exists.
 * @param rows The rows.
 * @param now The clock (epoch ms).
 * @returns The text.
 */
export function runText(run: RunView | null, rows: readonly RowView[], now: number): string {
  const lines: string[] = [];
  if (run === null) lines.push("record:   none (a log without a record)");
  else {
    lines.push(`run:      ${printable(run.id)}`);
    lines.push(`workflow: ${printable(run.workflow || "(unnamed)")} version ${run.version}`);
    lines.push(
      `status:   ${run.status}${run.condition === null ? "" : ` (${run.condition})`} in state ${
        printable(run.state)
      }`,
    );
    lines.push(
      `owner:    ${run.owner === null ? "nobody" : printable(run.owner)}${
        run.owner === null ? "" : `, lease ${run.live ? "until" : "over"} ${run.leaseUntil}`
      }`,
    );
    lines.push(`created:  ${run.createdAt} (${ago(run.createdAt, now)})`);
    lines.push(`updated:  ${run.updatedAt} (${ago(run.updatedAt, now)})`);
    if (run.wait !== null) {
      lines.push(
        `waits:    for ${printable(run.wait.events.join(" | "))} in ${printable(run.wait.state)}${
          run.wait.until === null ? " (no deadline)" : ` until ${run.wait.until}`
        }`,
      );
    }
    if (run.cancel !== null) {
      lines.push(`cancel:   requested ${run.cancel.requestedAt}: ${printable(run.cancel.reason)}`);
    }
    if (run.error !== null) lines.push(`error:    ${printable(run.error)}`);
  }
  lines.push(`rows:     ${rows.length}`);
  for (const row of rows) {
    const data = row.data === undefined
      ? ""
      : `  data=${cut(printable(JSON.stringify(row.data)), 100)}`;
    const output = row.output === undefined
      ? ""
      : `  output=${cut(printable(JSON.stringify(row.output)), 80)}`;
    const note = row.note === null ? "" : `  (${printable(row.note)})`;
    lines.push(
      `  #${row.sequence} ${row.kind} ${printable(row.state)}${
        row.taskId !== "" && row.taskId !== row.state ? ` [${printable(row.taskId)}]` : ""
      } v${row.workflowVersion}${note}${data}${output}`,
    );
  }
  return lines.join("\n");
}
