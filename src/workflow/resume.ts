// Reading a checkpoint log back into a starting point for the FSM (cano's resume algorithm):
// the last row decides where and whether to resume, one pass rebuilds the rest.

import {
  CanoError,
  CheckpointStoreError,
  messageOf,
  WorkflowVersionMismatchError,
} from "../errors.ts";
import type { CheckpointRow, CheckpointStore } from "../recovery/checkpoint.ts";
import type { ResourceMap } from "../task/task.ts";
import { ResumeEvent, UnknownResumeStateEvent } from "./events.ts";
import type { SplitOutcome } from "./join.ts";
import type { Definition, RunStart, StackEntry } from "./run.ts";

/** Where a resumed run starts, with the data to start it with. */
export interface ResumePoint extends RunStart {
  /** The state to re-enter. */
  readonly state: string;
  /** The run data of the last snapshot (`{}` if the log holds none). */
  readonly data: unknown;
}

/**
 * Loads `workflowId`'s log and turns it into a resume point: version gate on the last row, resume
 * at the last row's state, run data from the last snapshot, compensation stack, step cursors and
 * the path so far. Emits `unknownresumestate` for dropped rows and `resume` once at the end.
 */
export async function loadResumePoint<R extends ResourceMap>(
  def: Definition<R>,
  store: CheckpointStore,
  workflowId: string,
  runId: string,
): Promise<ResumePoint> {
  const rows = await loadRows(store, workflowId);
  const last = rows[rows.length - 1];
  if (last === undefined) {
    throw new CheckpointStoreError(`No checkpoint rows for workflow id "${workflowId}"`);
  }
  if (last.workflowVersion !== def.version) {
    throw new WorkflowVersionMismatchError(last.workflowVersion, def.version);
  }
  if (!known(def, last.state)) {
    throw new CanoError(
      `Checkpoint state "${last.state}" (sequence ${last.sequence}) is not a registered or exit ` +
        "state of this workflow; was a state renamed without bumping withWorkflowVersion?",
      { category: "workflow" },
    );
  }
  const point = rehydrate(def, rows, last, workflowId, runId);
  if (def.events.hasListener("resume")) {
    def.events.dispatchEvent(new ResumeEvent({ runId, workflowId, sequence: last.sequence }));
  }
  return point;
}

async function loadRows(store: CheckpointStore, workflowId: string): Promise<CheckpointRow[]> {
  let rows: CheckpointRow[];
  try {
    rows = await store.loadRun(workflowId);
  } catch (error) {
    throw new CheckpointStoreError(
      `Load checkpoint run of workflow "${workflowId}": ${messageOf(error)}`,
      { cause: error },
    );
  }
  return [...rows].sort((a, b) => a.sequence - b.sequence); // defensive: stores must sort already
}

function known<R extends ResourceMap>(def: Definition<R>, state: string): boolean {
  return def.entries.has(state) || def.exits.has(state);
}

/** One pass over the rows: stack, cursors, prior path and the last data snapshot. */
function rehydrate<R extends ResourceMap>(
  def: Definition<R>,
  rows: readonly CheckpointRow[],
  last: CheckpointRow,
  workflowId: string,
  runId: string,
): ResumePoint {
  const stack: StackEntry[] = [];
  const cursors = new Map<string, unknown>();
  let data: unknown = undefined;
  // The resumed state re-enters the path, so its own last entry row ends the prior path.
  let cutoff = last.sequence + 1;
  for (const row of rows) {
    if (row.kind === "state_entry" && row.state === last.state) cutoff = row.sequence;
  }
  const path: string[] = [];
  let split: SplitOutcome | undefined;
  for (const row of rows) {
    if (row.kind === "state_entry" && row.sequence === cutoff) split = splitOf(row.output);
    if (row.data !== undefined) data = row.data;
    switch (row.kind) {
      case "compensation_completion":
        // The step at the resume point re-runs and pushes itself again: skip its old entry.
        if (row.sequence !== last.sequence) {
          stack.push({ taskId: row.taskId, state: row.state, output: row.output });
        }
        break;
      case "step_cursor":
        // Only progress of the resumed state's latest visit counts; older visits had finished.
        if (row.state === last.state && row.sequence > cutoff) cursors.set(row.state, row.output);
        break;
      case "state_entry":
        if (row.sequence >= cutoff) break;
        if (known(def, row.state)) path.push(row.state);
        else reportUnknown(def, workflowId, runId, row);
        break;
    }
  }
  return {
    workflowId,
    state: last.state,
    sequence: last.sequence + 1,
    path,
    stack,
    cursors,
    split,
    data: data ?? {},
  };
}

/** The split outcome a join state's entry row carries, if any. */
function splitOf(output: unknown): SplitOutcome | undefined {
  if (typeof output !== "object" || output === null || !("split" in output)) return undefined;
  return (output as { split: SplitOutcome }).split;
}

function reportUnknown<R extends ResourceMap>(
  def: Definition<R>,
  workflowId: string,
  runId: string,
  row: CheckpointRow,
): void {
  if (!def.events.hasListener("unknownresumestate")) return;
  def.events.dispatchEvent(
    new UnknownResumeStateEvent({ runId, workflowId, sequence: row.sequence, state: row.state }),
  );
}
