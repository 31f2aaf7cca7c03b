// The scheduler's one call into the engine. Scheduled runs must not set resources up or tear them
// down (the scheduler does that once, at start and stop), so they go through the engine's
// lifecycle-free entry point rather than `orchestrate`.

import type { ResourceMap } from "../task/task.ts";
import {
  isCheckpointed,
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
  /** The run's id, for a checkpointed workflow (see {@link scheduledRunId}). */
  id?: string;
}

/**
 * The id a scheduled run of a checkpointed workflow runs under: the flow and the time it was due
 * (`nightly@2026-12-01T03:00:00.000Z`), so that every run has its own log and a failed run never
 * blocks the next one. `undefined` for a workflow without a store (it keeps its own id).
 *
 * @param workflow The flow's workflow.
 * @param flowId The flow id.
 * @param due When the run was due (or started, for a trigger), epoch ms.
 * @param previous The id of the flow's previous run, to keep two runs in one millisecond apart.
 * @param count The flow's run count.
 * @returns The id, or `undefined`.
 */
export function scheduledRunId<S extends string, D, R extends ResourceMap>(
  workflow: Workflow<S, D, R>,
  flowId: string,
  due: number,
  previous: string | undefined,
  count: number,
): string | undefined {
  if (!isCheckpointed(workflow as unknown as Workflow<string, never, ResourceMap>)) {
    return undefined;
  }
  const id = `${flowId}@${new Date(due).toISOString()}`;
  return id === previous || previous?.startsWith(`${id}#`) === true ? `${id}#${count}` : id;
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
