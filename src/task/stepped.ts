import type { ResourceMap, TaskConfig, TaskContext } from "./task.ts";

/** What one step returns: more work from a new cursor, or the next state. */
export type StepOutcome<C, N extends string> = { more: C } | { done: N };

/**
 * A long task split into resumable steps. The engine calls `step(ctx, cursor)` until it returns
 * `{ done: next }`; after every `{ more: cursor }` the cursor is checkpointed, so `resumeFrom`
 * continues from the last cursor instead of starting over. Each step is its own retry unit.
 *
 * @typeParam C The cursor type (JSON-serialisable).
 * @typeParam N The states it may finish with.
 */
export interface SteppedTask<
  C = unknown,
  N extends string = string,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
> {
  /** Task id for events and checkpoint rows; defaults to the registered state. */
  name?: string;
  /** Retry and timeout policy of each step (default: `TaskConfig.default()`). */
  config?: TaskConfig;
  /** Runs one step from `cursor` (`undefined` on the first step of a fresh entry). */
  step(
    ctx: TaskContext<S, D, R>,
    cursor: C | undefined,
  ): StepOutcome<C, N> | Promise<StepOutcome<C, N>>;
}
