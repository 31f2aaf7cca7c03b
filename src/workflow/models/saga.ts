// A saga step: the forward run is never raced against cancellation or the total timeout (only its
// own attempt timeout applies), then its output is recorded — durably first — so a later failure
// rolls it back, in this process or in the one that resumes the run.

import { NEVER_ABORTED } from "../../async.ts";
import { CanoError, CompensationFailedError, messageOf } from "../../errors.ts";
import type { ResourceMap } from "../../task/task.ts";
import { attempts, describeResult, settleData } from "../attempts.ts";
import { appendRow, storedCopy } from "../journal.ts";
import type { ProcessingModel } from "../model.ts";
import { type CompensatableEntry, contextFor, type Run } from "../run.ts";

async function runCompensatable<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: CompensatableEntry,
): Promise<string> {
  const result = await attempts(run, state, entry, (signal, n) => {
    const ctx = contextFor(run, state, signal, n);
    return settleData(run, ctx, entry.run(ctx));
  }, undefined);
  const { next, output: raw } = checkResult(state, result);
  let output: unknown;
  try {
    // The stack holds what a resumed process would read back from the log.
    output = storedCopy(run, raw);
  } catch (error) {
    const failure = new CanoError(
      `Serialize compensation output of "${entry.name}": ${messageOf(error)}`,
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

function checkResult(state: string, result: unknown): { next: string; output: unknown } {
  if (typeof result !== "object" || result === null || !("next" in result)) {
    throw new CanoError(
      `Compensatable task for state "${state}" must return { next, output }, received ${
        describeResult(result)
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

/** `registerWithCompensation`. */
export const sagaModel: ProcessingModel<CompensatableEntry> = {
  journaled: true,
  framed: true,
  run: runCompensatable,
};
