// The one internal contract every processing model implements. The engine owns everything around
// a model — state entry rows, ownership and fencing (every write goes through the journal), the
// run's signal (cancel, total timeout, lost ownership), the failure funnel and the durable
// rollback — so a model only says how one visit of its state runs.

import type { ResourceMap } from "../task/task.ts";
import type { Run, StateEntry } from "./run.ts";

/** How one kind of state is executed. */
export interface ProcessingModel<E extends StateEntry = StateEntry> {
  /** Whether entering a state of this model appends a `state_entry` row (routers do not). */
  readonly journaled: boolean;
  /**
   * Whether the engine reports the visit as one task (`taskstart`, then `tasksuccess` or
   * `taskfailure`); a split reports per branch instead.
   */
  readonly framed: boolean;
  /**
   * Runs one visit of `state` and returns the next state. Appends go through `appendRow` (never
   * the store), waits honour `run.signal`; anything thrown goes down the engine's failure path.
   */
  run(run: Run<ResourceMap>, state: string, entry: E): Promise<string>;
}
