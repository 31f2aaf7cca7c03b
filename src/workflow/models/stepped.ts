// A stepped task (also `timerTask`): each step is its own retry unit, and the cursor of every
// `{ more }` is checkpointed, so a resumed run continues from the last one.

import type { ResourceMap } from "../../task/task.ts";
import { attempts, settleData } from "../attempts.ts";
import { checkStepOutcome } from "./in_memory.ts";
import { appendRow } from "../journal.ts";
import type { ProcessingModel } from "../model.ts";
import { contextFor, type Run, type SteppedEntry } from "../run.ts";

async function runStepped<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: SteppedEntry,
): Promise<string> {
  let cursor = run.cursors.get(state);
  run.cursors.delete(state); // a cursor is consumed once: a later visit starts over
  for (;;) {
    const held = run.ownership?.confirm(); // a step is work: still ours after the last one?
    if (held !== undefined) await held;
    const from = cursor;
    const outcome: unknown = await attempts(run, state, entry, (signal, n) => {
      const ctx = contextFor(run, state, signal, n);
      return settleData(run, ctx, entry.step(ctx, from));
    }, run.signal);
    const checked = checkStepOutcome(state, outcome);
    if ("done" in checked) return checked.done;
    cursor = checked.more;
    await appendRow(
      run,
      { kind: "step_cursor", state, taskId: entry.name, output: cursor, data: run.data },
      "Append step cursor checkpoint",
    );
  }
}

/** `registerStepped`, and `timerTask` registered with `register`. */
export const steppedModel: ProcessingModel<SteppedEntry> = {
  journaled: true,
  framed: true,
  run: runStepped,
};
