// Plain tasks and routers: one callback per visit, retried by the entry's policy and raced
// against the run's signal. A router is the same dispatch without a checkpoint row.

import type { ResourceMap } from "../../task/task.ts";
import { attempts, settleData } from "../attempts.ts";
import type { ProcessingModel } from "../model.ts";
import { contextFor, type Run, type SingleEntry } from "../run.ts";

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

/** A plain task (also `pollTask`, `batchTask` and other factories built on it). */
export const taskModel: ProcessingModel<SingleEntry> = {
  journaled: true,
  framed: true,
  run: runSingle,
};

/** A router: a side-effect-free decision, never checkpointed. */
export const routerModel: ProcessingModel<SingleEntry> = {
  journaled: false,
  framed: true,
  run: runSingle,
};
