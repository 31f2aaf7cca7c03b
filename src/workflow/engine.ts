// The FSM loop. One function drives a run from its initial state to an exit state; every state
// kind is dispatched from `dispatch`, and every failure leaves through `fail`, which wraps the
// error with its state context and rolls back the saga stack.

import {
  CancelledError,
  CanoError,
  CircuitOpenError,
  CompensationFailedError,
  RetryExhaustedError,
  StateContextError,
  WorkflowTimeoutError,
} from "../errors.ts";
import { NEVER_ABORTED } from "../async.ts";
import type { StepOutcome } from "../task/stepped.ts";
import { type ResourceMap, runResolved } from "../task/task.ts";
import { drain } from "./compensation.ts";
import {
  CancelledEvent,
  RunEndEvent,
  RunStartEvent,
  StateEnterEvent,
  TaskFailureEvent,
  TaskStartEvent,
  TaskSuccessEvent,
  WorkflowTimeoutEvent,
} from "./events.ts";
import { appendRow, clearLog, journaling } from "./journal.ts";
import { jsonCopy } from "./json.ts";
import {
  cancelledError,
  type CompensatableEntry,
  contextFor,
  type Definition,
  ids,
  listens,
  retryOptions,
  type Run,
  type RunStart,
  type SingleEntry,
  type SplitEntry,
  type StateEntry,
  type SteppedEntry,
} from "./run.ts";
import type { SplitOutcome } from "./join.ts";
import { runSplit } from "./split.ts";
import { DrainFailure, runStream } from "./stream_runner.ts";

/** The outcome of a run that reached an exit state. */
export interface WorkflowResult<S extends string, D> {
  /** The exit state reached. */
  state: S;
  /** The run data, as the tasks left it. */
  data: D;
  /** The workflow id, when one is set. */
  workflowId?: string | undefined;
  /** Every state entered, in order, ending with `state` (for a resumed run, since the start). */
  path: S[];
}

/** A fresh run: sequence 0, empty path and stack. */
export function freshStart(workflowId: string | undefined): RunStart {
  return { workflowId, sequence: 0, path: [], stack: [], cursors: new Map() };
}

/**
 * Runs the FSM from `initial` until an exit state. Resources must already be set up. Errors thrown
 * from inside a state are `StateContextError`s (or `CompensationFailedError` after a dirty
 * rollback).
 */
export async function runFsm<S extends string, D, R extends ResourceMap>(
  def: Definition<R>,
  initial: S,
  data: D,
  cancel: AbortSignal | undefined,
  start: RunStart,
  runId: string = crypto.randomUUID(),
): Promise<WorkflowResult<S, D>> {
  const budget = startBudget(def.totalTimeout, cancel);
  const run: Run<R> = {
    def,
    runId,
    workflowId: start.workflowId,
    path: [...start.path],
    data,
    sequence: start.sequence,
    stack: [...start.stack],
    cursors: new Map(start.cursors),
    cancel,
    signal: budget.signal,
    timedOut: undefined,
    pendingSplit: start.split,
    currentSplit: undefined,
  };
  budget.onTimeout = (error) => run.timedOut = error;
  if (listens(run, "runstart")) {
    def.events.dispatchEvent(new RunStartEvent({ ...ids(run), initial }));
  }
  try {
    const state = await loop(run, initial);
    if (listens(run, "runend")) def.events.dispatchEvent(new RunEndEvent({ ...ids(run), state }));
    return { state, data: run.data as D, workflowId: run.workflowId, path: run.path as S[] };
  } catch (error) {
    if (listens(run, "runend")) {
      def.events.dispatchEvent(new RunEndEvent({ ...ids(run), state: undefined, error }));
    }
    throw error;
  } finally {
    budget.dispose();
  }
}

async function loop<S extends string, R extends ResourceMap>(run: Run<R>, initial: S): Promise<S> {
  const { entries, exits, events } = run.def;
  let state: string = initial;
  for (;;) {
    if (run.cancel?.aborted) {
      // Boundary check: the state is not entered, so it is not on the path either.
      if (listens(run, "cancelled")) {
        events.dispatchEvent(new CancelledEvent({ ...ids(run), state }));
      }
      throw await fail(run, state, cancelledError(run.cancel.reason));
    }
    run.path.push(state);
    // A split's outcome is for the state entered right after it, and only that one.
    run.currentSplit = run.pendingSplit;
    run.pendingSplit = undefined;
    if (listens(run, "stateenter")) {
      events.dispatchEvent(new StateEnterEvent({ ...ids(run), state }));
    }
    const entry = entries.get(state);
    if (journaling(run) && entry?.kind !== "router") {
      try {
        const split = run.currentSplit === undefined
          ? undefined
          : { split: storableSplit(run.currentSplit) };
        await appendRow(
          run,
          { kind: "state_entry", state, taskId: entry?.name ?? "", data: run.data, output: split },
          "Append checkpoint",
        );
      } catch (error) {
        throw await fail(run, state, error);
      }
    }
    if (exits.has(state)) {
      await clearLog(run);
      return state as S;
    }
    if (entry === undefined) {
      const error = new CanoError(`No task registered for state: ${state}`, {
        category: "workflow",
      });
      throw await fail(run, state, error);
    }
    state = await dispatch(run, state, entry);
  }
}

/** The single dispatch point for every state kind. */
function dispatch<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: StateEntry,
): Promise<string> {
  switch (entry.kind) {
    case "single":
    case "router":
      return dispatchTask(run, state, entry, runSingle);
    case "compensatable":
      return dispatchTask(run, state, entry, runCompensatable);
    case "stepped":
      return dispatchTask(run, state, entry, runStepped);
    case "split":
      return dispatchSplit(run, state, entry);
    case "stream":
      return dispatchTask(run, state, entry, runStream);
  }
}

/** Splits report per branch (`name[index]`), so they have no task frame of their own. */
async function dispatchSplit<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: SplitEntry,
): Promise<string> {
  try {
    return await runSplit(run, state, entry);
  } catch (raw) {
    throw await fail(run, state, classify(run, raw));
  }
}

/** A split outcome as the log keeps it: branch errors reduced to their name and message. */
function storableSplit(outcome: SplitOutcome): SplitOutcome {
  return {
    ...outcome,
    results: outcome.results.map((result) =>
      result.status === "error" ? { ...result, error: describeError(result.error) } : result
    ),
  };
}

function describeError(error: unknown): { name: string; message: string; category?: string } {
  const { name, message, category } = (error ?? {}) as {
    name?: unknown;
    message?: unknown;
    category?: unknown;
  };
  const described = { name: String(name ?? "Error"), message: String(message ?? error) };
  return category === undefined ? described : { ...described, category: String(category) };
}

/**
 * The frame shared by every task kind: `taskstart`, the kind's body, the declared-next check,
 * then `tasksuccess`, or `taskfailure` and the run's failure.
 */
async function dispatchTask<R extends ResourceMap, E extends StateEntry>(
  run: Run<R>,
  state: string,
  entry: E,
  body: (run: Run<R>, state: string, entry: E) => Promise<string>,
): Promise<string> {
  const taskId = entry.name;
  const { events } = run.def;
  if (listens(run, "taskstart")) {
    events.dispatchEvent(new TaskStartEvent({ ...ids(run), state, taskId }));
  }
  let next: string;
  try {
    next = await body(run, state, entry);
    checkNext(state, entry, next);
  } catch (raw) {
    const error = classify(run, raw);
    if (listens(run, "taskfailure")) {
      events.dispatchEvent(new TaskFailureEvent({ ...ids(run), state, taskId, error }));
    }
    throw await fail(run, state, error);
  }
  if (listens(run, "tasksuccess")) {
    events.dispatchEvent(new TaskSuccessEvent({ ...ids(run), state, taskId }));
  }
  return next;
}

/** Runs `attempt` under the entry's retry policy, raced against the run's signal. */
function attempts<T, R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: StateEntry,
  attempt: (signal: AbortSignal, n: number) => T | Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  return runResolved(
    entry.config,
    (info) => attempt(info.signal, info.attempt),
    retryOptions(run, state, entry.name, signal),
  );
}

function runSingle<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: SingleEntry,
): Promise<string> {
  return attempts(run, state, entry, (signal, n) => {
    const ctx = contextFor(run, state, signal, n);
    return settleData(run, ctx, entry.run(ctx));
  }, run.signal);
}

/**
 * A saga step: never raced against cancellation or the total timeout (only its own attempt
 * timeout applies), then recorded — durably first — so a later failure rolls it back.
 */
async function runCompensatable<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: CompensatableEntry,
): Promise<string> {
  const result = await attempts(run, state, entry, (signal, n) => {
    const ctx = contextFor(run, state, signal, n);
    return settleData(run, ctx, entry.run(ctx));
  }, undefined);
  const { next, output: raw } = checkCompensatableResult(state, result);
  let output: unknown;
  try {
    // The stack holds what a resumed process would read back from the log: a JSON copy.
    output = jsonCopy(raw);
  } catch (error) {
    const failure = new CanoError(
      `Serialize compensation output of "${entry.name}": ${String(error)}`,
      { category: "task_execution", cause: error },
    );
    throw await compensateInline(run, state, entry, raw, failure);
  }
  try {
    await appendRow(
      run,
      { kind: "compensation_completion", state, taskId: entry.name, output },
      "Append compensation checkpoint",
    );
  } finally {
    // Pushed even when the append failed: the side effect happened and must be rolled back.
    run.stack.push({ taskId: entry.name, state, output });
  }
  return next;
}

function checkCompensatableResult(
  state: string,
  result: unknown,
): { next: string; output: unknown } {
  if (typeof result !== "object" || result === null || !("next" in result)) {
    throw new CanoError(
      `Compensatable task for state "${state}" must return { next, output }, received ${
        describe(result)
      }`,
      { category: "workflow" },
    );
  }
  return result as { next: string; output: unknown };
}

/** cano's rule when a step's output cannot be recorded: undo it at once, then fail. */
async function compensateInline<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: CompensatableEntry,
  output: unknown,
  failure: Error,
): Promise<Error> {
  try {
    await entry.compensate(contextFor(run, state, NEVER_ABORTED, 1), output);
    return failure;
  } catch (error) {
    return new CompensationFailedError([failure, error]);
  }
}

/** A stepped task: each step is its own retry unit, and each cursor is checkpointed. */
async function runStepped<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: SteppedEntry,
): Promise<string> {
  let cursor = run.cursors.get(state);
  run.cursors.delete(state); // a cursor is consumed once: a later visit starts over
  for (;;) {
    const from = cursor;
    const outcome: unknown = await attempts(run, state, entry, (signal, n) => {
      const ctx = contextFor(run, state, signal, n);
      return settleData(run, ctx, entry.step(ctx, from));
    }, run.signal);
    if (isOutcome(outcome, "done")) return outcome.done;
    if (!isOutcome(outcome, "more")) {
      throw new CanoError(
        `Stepped task for state "${state}" must return { more: cursor } or { done: state }, received ${
          describe(outcome)
        }`,
        { category: "workflow" },
      );
    }
    cursor = outcome.more;
    await appendRow(
      run,
      { kind: "step_cursor", state, taskId: entry.name, output: cursor, data: run.data },
      "Append step cursor checkpoint",
    );
  }
}

function isOutcome<K extends "more" | "done">(
  value: unknown,
  key: K,
): value is Extract<StepOutcome<unknown, string>, Record<K, unknown>> {
  return typeof value === "object" && value !== null && key in value;
}

/** Picks up a task that replaced `ctx.data` instead of mutating it. */
function settleData<R extends ResourceMap, T>(
  run: Run<R>,
  ctx: { data: unknown },
  result: T | Promise<T>,
): T | Promise<T> {
  if (!(result instanceof Promise)) {
    run.data = ctx.data;
    return result;
  }
  return result.then((value) => {
    run.data = ctx.data;
    return value;
  });
}

function checkNext(state: string, entry: StateEntry, next: unknown): asserts next is string {
  if (typeof next !== "string") {
    throw new CanoError(
      `Task for state "${state}" returned ${describe(next)}; expected the name of the next state`,
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
 * Turns what a dispatch threw into the run's error: cancellation wins over the total timeout,
 * which wins over the task's own error (the task's error is usually a consequence of the abort).
 * Emits `cancelled` / `workflowtimeout` exactly once, since the run ends right after.
 */
function classify<R extends ResourceMap>(run: Run<R>, raw: unknown): unknown {
  if (raw instanceof DrainFailure) return raw.error;
  if (run.cancel?.aborted) {
    const state = run.path[run.path.length - 1] ?? "";
    if (listens(run, "cancelled")) {
      run.def.events.dispatchEvent(new CancelledEvent({ ...ids(run), state }));
    }
    return cancelledError(run.cancel.reason);
  }
  const timedOut = run.timedOut;
  if (timedOut instanceof WorkflowTimeoutError) {
    if (listens(run, "workflowtimeout")) {
      run.def.events.dispatchEvent(
        new WorkflowTimeoutEvent({ ...ids(run), elapsed: timedOut.elapsed, limit: timedOut.limit }),
      );
    }
    return timedOut;
  }
  return raw;
}

/**
 * The one place a run's failure is handled: the error is wrapped with its state context, then
 * the saga stack is rolled back. Returns the error to throw.
 */
function fail<R extends ResourceMap>(run: Run<R>, state: string, error: unknown): Promise<unknown> {
  return drain(run, withContext(run, state, error));
}

/**
 * Wraps an error with its state context, once. A `CompensationFailedError` (from an inline
 * compensation) keeps its shape: only its original error is wrapped, as in cano.
 */
function withContext<R extends ResourceMap>(run: Run<R>, state: string, error: unknown): unknown {
  if (error instanceof StateContextError) return error;
  if (error instanceof CompensationFailedError) {
    const [original, ...rest] = error.errors;
    return new CompensationFailedError([withContext(run, state, original), ...rest]);
  }
  return new StateContextError(state, attemptsOf(error), [...run.path], error);
}

/** cano's `attempt` field: the exhausted count, 0 when no attempt completed, else 1. */
function attemptsOf(error: unknown): number {
  if (error instanceof RetryExhaustedError) return error.attempts;
  if (
    error instanceof CancelledError || error instanceof WorkflowTimeoutError ||
    error instanceof CircuitOpenError
  ) return 0;
  return 1;
}

interface Budget {
  readonly signal: AbortSignal | undefined;
  onTimeout: (error: WorkflowTimeoutError) => void;
  dispose(): void;
}

/**
 * One signal for the whole run that aborts on cancellation (with the caller's reason) or when the
 * total timeout trips (with a `WorkflowTimeoutError`). Without a total timeout it is the caller's
 * signal itself, and without either there is nothing to race: the engine skips racing entirely.
 */
function startBudget(limit: number | undefined, cancel: AbortSignal | undefined): Budget {
  const bounded = limit !== undefined && Number.isFinite(limit);
  if (!bounded) {
    // Only cancellation can abort the run: the caller's signal serves as is (no controller, no
    // listener: the scheduler starts thousands of such runs a second).
    return { signal: cancel, onTimeout: () => {}, dispose: () => {} };
  }
  const controller = new AbortController();
  const started = Date.now();
  const onCancel = (): void => controller.abort(cancel?.reason);
  const budget: Budget = {
    signal: controller.signal,
    onTimeout: () => {},
    dispose(): void {
      clearTimeout(timer);
      cancel?.removeEventListener("abort", onCancel);
    },
  };
  const timer = bounded
    ? setTimeout(() => {
      const error = new WorkflowTimeoutError(Date.now() - started, limit);
      budget.onTimeout(error);
      controller.abort(error);
    }, limit)
    : undefined;
  if (cancel?.aborted) onCancel();
  else cancel?.addEventListener("abort", onCancel, { once: true });
  return budget;
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return `a ${typeof value} (${text.slice(0, 100)})`;
}
