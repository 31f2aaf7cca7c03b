import { CheckpointStoreError } from "../errors.ts";

/** What a checkpoint row records. */
export type RowKind = "state_entry" | "compensation_completion" | "step_cursor";

/**
 * One entry of a run's checkpoint log. Rows are appended with dense sequence numbers from 0; the
 * last row tells `resumeFrom` where the run stopped.
 *
 * - `state_entry`: the run entered `state` (written before the state's task runs), with a snapshot
 *   of the run data in `data`.
 * - `compensation_completion`: the compensatable task `taskId` succeeded; `output` is what its
 *   compensation needs.
 * - `step_cursor`: a stepped or stream state made progress; `output` is the cursor.
 */
export interface CheckpointRow {
  /** Position in the log, dense from 0. */
  sequence: number;
  /** The state the row belongs to. */
  state: string;
  /** The task id (`""` for exit-only states and splits). */
  taskId: string;
  /** What the row records. */
  kind: RowKind;
  /** Compensation output or cursor (JSON-serialisable). */
  output?: unknown;
  /** Run data snapshot, on `state_entry` rows (JSON-serialisable). */
  data?: unknown;
  /** The workflow version that wrote the row. */
  workflowVersion: number;
}

/**
 * Durable storage for checkpoint logs, one log per workflow id.
 *
 * Contract: `append` is durable when it resolves and **rejects a duplicate sequence** for the same
 * id with a `CheckpointStoreError` (never overwrites: a collision means two runs share an id). It
 * should also reject a **gap** — a sequence above 0 whose predecessor is absent — because the
 * engine writes logs densely from 0: that is what stops a process that resumed a run from
 * appending to a log another process has meanwhile finished and cleared. `loadRun` returns every
 * row ascending by sequence (empty for an unknown id); `clear` removes one id's rows and nothing
 * else (an unknown id is a no-op). Concurrent calls must be safe.
 */
export interface CheckpointStore {
  /** Appends a row; rejects a duplicate `(workflowId, sequence)`. */
  append(workflowId: string, row: CheckpointRow): Promise<void>;
  /** All rows of `workflowId`, ascending by sequence. */
  loadRun(workflowId: string): Promise<CheckpointRow[]>;
  /** Removes all rows of `workflowId`. */
  clear(workflowId: string): Promise<void>;
}

const KINDS: ReadonlySet<string> = new Set([
  "state_entry",
  "compensation_completion",
  "step_cursor",
]);

/**
 * Checks a workflow id and a row before they are stored, and returns the row as JSON text (rows
 * must survive a JSON round-trip, since that is how durable stores keep them).
 *
 * @param workflowId The workflow id.
 * @param row The row.
 * @returns The row's JSON text.
 * @throws {CheckpointStoreError} Naming what is invalid.
 */
export function encodeRow(workflowId: string, row: CheckpointRow): string {
  checkWorkflowId(workflowId);
  if (typeof row !== "object" || row === null) {
    throw new CheckpointStoreError(`Checkpoint row must be an object, received ${String(row)}`);
  }
  if (!Number.isSafeInteger(row.sequence) || row.sequence < 0) {
    throw new CheckpointStoreError(
      `Checkpoint row sequence must be a non-negative integer, received ${row.sequence}`,
    );
  }
  if (typeof row.state !== "string" || typeof row.taskId !== "string") {
    throw new CheckpointStoreError("Checkpoint row state and taskId must be strings");
  }
  if (!KINDS.has(row.kind)) {
    throw new CheckpointStoreError(`Checkpoint row kind is invalid: ${String(row.kind)}`);
  }
  if (!Number.isSafeInteger(row.workflowVersion) || row.workflowVersion < 0) {
    throw new CheckpointStoreError(
      `Checkpoint row workflowVersion must be a non-negative integer, received ${row.workflowVersion}`,
    );
  }
  const { sequence, state, taskId, kind, output, data, workflowVersion } = row;
  try {
    return JSON.stringify({ sequence, state, taskId, kind, output, data, workflowVersion });
  } catch (error) {
    throw new CheckpointStoreError(
      `Checkpoint row ${sequence} of workflow "${workflowId}" is not JSON-serialisable`,
      { cause: error },
    );
  }
}

/**
 * Parses a row stored by {@link encodeRow}.
 *
 * @param workflowId The workflow id (for error messages).
 * @param text The JSON text.
 * @returns The row.
 * @throws {CheckpointStoreError} When the text is not a row.
 */
export function decodeRow(workflowId: string, text: string): CheckpointRow {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CheckpointStoreError(`Corrupt checkpoint row for workflow "${workflowId}"`, {
      cause: error,
    });
  }
  const row = parsed as Partial<CheckpointRow> | null;
  if (
    row === null || typeof row !== "object" || !Number.isSafeInteger(row.sequence) ||
    typeof row.state !== "string" || typeof row.taskId !== "string" || !KINDS.has(row.kind ?? "")
  ) {
    throw new CheckpointStoreError(
      `Corrupt checkpoint row for workflow "${workflowId}": ${text.slice(0, 200)}`,
    );
  }
  const decoded: CheckpointRow = {
    sequence: row.sequence as number,
    state: row.state,
    taskId: row.taskId,
    kind: row.kind as RowKind,
    workflowVersion: Number.isSafeInteger(row.workflowVersion) ? row.workflowVersion as number : 0,
  };
  if ("output" in row && row.output !== undefined) decoded.output = row.output;
  if ("data" in row && row.data !== undefined) decoded.data = row.data;
  return decoded;
}

/**
 * Rejects workflow ids no store can key: anything but a non-empty string.
 *
 * @param workflowId The id.
 * @throws {CheckpointStoreError} When invalid.
 */
export function checkWorkflowId(workflowId: string): void {
  if (typeof workflowId !== "string" || workflowId.length === 0) {
    throw new CheckpointStoreError(
      `Workflow id must be a non-empty string, received ${
        JSON.stringify(workflowId) ?? String(workflowId)
      }`,
    );
  }
}

/**
 * The error for a duplicate sequence.
 *
 * @param workflowId The workflow id.
 * @param sequence The duplicate sequence.
 * @returns The error.
 */
export function conflictError(workflowId: string, sequence: number): CheckpointStoreError {
  return new CheckpointStoreError(
    `Checkpoint conflict: workflow "${workflowId}" already has a row with sequence ${sequence}; ` +
      "resume the existing run or clear its log",
  );
}

/**
 * The error for an append whose predecessor row is missing.
 *
 * @param workflowId The workflow id.
 * @param sequence The sequence that would leave a gap.
 * @returns The error.
 */
export function gapError(workflowId: string, sequence: number): CheckpointStoreError {
  return new CheckpointStoreError(
    `Checkpoint gap: workflow "${workflowId}" has no row ${sequence - 1}, so row ${sequence} ` +
      "cannot be appended; the run was finished or cleared by another process",
  );
}

/**
 * An in-memory {@link CheckpointStore} with the full contract (duplicate rejection, ordered loads,
 * gap rejection, per-id clear). Rows are stored as JSON, exactly as a durable store would keep them, so a row
 * that could not survive a restart fails here too. For tests and single-process use.
 *
 * @example Append and load
 * ```ts
 * import { MemoryCheckpointStore } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryCheckpointStore();
 * await store.append("order-1", { sequence: 0, state: "charge", taskId: "charge", kind: "state_entry", workflowVersion: 0 });
 * await assert.rejects(
 *   store.append("order-1", { sequence: 0, state: "ship", taskId: "ship", kind: "state_entry", workflowVersion: 0 }),
 *   { category: "checkpoint_store" },
 * );
 * assert.equal((await store.loadRun("order-1"))[0]?.state, "charge");
 * await store.clear("order-1");
 * assert.deepEqual(await store.loadRun("order-1"), []);
 * ```
 */
export class MemoryCheckpointStore implements CheckpointStore {
  #runs = new Map<string, Map<number, string>>();

  /**
   * Appends a row.
   *
   * @param workflowId The workflow id.
   * @param row The row.
   * @returns When stored.
   * @throws {CheckpointStoreError} On a duplicate sequence or an invalid row.
   */
  append(workflowId: string, row: CheckpointRow): Promise<void> {
    try {
      const text = encodeRow(workflowId, row);
      let rows = this.#runs.get(workflowId);
      if (rows === undefined) {
        rows = new Map();
        this.#runs.set(workflowId, rows);
      }
      if (rows.has(row.sequence)) throw conflictError(workflowId, row.sequence);
      if (row.sequence > 0 && !rows.has(row.sequence - 1)) throw gapError(workflowId, row.sequence);
      rows.set(row.sequence, text);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Loads a run's rows.
   *
   * @param workflowId The workflow id.
   * @returns The rows, ascending by sequence.
   */
  loadRun(workflowId: string): Promise<CheckpointRow[]> {
    try {
      checkWorkflowId(workflowId);
      const rows = [...(this.#runs.get(workflowId)?.entries() ?? [])]
        .sort(([a], [b]) => a - b)
        .map(([, text]) => decodeRow(workflowId, text));
      return Promise.resolve(rows);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Removes a run's rows.
   *
   * @param workflowId The workflow id.
   * @returns When removed.
   */
  clear(workflowId: string): Promise<void> {
    try {
      checkWorkflowId(workflowId);
      this.#runs.delete(workflowId);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
