import type { ResourceMap, TaskConfig, TaskContext } from "./task.ts";
import type { WaitEvent } from "./wait.ts";

/**
 * What a compensatable task's `run` returns: the next state, and the output its compensation will
 * need (stored in the checkpoint log, so it must be JSON-serialisable).
 */
export interface CompensatableResult<N extends string, O> {
  /** The next state. */
  next: N;
  /** What `compensate` receives if the run is rolled back. */
  output: O;
}

/**
 * A saga step: a forward action and its undo. When the run later fails (task error, cancellation,
 * total timeout, checkpoint failure, unknown state), every completed step is compensated in reverse
 * order, even after a crash and `resumeFrom` in another process.
 *
 * The forward `run` is retried per `config` and is never interrupted by cancellation or the total
 * timeout (a half-done side effect could not be undone). `compensate` runs once per rollback,
 * bounded by the task's `attemptTimeout` and the drain deadline; it must be idempotent and work
 * from `output` alone.
 *
 * @typeParam N The states `run` may return.
 * @typeParam O The output type.
 * @typeParam Ev The events `ctx.event` may hold in `run` (see {@link TaskContext}).
 */
export interface CompensatableTask<
  N extends string = string,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
  O = unknown,
  Ev extends WaitEvent = WaitEvent,
> {
  /** The compensation-stack key: must be unique among compensatable tasks. */
  name: string;
  /** Retry and timeout policy of the forward run (default: `TaskConfig.default()`). */
  config?: TaskConfig;
  /** Does the work; returns the next state and the output to undo it. */
  run(
    ctx: TaskContext<S, D, R, Ev>,
  ): CompensatableResult<N, O> | Promise<CompensatableResult<N, O>>;
  /** Undoes the work described by `output`. */
  compensate(ctx: TaskContext<S, D, R>, output: O): void | Promise<void>;
}
