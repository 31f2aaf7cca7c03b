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

/**
 * Marks a task object that also offers `step`: `Workflow.register` then drives it as a stepped
 * task, so its progress is checkpointed (the durable timer uses this to persist its deadline).
 */
export const DRIVE_AS_STEPS: unique symbol = Symbol("cano.driveAsSteps");

/** Whether `task` asks to be driven as a stepped task by `register`. */
export function drivesAsSteps(task: unknown): task is SteppedTask & { [DRIVE_AS_STEPS]: true } {
  return typeof task === "object" && task !== null &&
    (task as { [DRIVE_AS_STEPS]?: unknown })[DRIVE_AS_STEPS] === true &&
    typeof (task as { step?: unknown }).step === "function";
}
