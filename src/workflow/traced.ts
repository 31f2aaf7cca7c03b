// The spans of a traced run (one whose workflow has a span consumer attached, see
// observe/reporter.ts): a `cano.state` span per state entered, a `cano.attempt` span around
// every attempt of a task — the user's task runs inside it, so its own spans nest — and the
// `SpanInfo` of each. Untraced runs never reach this file.

import type { SpanEnd } from "../observe/consumer.ts";
import type { Span, Spans } from "../observe/spans.ts";
import type { ResourceMap } from "../task/task.ts";
import type { Run, StateEntry } from "./run.ts";

/** Opens the `cano.state` span of `state`, just entered (an exit state has no entry). */
export function startState<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: StateEntry | undefined,
): void {
  const spans = run.spans!;
  // A state left without its span closed (cannot happen, but a leak would be silent).
  if (run.stateSpan !== undefined) endState(run, { failed: false, outcome: "completed" });
  run.stateSpan = spans.start({
    kind: "state",
    workflow: run.def.name,
    runId: run.runId,
    workflowId: run.workflowId,
    state,
    entryKind: entry?.kind ?? "exit",
    // The sequence of the state's row (a run that writes none has no sequence).
    sequence: run.ownership === undefined ? undefined : run.sequence,
  }, run.runSpan);
}

/** Closes the current `cano.state` span, if one is open. */
export function endState<R extends ResourceMap>(run: Run<R>, end: SpanEnd): void {
  const span = run.stateSpan;
  if (span === undefined) return;
  run.stateSpan = undefined;
  run.spans?.end(span, end);
}

/**
 * Runs attempt `attempt` of `taskId` inside a `cano.attempt` span under `parent` (the state's
 * span, or a split branch's), closed when the attempt settles or `signal` (the attempt's own:
 * its timeout, the run's cancel) aborts.
 */
export function tracedAttempt<R extends ResourceMap, T>(
  run: Run<R>,
  spans: Spans,
  parent: Span | undefined,
  state: string,
  taskId: string,
  branch: number | undefined,
  attempt: number,
  signal: AbortSignal | undefined,
  fn: () => T,
): T {
  return spans.around(
    {
      kind: "attempt",
      workflow: run.def.name,
      runId: run.runId,
      workflowId: run.workflowId,
      state,
      taskId,
      attempt,
      branch,
    },
    parent,
    fn,
    signal,
  );
}
