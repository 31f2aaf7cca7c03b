// Saga rollback: after any terminal failure, completed compensatable steps are undone in reverse
// order. The drain is not cancellable (every compensator gets its chance even while the run's
// signal stays aborted) but it is bounded: by each task's attempt timeout and, when configured,
// by a drain deadline.

import { abortable, deadline, NEVER_ABORTED } from "../async.ts";
import { CompensationFailedError, OrphanedCompensationError, TimeoutError } from "../errors.ts";
import { invoke, type ResourceMap } from "../task/task.ts";
import { CompensateEvent } from "./events.ts";
import { clearLog } from "./journal.ts";
import { contextFor, ids, listens, type Run, type StackEntry } from "./run.ts";

const MAX_DEFAULT_DRAIN = 30_000;

/**
 * Rolls back the run's compensation stack and returns the error the run ends with: the wrapped
 * original when the stack was empty or rolled back cleanly (the log is then kept or cleared,
 * respectively), else a `CompensationFailedError` (the log is kept for manual recovery).
 */
export async function drain<R extends ResourceMap>(
  run: Run<R>,
  original: unknown,
): Promise<unknown> {
  if (run.stack.length === 0) return original;
  const budget = drainBudget(run);
  const until = budget === undefined ? undefined : Date.now() + budget;
  const errors: unknown[] = [];
  while (run.stack.length > 0) {
    if (until !== undefined && Date.now() >= until) {
      errors.push(...orphanRemaining(run));
      break;
    }
    const entry = run.stack.pop() as StackEntry;
    const error = await compensateOne(run, entry, until);
    if (listens(run, "compensate")) {
      run.def.events.dispatchEvent(
        new CompensateEvent({ ...ids(run), taskId: entry.taskId, ok: error === undefined, error }),
      );
    }
    if (error !== undefined) errors.push(error);
  }
  if (errors.length > 0) return new CompensationFailedError([original, ...errors]);
  await clearLog(run);
  return original;
}

/** cano's bound: the explicit compensation timeout, else min(total / 2, 30 s) under a total timeout. */
function drainBudget<R extends ResourceMap>(run: Run<R>): number | undefined {
  const { compensationTimeout, totalTimeout } = run.def;
  if (compensationTimeout !== undefined) return compensationTimeout;
  if (totalTimeout !== undefined) return Math.min(totalTimeout / 2, MAX_DEFAULT_DRAIN);
  return undefined;
}

/** Once the deadline passed, every remaining entry is orphaned (outputs kept), then one summary. */
function orphanRemaining<R extends ResourceMap>(run: Run<R>): unknown[] {
  const left = run.stack.length;
  const errors: unknown[] = [];
  while (run.stack.length > 0) {
    const entry = run.stack.pop() as StackEntry;
    errors.push(new OrphanedCompensationError(entry.taskId, entry.output));
  }
  errors.push(new TimeoutError(`Compensation deadline elapsed; ${left} entries left unprocessed`));
  return errors;
}

/** Runs one compensator once; returns its error, or `undefined` on success. */
async function compensateOne<R extends ResourceMap>(
  run: Run<R>,
  entry: StackEntry,
  until: number | undefined,
): Promise<unknown> {
  const compensator = run.def.compensators.get(entry.taskId);
  if (compensator === undefined) return new OrphanedCompensationError(entry.taskId, entry.output);
  const attemptLimit = compensator.config.attemptTimeout;
  const remaining = until === undefined ? undefined : Math.max(0, until - Date.now());
  const useDrainLimit = remaining !== undefined &&
    (attemptLimit === undefined || remaining < attemptLimit);
  const limit = useDrainLimit ? remaining : attemptLimit;
  const guard = limit === undefined ? undefined : deadline(
    limit,
    () =>
      new TimeoutError(
        useDrainLimit
          ? `Compensate for "${entry.taskId}" exceeded the compensation deadline`
          : `Compensate for "${entry.taskId}" exceeded its attempt timeout of ${attemptLimit} ms`,
      ),
  );
  const signal = guard?.signal ?? NEVER_ABORTED;
  try {
    const ctx = contextFor(run, entry.state, signal, 1);
    await abortable(invoke((c) => compensator.compensate(c, entry.output), ctx), guard?.signal);
    return undefined;
  } catch (error) {
    return error;
  } finally {
    guard?.clear();
  }
}
