// Reading a checkpoint log back into a starting point for the FSM (cano's resume algorithm, made
// visit-aware and rollback-aware): the last row decides where and whether to resume, one pass
// rebuilds the rest. A log holding a `rollback` row resumes the rollback, never the workflow.

import {
  CanoError,
  CheckpointStoreError,
  type ErrorCategory,
  StateContextError,
  WorkflowVersionMismatchError,
} from "../errors.ts";
import type { CheckpointRow } from "../recovery/checkpoint.ts";
import { shortId } from "../recovery/run_errors.ts";
import type { ResourceMap } from "../task/task.ts";
import type { RollbackRecord } from "./compensation.ts";
import { workflowReporter } from "../observe/reporter.ts";
import { okValues, type SplitOutcome } from "./join.ts";
import type { WaitEvent } from "../task/wait.ts";
import type { Definition, RollbackPlan, RunStart, StackEntry } from "./run.ts";

/** Where a resumed run starts, with the data to start it with. */
export interface ResumePoint extends RunStart {
  /** The state to re-enter (for a rollback: the state whose failure started it). */
  readonly state: string;
  /** The run data of the last snapshot (`{}` if the log holds none). */
  readonly data: unknown;
}

/**
 * Turns a claimed run's rows into a resume point: version gate on the last row, then either the
 * rollback to finish or the state to re-enter, with the run data of the last snapshot, the saga
 * stack, the step cursor and the path so far. Emits `unknownresumestate` for dropped rows and
 * `resume` once at the end.
 */
export function resumePoint<R extends ResourceMap>(
  def: Definition<R>,
  unsorted: readonly CheckpointRow[],
  workflowId: string,
  runId: string,
): ResumePoint {
  const rows = [...unsorted].sort((a, b) => a.sequence - b.sequence); // defensive: stores sort
  const last = rows[rows.length - 1];
  if (last === undefined) {
    throw new CheckpointStoreError(`No checkpoint rows for workflow id "${shortId(workflowId)}"`);
  }
  if (last.workflowVersion !== def.version) {
    throw new WorkflowVersionMismatchError(last.workflowVersion, def.version);
  }
  let rollbackAt = -1;
  rows.forEach((row, index) => {
    if (row.kind === "rollback") rollbackAt = index;
  });
  const point = rollbackAt >= 0
    ? rollbackPoint(def, rows, rollbackAt, workflowId, runId)
    : forwardPoint(def, rows, last, workflowId, runId);
  const reporter = workflowReporter(def.events);
  if (reporter.listens("resume")) reporter.resume({ runId, workflowId, def }, last.sequence);
  return point;
}

function known<R extends ResourceMap>(def: Definition<R>, state: string): boolean {
  return def.entries.has(state) || def.exits.has(state);
}

/**
 * One pass over the rows of a run going forward. The current visit of the last row's state starts
 * at that state's last `state_entry` row not marked `resumed`: saga steps and cursors written in
 * it belong to the re-run (the step re-runs and pushes itself again; only the visit's own cursor
 * counts), and the path ends just before it.
 */
function forwardPoint<R extends ResourceMap>(
  def: Definition<R>,
  rows: readonly CheckpointRow[],
  last: CheckpointRow,
  workflowId: string,
  runId: string,
): ResumePoint {
  if (!known(def, last.state)) {
    throw new CanoError(
      `Checkpoint state "${last.state}" (sequence ${last.sequence}) is not a registered or exit ` +
        "state of this workflow; was a state renamed without bumping withWorkflowVersion?",
      { category: "workflow" },
    );
  }
  let visit = last.sequence + 1;
  for (const row of rows) {
    if (row.kind === "state_entry" && row.state === last.state && row.resumed !== true) {
      visit = row.sequence;
    }
  }
  const stack: StackEntry[] = [];
  const cursors = new Map<string, unknown>();
  const path: string[] = [];
  let data: unknown = undefined;
  let split: SplitOutcome | undefined;
  let event: WaitEvent | undefined;
  let eventSeq = 0;
  for (const row of rows) {
    if (row.data !== undefined) data = row.data;
    const received = eventOf(row.output);
    if (received !== undefined) eventSeq = Math.max(eventSeq, received.seq);
    const inVisit = row.sequence >= visit && row.state === last.state;
    switch (row.kind) {
      case "compensation_completion":
        if (!inVisit) stack.push({ taskId: row.taskId, state: row.state, output: row.output });
        break;
      case "step_cursor":
        if (inVisit) cursors.set(row.state, row.output);
        break;
      case "state_entry":
        if (row.sequence === visit) {
          split = splitOf(row.output);
          event = received;
        }
        if (row.sequence >= visit || row.resumed === true) break;
        if (known(def, row.state)) path.push(row.state);
        else reportUnknown(def, workflowId, runId, row);
        break;
      default:
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
    event,
    eventSeq,
    data: data ?? {},
  };
}

/** A run whose log holds a rollback row: the plan it recorded, minus what is compensated. */
function rollbackPoint<R extends ResourceMap>(
  def: Definition<R>,
  rows: readonly CheckpointRow[],
  at: number,
  workflowId: string,
  runId: string,
): ResumePoint {
  const row = rows[at]!;
  const record = checkRecord(workflowId, row);
  const done = new Set<number>();
  for (const later of rows.slice(at + 1)) {
    const index = (later.output as { index?: unknown } | undefined)?.index;
    if (later.kind === "compensated" && typeof index === "number") done.add(index);
  }
  const path: string[] = [];
  let data: unknown = undefined;
  for (const earlier of rows.slice(0, at)) {
    if (earlier.data !== undefined) data = earlier.data;
    if (earlier.kind !== "state_entry" || earlier.resumed === true) continue;
    if (known(def, earlier.state)) path.push(earlier.state);
    else reportUnknown(def, workflowId, runId, earlier);
  }
  const cause = recordedError(record.error);
  const rollback: RollbackPlan = {
    state: row.state,
    cause: record.attempt === undefined
      ? cause
      : new StateContextError(row.state, record.attempt, path, cause),
    stack: record.stack,
    done,
  };
  const last = rows[rows.length - 1]!;
  return {
    workflowId,
    state: row.state,
    sequence: last.sequence + 1,
    path,
    stack: [],
    cursors: new Map(),
    data: data ?? {},
    rollback,
  };
}

function checkRecord(workflowId: string, row: CheckpointRow): RollbackRecord {
  const record = row.output as Partial<RollbackRecord> | undefined;
  const error = record?.error;
  if (
    typeof record !== "object" || record === null || !Array.isArray(record.stack) ||
    typeof error !== "object" || error === null || typeof error.message !== "string" ||
    record.stack.some((entry) =>
      typeof entry !== "object" || entry === null || typeof entry.taskId !== "string" ||
      typeof entry.state !== "string"
    )
  ) {
    throw new CheckpointStoreError(
      `Corrupt rollback row ${row.sequence} of workflow "${shortId(workflowId)}"`,
    );
  }
  return record as RollbackRecord;
}

/** The error a recorded summary stands for: same name, message and category. */
function recordedError(summary: RollbackRecord["error"]): CanoError {
  const category = (summary.category ?? "task_execution") as ErrorCategory;
  const error = new CanoError(summary.message, { category });
  error.name = typeof summary.name === "string" ? summary.name : "Error";
  return error;
}

/** The event the state after a wait received, as its entry row keeps it, if any. */
function eventOf(output: unknown): WaitEvent | undefined {
  if (typeof output !== "object" || output === null || !("event" in output)) return undefined;
  const event = (output as { event: unknown }).event;
  if (typeof event !== "object" || event === null) return undefined;
  const { seq, name, payload, eventId, at } = event as Record<string, unknown>;
  if (typeof seq !== "number" || typeof name !== "string" || typeof at !== "number") {
    return undefined;
  }
  return {
    seq,
    name,
    payload,
    eventId: typeof eventId === "string" ? eventId : undefined,
    at: new Date(at),
  };
}

/** The split outcome a join state's entry row carries, if any. */
function splitOf(output: unknown): SplitOutcome | undefined {
  if (typeof output !== "object" || output === null || !("split" in output)) return undefined;
  const split = (output as { split: SplitOutcome }).split;
  // Logs written before `values` existed carry only the results: derive them.
  if (Array.isArray(split.values) || !Array.isArray(split.results)) return split;
  return { ...split, values: okValues(split.results) };
}

function reportUnknown<R extends ResourceMap>(
  def: Definition<R>,
  workflowId: string,
  runId: string,
  row: CheckpointRow,
): void {
  const reporter = workflowReporter(def.events);
  if (!reporter.listens("unknownresumestate")) return;
  reporter.unknownResumeState({ runId, workflowId, def }, row.sequence, row.state);
}
