// Split execution: every branch runs concurrently (at most `bulkhead` at once) with its own retry
// policy and its own abort signal; the join strategy decides when to stop waiting, losers are
// aborted, and the outcome is handed to the next state as `ctx.split`.

import { childController } from "../async.ts";
import { CancelledError, CanoError } from "../errors.ts";
import { type ResourceMap, runResolved } from "../task/task.ts";
import { RetryEvent, TaskFailureEvent, TaskStartEvent, TaskSuccessEvent } from "./events.ts";
import {
  type BranchResult,
  canStopEarly,
  isSatisfied,
  joinNotMet,
  type SplitOutcome,
} from "./join.ts";
import { contextFor, ids, listens, type Run, type SplitEntry } from "./run.ts";

type Verdict = "settled" | "timeout";

/** Runs a split state's branches and returns the join's next state. */
export async function runSplit<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: SplitEntry,
): Promise<string> {
  const { branches, join } = entry;
  const total = branches.length;
  const results: Array<BranchResult | undefined> = new Array(total);
  const counts = { successes: 0, failures: 0 };
  const links = branches.map(() => childController(run.signal));
  const gate = join.bulkhead === undefined ? undefined : new Gate(join.bulkhead);
  const verdict = Promise.withResolvers<Verdict>();
  let open = true; // set to false once decided: late branch outcomes are ignored
  const timer = join.timeout === undefined
    ? undefined
    : setTimeout(() => verdict.resolve("timeout"), join.timeout);
  const onOuterAbort = (): void => verdict.reject(run.signal?.reason);
  if (run.signal?.aborted) onOuterAbort();
  else run.signal?.addEventListener("abort", onOuterAbort, { once: true });
  if (total === 0) verdict.resolve("settled");

  branches.forEach((branch, index) => {
    const taskId = `${branch.name}[${index}]`;
    if (listens(run, "taskstart")) {
      run.def.events.dispatchEvent(new TaskStartEvent({ ...ids(run), state, taskId }));
    }
    const signal = links[index]!.controller.signal;
    runBranch(run, state, branch, taskId, signal, gate).then(
      (value) => {
        if (!open) return;
        results[index] = { index, status: "ok", value };
        counts.successes += 1;
      },
      (error) => {
        if (!open) return;
        results[index] = { index, status: "error", error };
        counts.failures += 1;
      },
    ).finally(() => {
      if (open && canStopEarly(join, counts.successes, counts.failures, total)) {
        verdict.resolve("settled");
      }
    });
  });

  let why: Verdict;
  try {
    why = await verdict.promise;
  } catch (reason) {
    open = false;
    abortUnfinished(links, results, reason);
    reportOuterAbort(run, state, branches, results, reason);
    throw reason;
  } finally {
    open = false;
    clearTimeout(timer);
    run.signal?.removeEventListener("abort", onOuterAbort);
    for (const link of links) link.dispose();
  }
  abortUnfinished(
    links,
    results,
    new CancelledError("Split branch aborted: the join no longer needs it"),
  );
  const outcome = summarise(results, counts);
  reportBranches(run, state, branches, outcome);
  if (why === "timeout" && join.strategy !== "partialTimeout") {
    throw new CanoError("Split task timeout exceeded", { category: "workflow" });
  }
  if (why === "timeout" && counts.successes + counts.failures === 0 && total > 0) {
    throw new CanoError("PartialTimeout: No tasks completed before timeout", {
      category: "workflow",
    });
  }
  if (!isSatisfied(join.strategy, counts.successes, counts.failures, total)) {
    throw joinNotMet(join, outcome, total);
  }
  run.pendingSplit = outcome;
  return join.next;
}

async function runBranch<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  branch: SplitEntry["branches"][number],
  taskId: string,
  signal: AbortSignal,
  gate: Gate | undefined,
): Promise<unknown> {
  await gate?.acquire(signal);
  try {
    return await runResolved(
      branch.config,
      (info) => branch.run(contextFor(run, state, info.signal, info.attempt)),
      {
        signal,
        onRetry: listens(run, "retry")
          ? (attempt, delay, error) =>
            run.def.events.dispatchEvent(
              new RetryEvent({ ...ids(run), state, taskId, attempt, delay, error }),
            )
          : undefined,
      },
    );
  } finally {
    gate?.release();
  }
}

/** Aborts the branches still running; finished ones keep their signal untouched. */
function abortUnfinished(
  links: ReturnType<typeof childController>[],
  results: Array<BranchResult | undefined>,
  reason: unknown,
): void {
  links.forEach(({ controller }, index) => {
    if (results[index] === undefined && !controller.signal.aborted) controller.abort(reason);
  });
}

function summarise(
  results: Array<BranchResult | undefined>,
  counts: { successes: number; failures: number },
): SplitOutcome {
  const all = Array.from(
    results,
    (result, index): BranchResult => result ?? { index, status: "cancelled" },
  );
  return {
    results: all,
    successes: counts.successes,
    failures: counts.failures,
    cancelled: all.length - counts.successes - counts.failures,
  };
}

/** Completed branches get their success/failure event after the join; losers get none (cano). */
function reportBranches<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  branches: SplitEntry["branches"],
  outcome: SplitOutcome,
): void {
  for (const result of outcome.results) {
    const taskId = `${branches[result.index]!.name}[${result.index}]`;
    if (result.status === "ok" && listens(run, "tasksuccess")) {
      run.def.events.dispatchEvent(new TaskSuccessEvent({ ...ids(run), state, taskId }));
    } else if (result.status === "error" && listens(run, "taskfailure")) {
      run.def.events.dispatchEvent(
        new TaskFailureEvent({ ...ids(run), state, taskId, error: result.error }),
      );
    }
  }
}

/** On outer cancellation or total timeout every unfinished branch gets a synthetic failure. */
function reportOuterAbort<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  branches: SplitEntry["branches"],
  results: Array<BranchResult | undefined>,
  reason: unknown,
): void {
  if (!listens(run, "taskfailure")) return;
  const error = run.cancel?.aborted
    ? new CancelledError("Workflow was cancelled", { cause: reason })
    : run.timedOut ?? reason;
  branches.forEach((branch, index) => {
    if (results[index] !== undefined) return;
    const taskId = `${branch.name}[${index}]`;
    run.def.events.dispatchEvent(new TaskFailureEvent({ ...ids(run), state, taskId, error }));
  });
}

/** A counting semaphore whose waits can be aborted. */
class Gate {
  #free: number;
  #waiting: Array<() => void> = [];

  constructor(size: number) {
    this.#free = size;
  }

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#free > 0) {
      this.#free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.#waiting = this.#waiting.filter((waiter) => waiter !== grant);
        reject(signal.reason);
      };
      this.#waiting.push(grant);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#free += 1;
    else next(); // the permit passes straight to the next waiter
  }
}
