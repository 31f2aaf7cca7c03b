// The FSM loop. One function drives a run from its initial state to an exit state; every state
// kind is dispatched from `dispatch`, and every failure leaves through `fail`, which wraps the
// error with its state context (and is where later features — compensation drains — hook in).

import {
  CancelledError,
  CanoError,
  CircuitOpenError,
  RetryExhaustedError,
  StateContextError,
  WorkflowTimeoutError,
} from "../errors.ts";
import type { SafeEventTarget } from "../events.ts";
import type { Resources } from "../resources.ts";
import {
  type ResolvedTaskConfig,
  type ResourceMap,
  runResolved,
  type TaskContext,
} from "../task/task.ts";
import {
  CancelledEvent,
  RetryEvent,
  RunEndEvent,
  RunStartEvent,
  StateEnterEvent,
  TaskFailureEvent,
  TaskStartEvent,
  TaskSuccessEvent,
  type WorkflowEventMap,
  WorkflowTimeoutEvent,
} from "./events.ts";

/** How a registered state is handled. */
export interface StateEntry {
  /** `router` states write no checkpoint row; otherwise dispatched like `single`. */
  readonly kind: "single" | "router";
  /** The task id used in events. */
  readonly name: string;
  readonly config: ResolvedTaskConfig;
  // deno-lint-ignore no-explicit-any
  readonly run: (ctx: TaskContext<any, any, any>) => string | Promise<string>;
  /** Declared next states, checked at run time when present. */
  readonly next: ReadonlySet<string> | undefined;
}

/** Everything the engine needs from a validated workflow, captured once per validation. */
export interface Definition<R extends ResourceMap> {
  readonly entries: ReadonlyMap<string, StateEntry>;
  readonly exits: ReadonlySet<string>;
  readonly workflowId: string | undefined;
  readonly totalTimeout: number | undefined;
  readonly resources: Resources<R>;
  readonly events: SafeEventTarget<WorkflowEventMap>;
}

/** The outcome of a run that reached an exit state. */
export interface WorkflowResult<S extends string, D> {
  /** The exit state reached. */
  state: S;
  /** The run data, as the tasks left it. */
  data: D;
  /** The workflow id, when one is set. */
  workflowId?: string | undefined;
  /** Every state entered, in order, ending with `state`. */
  path: S[];
}

/** The per-run state of the loop. */
interface Run<R extends ResourceMap> {
  readonly def: Definition<R>;
  readonly runId: string;
  readonly path: string[];
  data: unknown;
  /** The caller's signal: cancellation. */
  readonly cancel: AbortSignal | undefined;
  /** Aborts on cancellation or total timeout; `undefined` when neither can happen. */
  readonly signal: AbortSignal | undefined;
  /** Set when the total timeout tripped. */
  timedOut: WorkflowTimeoutError | undefined;
}

/**
 * Runs the FSM from `initial` until an exit state. Resources must already be set up. Errors thrown
 * from inside a state are `StateContextError`s.
 */
export async function runFsm<S extends string, D, R extends ResourceMap>(
  def: Definition<R>,
  initial: S,
  data: D,
  cancel: AbortSignal | undefined,
): Promise<WorkflowResult<S, D>> {
  const budget = startBudget(def.totalTimeout, cancel);
  const run: Run<R> = {
    def,
    runId: crypto.randomUUID(),
    path: [],
    data,
    cancel,
    signal: budget.signal,
    timedOut: undefined,
  };
  budget.onTimeout = (error) => run.timedOut = error;
  if (listens(run, "runstart")) {
    run.def.events.dispatchEvent(new RunStartEvent({ ...ids(run), initial }));
  }
  try {
    const state = await loop(run, initial);
    if (listens(run, "runend")) {
      run.def.events.dispatchEvent(new RunEndEvent({ ...ids(run), state }));
    }
    return { state, data: run.data as D, workflowId: def.workflowId, path: run.path as S[] };
  } catch (error) {
    if (listens(run, "runend")) {
      run.def.events.dispatchEvent(new RunEndEvent({ ...ids(run), state: undefined, error }));
    }
    throw error;
  } finally {
    budget.dispose();
  }
}

async function loop<S extends string, R extends ResourceMap>(run: Run<R>, initial: S): Promise<S> {
  const { entries, exits } = run.def;
  let state: string = initial;
  for (;;) {
    if (run.cancel?.aborted) {
      // Boundary check: the state is not entered, so it is not on the path either.
      if (listens(run, "cancelled")) {
        run.def.events.dispatchEvent(new CancelledEvent({ ...ids(run), state }));
      }
      throw fail(run, state, cancelledError(run.cancel));
    }
    run.path.push(state);
    if (listens(run, "stateenter")) {
      run.def.events.dispatchEvent(new StateEnterEvent({ ...ids(run), state }));
    }
    if (exits.has(state)) return state as S;
    const entry = entries.get(state);
    if (entry === undefined) {
      throw fail(
        run,
        state,
        new CanoError(`No task registered for state: ${state}`, { category: "workflow" }),
      );
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
      return dispatchSingle(run, state, entry);
  }
}

async function dispatchSingle<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: StateEntry,
): Promise<string> {
  const taskId = entry.name;
  if (listens(run, "taskstart")) {
    run.def.events.dispatchEvent(new TaskStartEvent({ ...ids(run), state, taskId }));
  }
  let next: string;
  try {
    next = await runResolved(
      entry.config,
      (info) => {
        const ctx: TaskContext<string, unknown, R> = {
          state,
          data: run.data,
          resources: run.def.resources,
          signal: info.signal,
          attempt: info.attempt,
          workflowId: run.def.workflowId,
          runId: run.runId,
        };
        return settleData(run, ctx, entry.run(ctx));
      },
      {
        signal: run.signal,
        onRetry: run.def.events.hasListener("retry")
          ? (attempt, delay, error) =>
            run.def.events.dispatchEvent(
              new RetryEvent({ ...ids(run), state, taskId, attempt, delay, error }),
            )
          : undefined,
      },
    );
    checkNext(state, entry, next);
  } catch (raw) {
    const error = classify(run, raw);
    if (listens(run, "taskfailure")) {
      run.def.events.dispatchEvent(new TaskFailureEvent({ ...ids(run), state, taskId, error }));
    }
    throw fail(run, state, error);
  }
  if (listens(run, "tasksuccess")) {
    run.def.events.dispatchEvent(new TaskSuccessEvent({ ...ids(run), state, taskId }));
  }
  return next;
}

/** Picks up a task that replaced `ctx.data` instead of mutating it. */
function settleData<R extends ResourceMap>(
  run: Run<R>,
  ctx: TaskContext<string, unknown, R>,
  result: string | Promise<string>,
): string | Promise<string> {
  if (typeof result === "string") {
    run.data = ctx.data;
    return result;
  }
  return Promise.resolve(result).then((next) => {
    run.data = ctx.data;
    return next;
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
  if (run.cancel?.aborted) {
    const state = run.path[run.path.length - 1] ?? "";
    if (listens(run, "cancelled")) {
      run.def.events.dispatchEvent(new CancelledEvent({ ...ids(run), state }));
    }
    return cancelledError(run.cancel);
  }
  const timedOut = run.timedOut;
  if (timedOut !== undefined) {
    if (listens(run, "workflowtimeout")) {
      run.def.events.dispatchEvent(
        new WorkflowTimeoutEvent({
          ...ids(run),
          elapsed: timedOut.elapsed,
          limit: timedOut.limit,
        }),
      );
    }
    return timedOut;
  }
  return raw;
}

function cancelledError(signal: AbortSignal): CancelledError {
  return new CancelledError("Workflow was cancelled", { cause: signal.reason });
}

/** The one place a run's failure is wrapped with its state context. */
function fail<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  error: unknown,
): StateContextError {
  if (error instanceof StateContextError) return error;
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
 * total timeout trips (with a `WorkflowTimeoutError`). Without either there is nothing to race,
 * and the engine skips racing entirely.
 */
function startBudget(limit: number | undefined, cancel: AbortSignal | undefined): Budget {
  const bounded = limit !== undefined && Number.isFinite(limit);
  if (!bounded && cancel === undefined) {
    return { signal: undefined, onTimeout: () => {}, dispose: () => {} };
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

function ids<R extends ResourceMap>(
  run: Run<R>,
): { runId: string; workflowId: string | undefined } {
  return { runId: run.runId, workflowId: run.def.workflowId };
}

/** Checked before building an event, so unobserved runs allocate nothing for events. */
function listens<R extends ResourceMap>(run: Run<R>, type: keyof WorkflowEventMap): boolean {
  return run.def.events.hasListener(type);
}

function describe(value: unknown): string {
  return value === undefined || value === null
    ? String(value)
    : `a ${typeof value} (${String(value)})`;
}
