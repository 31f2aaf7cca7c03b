// The FSM loop. One function drives a run from its initial state to an exit state; every state
// kind is dispatched through its processing model (`models.ts`), every failure leaves through
// `fail`, which wraps the error with its state context and rolls back the saga stack — unless the
// process lost the run, in which case it stops dead.

import { setLongTimeout } from "../async.ts";
import { safeInstanceOf, summarizeError } from "../describe.ts";
import {
  CancelledError,
  CanoError,
  CircuitOpenError,
  CompensationFailedError,
  RetryExhaustedError,
  StateContextError,
  WorkflowTimeoutError,
} from "../errors.ts";
import type { RunOwnership } from "../recovery/lease.ts";
import type { ResourceMap } from "../task/task.ts";
import type { WaitEvent } from "../task/wait.ts";
import { RunParked, type WaitingResult } from "./parked.ts";
import { describeResult, directContext, firstAttempt, retryDirect } from "./attempts.ts";
import { drain, rollBack } from "./compensation.ts";
import { OwnershipLostError } from "../recovery/run_errors.ts";
import { workflowReporter } from "../observe/reporter.ts";
import { endState, startState, tracedAttempt } from "./traced.ts";
import type { SplitOutcome } from "./join.ts";
import { appendRow, completeRun, journaling, type RowDraft, stopsDead } from "./journal.ts";
import type { ProcessingModel } from "./model.ts";
import type { Spans } from "../observe/spans.ts";
import { modelOf } from "./models.ts";
import { DrainFailure } from "./models/stream.ts";
import {
  cancelledError,
  type Definition,
  listens,
  type RollbackPlan,
  type Run,
  RunRecord,
  type RunStart,
  type SingleEntry,
  type StateEntry,
} from "./run.ts";

/**
 * The outcome of a run that reached an exit state.
 *
 * @typeParam S The state union. @typeParam D The run data.
 * @typeParam X The exit states (`state` is one of them; the whole union by default).
 */
export interface WorkflowResult<S extends string, D, X extends S = S> {
  /**
   * `"completed"` on every result cano returns: tells it from a parked run's
   * {@link WaitingResult} (`status: "waiting"`) where `onWait: "return"` may give either.
   */
  status?: "completed";
  /** The exit state reached. */
  state: X;
  /** The run data, as the tasks left it. */
  data: D;
  /** The run's id, when it has one. */
  workflowId?: string | undefined;
  /** Every state entered, in order, ending with `state` (for a resumed run, since the start). */
  path: S[];
}

/** What a run that parked resolves with inside the engine (see `WaitingResult`). */
function parkedResult<R extends ResourceMap>(
  run: Run<R>,
  parked: RunParked,
): WaitingResult<string, unknown> {
  return {
    status: "waiting",
    state: parked.state,
    workflowId: run.workflowId ?? "",
    events: [...parked.events],
    until: parked.until === undefined ? undefined : new Date(parked.until),
    data: run.data,
    path: [...run.path],
  };
}

/** Whether a run result is a parked run's. */
export function isWaiting(result: unknown): result is WaitingResult<string, unknown> {
  return typeof result === "object" && result !== null &&
    (result as { status?: unknown }).status === "waiting";
}

/** A fresh run: sequence 0, empty path and stack. */
export function freshStart(workflowId: string | undefined): RunStart {
  return { workflowId, sequence: 0, path: [], stack: [], cursors: new Map() };
}

/**
 * Runs the FSM from `initial` until an exit state (or, for a log that holds a rollback, finishes
 * that rollback). Resources must already be set up; `ownership` is the claim on a checkpointed
 * run (its heartbeat is stopped when the run ends). Errors thrown from inside a state are
 * `StateContextError`s (or `CompensationFailedError` after a dirty rollback); a lost run rejects
 * with the `OwnershipLostError` itself.
 */
export async function runFsm<S extends string, D, R extends ResourceMap>(
  def: Definition<R>,
  initial: S,
  data: D,
  cancel: AbortSignal | undefined,
  start: RunStart,
  runId: string,
  ownership: RunOwnership | undefined,
): Promise<WorkflowResult<S, D>> {
  // A durable cancel request (from any process) cancels the run like the caller's signal does.
  if (ownership !== undefined) {
    cancel = cancel === undefined
      ? ownership.cancelled
      : AbortSignal.any([cancel, ownership.cancelled]);
  }
  const budget = startBudget(def.totalTimeout, cancel, ownership?.signal);
  const reporter = workflowReporter(def.events);
  const spans = reporter.spans();
  const run: Run<R> = new RunRecord(
    def,
    runId,
    start,
    data,
    cancel,
    budget.signal,
    ownership,
    reporter,
    spans,
  );
  budget.onTimeout = (error) => run.timedOut = error;
  if (ownership !== undefined && reporter.observed()) reporter.ownership(run, "claimed");
  if (listens(run, "runstart")) reporter.runStart(run, initial);
  try {
    let state: S;
    if (spans === undefined) {
      state = start.rollback === undefined
        ? await loop(run, initial)
        : await finishRollback(run, start.rollback);
    } else {
      const span = spans.start({
        kind: "run",
        workflow: def.name,
        runId,
        workflowId: run.workflowId,
        resumed: start.sequence > 0 && start.journaledFirst !== true,
      }, undefined);
      run.runSpan = span;
      // A no-op tracer's run span wants no children: the run goes on as an untraced one.
      if (!spans.wantsChildren(span)) run.spans = undefined;
      // Active for the whole run: what the run does outside any state (store calls) nests too.
      const rollback = start.rollback;
      state = await spans.within(
        span,
        () => rollback === undefined ? loop(run, initial) : finishRollback(run, rollback),
      );
      spans.end(span, { failed: false, outcome: "completed", next: state });
    }
    if (listens(run, "runend")) reporter.runEnd(run, state, undefined);
    return {
      state,
      data: run.data as D,
      workflowId: run.workflowId,
      path: run.path as S[],
      status: "completed",
    };
  } catch (error) {
    if (error instanceof RunParked) {
      if (spans !== undefined) {
        endState(run, { failed: false, outcome: "parked" });
        spans.end(run.runSpan, { failed: false, outcome: "parked", next: error.state });
      }
      if (reporter.observed()) reporter.runParked(run, error.state);
      return parkedResult(run, error) as unknown as WorkflowResult<S, D>;
    }
    if (spans !== undefined) {
      const outcome = run.cancel?.aborted === true ? "cancelled" : "failed";
      endState(run, { failed: true, error, outcome });
      spans.end(run.runSpan, { failed: true, error, outcome });
    }
    if (safeInstanceOf(error, OwnershipLostError) && reporter.observed()) {
      reporter.ownership(run, "lost");
    }
    if (listens(run, "runend")) reporter.runEnd(run, undefined, error);
    throw error;
  } finally {
    budget.dispose();
    ownership?.stop();
  }
}

async function loop<S extends string, R extends ResourceMap>(run: Run<R>, initial: S): Promise<S> {
  const { entries, exits } = run.def;
  const { reporter } = run;
  let state: string = initial;
  for (;;) {
    const lost = run.ownership?.lost;
    if (lost !== undefined) throw lost;
    if (run.cancel?.aborted) {
      // Boundary check: the state is not entered, so it is not on the path either.
      if (listens(run, "cancelled")) reporter.cancelled(run, state);
      throw await fail(run, state, cancelledError(run.cancel.reason));
    }
    run.path.push(state);
    // A split's outcome (a wait's event) is for the state entered right after it, and only that.
    run.currentSplit = run.pendingSplit;
    run.pendingSplit = undefined;
    run.currentEvent = run.pendingEvent;
    run.pendingEvent = undefined;
    if (listens(run, "stateenter")) reporter.stateEnter(run, state);
    const entry = entries.get(state);
    const model = entry === undefined ? undefined : modelOf(entry);
    const exit = exits.has(state);
    if (run.spans !== undefined) startState(run, state, entry);
    let draft: RowDraft | undefined;
    if (run.journaledFirst) {
      // Written in the claim's own commit (a new run): the row is durable already.
      run.journaledFirst = false;
      if (listens(run, "checkpoint")) reporter.checkpoint(run, 0);
    } else if (journaling(run) && model?.journaled !== false) {
      // The row keeps what this state received, so a resume into it hands it over again.
      const split = run.currentSplit === undefined && run.currentEvent === undefined ? undefined : {
        ...(run.currentSplit === undefined ? {} : { split: storableSplit(run.currentSplit) }),
        ...(run.currentEvent === undefined ? {} : { event: storableEvent(run.currentEvent) }),
      };
      draft = {
        kind: "state_entry",
        state,
        taskId: entry?.name ?? "",
        data: run.data,
        output: split,
        resumed: run.resuming,
      };
      // An exit state's row goes to the run's end, which records it in the same commit that
      // deletes the log (a row written to be deleted by the very next commit would be a commit
      // for nothing).
      if (!exit) {
        try {
          await appendRow(run, draft, "Append checkpoint");
        } catch (error) {
          throw await fail(run, state, classify(run, error));
        }
      }
    }
    run.resuming = false;
    if (exit) {
      try {
        await completeRun(run, draft);
      } catch (error) {
        throw await fail(run, state, classify(run, error));
      }
      if (run.spans !== undefined) endState(run, { failed: false, outcome: "completed" });
      return state as S;
    }
    if (entry === undefined || model === undefined) {
      const error = new CanoError(`No task registered for state: ${state}`, {
        category: "workflow",
      });
      throw await fail(run, state, error);
    }
    const held = run.ownership?.confirm();
    if (held !== undefined) {
      try {
        await held;
      } catch (error) {
        throw await fail(run, state, error);
      }
    }
    const plain = entry.kind === "single" || entry.kind === "router" ? entry : undefined;
    const ctx = plain === undefined ? undefined : directContext(run, state, plain);
    if (plain === undefined || ctx === undefined) {
      state = run.spans === undefined
        ? model.framed
          ? await dispatchTask(run, state, entry, model)
          : await dispatchUnframed(run, state, entry, model)
        : await tracedDispatch(run, run.spans, state, entry, model);
      continue;
    }
    // A plain task's fast path (see directContext), framed here: the task's own promise is the
    // one this loop awaits, with no dispatch frame between (one await per transition).
    taskStarted(run, state, entry);
    let next: string;
    try {
      // A traced run's attempt runs inside its `cano.attempt` span (the same single await).
      next = await (run.spans === undefined ? firstAttempt(run, plain, ctx) : tracedAttempt(
        run,
        run.spans,
        run.stateSpan,
        state,
        plain.name,
        undefined,
        1,
        run.signal,
        () => firstAttempt(run, plain, ctx),
      ));
      run.data = ctx.data;
    } catch (error) {
      next = await retryFramed(run, state, plain, error);
    }
    try {
      checkNext(state, entry, next);
    } catch (raw) {
      throw await taskFailed(run, state, entry, raw);
    }
    taskSucceeded(run, state, entry);
    if (run.spans !== undefined) endState(run, { failed: false, outcome: "completed", next });
    state = next;
  }
}

/** A resumed log that holds a rollback row: finish the rollback, then end with its cause. */
async function finishRollback<R extends ResourceMap>(
  run: Run<R>,
  plan: RollbackPlan,
): Promise<never> {
  throw await rollBack(run, plan);
}

/**
 * A state of a traced run: its model runs with the state's span active (the user's own spans
 * inside a stream or a split factory nest under it), which ends with the next state chosen.
 */
async function tracedDispatch<R extends ResourceMap>(
  run: Run<R>,
  spans: Spans,
  state: string,
  entry: StateEntry,
  model: ProcessingModel,
): Promise<string> {
  const next = await spans.within(
    run.stateSpan ?? [],
    () =>
      model.framed
        ? dispatchTask(run, state, entry, model)
        : dispatchUnframed(run, state, entry, model),
  );
  endState(run, { failed: false, outcome: "completed", next });
  return next;
}

/** Splits report per branch (`name[index]`), so they have no task frame of their own. */
async function dispatchUnframed<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: StateEntry,
  model: ProcessingModel,
): Promise<string> {
  try {
    return await model.run(run, state, entry);
  } catch (raw) {
    // A wait state parked the run: not a failure; the run stops here, ownerless and durable.
    if (raw instanceof RunParked) throw raw;
    throw await fail(run, state, classify(run, raw));
  }
}

/** A consumed event as the log keeps it (its time as epoch ms, so it survives JSON). */
function storableEvent(event: WaitEvent): Record<string, unknown> {
  return {
    seq: event.seq,
    name: event.name,
    // JSON has no undefined: an event sent without a payload is stored without the field.
    ...(event.payload === undefined ? {} : { payload: event.payload }),
    ...(event.eventId === undefined ? {} : { eventId: event.eventId }),
    at: event.at.getTime(),
  };
}

/** A split outcome as the log keeps it: branch errors reduced to their name and message. */
function storableSplit(outcome: SplitOutcome): SplitOutcome {
  return {
    ...outcome,
    results: outcome.results.map((result) =>
      result.status === "error" ? { ...result, error: summarizeError(result.error) } : result
    ),
  };
}

/**
 * The frame shared by every task-like model: `taskstart`, the model's body, the declared-next
 * check, then `tasksuccess`, or `taskfailure` and the run's failure. (The loop frames a plain
 * task's fast path itself, with the same parts.)
 */
async function dispatchTask<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: StateEntry,
  model: ProcessingModel,
): Promise<string> {
  taskStarted(run, state, entry);
  let next: string;
  try {
    next = await model.run(run, state, entry);
    checkNext(state, entry, next);
  } catch (raw) {
    throw await taskFailed(run, state, entry, raw);
  }
  taskSucceeded(run, state, entry);
  return next;
}

/** Attempts 2, 3, … of a fast-path task; a final failure is the task's, as in dispatchTask. */
async function retryFramed<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: SingleEntry,
  error: unknown,
): Promise<string> {
  try {
    return await retryDirect(run, state, entry, error);
  } catch (raw) {
    throw await taskFailed(run, state, entry, raw);
  }
}

function taskStarted<R extends ResourceMap>(run: Run<R>, state: string, entry: StateEntry): void {
  if (listens(run, "taskstart")) run.reporter.taskStart(run, state, entry.name);
}

function taskSucceeded<R extends ResourceMap>(run: Run<R>, state: string, entry: StateEntry): void {
  if (listens(run, "tasksuccess")) run.reporter.taskSuccess(run, state, entry.name);
}

/** A task failed for good: `taskfailure`, then the run's failure (returned, to be thrown). */
async function taskFailed<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: StateEntry,
  raw: unknown,
): Promise<unknown> {
  const error = classify(run, raw, (error) => {
    if (listens(run, "taskfailure")) run.reporter.taskFailure(run, state, entry.name, error);
  });
  return await fail(run, state, error);
}

function checkNext(state: string, entry: StateEntry, next: unknown): asserts next is string {
  if (typeof next !== "string") {
    throw new CanoError(
      `Task for state "${state}" returned ${
        describeResult(next)
      }; expected the name of the next state`,
      { category: "workflow" },
    );
  }
  if (entry.next !== undefined && !entry.next.has(next)) {
    throw new CanoError(
      `Task for state "${state}" returned "${next}", which is not among its declared next states [${
        [...entry.next].join(", ")
      }]`,
      { category: "workflow" },
    );
  }
}

/**
 * Turns what a dispatch threw into the run's error: lost ownership wins over everything (the run
 * stops dead), cancellation over the total timeout, which wins over the task's own error (the
 * task's error is usually a consequence of the abort). Emits `cancelled` / `workflowtimeout`
 * exactly once, since the run ends right after — after `before` (a task's `taskfailure`), so
 * the task's report precedes the run's.
 */
function classify<R extends ResourceMap>(
  run: Run<R>,
  raw: unknown,
  before?: (error: unknown) => void,
): unknown {
  let error: unknown = raw;
  let announce: (() => void) | undefined;
  const lost = run.ownership?.lost;
  const timedOut = run.timedOut;
  if (lost !== undefined) error = lost;
  else if (safeInstanceOf(raw, DrainFailure)) error = raw.error;
  else if (stopsDead(raw)) error = raw;
  else if (run.cancel?.aborted) {
    const state = run.path[run.path.length - 1] ?? "";
    error = cancelledError(run.cancel.reason);
    if (listens(run, "cancelled")) announce = () => run.reporter.cancelled(run, state);
  } else if (timedOut instanceof WorkflowTimeoutError) {
    error = timedOut;
    if (listens(run, "workflowtimeout")) {
      announce = () => run.reporter.workflowTimeout(run, timedOut.elapsed, timedOut.limit);
    }
  }
  // The task's own report (`taskfailure`) comes first, then the run's (cano §10.1).
  before?.(error);
  announce?.();
  return error;
}

/**
 * The one place a run's failure is handled: the error is wrapped with its state context, then
 * the saga stack is rolled back (durably, for a checkpointed run). Returns the error to throw. A
 * process that lost the run (or never had it) does neither: the error is returned as it is.
 */
async function fail<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  error: unknown,
): Promise<unknown> {
  const lost = run.ownership?.lost;
  if (lost !== undefined) return lost;
  if (stopsDead(error)) return error;
  const wrapped = withContext(run, state, error);
  // The state's span ends with its failure, before the rollback (whose spans are the run's).
  if (run.spans !== undefined) endState(run, { failed: true, error: wrapped, outcome: "failed" });
  return await drain(run, state, wrapped);
}

/**
 * Wraps an error with its state context, once. A `CompensationFailedError` (from an inline
 * compensation) keeps its shape: only its original error is wrapped, as in cano.
 */
function withContext<R extends ResourceMap>(run: Run<R>, state: string, error: unknown): unknown {
  if (safeInstanceOf(error, StateContextError)) return error;
  if (safeInstanceOf(error, CompensationFailedError)) {
    const [original, ...rest] = error.errors;
    return new CompensationFailedError([withContext(run, state, original), ...rest]);
  }
  return new StateContextError(state, attemptsOf(error), [...run.path], error);
}

/** cano's `attempt` field: the exhausted count, 0 when no attempt completed, else 1. */
function attemptsOf(error: unknown): number {
  if (safeInstanceOf(error, RetryExhaustedError)) return error.attempts;
  if (
    safeInstanceOf(error, CancelledError) || safeInstanceOf(error, WorkflowTimeoutError) ||
    safeInstanceOf(error, CircuitOpenError)
  ) return 0;
  return 1;
}

interface Budget {
  readonly signal: AbortSignal | undefined;
  onTimeout: (error: WorkflowTimeoutError) => void;
  dispose(): void;
}

/**
 * One signal for the whole run that aborts on cancellation (with the caller's reason), on lost
 * ownership (with the `OwnershipLostError`) or when the total timeout trips (with a
 * `WorkflowTimeoutError`). With a single source it is that signal itself, and with none there is
 * nothing to race: the engine skips racing entirely.
 */
function startBudget(
  limit: number | undefined,
  cancel: AbortSignal | undefined,
  lost: AbortSignal | undefined,
): Budget {
  const bounded = limit !== undefined && Number.isFinite(limit);
  if (!bounded) {
    // Only cancellation (and lost ownership) can abort the run: no controller or timer (the
    // scheduler starts thousands of such runs a second).
    const signal = cancel === undefined
      ? lost
      : lost === undefined
      ? cancel
      : AbortSignal.any([cancel, lost]);
    return { signal, onTimeout: () => {}, dispose: () => {} };
  }
  const controller = new AbortController();
  const started = Date.now();
  const sources = [cancel, lost].filter((source) => source !== undefined);
  const follow = (source: AbortSignal) => (): void => controller.abort(source.reason);
  const links = sources.map((source) => ({ source, onAbort: follow(source) }));
  const timer = setLongTimeout(() => {
    const error = new WorkflowTimeoutError(Date.now() - started, limit);
    budget.onTimeout(error);
    controller.abort(error);
  }, limit);
  const budget: Budget = {
    signal: controller.signal,
    onTimeout: () => {},
    dispose(): void {
      timer.clear();
      for (const { source, onAbort } of links) source.removeEventListener("abort", onAbort);
    },
  };
  for (const { source, onAbort } of links) {
    if (source.aborted) onAbort();
    else source.addEventListener("abort", onAbort, { once: true });
  }
  return budget;
}
