// What the console's API answers with: run records and log rows turned into JSON (dates as ISO
// strings, decoded run data made displayable whatever the codec revived), with the run data left
// out when the console hides it, and the condition a run is in beyond its stored status.

import type { CheckpointRow, RunInfo, RunStatus } from "../recovery/checkpoint.ts";
import type { ActivityEntry } from "./activity.ts";

/**
 * What a run's record means beyond its status:
 *
 * - `cancelled`: it failed because a cancel request stopped it;
 * - `cancelling`: a cancel request is pending;
 * - `stalled`: running or rolling back, but nobody holds it (its process died or released it):
 *   whoever runs recovery (or a resume here) continues it;
 * - `due`: waiting, and due (an event it waits for arrived, its deadline passed).
 */
export type RunCondition = "cancelled" | "cancelling" | "stalled" | "due";

/** A run record as the API shows it. */
export interface RunView {
  readonly id: string;
  readonly workflow: string;
  readonly version: number;
  readonly status: RunStatus;
  readonly condition: RunCondition | null;
  readonly state: string;
  readonly sequence: number;
  readonly owner: string | null;
  readonly live: boolean;
  readonly leaseUntil: string | null;
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
  readonly error: string | null;
  readonly cancel: { readonly reason: string; readonly requestedAt: string | null } | null;
  readonly wait: {
    readonly state: string;
    readonly events: readonly string[];
    readonly until: string | null;
    readonly since: string | null;
  } | null;
}

/** A log row as the API shows it. */
export interface RowView {
  readonly sequence: number;
  readonly kind: CheckpointRow["kind"];
  readonly state: string;
  readonly taskId: string;
  readonly workflowVersion: number;
  readonly resumed: boolean;
  /** When this process saw the row written (rows carry no time of their own). */
  readonly at: string | null;
  /** Failed attempts this process saw in the row's state after the row. */
  readonly retries: readonly { attempt: number; error: string; at: string }[];
  /** A short description of what the row records (shown even when data is hidden). */
  readonly note: string | null;
  /** The run data snapshot; `undefined` when the row has none or data is hidden. */
  readonly data?: unknown;
  /** The row's output (compensation output, cursor, rollback plan, split outcome, event). */
  readonly output?: unknown;
}

function iso(date: Date | undefined): string | null {
  if (date === undefined) return null;
  const time = date.getTime();
  return Number.isFinite(time) ? date.toISOString() : null;
}

/**
 * The API view of a run record.
 *
 * @param info The record.
 * @param now The store's clock (epoch ms).
 * @returns The view.
 */
export function runView(info: RunInfo, now: number): RunView {
  const lease = info.leaseUntil.getTime();
  const live = info.owner !== undefined && lease > now;
  return {
    id: info.id,
    workflow: info.workflow,
    version: info.version,
    status: info.status,
    condition: conditionOf(info, live, lease, now),
    state: info.state,
    sequence: info.sequence,
    owner: info.owner ?? null,
    live,
    leaseUntil: info.status === "waiting" && info.wait?.until === undefined && lease > now
      ? null // "due never": the latest Date stands for no deadline
      : iso(info.leaseUntil),
    createdAt: iso(info.createdAt),
    updatedAt: iso(info.updatedAt),
    error: info.error ?? null,
    cancel: info.cancel === undefined
      ? null
      : { reason: info.cancel.reason, requestedAt: iso(info.cancel.requestedAt) },
    wait: info.wait === undefined ? null : {
      state: info.wait.state,
      events: [...info.wait.events],
      until: iso(info.wait.until),
      since: iso(info.wait.since),
    },
  };
}

function conditionOf(
  info: RunInfo,
  live: boolean,
  lease: number,
  now: number,
): RunCondition | null {
  if (info.status === "failed") return info.cancel === undefined ? null : "cancelled";
  if (info.cancel !== undefined && info.status !== "rolling_back") return "cancelling";
  if (info.status === "waiting") return lease <= now ? "due" : null;
  return live ? null : "stalled";
}

/**
 * The API views of a run's rows, with what this process saw of them (times, failed attempts).
 *
 * @param rows The rows, ascending.
 * @param activity What the console saw of the run.
 * @param hideData Whether to leave data and outputs out.
 * @returns The views.
 */
export function rowViews(
  rows: readonly CheckpointRow[],
  activity: readonly ActivityEntry[],
  hideData: boolean,
): RowView[] {
  const written = new Map<number, number>();
  for (const entry of activity) if (entry.kind === "row") written.set(entry.sequence, entry.at);
  return rows.map((row, index) => {
    const at = written.get(row.sequence);
    const next = rows[index + 1];
    const until = next === undefined ? Infinity : written.get(next.sequence) ?? Infinity;
    const retries = at === undefined
      ? []
      : activity.flatMap((entry) =>
        entry.kind === "retry" && entry.state === row.state && entry.at >= at && entry.at <= until
          ? [{ attempt: entry.attempt, error: entry.error, at: new Date(entry.at).toISOString() }]
          : []
      );
    const view: RowView = {
      sequence: row.sequence,
      kind: row.kind,
      state: row.state,
      taskId: row.taskId,
      workflowVersion: row.workflowVersion,
      resumed: row.resumed === true,
      at: at === undefined ? null : new Date(at).toISOString(),
      retries: row.kind === "state_entry" || row.kind === "step_cursor" ? retries : [],
      note: noteOf(row),
    };
    if (hideData) return view;
    return {
      ...view,
      ...(row.data === undefined ? {} : { data: displayable(row.data) }),
      ...(row.output === undefined ? {} : { output: displayable(row.output) }),
    };
  });
}

/** What a row records, in a few words, without its data. */
function noteOf(row: CheckpointRow): string | null {
  const output = row.output as Record<string, unknown> | null | undefined;
  const field = (value: unknown, name: string): unknown =>
    typeof value === "object" && value !== null
      ? (value as Record<string, unknown>)[name]
      : undefined;
  switch (row.kind) {
    case "rollback": {
      const error = field(output, "error");
      const name = field(error, "name");
      const message = field(error, "message");
      const stack = field(output, "stack");
      const steps = Array.isArray(stack) ? ` (${stack.length} compensation(s) to run)` : "";
      return typeof message === "string"
        ? `saga rollback began: ${typeof name === "string" ? `${name}: ` : ""}${message}${steps}`
        : `saga rollback began${steps}`;
    }
    case "compensated": {
      const index = field(output, "index");
      return `compensation ${typeof index === "number" ? `#${index} ` : ""}done`;
    }
    case "compensation_completion":
      return `saga step "${row.taskId}" done: its compensation is armed`;
    case "step_cursor":
      return "progress saved (step cursor)";
    case "state_entry": {
      const event = field(output, "event");
      const name = field(event, "name");
      if (typeof name === "string") return `woken by event "${name}"`;
      const results = field(field(output, "split"), "results");
      if (Array.isArray(results)) {
        const ok = results.filter((result) => field(result, "status") === "ok").length;
        return `split joined: ${ok} of ${results.length} branch(es) ok`;
      }
      return row.resumed === true ? "re-entered on resume" : null;
    }
  }
}

/** Nodes visited at most when making a value displayable; deeper or further is cut. */
const MAX_NODES = 5_000;
const MAX_DEPTH = 24;
const MAX_STRING = 10_000;

/**
 * A JSON-safe copy of a decoded value for display: what JSON cannot hold (a `Map`, a `Set`, a
 * `Date`, a `bigint`, `undefined`, `NaN`, typed arrays, cycles) is shown as a tagged value, and a
 * very large value is cut with a marker.
 *
 * @param value The value (as the store's codec decoded it).
 * @returns The copy.
 */
export function displayable(value: unknown): unknown {
  let budget = MAX_NODES;
  const seen = new Set<object>();
  const walk = (current: unknown, depth: number): unknown => {
    if (--budget < 0) return "[…cut]";
    switch (typeof current) {
      case "string":
        return current.length <= MAX_STRING
          ? current
          : `${current.slice(0, MAX_STRING)}…[${current.length - MAX_STRING} more characters]`;
      case "number":
        return Number.isFinite(current) ? current : `[${current}]`;
      case "boolean":
        return current;
      case "undefined":
        return "[undefined]";
      case "bigint":
        return `${current}n`;
      case "symbol":
      case "function":
        return `[${typeof current}]`;
    }
    if (current === null) return null;
    const object = current as object;
    if (seen.has(object)) return "[circular]";
    if (depth >= MAX_DEPTH) return "[…deeper]";
    seen.add(object);
    try {
      if (object instanceof Date) {
        return { "[Date]": Number.isFinite(object.getTime()) ? object.toISOString() : "invalid" };
      }
      if (object instanceof Map) {
        return {
          "[Map]": [...object].map(([key, item]) => [walk(key, depth + 1), walk(item, depth + 1)]),
        };
      }
      if (object instanceof Set) {
        return { "[Set]": [...object].map((item) => walk(item, depth + 1)) };
      }
      if (ArrayBuffer.isView(object)) {
        return { [`[${object.constructor.name}]`]: `${object.byteLength} bytes` };
      }
      if (object instanceof Error) return { "[Error]": `${object.name}: ${object.message}` };
      if (Array.isArray(object)) return object.map((item) => walk(item, depth + 1));
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(object)) copy[key] = walk(item, depth + 1);
      return copy;
    } catch {
      return "[unreadable]";
    } finally {
      seen.delete(object);
    }
  };
  return walk(value, 0);
}
