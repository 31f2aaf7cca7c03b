// Writing the checkpoint log of a run: every append goes through `appendRow` (dense sequences,
// version stamp, `checkpoint` event), and the log is cleared through `clearLog` (best effort).

import { CheckpointStoreError, messageOf } from "../errors.ts";
import type { CheckpointRow, RowKind } from "../recovery/checkpoint.ts";
import type { ResourceMap } from "../task/task.ts";
import { jsonCopy } from "./json.ts";
import { CheckpointClearFailedEvent, CheckpointEvent } from "./events.ts";
import { ids, listens, type Run } from "./run.ts";

/** The parts of a row the caller decides; sequence and version are the journal's. */
export interface RowDraft {
  readonly kind: RowKind;
  readonly state: string;
  readonly taskId: string;
  readonly output?: unknown;
  readonly data?: unknown;
}

/** Whether this run writes a checkpoint log at all. */
export function journaling<R extends ResourceMap>(run: Run<R>): boolean {
  return run.def.store !== undefined;
}

/**
 * Appends the next row of the run's log. Failures become `CheckpointStoreError`s whose message
 * says which append failed (`what`), with the store's error as the cause.
 */
export async function appendRow<R extends ResourceMap>(
  run: Run<R>,
  draft: RowDraft,
  what: string,
): Promise<void> {
  const store = run.def.store;
  if (store === undefined) return;
  const workflowId = run.workflowId;
  if (workflowId === undefined) {
    throw new CheckpointStoreError(
      "Checkpointing requires a workflow id (call withWorkflowId, or resume with resumeFrom(id))",
    );
  }
  const row: CheckpointRow = {
    sequence: run.sequence,
    state: draft.state,
    taskId: draft.taskId,
    kind: draft.kind,
    workflowVersion: run.def.version,
  };
  try {
    // Snapshots, not references: later mutations of the run data must not reach the log.
    if (draft.output !== undefined) row.output = jsonCopy(draft.output);
    if (draft.data !== undefined) row.data = jsonCopy(draft.data);
  } catch (error) {
    throw new CheckpointStoreError(
      `${what}: the run data or output of state "${draft.state}" is not JSON-serialisable: ${
        messageOf(error)
      }`,
      { cause: error },
    );
  }
  try {
    await store.append(workflowId, row);
  } catch (error) {
    throw new CheckpointStoreError(`${what}: ${messageOf(error)}`, { cause: error });
  }
  if (listens(run, "checkpoint")) {
    run.def.events.dispatchEvent(new CheckpointEvent({ ...ids(run), sequence: row.sequence }));
  }
  run.sequence += 1;
}

/** Clears the run's log; a failure is reported as `checkpointclearfailed`, never thrown. */
export async function clearLog<R extends ResourceMap>(run: Run<R>): Promise<void> {
  const { store } = run.def;
  if (store === undefined || run.workflowId === undefined) return;
  try {
    await store.clear(run.workflowId);
  } catch (cause) {
    if (listens(run, "checkpointclearfailed")) {
      const error = new CheckpointStoreError(`Clear checkpoint log: ${messageOf(cause)}`, {
        cause,
      });
      run.def.events.dispatchEvent(new CheckpointClearFailedEvent({ ...ids(run), error }));
    }
  }
}
