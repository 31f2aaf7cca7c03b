// The scheduler's one call into the engine. Scheduled runs must not set resources up or tear them
// down (the scheduler does that once, at start and stop), so they go through the engine's
// lifecycle-free entry point rather than `orchestrate`.

import type { ResourceMap } from "../task/task.ts";
import {
  runWithExternalResources,
  type Workflow,
  type WorkflowResult,
} from "../workflow/workflow.ts";

/** Options of {@link runScheduled}. */
export interface ScheduledRunOptions<D> {
  /** The run data; the engine's default (`{}`) when absent. */
  data?: D;
  /** Aborted by `cancelFlow` and `stop`. */
  signal: AbortSignal;
}

/**
 * Runs `workflow` from `initial` like `orchestrate` (validation, total timeout, cancellation,
 * saga rollback, checkpoints), but without the per-run resource setup and teardown.
 */
export function runScheduled<S extends string, D, R extends ResourceMap>(
  workflow: Workflow<S, D, R>,
  initial: S,
  options: ScheduledRunOptions<D>,
): Promise<WorkflowResult<S, D>> {
  return runWithExternalResources(workflow, initial, options);
}
