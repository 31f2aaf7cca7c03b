// Saga rollback: after any terminal failure, completed compensatable steps are undone in reverse
// order. For a checkpointed run the rollback is durable: a `rollback` row (the cause and every
// compensation to run) is appended before the first compensation, and a `compensated` row after
// each one, so a resumed run finishes the rollback — skipping what is done — and never runs
// forward. The drain is not cancellable but it is bounded (each task's attempt timeout and, when
// configured, a drain deadline), and it stops dead when the run's ownership is lost.

import { abortable, deadline, NEVER_ABORTED } from "../async.ts";
import {
  CheckpointStoreError,
  CompensationFailedError,
  messageOf,
  OrphanedCompensationError,
  StateContextError,
  TimeoutError,
} from "../errors.ts";
import { safeInstanceOf, summarizeError } from "../describe.ts";
import { invoke, type ResourceMap } from "../task/task.ts";
import { appendRow, completeRun, failRun, journaling } from "./journal.ts";
import { contextFor, listens, type RollbackPlan, type Run, type StackEntry } from "./run.ts";

const MAX_DEFAULT_DRAIN = 30_000;

/** What a `rollback` row's output holds. */
export interface RollbackRecord {
  /** The failure, summarised (the cause inside the `StateContextError`, when it was one). */
  readonly error: { name: string; message: string; category?: string };
  /** When the run's error was a `StateContextError`: its attempt count. */
  readonly attempt?: number;
  /** Every compensation to run, in stack order. */
  readonly stack: readonly StackEntry[];
}

/** The rollback row's record of a run's error and stack. */
function recordOf(original: unknown, stack: readonly StackEntry[]): RollbackRecord {
  if (safeInstanceOf(original, StateContextError)) {
    return { error: summarizeError(original.cause), attempt: original.attempt, stack };
  }
  return { error: summarizeError(original), stack };
}

/**
 * Handles the end of a failed run and returns the error it ends with: with nothing to roll back,
 * the error itself (the log is kept: the run can be resumed); else the rollback's outcome — the
 * error after a clean rollback (log deleted), or a `CompensationFailedError`. Rejects only with an
 * `OwnershipLostError`, when the run is lost mid-way (nothing more is done or written).
 */
export async function drain<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  original: unknown,
): Promise<unknown> {
  if (run.stack.length === 0) {
    await failRun(run, original);
    return original;
  }
  const stack = run.stack.splice(0);
  if (journaling(run)) {
    const record = recordOf(original, stack);
    try {
      await appendRow(
        run,
        { kind: "rollback", state, taskId: "", output: record },
        "Record the saga rollback",
      );
    } catch (error) {
      if (run.ownership?.lost !== undefined) throw run.ownership.lost;
      // Without a durable rollback row, a compensation now could later be followed by a resume
      // that runs the workflow forward: refunded *and* shipped. Nothing is compensated; the log
      // is kept as it was, so the run can be resumed (or retried) once the store works again.
      const failure = new CompensationFailedError([
        original,
        new CheckpointStoreError(
          `Saga rollback not started: it could not be recorded (${messageOf(error)}); no ` +
            "compensation ran and the log is kept, so resumeFrom can continue the run",
          { cause: error },
        ),
      ]);
      await failRun(run, failure);
      return failure;
    }
  }
  return await rollBack(run, { state, cause: original, stack, done: new Set() });
}

/**
 * Runs the compensations of `plan` not yet done, from the top of the stack, recording each, then
 * ends the run (log deleted after a clean rollback, kept and marked failed after a dirty one).
 * Returns the error the run ends with.
 */
export async function rollBack<R extends ResourceMap>(
  run: Run<R>,
  plan: RollbackPlan,
): Promise<unknown> {
  const budget = drainBudget(run);
  const until = budget === undefined ? undefined : Date.now() + budget;
  const errors: unknown[] = [];
  for (let index = plan.stack.length - 1; index >= 0; index--) {
    if (plan.done.has(index)) continue;
    // Still ours? (Free while the lease is fresh; after a stall, a fenced renewal first.)
    const held = run.ownership?.confirm();
    if (held !== undefined) await held;
    if (until !== undefined && Date.now() >= until) {
      errors.push(...orphanRemaining(plan, index));
      break;
    }
    const entry = plan.stack[index]!;
    let outcome = run.spans === undefined
      ? await compensateOne(run, entry, until)
      : await tracedCompensation(run, entry, until);
    if (run.ownership?.lost !== undefined) throw run.ownership.lost;
    if (outcome.ok && journaling(run)) {
      try {
        await appendRow(
          run,
          { kind: "compensated", state: entry.state, taskId: entry.taskId, output: { index } },
          "Record a compensation",
        );
      } catch (appendError) {
        if (run.ownership?.lost !== undefined) throw run.ownership.lost;
        // Done but unrecorded: a resume runs it again (compensations are idempotent).
        outcome = { ok: false, error: appendError };
      }
    }
    const error = outcome.ok ? undefined : outcome.error;
    if (listens(run, "compensate")) run.reporter.compensate(run, entry.taskId, outcome.ok, error);
    if (!outcome.ok) errors.push(outcome.error);
  }
  if (errors.length > 0) {
    const failure = new CompensationFailedError([plan.cause, ...errors]);
    await failRun(run, failure);
    return failure;
  }
  await completeRun(run);
  return plan.cause;
}

/** cano's bound: the explicit compensation timeout, else min(total / 2, 30 s) under a total timeout. */
function drainBudget<R extends ResourceMap>(run: Run<R>): number | undefined {
  const { compensationTimeout, totalTimeout } = run.def;
  if (compensationTimeout !== undefined) return compensationTimeout;
  if (totalTimeout !== undefined) return Math.min(totalTimeout / 2, MAX_DEFAULT_DRAIN);
  return undefined;
}

/** Once the deadline passed, every remaining entry is orphaned (outputs kept), then one summary. */
function orphanRemaining(plan: RollbackPlan, from: number): unknown[] {
  const errors: unknown[] = [];
  for (let index = from; index >= 0; index--) {
    if (plan.done.has(index)) continue;
    const entry = plan.stack[index]!;
    errors.push(new OrphanedCompensationError(entry.taskId, entry.output));
  }
  errors.push(
    new TimeoutError(`Compensation deadline elapsed; ${errors.length} entries left unprocessed`),
  );
  return errors;
}

/**
 * How one compensation went. A wrapper rather than the bare error: anything may be thrown,
 * `undefined` or a thenable included, and neither must read as success or be awaited.
 */
type Outcome = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

const DONE: Outcome = { ok: true };

/** {@link compensateOne} in a `cano.compensate` span under the run's (the compensator inside it). */
async function tracedCompensation<R extends ResourceMap>(
  run: Run<R>,
  entry: StackEntry,
  until: number | undefined,
): Promise<Outcome> {
  const spans = run.spans!;
  const span = spans.start({
    kind: "compensate",
    workflow: run.def.name,
    runId: run.runId,
    workflowId: run.workflowId,
    state: entry.state,
    taskId: entry.taskId,
  }, run.runSpan);
  const outcome = await spans.within(span, () => compensateOne(run, entry, until));
  spans.end(
    span,
    outcome.ok
      ? { failed: false, outcome: "ok" }
      : { failed: true, error: outcome.error, outcome: "err" },
  );
  return outcome;
}

/** Runs one compensator once. */
async function compensateOne<R extends ResourceMap>(
  run: Run<R>,
  entry: StackEntry,
  until: number | undefined,
): Promise<Outcome> {
  const compensator = run.def.compensators.get(entry.taskId);
  if (compensator === undefined) {
    return { ok: false, error: new OrphanedCompensationError(entry.taskId, entry.output) };
  }
  const attemptLimit = compensator.config.attemptTimeout;
  const remaining = until === undefined ? undefined : Math.max(0, until - Date.now());
  const useDrainLimit = remaining !== undefined &&
    (attemptLimit === undefined || remaining < attemptLimit);
  const limit = useDrainLimit ? remaining : attemptLimit;
  // Lost ownership aborts the compensation in flight too: the new owner runs the rollback.
  const lostSignal = run.ownership?.signal;
  const guard = limit === undefined ? undefined : deadline(
    limit,
    () =>
      new TimeoutError(
        useDrainLimit
          ? `Compensate for "${entry.taskId}" exceeded the compensation deadline`
          : `Compensate for "${entry.taskId}" exceeded its attempt timeout of ${attemptLimit} ms`,
      ),
    lostSignal,
  );
  const signal = guard?.signal ?? lostSignal ?? NEVER_ABORTED;
  try {
    const ctx = contextFor(run, entry.state, signal, 1);
    const race = guard?.signal ?? lostSignal;
    await abortable(invoke((c) => compensator.compensate(c, entry.output), ctx), race);
    return DONE;
  } catch (error) {
    return { ok: false, error };
  } finally {
    guard?.clear();
  }
}
