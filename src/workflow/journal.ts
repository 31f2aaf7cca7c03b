// Writing the checkpoint log of a run: every write of every processing model goes through here —
// appends (dense sequences, version stamp, `checkpoint` event) and the run's end — and through the
// run's ownership, so every one of them is fenced by the run's lease.

import { safeInstanceOf } from "../describe.ts";
import { CancelledError, CheckpointStoreError, messageOf } from "../errors.ts";
import { type CheckpointRow, encodeRow, type RowKind } from "../recovery/checkpoint.ts";
import { OwnershipLostError, RunExistsError } from "../recovery/run_errors.ts";
import type { ResourceMap } from "../task/task.ts";
import { jsonCopy } from "./json.ts";
import { listens, type Run } from "./run.ts";

/** The parts of a row the caller decides; sequence and version are the journal's. */
export interface RowDraft {
  readonly kind: RowKind;
  readonly state: string;
  readonly taskId: string;
  readonly output?: unknown;
  readonly data?: unknown;
  readonly resumed?: boolean;
}

/** Whether this run writes a checkpoint log at all. */
export function journaling<R extends ResourceMap>(run: Run<R>): boolean {
  return run.ownership !== undefined;
}

/**
 * Whether an error means this process must stop the run dead: it lost the run (or never had it,
 * for a start whose id turned out to be taken). Such errors skip rollback and every later write.
 */
export function stopsDead(error: unknown): boolean {
  return safeInstanceOf(error, OwnershipLostError) || safeInstanceOf(error, RunExistsError);
}

/**
 * Appends the next row of the run's log, fenced by the run's lease. Store failures become
 * `CheckpointStoreError`s whose message says which append failed (`what`); a lost lease rejects
 * with the `OwnershipLostError` itself.
 */
export async function appendRow<R extends ResourceMap>(
  run: Run<R>,
  draft: RowDraft,
  what: string,
): Promise<void> {
  const ownership = run.ownership;
  if (ownership === undefined) return;
  const row = rowOf(run, draft);
  try {
    await ownership.append(row);
  } catch (error) {
    if (stopsDead(error)) throw error;
    throw new CheckpointStoreError(`${what}: ${messageOf(error)}`, { cause: error });
  }
  checkpointed(run, row.sequence);
}

/** The row of a draft, at the run's next sequence. */
function rowOf<R extends ResourceMap>(run: Run<R>, draft: RowDraft): CheckpointRow {
  const row: CheckpointRow = {
    sequence: run.sequence,
    state: draft.state,
    taskId: draft.taskId,
    kind: draft.kind,
    workflowVersion: run.def.version,
  };
  // The store encodes these when append is called (before this returns to the loop), so the row
  // is a snapshot as of now; later mutations of the run data do not reach the log.
  if (draft.output !== undefined) row.output = draft.output;
  if (draft.data !== undefined) row.data = draft.data;
  if (draft.resumed === true) row.resumed = true;
  return row;
}

/** A row is durable: the `checkpoint` event, and the next sequence. */
function checkpointed<R extends ResourceMap>(run: Run<R>, sequence: number): void {
  if (listens(run, "checkpoint")) run.reporter.checkpoint(run, sequence);
  run.sequence += 1;
}

/**
 * Ends a run that reached an exit state or rolled back cleanly: its log and record are deleted —
 * with the exit state's row (`exit`), which the store records in the same end (a run whose end
 * takes one commit costs no commit for it). The row is checked first, like an append: a refusal
 * (run data the codec cannot keep, a pending cancel request) rejects, and the run fails or is
 * cancelled as for any append. A failure of the end itself is reported as
 * `checkpointclearfailed`, never thrown: the exit row is then appended if it can be (the log ends
 * in a state a resume finishes at once) and the run released. A lost lease means another process
 * finishes the run.
 */
export async function completeRun<R extends ResourceMap>(
  run: Run<R>,
  exit?: RowDraft,
): Promise<void> {
  const ownership = run.ownership;
  if (ownership === undefined) return;
  const row = exit === undefined ? undefined : rowOf(run, exit);
  if (row !== undefined) {
    try {
      encodeRow(ownership.lease.id, row, ownership.store.codec);
    } catch (error) {
      throw new CheckpointStoreError(`Append checkpoint: ${messageOf(error)}`, { cause: error });
    }
  }
  try {
    await ownership.finish(
      row === undefined ? { status: "completed" } : { status: "completed", exit: row },
    );
  } catch (cause) {
    if (safeInstanceOf(cause, OwnershipLostError)) {
      // The exit row was refused (not yet in the log): lost like any refused append. After it
      // was recorded, another process only finishes what is done.
      if (row !== undefined && ownership.lease.sequence <= row.sequence) throw cause;
      return;
    }
    if (safeInstanceOf(cause, CancelledError)) throw cause;
    // Best effort: with the exit row in it, a resume of the kept log ends at once — and released,
    // a resume (or a recovery sweep) need not wait for the lease to run out.
    if (row !== undefined) await ownership.append(row).catch(() => {});
    await ownership.release().catch(() => {});
    if (listens(run, "checkpointclearfailed")) {
      const error = new CheckpointStoreError(`Clear checkpoint log: ${messageOf(cause)}`, {
        cause,
      });
      run.reporter.checkpointClearFailed(run, error);
    }
    return;
  }
  if (row !== undefined) checkpointed(run, row.sequence);
}

/**
 * Ends a failed run: its log is kept (a later `resumeFrom` retries it), its record says failed
 * with the error, and the lease is released. Best effort: when the store cannot record it, the
 * lease simply expires and the run looks like one whose process died.
 */
export async function failRun<R extends ResourceMap>(run: Run<R>, error: unknown): Promise<void> {
  const ownership = run.ownership;
  if (ownership === undefined || ownership.lost !== undefined) return;
  try {
    await ownership.finish({ status: "failed", error: messageOf(error) });
  } catch {
    // Nothing else to do: the kept log and the expiring lease tell the next claimer the rest.
  }
}

/**
 * A copy of a saga step's output as a resumed process would read it back: through the store's
 * codec (which refuses what it cannot keep), or a JSON round-trip for an unjournaled run.
 */
export function storedCopy<R extends ResourceMap>(run: Run<R>, value: unknown): unknown {
  if (value === undefined) return undefined;
  const codec = run.ownership?.store.codec;
  if (codec === undefined) return jsonCopy(value);
  return codec.parse(codec.stringify(value, "output"));
}
